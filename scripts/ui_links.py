"""The links `make ui` prints: each experiment of a sqlite store, opened on its runs.

MLflow 3's UI chooses between its GenAI view (traces) and its model-training view (runs)
from the URL's `workflowType` or the browser's saved choice, not from the experiment's
`mlflow.experimentKind` tag: `http://HOST:PORT/#/experiments/<id>` opens on GenAI traces,
`http://HOST:PORT/#/experiments/<id>?workflowType=machine_learning` on the runs table.

    python scripts/ui_links.py STORE.db http://127.0.0.1:5000

Reads the store with sqlite3, read-only: a store that does not exist yet is not created.
"""

from __future__ import annotations

import argparse
import sqlite3
from contextlib import closing
from pathlib import Path

VIEW = "workflowType=machine_learning"  # MLflow 3's model-training view


def experiment_link(url: str, experiment_id: str) -> str:
    return f"{url.rstrip('/')}/#/experiments/{experiment_id}?{VIEW}"


def experiments(db: Path) -> list[tuple[str, str, int]]:
    """(id, name, runs) of each active experiment holding runs, newest first; [] for no store."""
    if not db.is_file():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"experiments", "runs"} <= tables:
            return []
        rows = connection.execute(
            "SELECT e.experiment_id, e.name, COUNT(r.run_uuid) FROM experiments e"
            " JOIN runs r ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'"
            " WHERE e.lifecycle_stage = 'active' GROUP BY e.experiment_id ORDER BY MAX(r.start_time) DESC")
        return [(str(i), name, n) for i, name, n in rows]


def lines(db: Path, url: str) -> list[str]:
    found = experiments(db)
    if not found:
        return [f"{db}: no runs yet; each run prints the link to its page. All experiments (model training):",
                f"  {url.rstrip('/')}/#/experiments?{VIEW}"]
    width = max(len(name) for _, name, _ in found)
    return ["Open an experiment's runs (MLflow 3's model-training view; without `?" + VIEW + "` it opens on"
            " GenAI traces):"] + [f"  {name.ljust(width)}  {experiment_link(url, i)}  ({n} run{'s' * (n != 1)})"
                                  for i, name, n in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path, help="the MLflow sqlite store (its file)")
    parser.add_argument("url", help="where the UI serves, e.g. http://127.0.0.1:5000")
    args = parser.parse_args()
    print("\n".join(lines(args.db, args.url)), flush=True)


if __name__ == "__main__":
    main()
