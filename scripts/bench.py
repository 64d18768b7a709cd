"""Speed of a sparsegrad training step against hand-written NumPy and PyTorch eager.

    python scripts/bench.py                              # synthetic data, 300 steps x 7 repeats
    python scripts/bench.py --steps 1000 --repeats 9 --data mnist_sample
    python scripts/bench.py --profile                    # where a sparsegrad step spends its time
    make bench ARGS="--steps 1000"

One process, the same data, the same initial weights and the same batches for all three:
  sparsegrad  the default AutoEncoder (784-64-784, sigmoid hidden and output), batch 32,
              loss = MSELoss.apply(x, out) + beta * KLDiv.apply(h, rho), Adam(lr=0.01);
  numpy       the same model written out by hand: forward, backward, Adam (float32);
  pytorch     the same in PyTorch eager on the CPU, when torch is importable;
  sparsegrad-topk  sparsegrad with TopK hidden units (k=10) and no penalty, timed beside the others
              (its own model: a time, not a loss to compare).
BLAS runs on one thread for all (threadpoolctl, torch.set_num_threads): with two threads
the timings of this 2-core machine swing by several times. Each repeat runs `--steps`
steps of each implementation from the initial weights, the implementations alternated
(rotated) within a repeat; ms/step is the median over the repeats. The losses reached
must agree (same arithmetic, float32 rounding apart).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a clone without installing

from sparsegrad import Tensor  # noqa: E402
from sparsegrad.nn import AutoEncoder  # noqa: E402
from sparsegrad.operations.activation import FLUSH_BELOW  # noqa: E402
from sparsegrad.operations.loss import EPS, KLDiv, MSELoss  # noqa: E402
from sparsegrad.optim import Adam  # noqa: E402

INPUT_DIM, HIDDEN_DIM, BATCH = 784, 64, 32
BETA, RHO, LR = 0.1, 0.1, 0.01  # sparsity weight, sparsity target, Adam's learning rate
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8  # Adam's defaults, the same in all three
PARAM_NAMES = ("encoder.0.weight", "encoder.0.bias", "decoder.0.weight", "decoder.0.bias")
TOPK_K = 10  # the TopK step's k (model.hidden_activation=topk model.k=10)
TARGETS = {"numpy": 1.05, "pytorch": 0.5}  # sparsegrad's step over theirs must stay below these
E2E_TARGET_S = 60.0  # a whole default run (50 epochs of 60,000 images), start to finish

TOPK = "sparsegrad-topk"  # the TopK step's row
Step = Callable[[np.ndarray], float]  # one training step on a batch -> its loss


# ---- data, initial weights, batches: shared by all three -------------------------------------


def synthetic_images(n: int, seed: int) -> np.ndarray:
    """`n` random-ish 28x28 images in [0, 1]: blends of a few smooth blobs, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    centres = rng.uniform(6, 22, size=(10, 3, 2))
    blobs = np.exp(-((yy - centres[..., :1, None]) ** 2 + (xx - centres[..., 1:, None]) ** 2) / 18.0)
    prototypes = blobs.sum(axis=1).reshape(10, -1)  # 10 prototypes of 3 blobs each
    mix = rng.dirichlet(np.full(10, 0.3), size=n)
    images = mix @ prototypes + 0.05 * rng.standard_normal((n, INPUT_DIM))
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def load_images(name: str, n: int, seed: int, pixels: int = INPUT_DIM) -> np.ndarray:
    """(N, pixels) float32 images: the built-in synthetic set, or a dataset of sparsegrad.data.

    A model of another input size (`--dims`) trains on uniform noise of that size.
    """
    if name == "synthetic":
        if pixels != INPUT_DIM:
            return np.random.default_rng(seed).random((n, pixels), dtype=np.float32)
        return synthetic_images(n, seed)
    if pixels != INPUT_DIM:
        raise SystemExit(f"--data {name} has {INPUT_DIM} pixels: use --data synthetic with --dims")
    try:
        from sparsegrad.data import load_dataset
    except ImportError as error:
        raise SystemExit(f"--data {name} needs sparsegrad.data.load_dataset ({error})") from None
    images = load_dataset(name, limit=n, seed=seed).train_images
    return np.ascontiguousarray(images, dtype=np.float32)


