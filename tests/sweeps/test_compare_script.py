"""scripts/compare.py: the same comparison for any runs, by parent, by experiment, for the latest sweep."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from tests.harness import ROOT, client_for, sweep_runs

SCRIPT = ROOT / "scripts" / "compare.py"


@pytest.fixture(scope="module")
def compare_main():
    spec = importlib.util.spec_from_file_location("compare_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_latest_sweep_from_the_command_line(compare_cli):
    # python scripts/compare.py --uri URI --out DIR: the latest sweep by default
    assert compare_cli.returncode == 0, compare_cli.stderr
    assert "3 runs, 1 not FINISHED" in compare_cli.stdout and "steps_to_threshold" in compare_cli.stdout
    out = Path(compare_cli.args[-1])
    assert len(read_csv(out / "summary.csv")) == 3
    assert (out / "convergence.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "frontier.png").read_bytes().startswith(b"\x89PNG")


def test_by_parent_experiment_and_run_ids(basic_sweep, compare_main, tmp_path, capsys):
    (parent,), children = sweep_runs(basic_sweep.uri)
    uri = ["--uri", basic_sweep.uri]
    assert compare_main([*uri, "--parent", parent.info.run_id, "--out", str(tmp_path / "p")]) == 0
    assert {r["optimizer.lr"] for r in read_csv(tmp_path / "p" / "summary.csv")} == {"0.02", "0.1", "10000.0"}
    # a whole experiment: every run but the sweep's parent
    assert compare_main([*uri, "--experiment", "sparsegrad", "--out", str(tmp_path / "e")]) == 0
    rows = read_csv(tmp_path / "e" / "summary.csv")
    assert sorted(r["run_id"] for r in rows) == sorted(c.info.run_id for c in children)
    two = [c.info.run_id for c in children if c.info.status == "FINISHED"]
    assert compare_main([*uri, "--runs", *two, "--out", str(tmp_path / "r"), "--threshold", "1e9"]) == 0
    rows = read_csv(tmp_path / "r" / "summary.csv")
    assert len(rows) == 2 and all(r["epochs_to_threshold"] == "1" and r["speedup"] == "1.0" for r in rows)
    assert "2 runs, 0 not FINISHED" in capsys.readouterr().out


def test_attach_stores_the_comparison_on_the_parent(basic_sweep, compare_main, tmp_path):
    (parent,), _ = sweep_runs(basic_sweep.uri)
    client = client_for(basic_sweep.uri)
    before = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert compare_main(["--uri", basic_sweep.uri, "--latest", "--attach", "--out", str(tmp_path)]) == 0
    after = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert after == before == {"comparison/convergence.png", "comparison/frontier.png", "comparison/summary.csv"}


def test_errors_are_one_line(basic_sweep, compare_main, tmp_path, capsys):
    assert compare_main(["--uri", f"sqlite:///{tmp_path}/none.db"]) == 1
    assert "no MLflow store" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # not created by looking
    assert compare_main(["--uri", basic_sweep.uri, "--experiment", "nope"]) == 1
    assert "no experiment named 'nope'" in capsys.readouterr().err
    assert compare_main(["--uri", basic_sweep.uri, "--latest", "--in", "nope"]) == 1
    assert "no sweep in experiment 'nope'" in capsys.readouterr().err
    assert compare_main(["--uri", basic_sweep.uri, "--parent", "0" * 32]) == 1
    assert capsys.readouterr().err.startswith("error: ")
