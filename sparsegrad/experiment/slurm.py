"""SLURM (hydra/launcher=slurm, through hydra-submitit-launcher): what a sweep needs beyond its launcher.

On the machine that submits, `hydra/launcher=slurm` is submitit's launcher with `KeepGoing` mixed in
(hydra_plugins/sparsegrad_slurm/, where Hydra finds launchers), except that a job SLURM ended
without a result (`scancel`, its process killed, its node lost, out of time) is one job that did
not finish, not the end of the sweep: its run, if left RUNNING, is marked KILLED with SLURM's word
for it, the job counts as failed (NaN, as a job that failed by itself), and the sweep compares the
others. (Upstream's `launch` raises at the first such job, and the sweep stops there.)

On a node, inside a job that submitit runs: SIGTERM is only a preemption's warning (submitit ignores
it; the runner turns it into an interruption only in `cli.run_cli`, which a node never runs).
USR2 (the time limit is near, or a preemption) makes submitit requeue the job and exit:
`requeue_as_interruption` lets an epoch's end finish first, and ends the run KILLED with its last
epoch's checkpoint. When SLURM starts the job again, `requeued_run` finds that run in the job's
folder (the same Hydra output folder), and the job continues it, as `trainer.resume=<folder>`.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from sparsegrad.experiment.checkpoint import FILENAME
from sparsegrad.experiment.interrupts import when_released
from sparsegrad.experiment.resume import RUN_ID_FILE

log = logging.getLogger(__name__)


def in_slurm_job() -> bool:
    """Is this process a SLURM job's task that submitit runs?"""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ


def requeued_run(run_dir: Path) -> str | None:
    """In a SLURM job started again (requeued), its folder when it holds the run it began: what to resume."""
    again = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    if in_slurm_job() and again and (run_dir / RUN_ID_FILE).is_file() and (run_dir / FILENAME).is_file():
        return str(run_dir)
    return None


@contextmanager
def requeue_as_interruption() -> Iterator[None]:
    """Inside a submitit job: its USR2 handler (checkpoint the job, requeue it, exit) waits for the
    blocks that `held_interrupts` protects, and its exit is an interruption, so the run ends KILLED
    with its last epoch's checkpoint (and continues when SLURM starts the job again)."""
    submitits = signal.getsignal(signal.SIGUSR2)
    if not in_slurm_job() or not callable(submitits):
        yield
        return

    def on_usr2(signum: int, frame: Any) -> None:
        def requeue() -> None:
            try:
                submitits(signum, frame)  # raises UncompletedJobError when it cannot requeue: the run FAILS
            except SystemExit:
                raise KeyboardInterrupt(f"USR2: SLURM job {_job_id()} preempted or at its time limit, requeued; "
                                        "it continues this run when it starts again") from None

        when_released(requeue)

    signal.signal(signal.SIGUSR2, on_usr2)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR2, submitits)


def _job_id() -> str:
    """This job's id as squeue and scancel show it (`123_4` for an array's task)."""
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}" if task else os.environ["SLURM_JOB_ID"]


class KeepGoing:
    """Mixed into hydra-submitit-launcher's launcher: a job SLURM ended without a result does not end the sweep.

    (A mixin, so that the runner imports without hydra-submitit-launcher installed.)
    """

    params: dict[str, Any]
    config: Any
    _EXECUTOR: str

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        jobs = self._submit(job_overrides, initial_job_idx)
        returns, lost = [], {}
        for number, (job, overrides) in enumerate(zip(jobs, job_overrides), start=initial_job_idx):
            returns.append(self._result(job, overrides, number, lost))
        if lost:
            self._kill_runs(lost)
        return returns

    def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """Upstream's `launch` (hydra-submitit-launcher 1.2.0) up to, not including, waiting for the results."""
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import filter_overrides
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
        from omegaconf import OmegaConf

        specific_init_keys = {"max_num_timeout"}
        init_params = {"folder": self.params["submitit_folder"],
                       **{f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k in specific_init_keys}}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in self.params.items()
                                      if k not in specific_init_keys | {"submitit_folder"}})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}",
                               Singleton.get_state()))
        return executor.map_array(self, *zip(*job_params))

    def _result(self, job: Any, overrides: Sequence[str], number: int, lost: dict[int, str]) -> JobReturn:
        """The job's own return; NaN for one SLURM ended without a result (its SLURM id and state go in `lost`)."""
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            return job.results()[0]
        except UncompletedJobError as exc:
            state = job.state
            lost[number] = f"SLURM job {job.job_id} ended {state} without finishing"
            if isinstance(exc, FailedJobError):  # it raised outside the runner (a bug): its traceback helps
                log.error("job #%d failed: %s", number, exc)
            else:
                log.error("job #%d: %s (scancel, its process killed, or its time limit); its log: %s", number,
                          lost[number], job.paths.stderr)
            return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=math.nan,
                             task_name=str(self.config.hydra.job.name))

    def _kill_runs(self, lost: dict[int, str]) -> None:
        """The runs of jobs SLURM ended (their process had no time to say so) become KILLED, not RUNNING forever."""
        from sparsegrad.experiment.sweep import parent_run_of
        from sparsegrad.experiment.tracking import SWEEP_JOB_TAG, Tracker

        parent = parent_run_of(self.config.hydra.sweep.dir)
        if parent is None:
            return
        tracking = self.config.tracking
        try:
            tracker = Tracker(tracking.uri, tracking.experiment, tracking.timeout_s, tracking.retries)
            for child in tracker.child_runs(parent, status="RUNNING"):
                number = int(child.data.tags.get(SWEEP_JOB_TAG, -1))
                if number in lost:
                    run_id = child.info.run_id
                    tracker.end_run(run_id, "KILLED", f"{lost[number]}; continue it with trainer.resume={run_id}")
                    log.warning("job #%d: run %s KILLED in MLflow", number, run_id)
        except Exception as exc:  # the sweep goes on to its comparison, which says what it can
            log.error("could not mark the lost jobs' runs KILLED in MLflow: %s", exc)
