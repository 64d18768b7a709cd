"""mnist and fashion_mnist without a path: keras' cache, Debian's package, and the offline error."""

import shutil
from pathlib import Path

import pytest

from sparsegrad.data import DataError, keras_cache, load_dataset, registry

OFFLINE_CHOICES = ["data=mnist_sample", "data=fashion_mnist", "data=idx data.path=DIR", "data=synthetic"]


def test_keras_home_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_cache.mnist_npz() == tmp_path / "datasets" / "mnist.npz"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert keras_cache.mnist_npz() == tmp_path / "me" / ".keras" / "datasets" / "mnist.npz"


def test_mnist_from_the_keras_cache(offline, make_npz):
    path, _ = make_npz(offline / "datasets" / "mnist.npz")
    ds = load_dataset("mnist")
    assert ds.train_images.shape == (10, 784)
    assert ds.source == f"{path} (keras cache)"


def test_fashion_mnist_from_the_keras_cache(offline, make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    cache = offline / "datasets" / "fashion-mnist"
    cache.parent.mkdir(parents=True)
    shutil.copytree(folder, cache)
    ds = load_dataset("fashion_mnist", limit=4)
    assert len(ds.train_images) == 4 and str(cache) in ds.source


def test_fashion_mnist_prefers_debian_over_the_cache(offline, make_idx_dir, monkeypatch):
    folder, _ = make_idx_dir(n_train=6, n_test=3, gz=True)
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", folder)
    assert len(load_dataset("fashion_mnist").train_labels) == 6


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_offline_error_names_the_offline_choices(offline, name):
    with pytest.raises(DataError) as error:
        load_dataset(name)
    message = str(error.value)
    assert f"could not download {name} with keras (offline?" in message
    assert "Name or service not known" in message
    assert all(choice in message for choice in OFFLINE_CHOICES)
    assert str(offline / "datasets") in message
    assert "\n" not in message


def test_corrupted_cache_file_is_reported(offline):
    cache = offline / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(DataError, match="mnist.npz: not a zip archive"):
        load_dataset("mnist")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    ds = load_dataset("fashion_mnist", limit=100)
    assert ds.train_images.shape == (100, 784) and ds.test_images.shape == (10000, 784)
    assert ds.source == "/usr/share/datasets/fashion-mnist (IDX)"
    assert 0.0 <= ds.train_images.min() and ds.train_images.max() <= 1.0
