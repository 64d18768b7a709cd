"""Where the project lives, and the resolvers its configs use for paths (`${project_root:}`, `${pid:}`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def project_root() -> Path:
    """The checkout this package runs from (where conf/ lives), else the working directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "conf" / "config.yaml").is_file() else Path.cwd()


def options(group: str) -> list[str]:
    """The options of a config group: the YAML files in conf/<group>/."""
    return sorted(p.stem for p in (project_root() / "conf" / group).glob("*.yaml"))


def register_resolvers() -> None:
    """`${project_root:}` (the store's default place) and `${pid:}` (run folders) into OmegaConf."""
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: project_root().as_posix())
    if not OmegaConf.has_resolver("pid"):
        OmegaConf.register_new_resolver("pid", os.getpid, use_cache=True)


def resolve_data_path(cfg: Any) -> None:
    """Make a relative (or `~`) `data.path` absolute, against the working directory it was typed in,
    so that the run's stored config names the data from anywhere (evaluate.py, a resume, a notebook)."""
    data = cfg.get("data")
    path = data.get("path") if data is not None else None
    if isinstance(path, str):
        data.path = str(Path(path).expanduser().resolve())
