"""Fixtures that write small MNIST-format files (IDX and .npz) into tmp_path."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from sparsegrad.data import keras_cache, registry


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file's bytes: big-endian magic, one uint32 per dimension, then the uint8 values."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_file(path: Path, data: bytes) -> Path:
    """Write `data`, gzipped when the name ends in .gz."""
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` random uint8 28x28 images (with 0 and 255 in the first) and their labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    return images, rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.fixture
def make_idx_dir(tmp_path: Path):
    """make_idx_dir(n_train, n_test, gz=False) -> (folder, {"x_train": ..., ...}); n=0 leaves a split out."""

    def make(n_train: int = 12, n_test: int = 5, gz: bool = False, name: str = "idx") -> tuple[Path, dict]:
        folder = tmp_path / name
        folder.mkdir()
        ext = ".gz" if gz else ""
        arrays = {}
        for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
            if n == 0:
                continue
            images, labels = digits(n, seed=n)
            write_file(folder / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images, 2051))
            write_file(folder / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels, 2049))
            arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
        return folder, arrays

    return make


@pytest.fixture
def make_npz(tmp_path: Path):
    """make_npz(path=tmp_path/"mnist.npz", **overrides) writes keras' four arrays, small and random."""

    def make(path: Path | None = None, **overrides) -> tuple[Path, dict]:
        path = path or tmp_path / "mnist.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        x_train, y_train = digits(10, seed=1)
        x_test, y_test = digits(4, seed=2)
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, **overrides}
        np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
        return path, arrays

    return make


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No keras cache (an empty KERAS_HOME), no Debian Fashion-MNIST, a download host that cannot be
    resolved (.invalid never is), and a keras download that fails."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-fashion-mnist")
    monkeypatch.setattr(keras_cache, "DOWNLOAD_HOST", ("keras-download-host.invalid", 443))

    def fail(name: str):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(keras_cache, "_keras_load_data", fail)
    return home
