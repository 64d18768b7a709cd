"""The notebooks run, top to bottom, against a small store made by a sweep: they cannot rot.

They are executed by nbclient in the background (see conftest.py), each in a kernel of its
own; the explore notebook reads its store from $SPARSEGRAD_TRACKING_URI.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.harness import ROOT

NOTEBOOKS = ROOT / "notebooks"


def outputs(executed) -> str:
    done, path = executed
    assert done.returncode == 0, done.stderr[-6000:]
    notebook = nbformat.read(path, as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in notebook.cells])


def test_autograd_walkthrough(autograd_notebook):
    text = outputs(autograd_notebook)
    assert "matches the chain rule" in text and "BadSquare passes gradcheck: False" in text
    assert "MatMul" in text and "Sigmoid" in text  # the graph, printed in topological order


def test_explore_runs(explore_notebook, basic_sweep):
    text = outputs(explore_notebook)
    assert basic_sweep.uri in text
    assert "comparison/summary.csv" in text and "optimizer.lr=10000.0" in text
    assert text.count("image/png") >= 3  # convergence, the stored comparison, reconstructions


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
