"""Row 7: checkpoints and weights are .npz without pickle; one that does not fit says exactly why."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sparsegrad.experiment.checkpoint import checkpoint_epoch, load_checkpoint, save_checkpoint
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.trainer import TrainState
from sparsegrad.nn import AutoEncoder
from sparsegrad.optim import Adam, LinearLR
from tests.reliability.harness import npz_arrays


def _parts(hidden_dim: int, seed: int = 0):
    model = AutoEncoder(16, hidden_dim, rng=np.random.default_rng(seed))
    optimizer = Adam(model.parameters(), lr=0.01)
    return model, optimizer, LinearLR(optimizer, end_factor=0.1, epochs=4), np.random.default_rng(seed)


def _saved(path, hidden_dim: int = 8):
    model, optimizer, schedule, rng = _parts(hidden_dim)
    rng.random(3)  # move the RNG along, so that restoring it is visible
    schedule.step()
    state = TrainState(model, optimizer, schedule, rng, epoch=1, history={"loss": [0.5]})
    return save_checkpoint(path, state), model, rng


def test_a_checkpoint_restores_model_optimizer_schedule_and_rng(tmp_path):
    path, saved_model, saved_rng = _saved(tmp_path / "checkpoint.npz")
    model, optimizer, schedule, rng = _parts(8, seed=1)
    epoch, hist = load_checkpoint(path, model, optimizer, schedule, rng)
    assert (epoch, hist) == (1, {"loss": [0.5]})
    for name, value in saved_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)
    assert schedule.epoch == 1 and optimizer.lr == schedule.lr_at(1)
    assert rng.random() == saved_rng.random()
    assert checkpoint_epoch(path) == 1


def test_a_checkpoint_for_another_hidden_dim_names_the_parameter_and_both_shapes(tmp_path):
    path, _, _ = _saved(tmp_path / "checkpoint.npz", hidden_dim=8)
    model, optimizer, schedule, rng = _parts(4)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ExperimentError) as caught:
        load_checkpoint(path, model, optimizer, schedule, rng)
    message = str(caught.value)
    found = re.search(r"parameter '([\w.]+)' has shape (\(\d+, \d+\)) in the checkpoint but (\(\d+, \d+\)) in the "
                      r"model", message)
    assert found, message
    name, saved_shape, model_shape = found.groups()
    assert saved_shape == str(tuple(npz_arrays(path)[f"model/{name}"].shape))
    assert model_shape == str(model.state_dict()[name].shape) and saved_shape != model_shape
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), "changed the model anyway"


def test_a_checkpoint_holding_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    np.savez(path, epoch=np.array(1), rng=np.array([{"pickled": True}], dtype=object))
    with pytest.raises(ExperimentError, match="pickled objects, which are never loaded"):
        checkpoint_epoch(path)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"not an npz at all"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(content)
    with pytest.raises(ExperimentError, match=f"cannot read checkpoint {re.escape(str(path))}"):
        checkpoint_epoch(path)


def test_what_a_run_writes_loads_without_pickle(scenarios):
    ws, outcome = scenarios("reference")
    assert outcome.returncode == 0, outcome
    for name in ("checkpoint.npz", "weights.npz"):
        arrays = npz_arrays(ws.path / "run" / name)  # allow_pickle=False
        assert arrays and all(a.dtype != object for a in arrays.values()), name
    weights = npz_arrays(ws.path / "run" / "weights.npz")
    model = AutoEncoder(784, 64)
    model.load_state_dict(weights)
    checkpoint = npz_arrays(ws.path / "run" / "checkpoint.npz")
    assert all(np.array_equal(checkpoint[f"model/{k}"], v) for k, v in weights.items())
