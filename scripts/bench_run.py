"""Speed beyond one step: BLAS threads, how cost grows with size, a whole run, a sweep (issue #13).

    python scripts/bench_run.py --threads            # one BLAS thread against two, over batch x hidden
    python scripts/bench_run.py --scaling            # sparsegrad, NumPy, PyTorch over batch x hidden (+ PNG)
    python scripts/bench_run.py --end-to-end         # a whole default run against its loop and its floor
    python scripts/bench_run.py --end-to-end --variant '~callbacks.system_metrics'   # and without a callback
    python scripts/bench_run.py --sweep              # the 10-job sparsity sweep: basic launcher, then joblib on 2

The step of `--threads` and `--scaling` is the one `scripts/bench.py` times (the same model, loss,
Adam, data, weights and batches), at other sizes: 784 inputs, hidden 64/256/1024, batch
32/256/4000. Each figure is a median of paired repeats (the implementations alternated), as
ratios in one process: this VM's speed drifts from minute to minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (scripts/bench.py: the three implementations of the step)

HIDDEN, BATCHES = (64, 256, 1024), (32, 256, 4000)
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _timed(step: bench.Step, images: np.ndarray, order: np.ndarray) -> float:
    """Seconds per step over `order`'s batches."""
    start = time.perf_counter()
    for indices in order:
        step(images[indices])
    return (time.perf_counter() - start) / len(order)


def _grid(runs: dict[str, Callable[[dict[str, np.ndarray]], tuple[bench.Step, int]]], repeats: int,
          budget_s: float) -> dict[tuple[int, int], dict[str, float]]:
    """ms/step of each run (a step builder and its BLAS threads) over hidden x batch, median of repeats."""
    from threadpoolctl import threadpool_limits

    results = {}
    for hidden in HIDDEN:
        init = bench.initial_weights(0, (bench.INPUT_DIM, hidden))
        for batch in BATCHES:
            images = bench.load_images("synthetic", max(2048, 2 * batch), 0)
            probe = bench.batch_order(len(images), 2, batch, 0)
            with threadpool_limits(limits=1):
                step, _ = runs["numpy" if "numpy" in runs else next(iter(runs))](init)
                step(images[probe[0]])
                per_step = _timed(step, images, probe[1:])
            steps = max(3, min(300, int(budget_s / max(per_step, 1e-6))))
            order = bench.batch_order(len(images), steps, batch, 1)
            times: dict[str, list[float]] = {name: [] for name in runs}
            for repeat in range(repeats):
                names = list(runs)
                for name in names[repeat % len(names):] + names[:repeat % len(names)]:
                    step, threads = runs[name](init)
                    with threadpool_limits(limits=threads):
                        step(images[order[0]])  # warm
                        times[name].append(_timed(step, images, order))
            results[(hidden, batch)] = {name: 1e3 * statistics.median(t) for name, t in times.items()}
            row = "  ".join(f"{name} {ms:8.3f} ms" for name, ms in results[(hidden, batch)].items())
            print(f"hidden {hidden:5d} batch {batch:5d}  ({steps} steps x {repeats})  {row}", flush=True)
    return results


def threads(args: argparse.Namespace) -> None:
    """sparsegrad's step on one BLAS thread against all cores: where does sharing out start to pay?"""
    cores = os.cpu_count() or 1
    runs = {"1 thread": lambda init: (bench.sparsegrad_step(init), 1),
            f"{cores} threads": lambda init: (bench.sparsegrad_step(init), cores)}
    results = _grid(runs, args.repeats, args.budget)
    print("\n| hidden | batch | batch x 784 x hidden | 1 thread ms | "
          f"{cores} threads ms | {cores} threads / 1 |")
    print("|---|---|---|---|---|---|")
    for (hidden, batch), ms in results.items():
        one, many = ms["1 thread"], ms[f"{cores} threads"]
        print(f"| {hidden} | {batch} | {batch * 784 * hidden:,} | {one:.3f} | {many:.3f} | {many / one:.2f}x |")


