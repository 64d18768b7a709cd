"""MLflow: where runs live, and writing params, metrics, artifacts and outcomes to them.

Everything goes through one `MlflowClient` with explicit run ids (no global
"active run"), so a sweep's parent and its jobs never mix each other up.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.errors import TrackingUnreachable

MAX_BATCH = 1000  # MLflow takes at most 1,000 metrics (and 100 params) in one log_batch
_open_runs: dict[str, str] = {}  # run id -> store URI: the runs this process started and has not ended


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts beside the sqlite store (`mlartifacts/` next to the .db), whatever the cwd.

    Without this MLflow writes them to `./mlruns` of the current directory. A
    tracking server (`http://`) decides for itself: None.
    """
    db = sqlite_path(uri)
    if db is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    return (db.resolve().parent / "mlartifacts" / safe).as_uri()


def check_reachable(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, before any training, when the tracking store cannot be used."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as reply:
                reply.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnreachable(
                f"cannot reach the MLflow tracking server at {uri} ({reason}): start it "
                "(`make server`) or point tracking.uri elsewhere"
            ) from None
        return
    db = sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingUnreachable(f"cannot create the MLflow store {db}: {exc}") from None
        if not os.access(db.parent, os.W_OK):
            raise TrackingUnreachable(f"the MLflow store directory {db.parent} is not writable")


def flatten(cfg: DictConfig, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """The resolved config as dotted keys: {"optimizer.lr": "0.01", ...}, less `exclude`d top keys."""
    flat: dict[str, str] = {}
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in exclude]) if exclude else cfg

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = "null" if node is None else str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


class Tracker:
    """One MLflow experiment: opens runs in it and writes to them."""

    def __init__(self, uri: str, experiment: str) -> None:
        check_reachable(uri)  # first: an unreachable store is reported before mlflow's slow import
        from mlflow.tracking import MlflowClient  # mlflow costs seconds to import: only when tracking

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            self.experiment_id = self._create_experiment(experiment)
        else:
            self.experiment_id = found.experiment_id

    def _create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name, artifact_location=artifact_location(self.uri, name))
        except MlflowException:  # made meanwhile by a parallel job
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def start_run(self, name: str | None, tags: Mapping[str, str] | None = None,
                  parent_run_id: str | None = None) -> str:
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        _open_runs[run.info.run_id] = self.uri
        return run.info.run_id

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, rows: Iterable[tuple[str, float, int]]) -> None:
        """Send (key, value, step) rows in as few calls as MLflow allows."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value, step in rows]
        for i in range(0, len(metrics), MAX_BATCH):
            self.client.log_batch(run_id, metrics=metrics[i:i + MAX_BATCH])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag if the run has it."""
        if key in self.client.get_run(run_id).data.tags:
            self.client.delete_tag(run_id, key)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        """FINISHED, FAILED or KILLED; a failure's reason goes in the tag `failure_reason`."""
        if reason:
            self.client.set_tag(run_id, "failure_reason", reason[:5000])
        self.client.set_terminated(run_id, status)
        _open_runs.pop(run_id, None)

    def run_url_hint(self, run_id: str) -> str:
        db = sqlite_path(self.uri)
        ui = f"mlflow ui --backend-store-uri {self.uri}" if db else self.uri
        return f"run {run_id} in experiment {self.experiment_id}; see it with: {ui}"


def kill_orphaned_children(reason: str) -> list[str]:
    """After an interruption: the RUNNING children of the runs this process left open become KILLED.

    A sweep's parent run stays open in the launching process while its jobs run;
    a parallel launcher (joblib) kills its worker processes outright when the sweep
    is interrupted, so their runs cannot record their own end. Returns the run ids
    marked. (The parent itself is the sweep callback's to end.)
    """
    killed: list[str] = []
    for run_id, uri in list(_open_runs.items()):
        from mlflow.tracking import MlflowClient  # (only when there are runs: a seconds-long import)

        check_reachable(uri)
        client = MlflowClient(tracking_uri=uri)
        experiment_id = client.get_run(run_id).info.experiment_id
        orphans = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{run_id}' and "
                                     "attributes.status = 'RUNNING'", max_results=10_000)
        for orphan in orphans:
            orphan_id = orphan.info.run_id
            client.set_terminated(orphan_id, "KILLED")  # first: the status matters most
            client.set_tag(orphan_id, "failure_reason", f"{reason}; continue it with trainer.resume={orphan_id}")
            killed.append(orphan_id)
    return killed
