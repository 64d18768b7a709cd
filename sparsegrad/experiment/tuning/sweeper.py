"""`hydra/sweeper=optuna`: a Hydra sweeper on Optuna's ask/tell API.

    python scripts/train.py -m hydra/sweeper=optuna 'optimizer.lr=tag(log, interval(1e-4, 1e-1))' \
        'beta=interval(0, 1)' hydra.sweeper.n_trials=20

Each round asks Optuna for `n_jobs` trials, launches them as jobs on whichever launcher the
sweep uses (basic, joblib, SLURM), and tells Optuna how each ended: its objective (the last
value the trial's `OptunaPruning` callback reported), PRUNED (the callback stopped it), or FAIL
(the job failed: a NaN loss, an error). The study lives in shared storage, so the trials'
processes report to it wherever they run, and a study continues where it stopped when the same
`study_name` is swept again. Hydra finds the class in `hydra_plugins/sparsegrad_optuna/`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.tuning import study as studies
from sparsegrad.experiment.tuning.space import Space, parse_space

log = logging.getLogger(__name__)
PRUNING = "sparsegrad.experiment.callbacks.OptunaPruning"


def _quoted(text: str) -> str:
    """A value for Hydra's override grammar, whatever characters it holds."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def settings_of(config: DictConfig) -> tuple[studies.StudySettings, str]:
    """The sweeper's settings with their defaults filled in, and the study's storage URL."""
    from sparsegrad.experiment.paths import project_root
    from sparsegrad.experiment.sweep import sweep_overrides

    node = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
    settings = studies.StudySettings(**{k: v for k, v in node.items() if k not in ("_target_", "params")})
    settings.check()
    if settings.study_name is None:  # the same sweep, typed again, continues its study
        shown = [o for o in sweep_overrides(config) if not o.startswith(("tracking.", "hydra."))]
        settings.study_name = f"{config.tracking.experiment}: {' '.join(shown)}"
    storage = settings.storage or studies.default_storage(config.tracking.uri, project_root())
    return settings, storage


def trial_overrides(space: Space, params: dict[str, Any], number: int, settings: studies.StudySettings,
                    storage: str) -> list[str]:
    """A trial's job: its parameters, and the callback that reports its epochs to the study."""
    return [*space.overrides(params), f"+callbacks.pruning._target_={PRUNING}",
            f"+callbacks.pruning.storage={_quoted(storage)}",
            f"+callbacks.pruning.study_name={_quoted(settings.study_name)}",
            f"+callbacks.pruning.trial={number}", f"+callbacks.pruning.monitor={settings.objective}",
            f"+callbacks.pruning.pruner={settings.pruner}"]


class TuningSweeper(Sweeper):
    """The sweeper's logic; Hydra instantiates its subclass in hydra_plugins/sparsegrad_optuna/."""

    def __init__(self, **settings: Any) -> None:
        # (Hydra passes the settings and `params` here; they are read from the config instead, by
        # `settings_of` and `sweep_overrides`, as the sweep callback reads them to check the space.)
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        import optuna

        from sparsegrad.experiment.sweep import sweep_overrides

        config = self.config
        settings, storage = settings_of(config)
        space = parse_space(sweep_overrides(config))
        study = studies.load(settings, storage, int(config.trainer.epochs))
        done = studies.trials_done(study)
        log.info("study %r in %s: %d of %d trials done", settings.study_name, storage, done, settings.n_trials)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")
        job = 0
        while done < settings.n_trials:
            trials = [study.ask(space.distributions) for _ in range(min(settings.n_jobs, settings.n_trials - done))]
            batch = [trial_overrides(space, t.params, t.number, settings, storage) for t in trials]
            try:
                results = self.launcher.launch(batch, initial_job_idx=job)
            except BaseException:  # Ctrl-C, a launcher's error: these trials never ended (and do not count)
                for trial in trials:
                    trial.set_user_attr(studies.INTERRUPTED, True)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
                raise
            for trial, result in zip(trials, results):
                _tell(study, trial, result)
            job, done = job + len(batch), done + len(batch)
        return study

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:  # (checked by the sweep callback)
        return None


def _tell(study: Any, trial: Any, result: JobReturn) -> None:
    """How a trial's job ended, in Optuna's terms."""
    from optuna.trial import TrialState

    frozen = study._storage.get_trial(trial._trial_id)
    value = result._return_value if result.status == JobStatus.COMPLETED else math.nan
    reported = frozen.intermediate_values
    if not isinstance(value, float | int) or not math.isfinite(value) or not reported:
        study.tell(trial, state=TrialState.FAIL)
    elif "pruned_at_epoch" in frozen.user_attrs:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, reported[max(reported)])
