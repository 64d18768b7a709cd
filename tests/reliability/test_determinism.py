"""Row 8: the same config and seed give the identical loss history, run after run."""

from __future__ import annotations

import numpy as np

from tests.harness import history, npz_arrays
from tests.reliability.harness import INTERRUPTIBLE, Workspace, scenario

COMPARED = ("train/loss", "train/recon_loss", "train/sparsity_loss", "val/recon_loss", "mean_activation",
            "near_zero_fraction", "dead_units", "lr", "train/step_loss")  # every metric but epoch_time_s


@scenario
def reference_again(ws: Workspace):
    return ws, ws.run("run", *INTERRUPTIBLE)


def test_the_same_seed_gives_the_identical_metric_histories_and_weights(scenarios):
    ws_a, a = scenarios("reference")
    ws_b, b = scenarios("reference_again")
    assert a.returncode == 0, a
    assert b.returncode == 0, b
    run_a, run_b = ws_a.run_of("run"), ws_b.run_of("run")
    for key in COMPARED:
        got_a = history(ws_a.client("run"), run_a.info.run_id, key)
        assert got_a, key
        assert got_a == history(ws_b.client("run"), run_b.info.run_id, key), key  # exactly
    weights_a, weights_b = npz_arrays(ws_a.path / "run" / "weights.npz"), npz_arrays(ws_b.path / "run" / "weights.npz")
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
