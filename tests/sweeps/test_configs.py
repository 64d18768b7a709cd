"""The sweep configs, composed (no jobs run): experiments, the joblib and SLURM launchers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from sparsegrad.experiment.schema import register_configs, validate
from tests.sweeps.helpers import ROOT


def compose_hydra(overrides: list[str]) -> DictConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def job_overrides(command_line: list[str]) -> list[list[str]]:
    """The jobs `scripts/train.py -m COMMAND_LINE` makes, as override lists, as Hydra's basic sweeper makes them."""
    master = compose_hydra([o for o in command_line if "," not in o])
    params = [f"{k}={v}" for k, v in (master.hydra.sweeper.params or {}).items()]
    parsed = OverridesParser.create().parse_overrides(params + command_line)
    (batch,) = BasicSweeper.split_arguments(parsed, None)
    return batch


def jobs_of(command_line: list[str]) -> list[DictConfig]:
    """Those jobs' configs, validated."""
    jobs = [compose_hydra(overrides) for overrides in job_overrides(command_line)]
    for cfg in jobs:
        validate(cfg)
    return jobs


def test_optimizer_comparison_is_three_tuned_optimizers():
    jobs = jobs_of(["experiment=optimizer_comparison"])
    by_name = {j.hydra.runtime.choices.optimizer: j for j in jobs}
    assert sorted(by_name) == ["adam", "gd", "sgd"]
    assert by_name["gd"].trainer.batch_size is None  # full batch
    assert by_name["sgd"].trainer.batch_size == by_name["adam"].trainer.batch_size == 32
    # tuned: not the optimizer group's defaults (the seed's), except Adam's, which is already the best
    assert (by_name["gd"].optimizer.lr, by_name["sgd"].optimizer.lr, by_name["adam"].optimizer.lr) == (10.0, 10.0, 0.01)
    for job in jobs:
        assert job.data.name == "mnist" and job.tracking.experiment == "optimizer_comparison"
        assert job.optimizer._target_.lower().endswith(job.hydra.runtime.choices.optimizer)
    # the README's offline variant, and a subset
    offline = job_overrides(["experiment=optimizer_comparison", "data=mnist_sample"])
    assert len(offline) == 3 and all("data=mnist_sample" in job for job in offline)
    subset = job_overrides(["experiment=optimizer_comparison", "+experiment/optimizer_comparison=sgd,adam"])
    assert [[o for o in job if o.startswith("+")] for job in subset] == [
        [f"+experiment/optimizer_comparison={o}"] for o in ("sgd", "adam")]


def test_sparsity_sweep_is_beta_by_target_and_one_baseline():
    overrides = job_overrides(["experiment=sparsity_sweep"])
    assert len(overrides) == 10  # 3 betas x 3 targets, and beta=0 once (a grid ran it once per target)
    jobs = [compose_hydra(job) for job in overrides]
    for job in jobs:
        validate(job)
        assert (job.hydra.runtime.choices.sparsity, job.hydra.runtime.choices.optimizer) == ("kl", "adam")
        assert job.tracking.experiment == "sparsity_sweep"
    points = [(job.beta, job.sparsity.target) for job in jobs]
    assert len(set(points)) == len(points)  # no two jobs alike
    assert sorted(points) == [(0.0, 0.1)] + [(b, t) for b in (0.01, 0.1, 1.0) for t in (0.05, 0.1, 0.2)]
    assert all(isinstance(job.beta, float) for job in jobs)
    # the comment's subset and single job
    subset = job_overrides(["experiment=sparsity_sweep", "+experiment/sparsity_sweep=baseline,beta0.1_target0.1"])
    assert len(subset) == 2
    one = compose_hydra(["experiment=sparsity_sweep", "+experiment/sparsity_sweep=beta1_target0.2"])
    assert (one.beta, one.sparsity.target, one.tracking.experiment) == (1.0, 0.2, "sparsity_sweep")


def test_issue_command_lines_make_the_expected_jobs():
    assert len(job_overrides(["beta=0,0.01,0.1,1", "sparsity.target=0.05,0.1,0.2"])) == 12
    assert job_overrides(["optimizer=gd,sgd,adam"]) == [["optimizer=gd"], ["optimizer=sgd"], ["optimizer=adam"]]


def test_joblib_launcher_composes():
    cfg = compose_hydra(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.callbacks.mlflow_sweep._target_ == "sparsegrad.experiment.sweep.MlflowSweepCallback"


@pytest.fixture
def fake_srun(tmp_path, monkeypatch):
    """submitit wants `srun` on PATH to build a SLURM executor: a stub that is never run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")


def test_slurm_launcher_composes_into_an_sbatch_script(tmp_path, fake_srun, monkeypatch):
    import submitit
    from hydra.utils import instantiate

    cfg = compose_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                         f"hydra.sweep.dir={tmp_path / 'sweep'}", "experiment=optimizer_comparison"])
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["submitit_folder"] == f"{tmp_path / 'sweep'}/.submitit/%j"
    # Run the launcher's own launch() up to the submission, and render the sbatch script it would submit.
    submitted = {}

    def map_array(executor, fn, *args):
        submitted.update(executor=executor, jobs=len(args[0]))
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    launcher.setup(hydra_context=None, task_function=lambda cfg: None, config=cfg)
    assert launcher.launch([["+experiment/optimizer_comparison=gd"], ["+experiment/optimizer_comparison=sgd"]],
                           initial_job_idx=0) == []
    assert submitted["jobs"] == 2
    script = submitted["executor"]._executor._make_submission_file_text("python -u job.py", "uid")
    for line in ("#SBATCH --partition=cpu", "#SBATCH --time=180", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4GB",
                 "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1"):
        assert line in script, script
