"""A dataset from a path the user gave: a folder of IDX files, a folder holding an .npz, or an .npz."""

from __future__ import annotations

from pathlib import Path

from sparsegrad.data.dataset import DataError, Raw
from sparsegrad.data.idx import EXPECTED, find_idx_pairs, has_idx_files, load_idx_dir
from sparsegrad.data.npz import load_npz


def load_path(path: str | Path, npz_name: str) -> Raw:
    """Load IDX files or an .npz from `path`; in a folder, `npz_name` wins over other .npz files."""
    target = find_path(path, npz_name)
    return load_idx_dir(target) if target.is_dir() else load_npz(target)


def check_path(path: str | Path, npz_name: str) -> None:
    """Raise DataError unless `path` holds something load_path can read; opens no file."""
    target = find_path(path, npz_name)
    if target.is_dir():
        find_idx_pairs(target)


def find_path(path: str | Path, npz_name: str) -> Path:
    """What `path` names to load: an .npz file, or a folder holding IDX files."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"{path}: no such file or directory; data.path must be a folder of IDX files "
                        f"or an .npz file")
    if has_idx_files(path):
        return path
    if (path / npz_name).is_file():
        return path / npz_name
    npz_files = sorted(path.glob("*.npz"))
    if len(npz_files) == 1:
        return npz_files[0]
    found = f"several .npz files ({', '.join(p.name for p in npz_files)})" if npz_files else "neither"
    raise DataError(f"{path}: expected {npz_name} or the IDX files {EXPECTED}, found {found}; "
                    f"point data.path at one file or folder")
