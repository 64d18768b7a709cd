"""Hostile data files: absurd or overflowing headers, gzip bombs, forged npz members, NaN pixels.

Each is refused with one DataError line naming the file, from its header, before the
declared size is read or allocated. Memory is measured with tracemalloc (NumPy reports its
allocations to it), so a test fails if a loader allocates what the header declares.
"""

import gzip
import io
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sparsegrad.data import DataError, load_dataset
from sparsegrad.data.limits import MAX_ARRAY_BYTES, MAX_IMAGES

MIB = 1 << 20
ZEROS_MIB_GZ = gzip.compress(bytes(MIB))  # ~1 KB; gzip members concatenate into one stream


def idx_header(magic: int, *dims: int) -> bytes:
    """An IDX header: big-endian magic, then one uint32 per dimension."""
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


def write_gz_bomb(path: Path, header: bytes, mib: int) -> Path:
    """A .gz holding `header` then `mib` MiB of zeros, about 1 KB per MiB on disk."""
    path.write_bytes(gzip.compress(header) + ZEROS_MIB_GZ * mib)
    return path


def refused(load: Callable[[], object]) -> tuple[str, int]:
    """Run `load`, which must raise DataError: its message and the peak bytes allocated.

    The peak, not the time, shows a refusal came from the header: it does not swing with the
    machine's load, and unpacking what a bomb declares would allocate gigabytes.
    """
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as error:
            load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(error.value)
    assert "\n" not in message
    return message, peak


def npy_bytes(array: np.ndarray) -> bytes:
    """An array saved as .npy, in memory."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def forged_npy(shape: tuple[int, ...], descr: str = "|u1", payload: bytes = b"\0" * 100) -> bytes:
    """A .npy header declaring `shape`, written by hand, followed by `payload` only."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """An .npz written member by member (deflated), so any member can be forged."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npz_members(**overrides: bytes) -> dict[str, bytes]:
    """keras' four arrays as .npy members (small and valid), some replaced by `overrides`."""
    members = {"x_train.npy": npy_bytes(np.zeros((10, 28, 28), np.uint8)),
               "y_train.npy": npy_bytes(np.zeros(10, np.uint8)),
               "x_test.npy": npy_bytes(np.zeros((4, 28, 28), np.uint8)),
               "y_test.npy": npy_bytes(np.zeros(4, np.uint8))}
    return {**members, **overrides}


# --- IDX and gzip -------------------------------------------------------------------------

def test_gzip_bomb_declaring_a_billion_images_is_refused_from_its_header(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    bomb = write_gz_bomb(folder / "train-images-idx3-ubyte.gz", idx_header(2051, 10**9, 28, 28), mib=6000)
    assert bomb.stat().st_size < 8 * MIB  # 6 GB once unpacked
    message, peak = refused(lambda: load_dataset("idx", path=folder))
    assert message.startswith(f"{bomb}: header declares shape 1000000000x28x28: 1,000,000,000 images, "
                              f"more than the {MAX_IMAGES:,} allowed")
    assert peak < 4 * MIB


def test_gzip_bomb_behind_a_plausible_header_is_unpacked_only_as_far_as_declared(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    bomb = write_gz_bomb(folder / "train-images-idx3-ubyte.gz", idx_header(2051, 12, 28, 28), mib=1024)
    message, peak = refused(lambda: load_dataset("idx", path=folder))
    assert message.startswith(f"{bomb}: longer than its header says: header says 12x28x28 values "
                              f"(9424 bytes) but more follow")
    assert peak < 4 * MIB  # gunzipping all of it would take 1 GiB


def test_gzip_shorter_than_its_header(make_idx_dir):
    folder, _ = make_idx_dir(gz=True)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_header(2051, 1000, 28, 28) + bytes(12 * 784)))
    message, _ = refused(lambda: load_dataset("idx", path=folder))
    assert message.startswith(f"{images}: truncated: header says 1000x28x28 values (784016 bytes) but only "
                              f"9424 bytes could be read")


