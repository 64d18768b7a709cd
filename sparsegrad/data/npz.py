"""A dataset from an .npz file in keras' layout: arrays x_train, y_train, x_test, y_test."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from sparsegrad.data.dataset import DataError, Raw, one_line
from sparsegrad.data.limits import declared_bytes

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | Path, label: str = "") -> Raw:
    """Read the four arrays of an .npz file, each checked from its .npy header first; never unpickles."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected an .npz holding {', '.join(ARRAYS)}")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a zip archive, so not an .npz (it may be truncated or another "
                        f"format); replace it with an .npz holding {', '.join(ARRAYS)}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, path)
            arrays = [_read_member(archive, members[name], path) for name in ARRAYS]
    except (ValueError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise DataError(f"{path}: corrupted .npz ({one_line(e)}); replace the file") from None
    return Raw(f"{path}{f' ({label})' if label else ''}", *arrays)


def _members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip entry of each array, named as np.savez names them (x_train.npy), or bare (x_train)."""
    entries = {info.filename: info for info in archive.infolist()}
    found = {}
    for name in ARRAYS:
        info = entries.get(f"{name}.npy") or entries.get(name)
        if info is not None:
            found[name] = info
    missing = [name for name in ARRAYS if name not in found]
    if missing:
        names = [name.removesuffix(".npy") for name in entries]
        raise DataError(f"{path}: missing arrays {', '.join(missing)}; expected {', '.join(ARRAYS)}, "
                        f"found {', '.join(names) or 'none'}")
    return found


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """Check a member's .npy header (dtype, declared size, the member's real size), then read it."""
    where = f"{path}: {info.filename}"
    with archive.open(info) as f:
        shape, dtype, header = _npy_header(f, where)
    if dtype.hasobject:
        raise DataError(f"{path}: holds pickled Python objects, which are never loaded (they can run "
                        f"code); save plain numeric arrays {', '.join(ARRAYS)} instead")
    size = declared_bytes(where, shape, dtype.itemsize)
    if header + size > info.file_size:
        raise DataError(f"{where}: header declares shape {shape} of {dtype} ({header + size:,} bytes) but "
                        f"the member holds only {info.file_size:,} bytes; the file is truncated or forged")
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _npy_header(f: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of the .npy array that `f` starts with; nothing else is read."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DataError(f"{where}: .npy format version {version[0]}.{version[1]} is not read; "
                            f"save the arrays with numpy.savez")
    except ValueError as e:
        raise DataError(f"{where}: not a valid .npy array ({one_line(e)}); replace the file") from None
    return shape, dtype, f.tell()
