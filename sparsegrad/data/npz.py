"""A dataset from an .npz file in keras' layout: arrays x_train, y_train, x_test, y_test."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from sparsegrad.data.dataset import DataError, Raw

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | Path, label: str = "") -> Raw:
    """Read the four arrays of an .npz file without ever unpickling anything."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected an .npz holding {', '.join(ARRAYS)}")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a zip archive, so not an .npz (it may be truncated or another "
                        f"format); replace it with an .npz holding {', '.join(ARRAYS)}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}; expected {', '.join(ARRAYS)}, "
                                f"found {', '.join(npz.files) or 'none'}")
            arrays = [npz[name] for name in ARRAYS]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{path}: holds pickled Python objects, which are never loaded (they can run "
                            f"code); save plain numeric arrays {', '.join(ARRAYS)} instead") from None
        raise DataError(f"{path}: corrupted .npz ({e}); replace the file") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise DataError(f"{path}: corrupted .npz ({e}); replace the file") from None
    return Raw(f"{path}{f' ({label})' if label else ''}", *arrays)
