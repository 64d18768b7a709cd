"""IDX folders: a round trip through small files, the 80/20 split, and every way a file can be bad."""

import gzip
import shutil

import numpy as np
import pytest

from sparsegrad.data import DataError, load_dataset


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(make_idx_dir, gz):
    folder, arrays = make_idx_dir(n_train=12, n_test=5, gz=gz)
    ds = load_dataset("idx", path=str(folder))
    assert ds.train_images.shape == (12, 784) and ds.test_images.shape == (5, 784)
    assert ds.train_images.dtype == np.float32 and ds.train_labels.dtype == np.int64
    np.testing.assert_array_equal(ds.train_images, arrays["x_train"].reshape(12, 784) / np.float32(255))
    np.testing.assert_array_equal(ds.test_labels, arrays["y_test"])
    assert ds.train_images.min() == 0.0 and ds.train_images.max() == 1.0
    assert ds.image_shape == (28, 28)
    assert str(folder) in ds.source


def test_plain_and_gz_may_mix(make_idx_dir):
    folder, _ = make_idx_dir(gz=False)
    plain = folder / "t10k-labels-idx1-ubyte"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    assert len(load_dataset("idx", path=folder).test_labels) == 5


def test_only_one_split_is_cut_80_20_in_file_order(make_idx_dir):
    folder, arrays = make_idx_dir(n_train=0, n_test=10, gz=True)
    ds = load_dataset("idx", path=folder)
    assert len(ds.train_labels) == 8 and len(ds.test_labels) == 2
    np.testing.assert_array_equal(ds.train_labels, arrays["y_test"][:8])
    np.testing.assert_array_equal(ds.test_labels, arrays["y_test"][8:])
    assert "first 8 images as train, last 2 as test" in ds.source


def test_limit_keeps_the_first_training_images(make_idx_dir):
    folder, arrays = make_idx_dir(n_train=12, n_test=5)
    ds = load_dataset("idx", path=folder, limit=3)
    assert len(ds.train_images) == 3 and len(ds.test_images) == 5
    np.testing.assert_array_equal(ds.train_labels, arrays["y_train"][:3])


def test_path_is_required():
    with pytest.raises(DataError, match="data=idx needs a path.*train-images-idx3-ubyte"):
        load_dataset("idx")


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="nowhere: no such directory"):
        load_dataset("idx", path=tmp_path / "nowhere")


def test_path_is_a_file(make_idx_dir):
    folder, _ = make_idx_dir()
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("idx", path=folder / "train-images-idx3-ubyte")


def test_empty_directory_lists_the_expected_files(tmp_path):
    with pytest.raises(DataError, match="no MNIST IDX files; expected train-images-idx3-ubyte, "
                                        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                                        r"t10k-labels-idx1-ubyte \(each may end in .gz\)"):
        load_dataset("idx", path=tmp_path)


def test_missing_file_is_named(make_idx_dir):
    folder, _ = make_idx_dir()
    (folder / "train-labels-idx1-ubyte").unlink()
    missing = r"train-labels-idx1-ubyte \(or train-labels-idx1-ubyte.gz\) is missing"
    with pytest.raises(DataError, match=missing):
        load_dataset("idx", path=folder)


@pytest.mark.parametrize("keep", [3, 10, 100])  # inside the magic, inside the dims, inside the pixels
def test_truncated_file(make_idx_dir, keep):
    folder, _ = make_idx_dir()
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:keep])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: .*(truncated|too short)"):
        load_dataset("idx", path=folder)


def test_extra_bytes_after_the_data(make_idx_dir):
    folder, _ = make_idx_dir()
    labels = folder / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\0\0")
    with pytest.raises(DataError, match="longer than its header says"):
        load_dataset("idx", path=folder)


def test_truncated_gzip(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-40])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: corrupted gzip"):
        load_dataset("idx", path=folder)


def test_not_gzip_at_all(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: corrupted gzip"):
        load_dataset("idx", path=folder)


def test_wrong_magic(make_idx_dir):
    folder, _ = make_idx_dir()
    shutil.copy(folder / "train-labels-idx1-ubyte", folder / "train-images-idx3-ubyte")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: wrong magic number 2049 .*expected 2051"):
        load_dataset("idx", path=folder)


def test_count_mismatch(make_idx_dir):
    folder, _ = make_idx_dir(n_train=12, n_test=5)
    shutil.copy(folder / "t10k-labels-idx1-ubyte", folder / "train-labels-idx1-ubyte")
    with pytest.raises(DataError, match="train-images-idx3-ubyte holds 12 images but "
                                        "train-labels-idx1-ubyte holds 5 labels"):
        load_dataset("idx", path=folder)


def test_one_image_cannot_be_split(make_idx_dir):
    folder, _ = make_idx_dir(n_train=1, n_test=0)
    with pytest.raises(DataError, match="too few to split"):
        load_dataset("idx", path=folder)