@pytest.mark.parametrize("name, dims, problem", [
    ("train-images-idx3-ubyte", (2**32 - 1,) * 3, "4,294,967,295 images, more than"),  # 2^96: overflows int64
    ("train-images-idx3-ubyte", (2**31, 2**31, 2**31), "2,147,483,648 images, more than"),  # np.prod gives 0
    ("train-images-idx3-ubyte", (10, 5000, 5000), "25,000,000 values per image, more than 4096x4096"),
    ("train-images-idx3-ubyte", (5_000_000, 28, 28), f"3,920,000,000 bytes, more than the "
                                                     f"{MAX_ARRAY_BYTES // 1024**3} GiB allowed"),
    ("train-labels-idx1-ubyte", (2**32 - 1,), "4,294,967,295 images, more than"),
])
def test_absurd_idx_dims_are_refused_from_the_header(make_idx_dir, name, dims, problem):
    folder, _ = make_idx_dir()
    magic = 2051 if "images" in name else 2049
    (folder / name).write_bytes(idx_header(magic, *dims) + bytes(1000))
    message, peak = refused(lambda: load_dataset("idx", path=folder))
    assert message.startswith(f"{folder / name}: header declares shape {'x'.join(map(str, dims))}: {problem}")
    assert peak < 4 * MIB


def test_truncated_idx_is_refused_from_its_size_on_disk(make_idx_dir):
    folder, arrays = make_idx_dir(n_train=12)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(idx_header(2051, 60000, 28, 28) + arrays["x_train"].tobytes())
    message, peak = refused(lambda: load_dataset("idx", path=folder))
    assert message.startswith(f"{images}: truncated: header says 60000x28x28 values (47040016 bytes) but the "
                              f"file holds 9424 bytes")
    assert peak < 4 * MIB  # the 47 MB it declares are never allocated


# --- npz ----------------------------------------------------------------------------------

def test_npz_member_declaring_a_trillion_images(tmp_path):
    path = write_zip(tmp_path / "mnist.npz", npz_members(**{"x_train.npy": forged_npy((10**12, 28, 28))}))
    message, peak = refused(lambda: load_dataset("mnist", path=path))
    assert message.startswith(f"{path}: x_train.npy: header declares shape 1000000000000x28x28: "
                              f"1,000,000,000,000 images, more than the {MAX_IMAGES:,} allowed")
    assert "TiB" not in message and peak < 4 * MIB


def test_npz_member_declaring_more_than_it_holds(tmp_path):
    path = write_zip(tmp_path / "mnist.npz", npz_members(**{"x_test.npy": forged_npy((1000, 28, 28))}))
    message, peak = refused(lambda: load_dataset("mnist", path=path))
    assert message.startswith(f"{path}: x_test.npy: header declares shape (1000, 28, 28) of uint8 (784,128 "
                              f"bytes) but the member holds only 228 bytes")
    assert peak < 4 * MIB


def test_npz_member_with_a_negative_dimension(tmp_path):
    path = write_zip(tmp_path / "mnist.npz", npz_members(**{"y_test.npy": forged_npy((-4,))}))
    message, _ = refused(lambda: load_dataset("mnist", path=path))
    assert message.startswith(f"{path}: y_test.npy: header declares shape -4, a negative size")


def test_npz_bomb_in_a_member_that_is_not_npy(tmp_path):
    """np.load would hand a bare member back as bytes, unpacking all of it; it is refused from its first bytes."""
    members = npz_members()
    del members["x_train.npy"]
    path = write_zip(tmp_path / "mnist.npz", {**members, "x_train": bytes(64 * MIB)})
    message, peak = refused(lambda: load_dataset("mnist", path=path))
    assert message.startswith(f"{path}: x_train: not a valid .npy array")
    assert peak < 4 * MIB


def test_npz_object_dtype_is_refused_from_the_header(tmp_path):
    path = write_zip(tmp_path / "mnist.npz", npz_members(**{"y_test.npy": forged_npy((4,), descr="|O")}))
    message, _ = refused(lambda: load_dataset("mnist", path=path))
    assert "holds pickled Python objects, which are never loaded" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_pixels_are_data_errors_naming_the_file(make_npz, bad):
    x_train = np.full((10, 784), 0.5, dtype=np.float32)
    x_train[3, 100] = bad
    path, _ = make_npz(x_train=x_train)
    message, _ = refused(lambda: load_dataset("mnist", path=path))
    assert message.startswith(f"{path}: training images hold NaN or infinite pixels")
    assert "not divergence" in message
