"""MLflow, through one door: where runs live, the tags they carry, and every query and write.

Everything goes through one `MlflowClient` with explicit run ids (no global
"active run"), so a sweep's parent and its jobs never mix each other up. No other
module imports mlflow's client or writes a tag name of its own.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.errors import TrackingUnreachable

if TYPE_CHECKING:
    from mlflow.entities import Run as MlflowRun

URI_ENV = "SPARSEGRAD_TRACKING_URI"  # overrides the default store for train.py, compare.py and notebooks
MAX_METRICS, MAX_PARAMS = 1000, 100  # what MLflow takes in one log_batch

# Tags: names written here only.
PARENT_TAG = "mlflow.parentRunId"
FAILURE_TAG = "failure_reason"  # why a run is FAILED or KILLED
RUN_DIR_TAG = "run_dir"  # the run's folder (checkpoint, plots) on the machine that ran it
STEPS_TAG = "steps_per_epoch"  # optimizer steps per epoch
RESUMED_FROM_TAG, RESUMED_AFTER_TAG = "resumed_from", "resumed_after_epoch"
OWNER_TAG = "sparsegrad.owner"  # `host:pid` of the process training the run
SWEEP_TAG = "sparsegrad.sweep"  # "parent" on a sweep's parent run, "child" on its jobs
OVERRIDES_TAG = "sparsegrad.overrides"  # a job's command-line overrides (JSON list)
CHOICES_TAG = "sparsegrad.choices"  # its config-group choices (JSON object)
SWEEP_JOB_TAG = "sweep_job"  # a job's number in its sweep
JOBS_TAG, JOBS_FAILED_TAG = "jobs", "jobs_failed"  # on a sweep's parent when it ends
SWEEP_DIR_TAG, LAUNCHER_TAG = "sweep_dir", "launcher"  # on a sweep's parent: its folder, its Hydra launcher
SWEEP_OVERRIDES_TAG = "sweep_overrides"  # on a sweep's parent: the swept overrides (JSON list)
STUDY_TAG_PREFIX = "optuna."  # on a study's parent run: optuna.study_name, optuna.storage, optuna.trials_PRUNED, ...
STOPPED_TAG = "sparsegrad.stopped"  # a run a callback stopped early: why, and at which epoch
EVALUATES_TAG = "sparsegrad.evaluates"  # on an evaluation run: the run whose model it scores
# The experiment is one of model training: MLflow 3's UI then opens it on its runs (not on GenAI traces).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
DATA_CONTEXT_TAG = "mlflow.data.context"  # a dataset input's role: training or validation


def default_tracking_uri() -> str:
    """$SPARSEGRAD_TRACKING_URI, else the store conf/tracking/default.yaml names (written there once)."""
    from sparsegrad.experiment.paths import project_root, register_resolvers

    if os.environ.get(URI_ENV):
        return os.environ[URI_ENV]
    register_resolvers()  # (${project_root:})
    return str(OmegaConf.load(project_root() / "conf" / "tracking" / "default.yaml").uri)


URI_SCHEMES = ("sqlite:///", "http://", "https://")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def missing_store(uri: str) -> bool:
    """A `sqlite:///` store whose file does not exist: reading runs from it would create an empty one."""
    store = sqlite_path(uri)
    return store is not None and not store.is_file()


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


def provenance_tags(entry_point: str) -> dict[str, str]:
    """Where a run's code came from, under MLflow's own tag names (its UI shows them), and versions."""
    return {"mlflow.source.name": entry_point, **_code_tags()}


@functools.cache
def _code_tags() -> dict[str, str]:
    """Once per process (four git commands, ~20 ms): a sweep's jobs in one process share the checkout."""
    import getpass
    import platform
    import subprocess

    import numpy as np

    from sparsegrad.experiment.paths import project_root

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    tags = {"mlflow.source.type": "LOCAL", "mlflow.user": getpass.getuser(),
            "sparsegrad.python": platform.python_version(), "sparsegrad.numpy": np.__version__,
            "sparsegrad.version": _version()}
    commit = git("rev-parse", "HEAD")
    if commit:
        tags.update({"mlflow.source.git.commit": commit,
                     "mlflow.source.git.branch": git("rev-parse", "--abbrev-ref", "HEAD"),
                     "sparsegrad.git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower()})
        remote = git("remote", "get-url", "origin")
        if remote:
            tags["mlflow.source.git.repoURL"] = remote
    return tags


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sparsegrad")
    except PackageNotFoundError:
        return "unknown"


def job_tags(number: int | None, overrides: Sequence[str], choices: Mapping[str, str]) -> dict[str, str]:
    """What a sweep's job is: its number, its overrides and its config-group choices."""
    return {SWEEP_TAG: "child", SWEEP_JOB_TAG: str(number), OVERRIDES_TAG: json.dumps(list(overrides)),
            CHOICES_TAG: json.dumps(dict(choices))}


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


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """For a sqlite store: one process at a time (a fresh store's tables are made once, safely)."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def bound_http_calls(timeout_s: float, retries: int) -> None:
    """Each call to a tracking server: at most `timeout_s` per try and `retries` retries (MLflow's
    defaults, 120 s and 7 with growing back-off, let a dead server hang a job for minutes)."""
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(timeout_s)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"


Call = TypeVar("Call", bound=Callable[..., Any])


def _reported(method: Call) -> Call:
    """A store that fails mid-run (a server gone, a database deleted) raises TrackingUnreachable: one line."""
    @functools.wraps(method)
    def call(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return method(self, *args, **kwargs)
        except (MlflowException, OSError) as exc:
            if isinstance(exc, MlflowException) and exc.error_code in ("RESOURCE_DOES_NOT_EXIST",
                                                                      "INVALID_PARAMETER_VALUE"):
                raise  # an answer, not a failure: the caller decides
            raise TrackingUnreachable(f"the MLflow tracking store {self.uri} failed: {_cause(exc)}") from None
    return call  # type: ignore[return-value]


def _cause(exc: BaseException) -> str:
    """The root of a store's error in a few words ("[Errno 111] Connection refused"), not its 20 lines."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if errno:
        return errno.group(0).strip()
    database = re.search(r"\((?:sqlite3|psycopg2|pymysql)\.\w+\) ([^\n\[]+)", text)  # SQLAlchemy's wrapping
    if database:
        return database.group(1).strip()
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


def _digest(images: Any) -> str:
    """sha256 of every byte (~0.2 s for 60,000 images)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()[:16]


class Tracker:
    """A tracking store, and (when named) one experiment in it that new runs go to."""

    def __init__(self, uri: str, experiment: str | None = None, timeout_s: float = 10.0, retries: int = 2) -> None:
        if uri.startswith(("http://", "https://")):
            bound_http_calls(timeout_s, retries)
        check_reachable(uri, min(timeout_s, 5.0))  # first: reported before mlflow's slow import
        from mlflow.tracking import MlflowClient  # mlflow costs seconds to import: only when tracking

        self.uri = uri
        # MLflow's database layer logs each failed query with its traceback before raising it: the
        # error reaches the user once, as one line (`_reported`), not as 60 lines of SQL first.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
        with store_lock(uri):  # the first user of a fresh sqlite store makes its tables; the others wait
            self._client = MlflowClient(tracking_uri=uri)
            self.experiment_id = self._experiment_id(experiment) if experiment is not None else None
            if experiment is None:
                self._client.search_experiments(max_results=1)

    @_reported
    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self._client.get_experiment_by_name(name)
        if found is not None and found.tags.get(EXPERIMENT_KIND_TAG) is None:  # made before this tag was set
            self._client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        if found is None:
            try:
                return self._client.create_experiment(name, artifact_location=artifact_location(self.uri, name),
                                                      tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
            except MlflowException as exc:  # made meanwhile by a job logging to the same server
                found = self._client.get_experiment_by_name(name)
                if found is None:
                    raise TrackingUnreachable(f"cannot create experiment {name!r} in {self.uri}: {exc}") from None
        local = not found.artifact_location.startswith(("mlflow-artifacts:", "s3:", "gs:", "wasbs:", "hdfs:"))
        if self.uri.startswith(("http://", "https://")) and local:
            raise TrackingUnreachable(
                f"experiment {name!r} keeps its artifacts at {found.artifact_location}, a path on whichever "
                f"machine logs, not on the server {self.uri}: log to another experiment "
                "(tracking.experiment=NAME; the server makes it with artifacts it stores), or log to the store "
                "directly (tracking.uri=sqlite:///...) on the machine that has that path")
        return found.experiment_id

    # --- runs: open, write, end ---------------------------------------------------------------

    @_reported
    def start_run(self, name: str | None, tags: Mapping[str, str] | None = None,
                  parent_run_id: str | None = None) -> str:
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags[PARENT_TAG] = parent_run_id
        return self._client.create_run(self.experiment_id, run_name=name, tags=all_tags).info.run_id

    @_reported
    def reopen(self, run_id: str, tags: Mapping[str, str]) -> None:
        """A KILLED or FAILED run RUNNING again (resumed), without its old failure reason."""
        self._client.update_run(run_id, status="RUNNING")
        if FAILURE_TAG in self.get_run(run_id).data.tags:
            self._client.delete_tag(run_id, FAILURE_TAG)
        self.set_tags(run_id, tags)

    @_reported
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS):
            self._client.log_batch(run_id, params=items[i:i + MAX_PARAMS])

    @_reported
    def log_metrics(self, run_id: str, rows: Iterable[tuple[str, float, int] | tuple[str, float, int, int]]) -> None:
        """Send (key, value, step) rows in as few calls as MLflow allows; a row may add its own time
        (key, value, step, ms since the epoch), else it is stamped now."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(row[0], float(row[1]), row[3] if len(row) > 3 else now, row[2]) for row in rows]
        for i in range(0, len(metrics), MAX_METRICS):
            self._client.log_batch(run_id, metrics=metrics[i:i + MAX_METRICS])

    @_reported
    def log_image(self, run_id: str, picture: Any, key: str, step: int) -> None:
        """An image by key and step: the UI's image slider shows how it changes over the steps."""
        self._client.log_image(run_id, picture, key=key, step=step, synchronous=True)

    @_reported
    def log_datasets(self, run_id: str, datasets: Mapping[str, tuple[str, str, Any, Any]]) -> None:
        """Dataset inputs by context (training, validation): {context: (name, source, images, labels)}.

        The digest is of every byte (MLflow's own hashes only the first 10,000 values), so two
        runs on different data can be told apart in the runs table's Dataset column.
        """
        import warnings

        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        inputs = []
        for context, (name, source, images, labels) in datasets.items():
            digest = _digest(images)
            with warnings.catch_warnings():  # (a source that is no URI is kept as text, with a warning)
                warnings.simplefilter("ignore")
                dataset = mlflow.data.from_numpy(images, source=source, targets=labels, name=name, digest=digest)
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(DATA_CONTEXT_TAG, context)]))
        try:
            self._client.log_inputs(run_id, datasets=inputs)
        except MlflowException as exc:  # another process added the same dataset in between: it is there now
            if "UNIQUE constraint failed" not in str(exc):
                raise
            self._client.log_inputs(run_id, datasets=inputs)

    @_reported
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._client.set_tag(run_id, key, value)

    @_reported
    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(run_id, str(path), artifact_path)

    @_reported
    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._client.log_text(run_id, text, artifact_file)

    @_reported
    def log_pyfunc_model(self, run_id: str, name: str, code: Path, artifacts: Mapping[str, Path], library: Path,
                         example: Any, output: Any,
                         requirements: list[str], registered_name: str | None, step: int) -> str | None:
        """A pyfunc model (models-from-code: `code` defines it) logged with the run, at `step` (so it carries
        that step's metrics), and registered as a new version of `registered_name`; that version, or None."""
        import mlflow
        from mlflow.models import Model, infer_signature
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        signature = infer_signature(example, output, params={"output": "reconstruction"})
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # (its bars, as it checks the example)
        with _use_tracking_uri(self.uri):  # (MLflow's model logging takes no client: it finds the store by URI)
            # made here, so that it lands in the run's experiment (MLflow would pick the active or default one)
            logged = self._client.create_logged_model(self.get_run(run_id).info.experiment_id, name,
                                                      source_run_id=run_id)
            info = Model.log(None, name=name, flavor=mlflow.pyfunc, python_model=str(code),
                             artifacts={k: str(v) for k, v in artifacts.items()}, code_paths=[str(library)],
                             signature=signature, input_example=example, pip_requirements=requirements,
                             registered_model_name=registered_name, run_id=run_id, model_id=logged.model_id,
                             await_registration_for=0, step=step)
        return str(info.registered_model_version) if registered_name else None

    @_reported
    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        """FINISHED, FAILED or KILLED; a failure's reason goes in the tag `failure_reason`."""
        if reason:
            self._client.set_tag(run_id, FAILURE_TAG, reason[:5000])
        self._client.set_terminated(run_id, status)

    @_reported
    def kill_running_children(self, parent_run_id: str, reason: str) -> list[str]:
        """A parent's children still RUNNING (their workers were killed with it) become KILLED."""
        killed = []
        for child in self.child_runs(parent_run_id, status="RUNNING"):
            run_id = child.info.run_id
            self._client.set_terminated(run_id, "KILLED")  # first: the status matters most
            self._client.set_tag(run_id, FAILURE_TAG, f"{reason}; continue it with trainer.resume={run_id}")
            killed.append(run_id)
        return killed

    # --- queries ---------------------------------------------------------------------------------

    @_reported
    def get_run(self, run_id: str) -> MlflowRun:
        return self._client.get_run(run_id)

    @_reported
    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """(step, value) of a metric, by step."""
        return sorted((m.step, m.value) for m in self._client.get_metric_history(run_id, key))

    def download(self, run_id: str, artifact: str, directory: Path) -> Path:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a file or two: no bars
        return Path(self._client.download_artifacts(run_id, artifact, str(directory)))

    @_reported
    def child_runs(self, parent_run_id: str, status: str | None = None) -> list[MlflowRun]:
        """A sweep's jobs (optionally only those with `status`), oldest first."""
        experiment_id = self.get_run(parent_run_id).info.experiment_id
        query = f"tags.`{PARENT_TAG}` = '{parent_run_id}'" + (f" and attributes.status = '{status}'"
                                                               if status else "")
        return self._client.search_runs([experiment_id], query, max_results=10_000,
                                        order_by=["attributes.start_time ASC"])

    @_reported
    def latest_sweep(self, experiment: str | None = None) -> MlflowRun | None:
        """The most recently started sweep parent run (in `experiment`, else in any experiment)."""
        if experiment is not None:
            found = self._client.get_experiment_by_name(experiment)
            ids = [found.experiment_id] if found else []
        else:
            ids = [e.experiment_id for e in self._client.search_experiments()]
        if not ids:
            return None
        runs = self._client.search_runs(ids, f"tags.`{SWEEP_TAG}` = 'parent'", max_results=1,
                                        order_by=["attributes.start_time DESC"])
        return runs[0] if runs else None

    @_reported
    def experiment_runs(self, experiment: str) -> list[MlflowRun]:
        """Every run of an experiment except sweep parents, oldest first."""
        found = self._client.get_experiment_by_name(experiment)
        if found is None:
            raise LookupError(f"no experiment named {experiment!r}")
        runs = self._client.search_runs([found.experiment_id], "", max_results=10_000,
                                        order_by=["attributes.start_time ASC"])
        return [r for r in runs if r.data.tags.get(SWEEP_TAG) != "parent"]

    def run_url_hint(self, run_id: str) -> str:
        """Where to see the run. The link asks MLflow 3's UI for its "Model training" view: it
        otherwise opens on GenAI traces ("No data available"), whatever the experiment's tag says."""
        page = f"#/experiments/{self.experiment_id}/runs/{run_id}?workflowType=machine_learning"
        if sqlite_path(self.uri):
            return (f"run {run_id}; see it with `mlflow ui --backend-store-uri {self.uri}` (or `make ui`) "
                    f"at http://127.0.0.1:5000/{page}")
        return f"run {run_id}; see it at {self.uri.rstrip('/')}/{page}"