def batch_order(n: int, steps: int, batch: int, seed: int) -> np.ndarray:
    """(steps, batch) sample indices: a fresh shuffle each epoch, the last partial batch dropped."""
    if n < batch:
        raise SystemExit(f"need at least {batch} images, got {n}")
    rng = np.random.default_rng(seed)
    per_epoch = n // batch
    epochs = -(-steps // per_epoch)
    order = [rng.permutation(n)[: per_epoch * batch].reshape(per_epoch, batch) for _ in range(epochs)]
    return np.concatenate(order)[:steps]


def initial_weights(seed: int, dims: tuple[int, int] = (INPUT_DIM, HIDDEN_DIM)) -> dict[str, np.ndarray]:
    """The AutoEncoder's own initialisation (Xavier weights, zero biases), by parameter name."""
    return AutoEncoder(*dims, rng=np.random.default_rng(seed)).state_dict()


def model_dims(init: dict[str, np.ndarray]) -> tuple[int, int]:
    """(input, hidden) of the model these weights belong to."""
    return init["encoder.0.weight"].shape


# ---- (a) sparsegrad ---------------------------------------------------------------------------


def sparsegrad_step(init: dict[str, np.ndarray]) -> Step:
    model = AutoEncoder(*model_dims(init))
    model.load_state_dict(init)
    opt = Adam(model.parameters(), lr=LR)

    def step(batch: np.ndarray) -> float:
        x = Tensor(batch)
        h = model.encode(x)
        out = model.decode(h)
        loss = MSELoss.apply(x, out) + BETA * KLDiv.apply(h, RHO)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def sparsegrad_topk_step(init: dict[str, np.ndarray], k: int = TOPK_K) -> Step:
    """The same, with TopK hidden units (each code keeps its k largest) and no penalty: timed beside the
    default step, not compared with it (a different model)."""
    model = AutoEncoder(*model_dims(init), hidden_activation="topk", k=min(k, model_dims(init)[1]))
    model.load_state_dict(init)
    opt = Adam(model.parameters(), lr=LR)

    def step(batch: np.ndarray) -> float:
        x = Tensor(batch)
        loss = MSELoss.apply(x, model(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


# ---- (b) the same model by hand in NumPy: the floor for any NumPy code --------------------------


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) in place, with sparsegrad's arithmetic: e = exp(-|z|), then 1 / (1 + e) where
    z >= 0 and e / (1 + e) elsewhere (PyTorch's is as stable), and 0 far out (float32: z < -69.9),
    where it would be a subnormal float."""
    numerator_is_one = z >= 0
    far_out = z < -FLUSH_BELOW[z.dtype.char]
    np.abs(z, out=z)
    np.negative(z, out=z)
    e = np.exp(z, out=z)
    denominator = e + 1.0
    np.maximum(e, numerator_is_one, out=e)
    e /= denominator
    e[far_out] = 0.0
    return e


def numpy_step(init: dict[str, np.ndarray]) -> Step:
    params = [init[name].copy() for name in PARAM_NAMES]  # W1 (784, 64), b1, W2 (64, 784), b2
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    scratch = [np.empty_like(p) for p in params]
    t = 0

    def step(x: np.ndarray) -> float:
        nonlocal t
        w1, b1, w2, b2 = params
        n = x.shape[0]
        # forward: h = sigmoid(x W1 + b1), out = sigmoid(h W2 + b2)
        h = x @ w1
        h += b1
        sigmoid_(h)
        out = h @ w2
        out += b2
        sigmoid_(out)
        # loss = mean((out - x)^2) + beta * sum_j KL(rho || rho_hat_j)
        diff = out - x
        flat = diff.reshape(-1)
        mse = np.dot(flat, flat) / flat.size
        rho_hat = np.clip(h.mean(axis=0), EPS, 1.0 - EPS)
        kl = np.sum(RHO * np.log(RHO / rho_hat) + (1.0 - RHO) * np.log((1.0 - RHO) / (1.0 - rho_hat)))
        # backward: dL/d(out) = 2 (out - x) / N, and sigmoid'(z) = s (1 - s) of its output s
        diff *= 2.0 / flat.size
        dz2 = np.subtract(1.0, out)
        dz2 *= out
        dz2 *= diff
        grad_w2 = h.T @ dz2
        grad_b2 = dz2.sum(axis=0)
        dh = dz2 @ w2.T
        # dKL/dh_ij = (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) / N
        dh += (-RHO / rho_hat + (1.0 - RHO) / (1.0 - rho_hat)) * (BETA / n)
        dz1 = np.subtract(1.0, h)
        dz1 *= h
        dz1 *= dh
        grad_w1 = x.T @ dz1
        grad_b1 = dz1.sum(axis=0)
        # Adam, as PyTorch writes it: bias corrections folded into two scalars, every pass in place
        t += 1
        root_bc2 = math.sqrt(1.0 - BETA2**t)
        step_size = LR * root_bc2 / (1.0 - BETA1**t)
        eps = ADAM_EPS * root_bc2
        for p, g, m_p, v_p, tmp in zip(params, (grad_w1, grad_b1, grad_w2, grad_b2), m, v, scratch):
            m_p *= BETA1
            np.multiply(g, 1.0 - BETA1, out=tmp)
            m_p += tmp  # m <- b1 m + (1 - b1) g
            v_p *= BETA2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - BETA2
            v_p += tmp  # v <- b2 v + (1 - b2) g^2
            np.sqrt(v_p, out=tmp)
            tmp += eps
            np.divide(m_p, tmp, out=tmp)
            tmp *= step_size
            p -= tmp  # p <- p - lr m_hat / (sqrt(v_hat) + eps)
        return float(mse + BETA * kl)

    return step


# ---- (c) PyTorch eager ---------------------------------------------------------------------------------


def torch_step(init: dict[str, np.ndarray], torch: Any) -> Step:
    nn = torch.nn
    n_in, n_hidden = model_dims(init)
    encoder = nn.Sequential(nn.Linear(n_in, n_hidden), nn.Sigmoid())
    decoder = nn.Sequential(nn.Linear(n_hidden, n_in), nn.Sigmoid())
    with torch.no_grad():
        for layer, prefix in ((encoder[0], "encoder.0"), (decoder[0], "decoder.0")):
            layer.weight.copy_(torch.from_numpy(init[prefix + ".weight"].T))  # torch keeps (out, in)
            layer.bias.copy_(torch.from_numpy(init[prefix + ".bias"]))
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=LR, betas=(BETA1, BETA2), eps=ADAM_EPS)

    def step(batch: np.ndarray) -> float:
        x = torch.from_numpy(batch)
        h = encoder(x)
        out = decoder(h)
        rho_hat = h.mean(dim=0).clamp(EPS, 1.0 - EPS)
        kl = (RHO * torch.log(RHO / rho_hat) + (1.0 - RHO) * torch.log((1.0 - RHO) / (1.0 - rho_hat))).sum()
        loss = torch.nn.functional.mse_loss(out, x) + BETA * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


# ---- measuring ---------------------------------------------------------------------------------


def minor_faults() -> int:
    """Page faults so far that found the page in memory: each costs ~1-3 us here."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(step: Step, images: np.ndarray, order: np.ndarray) -> tuple[float, float, float, int]:
    """Wall and CPU seconds for all the steps, the last step's loss, the page faults on the way."""
    losses = []
    faults = minor_faults()
    cpu, wall = time.thread_time(), time.perf_counter()
    for indices in order:
        losses.append(step(images[indices]))
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return wall, cpu, losses[-1], minor_faults() - faults


def blas_description() -> list[str]:
    """Which BLAS (and its kernel) each loaded library uses, and on how many threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed: BLAS threads unknown"]
    lines = []
    for pool in threadpool_info():
        name = " ".join(str(part) for part in (pool["internal_api"], pool.get("version")) if part)
        kernel = f", {pool['architecture']} kernel" if pool.get("architecture") else ""
        lines.append(f"{name}{kernel}, {pool['num_threads']} thread(s) ({Path(pool['filepath']).name})")
    forced = [f"{key}={os.environ[key]}" for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if key in os.environ]
    if forced:  # they choose the kernel (and can slow NumPy): reported, never changed here
        lines.append("set in the environment: " + ", ".join(forced))
    return lines


def import_torch(wanted: bool) -> tuple[Any, str]:
    """torch, pinned to one thread, or None with the reason."""
    if not wanted:
        return None, "skipped (--no-torch)"
    try:
        import torch
    except ImportError:
        return None, "not installed: skipped (pip install torch to compare)"
    torch.set_num_threads(1)
    return torch, f"torch {torch.__version__}, {torch.get_num_threads()} thread"


def profile_sparsegrad(images: np.ndarray, order: np.ndarray, init: dict[str, np.ndarray]) -> None:
    """Where a sparsegrad step spends its time: pyinstrument if installed, else cProfile."""
    step = sparsegrad_step(init)
    run(step, images, order[: min(len(order), 20)])  # warm up
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run, step, images, order)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    profiler = Profiler(interval=0.0001)
    profiler.start()
    run(step, images, order)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def end_to_end(args: argparse.Namespace, numpy_ms: float | None) -> None:
    """The wall time of a whole `python scripts/train.py` run against its training loop alone.

    The loop alone is the sum of the run's `epoch_time_s` (training steps only, read back
    from MLflow); the rest is start-up, data loading, validation, logging, checkpoints and
    plots. Peak RSS is the run's own (its process, not this one). `numpy_ms`, the
    hand-written NumPy step measured above, gives the floor of the loop: that many steps
    of the plain NumPy code, which no NumPy program of this model gets under.
    """
    import os
    import subprocess
    import tempfile

    data = args.e2e_data or ("fashion_mnist" if Path("/usr/share/datasets/fashion-mnist").is_dir()
                             else "mnist_sample")
    with tempfile.TemporaryDirectory(prefix="sparsegrad-e2e-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        command = [sys.executable, str(ROOT / "scripts" / "train.py"), f"data={data}",
                   f"trainer.epochs={args.e2e_epochs}", "trainer.progress=false", f"tracking.uri={uri}",
                   "tracking.experiment=bench", f"hydra.run.dir={tmp}/run"]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        print(f"\nend-to-end: scripts/train.py {' '.join(command[2:4])} (one BLAS thread)")
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(f"end-to-end: the run failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        run = client.search_runs([client.get_experiment_by_name("bench").experiment_id])[0]
        loop = sum(m.value for m in client.get_metric_history(run.info.run_id, "epoch_time_s"))
        steps = int(run.data.tags["steps_per_epoch"]) * args.e2e_epochs
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"end-to-end: {wall:.1f} s in all, {loop:.1f} s in the training loop: {wall / loop:.2f}x "
          f"(target <= 1.5x); peak RSS of the run {child_rss:.0f} MB (target < 1024 MB)")
    if numpy_ms is not None:
        floor = numpy_ms * steps / 1e3
        default_run = steps == 93_750  # 50 epochs of 60,000 images in batches of 32
        verdict = (f"the target, < {E2E_TARGET_S:.0f} s in all, is {'met' if wall < E2E_TARGET_S else 'NOT met'}"
                   if default_run else f"the {E2E_TARGET_S:.0f} s target is for 50 epochs of 60,000 images")
        print(f"end-to-end: the loop's floor, {steps} steps of the hand-written NumPy step above: {floor:.1f} s; "
              f"the whole run is {wall / floor:.2f}x that ({verdict})")


def paired_ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """sparsegrad's time over theirs, repeat by repeat: the two ran back to back, so a
    machine that slows down for a while slows both, and the ratio keeps its value."""
    return [a / b for a, b in zip(ours, theirs)]


def ratio_line(name: str, ratios: list[float] | None, note: str = "", judged: bool = True) -> str:
    if not ratios:
        return f"ratio sparsegrad/{name}: n/a ({note})"
    ratio = statistics.median(ratios)
    spread = ""
    if len(ratios) >= 4:
        low, _, high = statistics.quantiles(ratios, n=4)
        spread = f", quartiles {low:.3f}-{high:.3f}"
    verdict = "met" if ratio <= TARGETS[name] else "NOT met"
    target = f"target <= {TARGETS[name]:.2f}x: {verdict}" if judged else "the targets are for the default model"
    return f"ratio sparsegrad/{name}: {ratio:.3f}x (median of {len(ratios)} paired repeats{spread}; {target})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each implementation")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic (built in), or a sparsegrad.data dataset such as mnist_sample")
    parser.add_argument("--samples", type=int, default=2048, help="images to train on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dims", default=f"{INPUT_DIM},{HIDDEN_DIM}", metavar="IN,HIDDEN",
                        help="the model's input and hidden sizes; e.g. 8,4 makes the arrays cost next to "
                             "nothing, so the difference is the engine's own overhead")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="leave PyTorch out")
    parser.add_argument("--profile", action="store_true", help="profile the sparsegrad step instead")
    parser.add_argument("--end-to-end", action="store_true",
                        help="also the full scripts/train.py wall time against its loop alone")
    parser.add_argument("--e2e-data", default=None,
                        help="data for --end-to-end (default: fashion_mnist, 60,000 images, if Debian's "
                             "package is installed, else mnist_sample)")
    parser.add_argument("--e2e-epochs", type=int, default=50, help="epochs for --end-to-end")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1")
    try:
        dims = tuple(int(d) for d in args.dims.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 2 or min(dims) < 1:
        parser.error(f"--dims takes two positive integers IN,HIDDEN, got {args.dims!r}")

    images = load_images(args.data, args.samples, args.seed, dims[0])
    order = batch_order(len(images), args.steps, BATCH, args.seed)
    init = initial_weights(args.seed, dims)
    rss_before_torch = peak_rss_mb()
    torch, torch_note = import_torch(args.torch and not args.profile)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("warning: threadpoolctl is not installed, BLAS threads are not pinned")
        limits = None
    else:
        limits = threadpool_limits(limits=1)  # after importing torch: its libraries too

    if args.profile:
        profile_sparsegrad(images, order, init)
        return 0

    builders: dict[str, Callable[[], Step]] = {
        "sparsegrad": lambda: sparsegrad_step(init),
        "numpy": lambda: numpy_step(init),
    }
    if torch is not None:
        builders["pytorch"] = lambda: torch_step(init, torch)
    builders[TOPK] = lambda: sparsegrad_topk_step(init)

    print(f"sparsegrad bench: AutoEncoder {dims[0]}-{dims[1]}-{dims[0]} (sigmoid, sigmoid), "
          f"batch {BATCH}, MSE + {BETA} * KL(rho={RHO}), Adam lr={LR}, float32")
    print(f"data: {args.data}, {len(images)} images; {args.steps} steps x {args.repeats} repeats, "
          "alternated; median ms/step")
    for line in blas_description():
        print(f"BLAS: {line}")
    print(f"PyTorch: {torch_note}")

    warmup = order[: min(len(order), 20)]
    for build in builders.values():
        run(build(), images, warmup)
    names = list(builders)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    faults: dict[str, list[int]] = {name: [] for name in names}
    losses: dict[str, float] = {}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:  # rotate the order
            step = builders[name]()  # from the initial weights again, outside the timing
            seconds, cpu_seconds, losses[name], n_faults = run(step, images, order)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
            faults[name].append(n_faults)
            del step
    if limits is not None:
        limits.restore_original_limits()

    def per_step(seconds: list[float], pick: Callable[[list[float]], float] = statistics.median) -> float:
        return 1e3 * pick(seconds) / args.steps

    ms = {name: per_step(wall[name]) for name in names}
    cpu_ms = {name: per_step(cpu[name]) for name in names}
    print()
    print(f"{'':15s} {'ms/step':>8s} {'min':>7s} {'max':>7s} {'cpu ms/step':>12s} {'faults/step':>12s}  final loss")
    for name in names:
        fault_rate = statistics.median(faults[name]) / args.steps
        print(f"{name:15s} {ms[name]:8.3f} {per_step(wall[name], min):7.3f} {per_step(wall[name], max):7.3f} "
              f"{cpu_ms[name]:12.3f} {fault_rate:12.1f}  {losses[name]:.8g}")
    print()
    judged = dims == (INPUT_DIM, HIDDEN_DIM)
    print(ratio_line("numpy", paired_ratios(wall["sparsegrad"], wall["numpy"]), judged=judged))
    print(ratio_line("pytorch", paired_ratios(wall["sparsegrad"], wall["pytorch"]) if "pytorch" in wall else None,
                     f"PyTorch {torch_note}", judged))
    others = [name for name in names[1:] if name != TOPK]  # the same model as sparsegrad's default step
    cpu_ratios = ", ".join(f"sparsegrad/{name} {statistics.median(paired_ratios(cpu['sparsegrad'], cpu[name])):.3f}x"
                           for name in others)
    print(f"the same ratios in CPU time (what a busy machine cannot steal): {cpu_ratios}")
    topk_ratio = statistics.median(paired_ratios(wall[TOPK], wall["sparsegrad"]))
    print(f"TopK step (model.hidden_activation=topk model.k={TOPK_K}, no penalty): {ms[TOPK]:.3f} ms/step, "
          f"{topk_ratio:.3f}x the default step (median of paired repeats)")
    for name in others:
        rel = abs(losses["sparsegrad"] - losses[name]) / abs(losses[name])
        print(f"loss sparsegrad vs {name}: relative difference {rel:.1e}")
    torch_rss = f" (before importing torch: {rss_before_torch:.0f} MB)" if torch is not None else ""
    print(f"peak RSS: {peak_rss_mb():.0f} MB{torch_rss}")
    if args.end_to_end:
        end_to_end(args, ms["numpy"] if judged else None)  # the floor only from the default model
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
