"""synthetic: generated seven-segment digits, seeded, with a learnable structure."""

import numpy as np
import pytest

from sparsegrad.data import DataError, load_dataset


def test_default_shapes_and_range():
    ds = load_dataset("synthetic")
    assert ds.train_images.shape == (2000, 784) and ds.test_images.shape == (500, 784)
    assert ds.train_images.dtype == np.float32 and ds.train_labels.dtype == np.int64
    assert 0.0 <= ds.train_images.min() and ds.train_images.max() <= 1.0
    assert set(np.unique(ds.train_labels)) == set(range(10))


def test_same_seed_same_images_other_seed_other_images():
    a, b = load_dataset("synthetic", seed=3, n_train=50, n_test=10), load_dataset("synthetic", seed=3,
                                                                                  n_train=50, n_test=10)
    c = load_dataset("synthetic", seed=4, n_train=50, n_test=10)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert not np.array_equal(a.train_images, c.train_images)


def test_sizes_and_limit():
    ds = load_dataset("synthetic", n_train=30, n_test=7, limit=20)
    assert len(ds.train_images) == 20 and len(ds.test_images) == 7


def test_digits_look_like_digits():
    """Mostly dark with bright strokes, and a nearest-class-mean classifier tells the classes apart."""
    ds = load_dataset("synthetic", n_train=1000, n_test=300)
    assert 0.05 < ds.train_images.mean() < 0.3
    assert (ds.train_images > 0.9).mean(axis=1).min() > 0.02  # every image has ink
    means = np.stack([ds.train_images[ds.train_labels == c].mean(0) for c in range(10)])
    distances = ((ds.test_images[:, None, :] - means[None]) ** 2).sum(-1)
    assert (distances.argmin(1) == ds.test_labels).mean() > 0.5


@pytest.mark.parametrize("options, message", [
    ({"n_train": 0}, "n_train must be a whole number >= 1"),
    ({"n_test": 2.5}, "n_test must be a whole number >= 1"),
    ({"noise": 0.1}, "data=synthetic has no option noise; its options: n_train, n_test"),
])
def test_bad_options(options, message):
    with pytest.raises(DataError, match=message):
        load_dataset("synthetic", **options)


def test_options_set_to_none_use_the_defaults():
    assert len(load_dataset("synthetic", n_train=None, n_test=5).train_images) == 2000
