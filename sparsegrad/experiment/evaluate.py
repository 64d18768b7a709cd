"""Score a finished run's model, as the original project's claims ask: does sparsity buy faster
inference (top-k codes, decoded sparse) or better generalization (a linear probe on the codes)?

`evaluate(cfg)`: the run's config and weights from MLflow, the data it names (or `data=`),
then, in an evaluation run of its own in the same experiment (tagged with the run it scores):
- reconstruction MSE and explained variance;
- top-k: keep each image's k largest hidden activations, decode; the loss against k, and the
  decode time of those codes as a dense matrix product against a sparse (CSR) one;
- linear probe: softmax regression, trained with sparsegrad on the frozen codes, its test
  accuracy (`probe_accuracy`), beside the same probe on the raw pixels (`probe_accuracy_pixels`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import load_data
from sparsegrad.experiment.blas import blas_threads
from sparsegrad.experiment.errors import ConfigError, ExperimentError
from sparsegrad.experiment.metrics import measure
from sparsegrad.experiment.paths import resolve_data_path
from sparsegrad.experiment.run import Run
from sparsegrad.experiment.tracking import EVALUATES_TAG, Tracker, missing_store, provenance_tags
from sparsegrad.function import no_grad
from sparsegrad.nn import AutoEncoder, Linear
from sparsegrad.operations.loss import CrossEntropyLoss
from sparsegrad.optim import Adam
from sparsegrad.tensor import Tensor

log = logging.getLogger(__name__)


@dataclass
class TopK:
    k: int
    recon_loss: float
    dense_ms: float  # decoding the test codes as a dense matrix product
    sparse_ms: float  # the same codes as a CSR matrix (only the k nonzeros per image are touched)


@dataclass
class Evaluation:
    """What an evaluation logged: its metrics, and the top-k results (one per k asked for)."""

    metrics: dict[str, float]
    topk: list[TopK]


def validate_settings(cfg: DictConfig) -> None:
    """The evaluation's own keys (data and tracking are checked as for training)."""
    if OmegaConf.is_missing(cfg, "run"):
        raise ConfigError("run", "(not given)", "the id of the MLflow run to evaluate: run=<run id>")
    if not isinstance(cfg.run, str) or not cfg.run:
        raise ConfigError("run", cfg.run, "the id of the MLflow run to evaluate (run=<run id>)")
    if not cfg.topk or any(not isinstance(k, int) or k < 1 for k in cfg.topk):
        raise ConfigError("topk", OmegaConf.to_container(cfg.topk), "a list of integers >= 1")
    p = cfg.probe
    for key, ok, allowed in (("epochs", p.epochs >= 1, "an integer >= 1"), ("lr", p.lr > 0, "a number > 0"),
                             ("batch_size", p.batch_size >= 1, "an integer >= 1")):
        if not ok:
            raise ConfigError(f"probe.{key}", p[key], allowed)


def evaluate(cfg: DictConfig, run_dir: Path) -> Evaluation:
    """Score run `cfg.run`; returns what the evaluation run logged."""
    validate_settings(cfg)
    resolve_data_path(cfg)
    if missing_store(cfg.tracking.uri):
        raise ConfigError("tracking.uri", cfg.tracking.uri, "a store that exists: train a run into it first, or "
                          "point tracking.uri at the store that holds the run")
    tracker = Tracker(cfg.tracking.uri, None, cfg.tracking.timeout_s, cfg.tracking.retries)
    trained_cfg, model, scored = _load_run(tracker, cfg.run)
    if cfg.get("data") is not None:
        trained_cfg.data = cfg.data
    data = load_data(trained_cfg)
    tracker.experiment_id = scored.info.experiment_id  # the evaluation sits beside the run it scores
    name = f"evaluate {scored.info.run_name} on data={data.name}"
    params = {"evaluates": cfg.run, "data.name": data.name, "topk": ",".join(map(str, cfg.topk)),
              **{f"probe.{k}": str(v) for k, v in cfg.probe.items()}}
    with Run(tracker, run_dir, name=name, tags={EVALUATES_TAG: cfg.run, **provenance_tags("scripts/evaluate.py")},
             trains=False) as run, blas_threads(1):
        run.recorder.log_params(params)
        tracker.log_datasets(run.run_id, {"evaluation": (f"{data.name}-test", data.source, data.test_images,
                                                         data.test_labels)})
        val = measure(model, data.test_images)
        metrics = {"recon_loss": val.recon_loss, "explained_variance": val.explained_variance, "l0": val.l0}
        topk = [top_k(model, data.test_images, k) for k in cfg.topk]
        rows = [("topk_recon_loss", t.recon_loss, t.k) for t in topk]
        rows += [("decode_dense_ms", t.dense_ms, t.k) for t in topk] + [("decode_sparse_ms", t.sparse_ms, t.k)
                                                                      for t in topk]
        faster = [t.k for t in topk if t.sparse_ms < t.dense_ms]
        metrics["sparse_decode_faster_up_to_k"] = float(max(faster)) if faster else 0.0
        codes = _encode(model, data.train_images), _encode(model, data.test_images)
        rng = np.random.default_rng(cfg.seed)
        metrics["probe_accuracy"] = probe(codes, (data.train_labels, data.test_labels), cfg.probe, rng)
        metrics["probe_accuracy_pixels"] = probe((data.train_images, data.test_images),
                                                 (data.train_labels, data.test_labels), cfg.probe, rng)
        tracker.log_metrics(run.run_id, [(k, v, 0) for k, v in metrics.items()] + rows)
        _log_plot(run, topk, f"{name} ({run.run_id[:8]})")
        for key, value in metrics.items():
            log.info("%s: %.4g", key, value)
    return Evaluation(metrics, topk)


