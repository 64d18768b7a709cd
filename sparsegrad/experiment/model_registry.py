"""A finished run's model for others: logged as an MLflow pyfunc and registered under a name.

`publish(recorder, cfg, model, weights, history, example)` is called by the job once training has ended
well, with the `weights.npz` the recorder has just stored:
- logs `pyfunc_model` with the run (the code is `pyfunc_model.py`, with its own copy of the NumPy-only
  library): float32 input (-1, input_dim), output the reconstruction, or the hidden codes with
  `params={"output": "codes"}`; its signature, an input example (two validation images), and
  requirements NumPy alone (and MLflow, which loads it);
- registers it as a new version of `tracking.register_model` (default: the experiment's name; null: no
  registration), which loads anywhere as `mlflow.pyfunc.load_model("models:/<name>/<version>")`.
The model is logged at the last epoch's step, so it carries that epoch's metrics (MLflow copies them).
A run with a NaN or infinite metric there logs and registers nothing (its model is not worth sharing,
and MLflow's log_model then fails on a unique constraint: mlflow/mlflow issue 26108); it says so in
the log. (An earlier epoch's NaN, as the gradient monitor's update ratio of a bias that starts at 0,
says nothing of the final model.)
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from sparsegrad.experiment.recorder import Recorder
    from sparsegrad.nn import AutoEncoder

log = logging.getLogger(__name__)

ARTIFACT = "pyfunc_model"  # the model's name in the run (and its LoggedModel's)
CODE = Path(__file__).with_name("pyfunc_model.py")
LIBRARY = Path(__file__).resolve().parent.parent  # sparsegrad/
NOT_THE_LIBRARY = ("experiment", "data", "__pycache__")  # what the model does not need (MLflow, Hydra...)


def non_finite(history: Mapping[str, list[float]]) -> list[str]:
    """The metrics whose value at the last epoch is NaN or infinite (what the model is logged with)."""
    return sorted(k for k, values in history.items() if values and not math.isfinite(values[-1]))


def publish(recorder: Recorder, cfg: DictConfig, model: AutoEncoder, weights: Path,
            history: Mapping[str, list[float]], example: np.ndarray) -> str | None:
    """Log the pyfunc model with the run and register it; the `models:/name/version` URI (None: not registered)."""
    bad = non_finite(history)
    if bad:
        log.warning("the model is not logged or registered: metric %s is not finite", ", ".join(bad))
        return None
    name = cfg.tracking.get("register_model", None)
    with tempfile.TemporaryDirectory(prefix="sparsegrad-model-") as tmp:
        library = Path(tmp) / "code" / "sparsegrad"
        shutil.copytree(LIBRARY, library, ignore=shutil.ignore_patterns(*NOT_THE_LIBRARY))
        example = np.ascontiguousarray(example, dtype=np.float32)
        version = _log(recorder, cfg, model, history, name, weights, library, example)
    if version is not None:
        log.info("registered the model as models:/%s/%s", name, version)
        return f"models:/{name}/{version}"
    return None


def _log(recorder: Recorder, cfg: DictConfig, model: AutoEncoder, history: Mapping[str, list[float]],
         name: str | None, weights: Path, library: Path, example: np.ndarray) -> str | None:
    from sparsegrad import Tensor, no_grad

    m = cfg.model
    config = {"input_dim": int(m.input_dim), "hidden_dim": int(m.hidden_dim),
              "hidden_activation": str(m.hidden_activation), "output_activation": str(m.output_activation),
              "k": None if m.get("k") is None else int(m.k)}
    with no_grad():
        reconstruction = model(Tensor(example)).data
    epochs = len(next(iter(history.values()), []))
    # The model's shape travels as an artifact of its own (MLflow would log a `model_config` as the
    # run's params too, beside the run's own config).
    shape = library.parent.parent / "model.json"  # (in the temporary folder, beside code/)
    shape.write_text(json.dumps(config))
    return recorder.log_model(ARTIFACT, CODE, {"weights": weights, "model": shape}, library, example, reconstruction,
                              [f"numpy=={np.__version__}"], name, epochs)
