"""Checkpoints: everything needed to continue training, in one `.npz` (no pickle).

Keys: `run_id` (the MLflow run it belongs to), `model/<param>`, `optim/<state key>`,
`schedule/<key>`, `history/<metric>` (one value per finished epoch), `rng` (the shuffling generator's state as JSON)
and `epoch` (epochs finished). Every value is a plain numeric or string array, so
the file loads with `allow_pickle=False`.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.trainer import TrainState
from sparsegrad.nn import Module
from sparsegrad.optim import Optimizer, Schedule

FILENAME = "checkpoint.npz"
REQUIRED = ("epoch", "rng")


def save_checkpoint(path: Path, state: TrainState, run_id: str = "") -> Path:
    """Write atomically (a temporary file renamed), so a kill mid-write keeps the last one.

    `run_id` is the MLflow run it belongs to: a resume refuses another run's checkpoint.
    """
    arrays: dict[str, np.ndarray] = {"epoch": np.array(state.epoch), "run_id": np.array(run_id),
                                     "rng": np.array(json.dumps(state.rng.bit_generator.state))}
    arrays.update({f"model/{k}": v for k, v in state.model.state_dict().items()})
    arrays.update({f"optim/{k}": np.asarray(v) for k, v in state.optimizer.state_dict().items()})
    arrays.update({f"schedule/{k}": np.asarray(v) for k, v in state.schedule.state_dict().items()})
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in state.history.items()})
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a folder made read-only: no half-written file left behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ExperimentError(f"cannot write the checkpoint {path}: {exc.strerror or exc}; free space or "
                              f"permissions there, then resume") from None
    return path


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every array of the checkpoint, never unpickling anything."""
    if not zipfile.is_zipfile(path):  # np.load would take any other file for a pickle
        what = "no such file" if not path.exists() else "not an .npz (not a zip archive: truncated, or another format)"
        raise ExperimentError(f"cannot read checkpoint {path}: {what}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ExperimentError(f"checkpoint {path} holds pickled objects, which are never loaded: "
                                  "not a sparsegrad checkpoint") from None
        raise ExperimentError(f"cannot read checkpoint {path}: {exc}") from None
    except Exception as exc:  # zip, zlib, OS and EOF errors of a damaged file
        raise ExperimentError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ExperimentError(f"checkpoint {path} lacks {', '.join(missing)}: not a sparsegrad checkpoint")
    return data


def checkpoint_epoch(path: Path) -> int:
    """How many epochs the checkpoint at `path` has finished."""
    return int(_read(path)["epoch"])


def checkpoint_run(path: Path) -> str:
    """The MLflow run the checkpoint at `path` belongs to ("" if it does not say)."""
    data = _read(path)
    return str(data["run_id"]) if "run_id" in data else ""


def load_checkpoint(path: Path, model: Module, optimizer: Optimizer, schedule: Schedule,
                    rng: np.random.Generator) -> tuple[int, dict[str, list[float]]]:
    """Restore the state saved by `save_checkpoint`; returns (epochs finished, history).

    A parameter of another shape is reported by name with both shapes, before
    anything is changed.
    """
    data = _read(path)

    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

    saved, params = section("model/"), dict(model.named_parameters())
    missing, unexpected = sorted(params.keys() - saved.keys()), sorted(saved.keys() - params.keys())
    if missing or unexpected:
        raise ExperimentError(f"checkpoint {path} does not fit this model: parameters missing from it "
                              f"{missing or 'none'}, not in the model {unexpected or 'none'}")
    for name, p in params.items():
        if saved[name].shape != p.data.shape:
            raise ExperimentError(
                f"checkpoint {path} does not fit this model: parameter '{name}' has shape "
                f"{tuple(saved[name].shape)} in the checkpoint but {tuple(p.data.shape)} in the model "
                "(model.input_dim or model.hidden_dim differ from the run that saved it)"
            )
    try:
        model.load_state_dict(saved)
        optimizer.load_state_dict(section("optim/"))
        schedule.load_state_dict({k: v.item() for k, v in section("schedule/").items()})
        rng.bit_generator.state = json.loads(str(data["rng"]))
    except (KeyError, ValueError, TypeError) as exc:
        detail = exc.args[0] if exc.args else type(exc).__name__
        raise ExperimentError(f"checkpoint {path} does not fit this run: {detail} (another optimizer "
                              "or schedule than the run that saved it?)") from None
    history = {k: v.tolist() for k, v in section("history/").items()}
    return int(data["epoch"]), history
