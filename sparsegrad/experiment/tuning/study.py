"""Where a study lives and how it searches: storage, sampler and pruner from the sweeper's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.metrics import renamed

SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")
FINISHED = ("COMPLETE", "PRUNED", "FAIL")  # trial states that count towards n_trials
INTERRUPTED = "interrupted"  # a trial's user attribute: it was stopped with its sweep (it does not count)


@dataclass
class StudySettings:
    """The sweeper's settings (conf/hydra/sweeper/optuna.yaml), checked."""

    n_trials: int = 20
    n_jobs: int = 1
    sampler: str = "tpe"
    pruner: str = "median"
    direction: str = "minimize"
    objective: str = "val/recon_loss"
    seed: int | None = 0
    study_name: str | None = None
    storage: str | None = None

    def check(self) -> None:
        for key, ok, allowed in (
                ("n_trials", isinstance(self.n_trials, int) and self.n_trials >= 1, "an integer >= 1"),
                ("n_jobs", isinstance(self.n_jobs, int) and self.n_jobs >= 1, "an integer >= 1"),
                ("sampler", self.sampler in SAMPLERS, " | ".join(SAMPLERS)),
                ("pruner", self.pruner in PRUNERS, " | ".join(PRUNERS)),
                ("direction", self.direction in DIRECTIONS, " | ".join(DIRECTIONS)),
                ("objective", renamed(self.objective) is None, f"the metric is named {renamed(self.objective)}")):
            if not ok:
                raise ConfigError(f"hydra.sweeper.{key}", getattr(self, key), allowed)


def default_storage(tracking_uri: str, root: Path) -> str:
    """Beside the MLflow store when that is a sqlite file (`optuna.db`); else a journal file in the project
    (a tracking server means a cluster: a journal file works on a shared filesystem, sqlite does not)."""
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri[len('sqlite:///'):]).parent / 'optuna.db'}"
    return f"journal:{root / 'optuna.journal'}"


def open_storage(url: str) -> Any:
    """An Optuna storage: `journal:<path>` (a file, for clusters) or a database URL (sqlite:///..., ...)."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:"):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return url


def make_sampler(name: str, seed: int | None) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":  # (continuous parameters only; Optuna falls back to random for the others)
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, epochs: int) -> Any:
    """median: stop a trial whose epoch's value is worse than the median of earlier trials at that epoch
    (after 3 trials and from the 2nd epoch); hyperband: successive halving over 1..epochs epochs."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.NopPruner()


def trials_done(study: Any) -> int:
    """The trials that count towards n_trials: those that ended, less those interrupted with their sweep."""
    return sum(t.state.name in FINISHED and not t.user_attrs.get(INTERRUPTED)
               for t in study.get_trials(deepcopy=False))


def load(settings: StudySettings, storage: str, epochs: int) -> Any:
    """The study, created or continued (`load_if_exists`: the same study_name goes on where it stopped)."""
    import optuna

    return optuna.create_study(study_name=settings.study_name, storage=open_storage(storage),
                               sampler=make_sampler(settings.sampler, settings.seed),
                               pruner=make_pruner(settings.pruner, epochs), direction=settings.direction,
                               load_if_exists=True)
