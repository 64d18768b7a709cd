"""IDX files (LeCun's MNIST format), read with NumPy, and a directory of them as a dataset.

An IDX file is a 4-byte big-endian magic number (0x0000, a dtype byte, the number of
dimensions), one big-endian uint32 per dimension, then the values. MNIST uses dtype 0x08
(unsigned byte): images have magic 2051 (0x00000803: N x rows x cols) and labels 2049
(0x00000801: N).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sparsegrad.data.dataset import DataError, Raw, one_line
from sparsegrad.data.limits import declared_bytes

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
UBYTE = 0x08
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
TRAIN_FRACTION = 0.8
EXPECTED = ", ".join(FILE_NAMES) + " (each may end in .gz)"
CHUNK = 1 << 20  # bytes read (and decompressed) at a time
IdxPair = tuple[Path, Path]  # one split's images file and labels file


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one uint8 IDX file (plain or .gz) whose magic number must be `magic`.

    The header is checked before anything else is read or allocated: absurd dimensions are
    refused (see limits.py), a plain file must be exactly as long as its header says, and a
    .gz is decompressed only up to the declared size plus one byte, so a gzip bomb costs
    no more memory than a genuine file of its declared size.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    gz = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if gz else path.open("rb")) as f:
            dims, header = _read_header(f, path, magic)
            size = declared_bytes(str(path), dims, itemsize=1)
            if not gz:
                _check_file_size(path, dims, header + size)
            return _read_values(f, path, dims, header, size).reshape(dims)
    except (OSError, EOFError, zlib.error) as e:
        if gz:
            raise DataError(f"{path}: corrupted gzip file ({one_line(e)}); download it again "
                            f"or gunzip a good copy next to it") from None
        raise DataError(f"{path}: cannot read it ({one_line(e)})") from None


def _read_header(f: BinaryIO, path: Path, magic: int) -> tuple[tuple[int, ...], int]:
    """The dimensions the header declares, and the header's length in bytes."""
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: only {len(head)} bytes, too short for an IDX header; "
                        f"the file is truncated, download it again")
    found = int.from_bytes(head, "big")
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: wrong magic number {found} (0x{found:08X}), expected {magic} "
                        f"(0x{magic:08X}, IDX {kind} of unsigned bytes); this is not an MNIST {kind} file")
    ndim = head[3]
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{path}: truncated inside the header ({4 + len(raw)} bytes); download it again")
    dims = tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    return dims, 4 + 4 * ndim


def _check_file_size(path: Path, dims: tuple[int, ...], expected: int) -> None:
    """Refuse a plain file whose size on disk is not the header's size plus the declared values."""
    actual = path.stat().st_size
    if actual != expected:
        raise DataError(f"{path}: {_mismatch(dims, expected, actual)} but the file holds {actual} bytes; "
                        f"download it again")


def _read_values(f: BinaryIO, path: Path, dims: tuple[int, ...], header: int, size: int) -> np.ndarray:
    """Read exactly `size` bytes in chunks, then one more byte to detect anything left over."""
    values = np.empty(size, dtype=np.uint8)  # pages are committed only as chunks arrive
    view, got = memoryview(values), 0
    while got < size:
        n = f.readinto(view[got:got + CHUNK])
        if not n:
            raise DataError(f"{path}: {_mismatch(dims, header + size, header + got)} but only "
                            f"{header + got} bytes could be read; download it again")
        got += n
    if f.read(1):
        raise DataError(f"{path}: longer than its header says: header says {'x'.join(map(str, dims))} "
                        f"values ({header + size} bytes) but more follow; download it again")
    return values


def _mismatch(dims: tuple[int, ...], expected: int, actual: int) -> str:
    """'truncated' or 'longer than its header says', with what the header says."""
    problem = "truncated" if actual < expected else "longer than its header says"
    return f"{problem}: header says {'x'.join(map(str, dims))} values ({expected} bytes)"


def find_idx_file(directory: Path, name: str) -> Path | None:
    """The file `name` or `name.gz` in `directory`, or None when neither exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_files(directory: Path) -> bool:
    """True when `directory` holds at least one of the four MNIST IDX files."""
    return any(find_idx_file(directory, name) for name in FILE_NAMES)


def find_idx_pairs(path: str | Path | None) -> tuple[Path, IdxPair | None, IdxPair | None]:
    """The folder and each split's (images, labels) files; checks they are there, reads nothing."""
    if path is None:
        raise DataError(f"data=idx needs a path: set data.path=DIR, a folder holding {EXPECTED}")
    directory = Path(path).expanduser()
    if not directory.exists():
        raise DataError(f"{directory}: no such directory; data.path must be a folder holding {EXPECTED}")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory; data.path must be a folder holding {EXPECTED}")
    found = {name: find_idx_file(directory, name) for name in FILE_NAMES}
    train = _pair_files(found, TRAIN_IMAGES, TRAIN_LABELS, directory)
    test = _pair_files(found, TEST_IMAGES, TEST_LABELS, directory)
    if train is None and test is None:
        raise DataError(f"{directory}: no MNIST IDX files; expected {EXPECTED}")
    return directory, train, test


def load_idx_dir(path: str | Path | None) -> Raw:
    """Load the four IDX files of a directory.

    When only one split's pair is there (for example just the t10k files of the MNIST
    test set), it is split deterministically: its first 80% for training, the last 20% for test.
    """
    directory, train_files, test_files = find_idx_pairs(path)
    if train_files and test_files:
        train, test = _read_pair(directory, *train_files), _read_pair(directory, *test_files)
        return Raw(f"{directory} (IDX)", *train, *test)
    only = train_files or test_files  # never None: find_idx_pairs raised when neither is there
    return _split(directory, *_read_pair(directory, *only))


def _pair_files(found: dict[str, Path | None], images_name: str, labels_name: str,
                directory: Path) -> IdxPair | None:
    """One split's images and labels files; None when neither is there, DataError when one is missing."""
    images_path, labels_path = found[images_name], found[labels_name]
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = images_name if images_path is None else labels_name
        raise DataError(f"{directory}: {missing} (or {missing}.gz) is missing; expected {EXPECTED}")
    return images_path, labels_path


def _read_pair(directory: Path, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's images and labels and check they are as many."""
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
                        f"{len(labels)} labels (in {directory}); the two files must come from the same set")
    return images, labels


def _split(directory: Path, images: np.ndarray, labels: np.ndarray) -> Raw:
    """Split one pair into train (first 80%) and test (last 20%), in file order."""
    n_train = int(len(images) * TRAIN_FRACTION)
    if n_train < 1 or n_train == len(images):
        raise DataError(f"{directory}: only {len(images)} images, too few to split into train and test")
    source = (f"{directory} (IDX, one split only: first {n_train} images as train, "
              f"last {len(images) - n_train} as test)")
    return Raw(source, images[:n_train], labels[:n_train], images[n_train:], labels[n_train:])
