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
    assert re.search(r"^ratio sparsegrad/numpy: \d+\.\d+x \(target <= 1\.05x: (met|NOT met)\)$",
                     output, flags=re.MULTILINE), output
    # against PyTorch: a ratio when torch is importable, "n/a" with the reason when it is not
    assert re.search(r"^ratio sparsegrad/pytorch: (\d+\.\d+x|n/a)", output, flags=re.MULTILINE), output
    assert re.search(r"^peak RSS: \d+ MB", output, flags=re.MULTILINE), output
    assert "1 thread" in output  # BLAS pinned to one thread


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
                      r"\(target <= 1\.5x\); peak RSS of the run (\d+) MB$", output, flags=re.MULTILINE)
    assert found, output
    wall, loop, _, rss = map(float, found.groups())
    assert 0 < loop < wall and rss > 0  # a measured run, not a made-up figure