def scaling(args: argparse.Namespace) -> None:
    """Step time of sparsegrad, hand-written NumPy and PyTorch eager over hidden x batch; one thread."""
    torch, note = bench.import_torch(True)
    runs: dict[str, Callable[[dict[str, np.ndarray]], tuple[bench.Step, int]]] = {
        "sparsegrad": lambda init: (bench.sparsegrad_step(init), 1),
        "numpy": lambda init: (bench.numpy_step(init), 1)}
    if torch is not None:
        runs["pytorch"] = lambda init: (bench.torch_step(init, torch), 1)
    print(f"PyTorch: {note}")
    results = _grid(runs, args.repeats, args.budget)
    print("\n| hidden | batch | sparsegrad ms | NumPy ms | PyTorch ms | sparsegrad / NumPy | sparsegrad / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for (hidden, batch), ms in results.items():
        theirs = ms.get("pytorch", float("nan"))
        print(f"| {hidden} | {batch} | {ms['sparsegrad']:.3f} | {ms['numpy']:.3f} | {theirs:.3f} | "
              f"{ms['sparsegrad'] / ms['numpy']:.2f}x | {ms['sparsegrad'] / theirs:.2f}x |")
    if args.plot:
        _plot(results, Path(args.plot))


def _plot(results: dict[tuple[int, int], dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for hidden, marker in zip(HIDDEN, "os^"):
        ms = [results[(hidden, b)] for b in BATCHES]
        left.plot(BATCHES, [m["sparsegrad"] / m["numpy"] for m in ms], marker + "-", label=f"hidden {hidden}")
        if "pytorch" in ms[0]:
            right.plot(BATCHES, [m["sparsegrad"] / m["pytorch"] for m in ms], marker + "-", label=f"hidden {hidden}")
    left.axhline(1.0, color="k", lw=0.8)
    left.set(xscale="log", xlabel="batch", ylabel="sparsegrad / hand-written NumPy", title="against NumPy")
    right.axhline(1.0, color="k", lw=0.8)
    right.set(xscale="log", xlabel="batch", ylabel="sparsegrad / PyTorch eager", title="against PyTorch eager")
    for ax in (left, right):
        ax.set_xticks(BATCHES, [str(b) for b in BATCHES])
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("step time over model and batch size (784 inputs, one BLAS thread)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"plot: {path}")


# ---- whole runs: MLflow's record of each -----------------------------------------------------


def _trees(args: argparse.Namespace) -> list[Path]:
    """This checkout, and the one `--tree` names (timed alternately: a before/after in one session)."""
    return [ROOT] + ([Path(args.tree).resolve()] if args.tree else [])


def _arms(args: argparse.Namespace) -> list[tuple[str, Path, list[str]]]:
    """What --end-to-end times alternately: (label, checkout, extra overrides); --variant adds this checkout's
    run with its overrides."""
    arms = [("this checkout" if tree == ROOT else str(tree), tree, []) for tree in _trees(args)]
    return arms + ([(f"with {args.variant}", ROOT, args.variant.split())] if args.variant else [])


def _train(args: list[str], store: str, tree: Path = ROOT) -> float:
    """Wall seconds of `scripts/train.py args` (of the checkout `tree`) logging to `store`, one BLAS thread."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if tree != ROOT:
        env = dict(env, PYTHONPATH=str(tree))  # its own sparsegrad, not this one
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(tree / "scripts" / "train.py"), *args, "trainer.progress=false",
                           f"tracking.uri={store}", "tracking.experiment=bench"], env=env, capture_output=True,
                          text=True, cwd=tree)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the run failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return wall


def _runs(store: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("bench")
    return [(r, client) for r in client.search_runs([experiment.experiment_id], max_results=1000)
            if r.data.tags.get("sparsegrad.sweep") != "parent"]


def _loop_s(run: Any, client: Any) -> float:
    return sum(m.value for m in client.get_metric_history(run.info.run_id, "epoch_time_s"))


def end_to_end(args: argparse.Namespace) -> None:
    """The whole default run against the sum of its epochs' loops and the NumPy floor of its steps."""
    data = "fashion_mnist" if FASHION.is_dir() else "mnist_sample"
    images = bench.load_images("synthetic", 2048, 0)
    order = bench.batch_order(len(images), 2000, bench.BATCH, 0)
    walls: dict[str, list[float]] = {}
    for repeat, (where, tree, extra) in ((r, a) for r in range(args.repeats) for a in _arms(args)):
        floor_ms = []
        for _ in range(3):  # the NumPy step just before and after, in this process
            step = bench.numpy_step(bench.initial_weights(0))
            floor_ms.append(1e3 * _timed(step, images, order))
        with tempfile.TemporaryDirectory(prefix="sparsegrad-e2e-") as tmp:
            store = f"sqlite:///{tmp}/mlflow.db"
            wall = _train([f"data={data}", f"trainer.epochs={args.epochs}", f"hydra.run.dir={tmp}/run", *extra],
                          store, tree)
            (run, client), = _runs(store)
            loop = _loop_s(run, client)
            steps = int(run.data.tags["steps_per_epoch"]) * args.epochs
            stamps = (run.info.end_time - run.info.start_time) / 1e3
            samples = len(client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage"))
        step = bench.numpy_step(bench.initial_weights(0))
        floor_ms.append(1e3 * _timed(step, images, order))
        floor = statistics.median(floor_ms) * steps / 1e3
        load = os.getloadavg()[0]
        walls.setdefault(where, []).append(wall)
        print(f"repeat {repeat + 1} ({where}): data={data}, {args.epochs} epochs, {steps} steps: wall {wall:.1f} s, "
              f"run open {stamps:.1f} s, loop {loop:.1f} s, NumPy floor {floor:.1f} s "
              f"({statistics.median(floor_ms):.3f} ms a step): run / floor {wall / floor:.3f}x, "
              f"run / loop {wall / loop:.3f}x, loop / floor {loop / floor:.3f}x, {samples} system samples "
              f"(load {load:.1f})", flush=True)
    (first, base), *others = walls.items()
    for where, times in others:  # each repeat's pair, then the median of the pairs
        ratios = [t / b for t, b in zip(times, base)]
        print(f"{where} / {first}: " + ", ".join(f"{r:.3f}x" for r in ratios)
              + f"; median {statistics.median(ratios):.3f}x", flush=True)


def sweep(args: argparse.Namespace) -> None:
    """`-m experiment=sparsity_sweep data=mnist_sample`: basic launcher, then joblib with 2 workers.

    A job's time outside its loop, two ways: on the sweep's critical path (basic launcher: from
    its run's start to the next job's run's start, less its loop: what the next job waits for),
    and from its run's start to its end (which, in a basic sweep, includes storing its plots
    while the next job trains)."""
    for repeat, tree in ((r, t) for r in range(args.repeats) for t in _trees(args)):
        walls, outside, critical = {}, {}, []
        for launcher in ("basic", "joblib"):
            extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
            with tempfile.TemporaryDirectory(prefix="sparsegrad-sweep-") as tmp:
                store = f"sqlite:///{tmp}/mlflow.db"
                walls[launcher] = _train(["-m", "experiment=sparsity_sweep", "data=mnist_sample", *extra,
                                          f"trainer.epochs={args.epochs}", f"hydra.sweep.dir={tmp}/sweep"],
                                         store, tree)
                jobs = sorted(_runs(store), key=lambda rc: rc[0].info.start_time)
                loops = [_loop_s(r, c) for r, c in jobs]
                outside[launcher] = [(r.info.end_time - r.info.start_time) / 1e3 - loop
                                     for (r, _), loop in zip(jobs, loops)]
                if launcher == "basic":
                    loop_sum = sum(loops)
                    ends = [r.info.start_time for r, _ in jobs[1:]] + [jobs[-1][0].info.end_time]
                    critical = [(end - r.info.start_time) / 1e3 - loop for (r, _), end, loop in zip(jobs, ends, loops)]
        where = "this checkout" if tree == ROOT else tree
        print(f"repeat {repeat + 1} ({where}): basic {walls['basic']:.1f} s, its jobs' loops {loop_sum:.1f} s: "
              f"{walls['basic'] / loop_sum:.2f}x; joblib(2) {walls['joblib']:.1f} s: "
              f"{walls['basic'] / walls['joblib']:.2f}x faster; a job's median time outside its loop: "
              f"basic {statistics.median(critical):.2f} s on the critical path "
              f"({statistics.median(outside['basic']):.2f} s from its run's start to its end), "
              f"joblib {statistics.median(outside['joblib']):.2f} s (load {os.getloadavg()[0]:.1f})", flush=True)
        print(json.dumps({"critical_basic_s": [round(x, 2) for x in critical],
                          "outside_basic_s": [round(x, 2) for x in outside["basic"]]}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_mutually_exclusive_group(required=True)
    for mode in ("threads", "scaling", "end-to-end", "sweep"):
        modes.add_argument(f"--{mode}", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per timed run of a step (grid modes)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of each run (--end-to-end, --sweep)")
    parser.add_argument("--tree", default=None, help="--end-to-end, --sweep: also time this other checkout's "
                        "train.py, alternated (before/after a change in one session)")
    parser.add_argument("--variant", default=None, help="--end-to-end: also time this checkout's run with these "
                        "overrides (space-separated), alternated, e.g. '~callbacks.system_metrics'")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "scaling.png"), help="--scaling's PNG ('' for none)")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    {"threads": threads, "scaling": scaling, "end_to_end": end_to_end, "sweep": sweep}[
        next(m for m in ("threads", "scaling", "end_to_end", "sweep") if getattr(args, m))](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
