"""scripts/train.py as users run it: in subprocesses, from a temporary working directory.

The processes of all selected tests start together before the first test (conftest's
`launched`), since each spends seconds importing Hydra and MLflow; a test waits for its own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparsegrad.experiment.tracking import artifact_location, flatten
from tests.harness import ROOT, run_statuses, start, store_uri

from .conftest import CONFIG_ERRORS, E2E_OVERRIDES, compose_config

EPOCH_METRICS = ("train/loss", "train/recon_loss", "train/sparsity_loss", "val/recon_loss", "mean_activation", "lr",
                 "epoch_time_s", "explained_variance", "l0", "weights.grad_norm.encoder.0.weight",
                 "weights.grad_norm_max.decoder.0.bias", "weights.norm.encoder.0.weight",
                 "weights.update_ratio.decoder.0.weight")
PLOTS = ("loss_curve.png", "reconstructions.png", "features.png", "activations.png", "gradients.png")


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_error_is_one_line_and_creates_no_run(launched, case):
    _, key, allowed = CONFIG_ERRORS[case]
    outcome = launched.result(case)
    stderr = outcome.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert outcome.returncode == 2, outcome
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("config error:") and key in lines[0], lines[0]
    assert allowed.lower() in lines[0].lower(), lines[0]
    case_dir = launched.folder(case)
    assert run_statuses(case_dir / "mlflow.db") == []  # no run (the store is not even touched)
    assert not (case_dir / "cwd" / "mlruns").exists()


@pytest.fixture(scope="module")
def e2e_uri(launched) -> str:
    return store_uri(launched.folder("e2e"))


@pytest.fixture(scope="module")
def e2e_run(launched, e2e_uri):
    outcome = launched.result("e2e")
    assert outcome.returncode == 0, outcome
    assert "Traceback" not in outcome.stderr
    from mlflow.tracking import MlflowClient  # seconds to import: only when a test needs it

    client = MlflowClient(e2e_uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, experiment, runs[0]


def test_e2e_run_finished_with_the_whole_config_as_params(launched, e2e_uri, e2e_run):
    client, _, run = e2e_run
    assert run.info.status == "FINISHED"
    assert "failure_reason" not in run.data.tags
    assert run.data.tags["run_dir"] == str(launched.folder("e2e") / "run")
    assert "data=synthetic" in run.info.run_name and "tracking." not in run.info.run_name
    expected = flatten(compose_config([*E2E_OVERRIDES, f"tracking.uri={e2e_uri}"]))
    assert run.data.params == expected
    params = run.data.params
    assert (params["optimizer.lr"], params["model.hidden_dim"], params["beta"]) == ("0.01", "64", "0.1")
    assert (params["sparsity.target"], params["data.name"], params["trainer.epochs"]) == ("0.1", "synthetic", "2")


def test_e2e_metrics_for_both_epochs_and_the_loss_falls(e2e_run):
    client, _, run = e2e_run
    history = {key: sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
               for key in (*EPOCH_METRICS, "train/step_loss")}
    for key in EPOCH_METRICS:
        assert [m.step for m in history[key]] == [1, 2], key
        assert all(math.isfinite(m.value) for m in history[key]), key
    loss = [m.value for m in history["train/loss"]]
    assert loss[1] < loss[0]
    assert [m.value for m in history["lr"]] == pytest.approx([0.01, 0.001])  # linear 0.01 -> 0.001
    assert all(0.0 < m.value < 1.0 for m in history["mean_activation"])
    # 256 images in batches of 32: 8 steps an epoch, step_loss every 2 steps, numbered across epochs
    assert [m.step for m in history["train/step_loss"]] == list(range(2, 17, 2))


def test_e2e_artifacts_are_stored_beside_the_store_not_in_the_cwd(launched, e2e_uri, e2e_run):
    client, experiment, run = e2e_run
    root = launched.folder("e2e")
    assert experiment.artifact_location == artifact_location(e2e_uri, "e2e")
    stored = root / "mlartifacts" / "e2e" / run.info.run_id / "artifacts"
    expected = {"config.yaml", "model/weights.npz", *(f"plots/{name}" for name in PLOTS)}
    assert {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()} >= expected
    listed = {f.path for f in client.list_artifacts(run.info.run_id)}
    listed |= {f.path for d in ("plots", "model") for f in client.list_artifacts(run.info.run_id, d)}
    assert listed >= expected
    assert not (root / "cwd" / "mlruns").exists() and not (root / "mlruns").exists()
    for name in PLOTS:
        assert (stored / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "optimizer:" in (stored / "config.yaml").read_text()
    with np.load(stored / "model" / "weights.npz", allow_pickle=False) as weights:
        shapes = {key: weights[key].shape for key in weights.files}
        assert all(weights[key].dtype == np.float32 and np.isfinite(weights[key]).all() for key in weights.files)
    assert shapes == {"encoder.0.weight": (784, 64), "encoder.0.bias": (64,),
                      "decoder.0.weight": (64, 784), "decoder.0.bias": (784,)}


def test_mnist_sample_run_learns(launched, e2e_uri, e2e_run, tmp_path):
    """Real digits, offline, in this process: a second run into the e2e store (its schema already made)."""
    from sparsegrad.data import load_dataset
    from sparsegrad.experiment.build import build
    from sparsegrad.experiment.job import Job, train
    from sparsegrad.experiment.metrics import measure

    client, _, _ = e2e_run
    overrides = ["data=mnist_sample", "data.limit=500", "trainer.epochs=1", "trainer.log_every_n_steps=2",
                 "trainer.progress=false", "tracking.experiment=mnist_sample", f"tracking.uri={e2e_uri}"]
    cfg = compose_config(overrides)
    val_recon = train(cfg, Job(tmp_path / "run", overrides))

    run = client.search_runs([client.get_experiment_by_name("mnist_sample").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.params["data.limit"] == "500"
    history = client.get_metric_history(run.info.run_id, "train/step_loss")
    steps = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert len(steps) == 8 and steps[-1] < steps[0]  # 500 images, batch 32: 16 steps
    # better than the same model before training (the run's init comes from the same seed)
    data = load_dataset("mnist_sample", limit=500)
    init_seed, _ = np.random.SeedSequence(cfg.seed).spawn(2)
    untrained = measure(build(cfg, np.random.default_rng(init_seed)).model, data.test_images)
    assert math.isfinite(val_recon) and val_recon < 0.9 * untrained.recon_loss


def test_e2e_run_is_tied_to_its_code_and_data(e2e_run):
    client, experiment, run = e2e_run
    tags = run.data.tags
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on the runs
    assert tags["mlflow.source.name"] == "scripts/train.py" and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"] and tags["sparsegrad.numpy"] and tags["sparsegrad.python"]
    assert tags.get("mlflow.source.git.commit", "x" * 40).isalnum()  # (a clone elsewhere may not be a git tree)
    inputs = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
              for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "validation"}
    assert inputs["training"].name == "synthetic-train" and len(inputs["training"].digest) == 16
    assert inputs["training"].digest != inputs["validation"].digest


def test_e2e_images_are_logged_by_key_and_step(e2e_run):
    client, _, run = e2e_run
    images = [f.path for f in client.list_artifacts(run.info.run_id, "images")]
    for key in ("reconstructions", "feature_density"):  # at the last epoch (2; every 5th otherwise)
        assert any(p.startswith(f"images/{key}+step+2+") and p.endswith(".png") for p in images), images


# --- scripts/evaluate.py on the e2e run ---------------------------------------------------------

EVALUATE = ROOT / "scripts" / "evaluate.py"


def test_evaluate_logs_a_linked_evaluation_run(launched, e2e_run, tmp_path):
    client, experiment, scored = e2e_run
    uri = store_uri(launched.folder("e2e"))
    outcome = start([str(EVALUATE), f"run={scored.info.run_id}", f"tracking.uri={uri}", "topk=[2,64]",
                     "probe.epochs=2", f"hydra.run.dir={tmp_path / 'eval'}"], tmp_path, "evaluate").wait()
    assert outcome.returncode == 0, outcome
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`sparsegrad.evaluates` = '{scored.info.run_id}'")
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("evaluate ")
    metrics = run.data.metrics
    assert 0 <= metrics["probe_accuracy"] <= 1 and 0 <= metrics["probe_accuracy_pixels"] <= 1
    assert metrics["explained_variance"] <= 1 and "recon_loss" in metrics
    steps = {m.step for m in client.get_metric_history(run.info.run_id, "topk_recon_loss")}
    assert steps == {2, 64}
    assert "plots/topk.png" in {f.path for f in client.list_artifacts(run.info.run_id, "plots")}


def test_evaluating_a_run_that_does_not_exist_is_one_line(launched, e2e_run, tmp_path):
    uri = store_uri(launched.folder("e2e"))
    outcome = start([str(EVALUATE), "run=0123456789abcdef", f"tracking.uri={uri}",
                     f"hydra.run.dir={tmp_path / 'eval'}"], tmp_path, "evaluate").wait()
    assert outcome.returncode == 2, outcome
    (line,) = outcome.error_lines
    assert line.startswith("config error: run='0123456789abcdef'") and "no such run there" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    ([], "config error: run='(not given)' is not allowed: the id of the MLflow run to evaluate: run=<run id>"),
    (["run=0123"], "config error: tracking.uri='sqlite:///"),
])
def test_evaluate_without_a_run_or_a_store_is_one_line_and_creates_nothing(args, message, tmp_path):
    db = tmp_path / "nowhere" / "mlflow.db"
    outcome = start([str(EVALUATE), *args, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'eval'}"],
                    tmp_path, "evaluate").wait()
    assert outcome.returncode == 2, outcome
    assert outcome.stderr.strip().splitlines()[0].startswith(message), outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1 and "Error executing job" not in outcome.stderr
    assert not db.exists() and not db.parent.exists()
