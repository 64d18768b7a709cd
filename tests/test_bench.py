"""scripts/bench.py runs end to end: it prints the ratios, and sparsegrad's loss matches NumPy's.

A smoke test: never a timing assertion (timings depend on the machine and on its load),
and it passes with or without PyTorch installed.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench.py"


def run_bench(*args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def final_losses(output: str) -> dict[str, float]:
    """The last column of the results table: implementation -> the loss it reached."""
    rows = re.findall(r"^(sparsegrad|numpy|pytorch)\s+[\d.]+\s.*\s(\S+)$", output, flags=re.MULTILINE)
    return {name: float(loss) for name, loss in rows}


@pytest.fixture(scope="module")
def output() -> str:
    return run_bench("--steps", "5", "--repeats", "1")


def test_prints_the_ratios(output):
    assert re.search(r"^ratio sparsegrad/numpy: \d+\.\d+x \(median of 1 paired repeats; "
                     r"target <= 1\.05x: (met|NOT met)\)$", output, flags=re.MULTILINE), output
    # against PyTorch: a ratio when torch is importable, "n/a" with the reason when it is not
    assert re.search(r"^ratio sparsegrad/pytorch: (\d+\.\d+x|n/a)", output, flags=re.MULTILINE), output
    assert re.search(r"^peak RSS: \d+ MB", output, flags=re.MULTILINE), output
    assert "1 thread" in output  # BLAS pinned to one thread
    # the TopK step, timed beside the default one
    assert re.search(r"^TopK step \(model\.hidden_activation=topk model\.k=10, no penalty\): \d+\.\d+ ms/step, "
                     r"\d+\.\d+x the default step", output, flags=re.MULTILINE), output


def test_losses_agree_with_numpy(output):
    losses = final_losses(output)
    assert {"sparsegrad", "numpy"} <= losses.keys(), output
    assert losses["sparsegrad"] == pytest.approx(losses["numpy"], rel=1e-4)
    if "pytorch" in losses:  # the same model, data, weights and batches in PyTorch
        assert losses["sparsegrad"] == pytest.approx(losses["pytorch"], rel=1e-3)


def test_without_torch_it_says_so():
    output = run_bench("--steps", "2", "--repeats", "1", "--no-torch")
    assert "ratio sparsegrad/pytorch: n/a" in output
    assert "pytorch" not in final_losses(output)


def test_end_to_end_times_a_real_run_against_its_loop():
    output = run_bench("--steps", "2", "--repeats", "1", "--no-torch", "--end-to-end",
                       "--e2e-data", "synthetic", "--e2e-epochs", "2")
    found = re.search(r"^end-to-end: ([\d.]+) s in all, ([\d.]+) s in the training loop: ([\d.]+)x "
                      r"\(target <= 1\.5x\); peak RSS of the run (\d+) MB \(target < 1024 MB\)$",
                      output, flags=re.MULTILINE)
    assert found, output
    wall, loop, _, rss = map(float, found.groups())
    assert 0 < loop < wall and rss > 0  # a measured run, not a made-up figure
    floor = re.search(r"^end-to-end: the loop's floor, (\d+) steps of the hand-written NumPy step above: "
                      r"([\d.]+) s; the whole run is ([\d.]+)x that", output, flags=re.MULTILINE)
    assert floor, output
    assert int(floor.group(1)) > 0 and float(floor.group(2)) > 0


def test_ratio_is_the_median_of_paired_repeats():
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    # a slow spell hits one repeat of both: the paired ratio of that repeat stays 1.02
    ours, numpy = [1.02, 2.04, 1.02, 1.05, 1.01], [1.0, 2.0, 1.0, 1.0, 1.0]
    ratios = bench.paired_ratios(ours, numpy)
    assert ratios == pytest.approx([1.02, 1.02, 1.02, 1.05, 1.01])
    line = bench.ratio_line("numpy", ratios)
    assert line.startswith("ratio sparsegrad/numpy: 1.020x (median of 5 paired repeats, quartiles ")
    assert line.endswith("target <= 1.05x: met)")
    assert "NOT met" in bench.ratio_line("numpy", [1.06, 1.07, 1.06])
    assert bench.ratio_line("pytorch", None, "not installed") == "ratio sparsegrad/pytorch: n/a (not installed)"


def test_dims_runs_a_model_of_another_size_without_judging_it():
    output = run_bench("--steps", "3", "--repeats", "1", "--no-torch", "--dims", "8,4")
    assert "AutoEncoder 8-4-8" in output
    assert "the targets are for the default model" in output
    losses = final_losses(output)
    assert losses["sparsegrad"] == pytest.approx(losses["numpy"], rel=1e-4)
    bad = subprocess.run([sys.executable, str(BENCH), "--dims", "8"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--dims takes two positive integers" in bad.stderr
