"""Grid against search on the same budget: 16 configurations of optimizer.lr x beta on data=mnist_sample.

    python scripts/bench_tuning.py [--epochs 10] [--trials 16]

Runs three sweeps of `scripts/train.py`, one after another, each into a store of its own: the
4 x 4 grid, hydra/sweeper=optuna with TPE and no pruning, and TPE with the median pruner; then
prints, from the runs in MLflow, the best val/recon_loss each reached, the epochs trained in all
(counted from each run's metric history) and the wall time, as a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LRS, BETAS = ("0.001", "0.003", "0.01", "0.03"), ("0", "0.03", "0.1", "0.3")
SPACE = ["optimizer.lr=tag(log, interval(0.001, 0.03))", "beta=interval(0, 0.3)"]


def _sweep(args: list[str], store: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "-m", *args, "data=mnist_sample",
                           "trainer.progress=false", f"tracking.uri=sqlite:///{store}",
                           f"hydra.sweep.dir={store.parent / 'sweep'}"], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"the sweep failed (exit {done.returncode}): {done.stderr[-800:]}")
    return time.perf_counter() - start


def _score(store: Path) -> tuple[float, int, int]:
    """(best val/recon_loss of a finished run, epochs trained in all, runs)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = [r for r in client.search_runs(ids, "", max_results=1000) if "mlflow.parentRunId" in r.data.tags]
    epochs = sum(len(client.get_metric_history(r.info.run_id, "train/loss")) for r in runs)
    finished = [r.data.metrics["val/recon_loss"] for r in runs if r.info.status == "FINISHED"
                and "sparsegrad.stopped" not in r.data.tags]
    return min(finished), epochs, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    epochs = f"trainer.epochs={args.epochs}"
    study = ["hydra/sweeper=optuna", f"hydra.sweeper.n_trials={args.trials}", *SPACE, epochs]
    kinds = {"grid (4 x 4)": [f"optimizer.lr={','.join(LRS)}", f"beta={','.join(BETAS)}", epochs],
             "TPE": [*study, "hydra.sweeper.pruner=none"],
             "TPE + median pruning": [*study, "hydra.sweeper.pruner=median"]}
    print(f"| {args.trials} configurations, {args.epochs} epochs each, data=mnist_sample | best val/recon_loss "
          "| epochs trained | wall time |\n|---|---|---|---|")
    grid_best = grid_epochs = None
    for name, sweep_args in kinds.items():
        with tempfile.TemporaryDirectory(prefix="sparsegrad-tuning-") as tmp:
            store = Path(tmp) / "mlflow.db"
            wall = _sweep(sweep_args, store)
            best, trained, runs = _score(store)
        grid_best, grid_epochs = grid_best or best, grid_epochs or trained
        print(f"| {name} | {best:.5f} ({100 * (best / grid_best - 1):+.1f}% of the grid's) | {trained} "
              f"({100 * trained / grid_epochs:.0f}%) | {wall:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
