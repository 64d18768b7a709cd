"""load_dataset itself: the names, limit, options, and the real MNIST test set when it is there."""

from pathlib import Path

import numpy as np
import pytest

from sparsegrad.data import DATASETS, DataError, Dataset, load_dataset

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


def test_the_names():
    assert DATASETS == ("mnist", "fashion_mnist", "mnist_sample", "idx", "synthetic")


def test_unknown_name_lists_the_names():
    with pytest.raises(DataError, match="unknown dataset 'cifar'; choose one of mnist, fashion_mnist, "
                                        "mnist_sample, idx, synthetic"):
        load_dataset("cifar")


@pytest.mark.parametrize("limit", [0, -5, 2.5, True, "10"])
def test_bad_limit(limit):
    with pytest.raises(DataError, match="data.limit must be a whole number >= 1"):
        load_dataset("synthetic", limit=limit, n_train=5, n_test=2)


def test_limit_larger_than_the_set_keeps_everything():
    assert len(load_dataset("synthetic", limit=100, n_train=5, n_test=2).train_images) == 5


def test_options_are_checked_per_dataset(tmp_path):
    with pytest.raises(DataError, match="data=idx has no option n_train; its options: none"):
        load_dataset("idx", path=tmp_path, n_train=5)


def test_synthetic_takes_no_path(tmp_path):
    with pytest.raises(DataError, match="data=synthetic reads no files"):
        load_dataset("synthetic", path=tmp_path)


def test_dataset_is_a_plain_dataclass():
    ds = load_dataset("synthetic", n_train=3, n_test=2)
    assert isinstance(ds, Dataset) and ds.name == "synthetic" and ds.image_shape == (28, 28)
    assert "train=3" in repr(ds)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared/data/mnist is not beside the repo")
def test_real_mnist_test_set():
    ds = load_dataset("idx", path=SHARED_MNIST)
    assert len(ds.train_images) == 8000 and len(ds.test_images) == 2000
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert np.bincount(labels)[[0, 9]].tolist() == [980, 1009]
    pixels = np.concatenate([ds.train_images, ds.test_images])
    assert abs(pixels.mean() * 255 - 33.79) < 0.01
