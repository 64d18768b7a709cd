"""A dataset from a path the user gave: a folder of IDX files, a folder holding an .npz, or an .npz."""

from __future__ import annotations

from pathlib import Path

from sparsegrad.data.dataset import DataError, Raw
from sparsegrad.data.idx import EXPECTED, has_idx_files, load_idx_dir
from sparsegrad.data.npz import load_npz


def load_path(path: str | Path, npz_name: str) -> Raw:
    """Load IDX files or an .npz from `path`; in a folder, `npz_name` wins over other .npz files."""
    path = Path(path).expanduser()
    if path.is_file():
        return load_npz(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such file or directory; data.path must be a folder of IDX files "
                        f"or an .npz file")
    if has_idx_files(path):
        return load_idx_dir(path)
    if (path / npz_name).is_file():
        return load_npz(path / npz_name)
    npz_files = sorted(path.glob("*.npz"))
    if len(npz_files) == 1:
        return load_npz(npz_files[0])
    found = f"several .npz files ({', '.join(p.name for p in npz_files)})" if npz_files else "neither"
    raise DataError(f"{path}: expected {npz_name} or the IDX files {EXPECTED}, found {found}; "
                    f"point data.path at one file or folder")