def _load_run(tracker: Tracker, run_id: str) -> tuple[DictConfig, AutoEncoder, object]:
    """The run's config and its trained model, from its artifacts."""
    from mlflow.exceptions import MlflowException

    try:
        scored = tracker.get_run(run_id)
    except MlflowException:
        raise ConfigError("run", run_id, f"the id of a run in {tracker.uri} (no such run there)") from None
    with tempfile.TemporaryDirectory(prefix="sparsegrad-evaluate-") as staging:
        try:
            cfg = OmegaConf.load(tracker.download(run_id, "config.yaml", Path(staging)))
            weights = tracker.download(run_id, "model/weights.npz", Path(staging))
            with np.load(weights, allow_pickle=False) as npz:
                state = {k: npz[k] for k in npz.files}
        except (MlflowException, OSError):
            raise ExperimentError(f"run={run_id} has no config.yaml and model/weights.npz artifacts (a run that "
                                  "did not finish, or an evaluation run): evaluate a FINISHED training run") from None
    model = instantiate(cfg.model, _convert_="all")
    model.load_state_dict(state)
    return cfg, model, scored


def _encode(model: AutoEncoder, images: np.ndarray) -> np.ndarray:
    with no_grad():
        return model.encode(Tensor(images)).data


def top_k(model: AutoEncoder, images: np.ndarray, k: int, repeats: int = 5) -> TopK:
    """Reconstruct from each image's k largest activations; time decoding them dense and sparse."""
    from scipy import sparse

    codes = _encode(model, images)
    k = min(k, codes.shape[1])
    keep = np.argpartition(-codes, k - 1, axis=1)[:, :k]  # the k largest per row, in no order
    rows = np.repeat(np.arange(len(codes)), k)
    values = np.take_along_axis(codes, keep, axis=1)
    dense = np.zeros_like(codes)
    dense[rows, keep.ravel()] = values.ravel()
    csr = sparse.csr_matrix((values.ravel(), keep.ravel(), np.arange(0, len(codes) * k + 1, k)), shape=codes.shape)
    decoder = model.decoder[0]
    w, b = decoder.weight.data, decoder.bias.data
    dense_ms = _best_ms(lambda: dense @ w + b, repeats)
    sparse_ms = _best_ms(lambda: csr @ w + b, repeats)
    with no_grad():
        recon = model.decode(Tensor(dense)).data
    return TopK(k, float(((recon - images) ** 2).mean()), dense_ms, sparse_ms)


def _best_ms(work, repeats: int) -> float:
    """The fastest of `repeats` timings, in milliseconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def probe(inputs: tuple[np.ndarray, np.ndarray], labels: tuple[np.ndarray, np.ndarray], settings: DictConfig,
          rng: np.random.Generator) -> float:
    """Softmax regression on frozen features, trained with sparsegrad (Adam, cross-entropy); test accuracy."""
    (x_train, x_test), (y_train, y_test) = inputs, labels
    classes = int(max(y_train.max(), y_test.max())) + 1
    layer = Linear(x_train.shape[1], classes, rng)
    optimizer = Adam(layer.parameters(), lr=settings.lr)
    batch = settings.batch_size
    for _ in range(settings.epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            loss = CrossEntropyLoss.apply(layer(Tensor(x_train[chosen])), y_train[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with no_grad():
        predicted = layer(Tensor(x_test)).data.argmax(axis=1)
    return float((predicted == y_test).mean())


def _log_plot(run: Run, topk: list[TopK], title: str) -> None:
    from sparsegrad.experiment import plots

    path = plots.topk(
        [t.k for t in topk], [t.recon_loss for t in topk], [t.dense_ms for t in topk], [t.sparse_ms for t in topk],
        run.run_dir / "plots" / "topk.png", title)
    run.recorder.log_artifact(path, "plots")
