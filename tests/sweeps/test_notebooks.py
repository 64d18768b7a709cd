"""The notebooks run, top to bottom, against a small store made by a sweep: they cannot rot.

They are executed by nbclient in the background (see conftest.py), each in a kernel of its
own; the explore notebook reads its store from $SPARSEGRAD_TRACKING_URI, a sqlite file or a
tracking server. Their cells hold what they show, no warnings and no progress bars; and
`make notebooks` (the `notebooks` extra, JupyterLab) serves them.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request

import pytest

from tests.harness import ROOT, Process, free_port, notebook, subprocess_env

NOTEBOOKS = ROOT / "notebooks"
# What a cell must not fill with: tqdm's warning where ipywidgets is missing, MLflow's download bars.
CLUTTER = re.compile(r"IProgress|TqdmWarning|Downloading artifacts|\d+%\|")


def outputs(executed) -> str:
    import nbformat  # (here, not at the top: its import takes ~2 s, which the fast suite does without)

    done, path = executed
    assert done.returncode == 0, done.stderr[-6000:]
    notebook = nbformat.read(path, as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in notebook.cells])


def assert_uncluttered(text: str) -> None:
    """No warning or progress bar in the cells' outputs, and nothing on stderr."""
    assert not CLUTTER.search(text), CLUTTER.search(text)
    assert '"name": "stderr"' not in text, text


def test_autograd_walkthrough(autograd_notebook):
    text = outputs(autograd_notebook)
    assert "matches the chain rule" in text and "BadSquare passes gradcheck: False" in text
    assert "MatMul" in text and "Sigmoid" in text  # the graph, printed in topological order
    # the graph drawn by sparsegrad.viz: inline SVG where Graphviz is installed, else its DOT text
    assert ("image/svg+xml" in text) if shutil.which("dot") else ("digraph sparsegrad" in text)
    assert_uncluttered(text)


def test_explore_runs(explore_notebook, basic_sweep):
    text = outputs(explore_notebook)
    assert basic_sweep.uri in text
    assert "comparison/summary.csv" in text and "optimizer.lr=10000.0" in text
    assert text.count("image/png") >= 3  # convergence, the stored comparison, reconstructions
    assert_uncluttered(text)


@pytest.fixture(scope="module")
def explore_over_http(server_sweep, tmp_path_factory):
    """notebooks/explore_runs.ipynb on the store of a tracking server, whose artifacts come over HTTP
    (where MLflow draws a download bar), with MLflow's default, bars on, as in a user's Jupyter."""
    executed = tmp_path_factory.mktemp("explore_over_http") / "explore_runs.ipynb"
    run = notebook(NOTEBOOKS / "explore_runs.ipynb", executed, SPARSEGRAD_TRACKING_URI=server_sweep.uri,
                   MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="true")
    return run.wait(), executed


def test_explore_runs_from_a_tracking_server_shows_no_download_bars(explore_over_http, server_sweep):
    text = outputs(explore_over_http)
    assert server_sweep.uri in text and "comparison/summary.csv" in text
    assert_uncluttered(text)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_follow_the_notebook_schema(path):
    import nbformat

    nbformat.validate(nbformat.read(path, as_version=4))


def test_the_notebooks_extra_brings_jupyterlab_and_widgets():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", requirement)[0] for requirement in extras["notebooks"]}
    assert {"jupyterlab", "ipywidgets", "sparsegrad"} <= names
    assert "sparsegrad[notebooks]" in extras["dev"]  # the test suite executes the notebooks
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^notebooks: .*install-notebooks', makefile, re.M)
    assert 'install -e ".[notebooks]"' in makefile and "jupyter lab" in makefile


@pytest.mark.slow
def test_make_notebooks_serves_jupyterlab(tmp_path):
    """`make notebooks` on a free port: JupyterLab answers on 127.0.0.1, with the notebooks in it."""
    port = free_port()
    server = Process(["make", "-s", "--no-print-directory", "notebooks", f"NOTEBOOK_PORT={port}"], tmp_path,
                     "jupyter", env=subprocess_env(), cwd=ROOT)
    try:
        deadline, token = time.monotonic() + 120, None
        while token is None:
            assert server.poll() is None, server.wait()
            assert time.monotonic() < deadline, f"no token printed within 120 s: {server.err.read_text()[-3000:]}"
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", server.err.read_text())
            token = found and found[1]
            time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as page:
            assert page.status == 200 and "JupyterLab" in page.read().decode()
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=30) as listing:
            names = {item["name"] for item in json.load(listing)["content"]}
        assert {"autograd_walkthrough.ipynb", "explore_runs.ipynb"} <= names
    finally:
        server.stop()  # its process group, by its PID
