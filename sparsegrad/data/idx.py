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

import numpy as np

from sparsegrad.data.dataset import DataError, Raw

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
UBYTE = 0x08
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
TRAIN_FRACTION = 0.8
EXPECTED = ", ".join(FILE_NAMES) + " (each may end in .gz)"


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one uint8 IDX file (plain or .gz) whose magic number must be `magic`."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: only {len(data)} bytes, too short for an IDX header; "
                        f"the file is truncated, download it again")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: wrong magic number {found} (0x{found:08X}), expected {magic} "
                        f"(0x{magic:08X}, IDX {kind} of unsigned bytes); this is not an MNIST {kind} file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated inside the header ({len(data)} bytes); download it again")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path}: {problem}: header says {'x'.join(map(str, dims))} values "
                        f"({expected} bytes) but the file holds {len(data)} bytes; download it again")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)  # a view: no copy


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, gunzipped when its name ends in .gz."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupted gzip file ({e}); download it again "
                        f"or gunzip a good copy next to it") from None


def find_idx_file(directory: Path, name: str) -> Path | None:
    """The file `name` or `name.gz` in `directory`, or None when neither exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_files(directory: Path) -> bool:
    """True when `directory` holds at least one of the four MNIST IDX files."""
    return any(find_idx_file(directory, name) for name in FILE_NAMES)


def load_idx_dir(path: str | Path | None) -> Raw:
    """Load the four IDX files of a directory.

    When only one split's pair is there (for example just the t10k files of the MNIST
    test set), it is split deterministically: its first 80% for training, the last 20% for test.
    """
    if path is None:
        raise DataError(f"data=idx needs a path: set data.path=DIR, a folder holding {EXPECTED}")
    directory = Path(path).expanduser()
    if not directory.exists():
        raise DataError(f"{directory}: no such directory; data.path must be a folder holding {EXPECTED}")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory; data.path must be a folder holding {EXPECTED}")
    found = {name: find_idx_file(directory, name) for name in FILE_NAMES}
    train = _pair(found, TRAIN_IMAGES, TRAIN_LABELS, directory)
    test = _pair(found, TEST_IMAGES, TEST_LABELS, directory)
    if train and test:
        return Raw(f"{directory} (IDX)", *train, *test)
    if train or test:
        return _split(directory, *(train or test))
    raise DataError(f"{directory}: no MNIST IDX files; expected {EXPECTED}")


def _pair(found: dict[str, Path | None], images_name: str, labels_name: str,
          directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Read one split's images and labels; None when neither file is there."""
    images_path, labels_path = found[images_name], found[labels_name]
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = images_name if images_path is None else labels_name
        raise DataError(f"{directory}: {missing} (or {missing}.gz) is missing; expected {EXPECTED}")
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
