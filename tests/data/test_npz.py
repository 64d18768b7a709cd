"""keras-style .npz files given as data.path: reading them and each way they can be bad."""

import numpy as np
import pytest

from sparsegrad.data import DataError, load_dataset


def test_npz_file(make_npz):
    path, arrays = make_npz()
    ds = load_dataset("mnist", path=str(path))
    assert ds.train_images.shape == (10, 784) and ds.test_images.shape == (4, 784)
    np.testing.assert_array_equal(ds.test_images, arrays["x_test"].reshape(4, 784) / np.float32(255))
    assert ds.train_labels.dtype == np.int64 and ds.source == str(path)


def test_folder_holding_mnist_npz(make_npz, tmp_path):
    path, _ = make_npz(tmp_path / "folder" / "mnist.npz")
    assert load_dataset("mnist", path=path.parent).source == str(path)


def test_folder_holding_one_other_npz(make_npz, tmp_path):
    path, _ = make_npz(tmp_path / "folder" / "fashion.npz")
    assert load_dataset("fashion_mnist", path=path.parent).source == str(path)


def test_folder_with_nothing_usable(tmp_path):
    with pytest.raises(DataError, match="expected mnist.npz or the IDX files"):
        load_dataset("mnist", path=tmp_path)


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset("mnist", path=tmp_path / "missing.npz")


def test_folder_of_idx_files_for_mnist(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    assert len(load_dataset("mnist", path=folder).train_labels) == 12


def test_missing_arrays_are_named(make_npz):
    path, _ = make_npz(y_train=None, x_test=None)
    with pytest.raises(DataError, match="missing arrays y_train, x_test; expected x_train, y_train, x_test, "
                                        "y_test, found x_train, y_test"):
        load_dataset("mnist", path=path)


def test_pickled_object_array_is_never_loaded(make_npz):
    path, _ = make_npz(y_test=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(DataError, match="pickled Python objects, which are never loaded"):
        load_dataset("mnist", path=path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_text("not an archive")
    with pytest.raises(DataError, match="mnist.npz: not a zip archive"):
        load_dataset("mnist", path=path)


def test_corrupted_member(make_npz):
    path, _ = make_npz()
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60  # inside x_train's stored bytes: its CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="mnist.npz: corrupted .npz"):
        load_dataset("mnist", path=path)


def test_wrong_image_shape(make_npz):
    path, _ = make_npz(x_test=np.zeros((4, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"test images have shape \(4, 32, 32\)"):
        load_dataset("mnist", path=path)


def test_more_images_than_labels(make_npz):
    path, _ = make_npz(y_train=np.zeros(7, dtype=np.uint8))
    with pytest.raises(DataError, match="10 training images but 7 training labels"):
        load_dataset("mnist", path=path)


def test_float_pixels_must_be_in_unit_range(make_npz):
    path, _ = make_npz(x_test=np.full((4, 784), 200.0))
    with pytest.raises(DataError, match="float pixels must already be in"):
        load_dataset("mnist", path=path)


def test_float_pixels_in_unit_range_are_kept(make_npz):
    x_test = np.linspace(0, 1, 4 * 784, dtype=np.float32).reshape(4, 784)
    path, _ = make_npz(x_test=x_test)
    np.testing.assert_array_equal(load_dataset("mnist", path=path).test_images, x_test)
