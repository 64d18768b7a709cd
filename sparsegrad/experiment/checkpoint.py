"""Checkpoints: everything needed to continue training, in one `.npz` (no pickle).

Keys: `model/<param>`, `optim/<state key>`, `schedule/<key>`, `history/<metric>`
(one value per finished epoch), `rng` (the shuffling generator's state as JSON)
and `epoch` (epochs finished).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.nn import Module
from sparsegrad.optim import Optimizer, Schedule

FILENAME = "checkpoint.npz"


def save_checkpoint(path: Path, model: Module, optimizer: Optimizer, schedule: Schedule,
                    rng: np.random.Generator, epoch: int, history: dict[str, list[float]]) -> Path:
    """Write atomically (a temporary file renamed), so a kill mid-write keeps the last one."""
    arrays: dict[str, np.ndarray] = {"epoch": np.array(epoch), "rng": np.array(json.dumps(rng.bit_generator.state))}
    arrays.update({f"model/{k}": v for k, v in model.state_dict().items()})
    arrays.update({f"optim/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays.update({f"schedule/{k}": np.asarray(v) for k, v in schedule.state_dict().items()})
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in history.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, model: Module, optimizer: Optimizer, schedule: Schedule,
                    rng: np.random.Generator) -> tuple[int, dict[str, list[float]]]:
    """Restore the state saved by `save_checkpoint`; returns (epochs finished, history)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"cannot read checkpoint {path}: {exc}") from None

    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(section("model/"))
    except (KeyError, ValueError) as exc:
        raise ExperimentError(f"checkpoint {path} does not fit this model: {exc}") from None
    optimizer.load_state_dict(section("optim/"))
    schedule.load_state_dict({k: v.item() for k, v in section("schedule/").items()})
    rng.bit_generator.state = json.loads(str(data["rng"]))
    history = {k: v.tolist() for k, v in section("history/").items()}
    return int(data["epoch"]), history
