"""A FINISHED run's model: an MLflow pyfunc, registered under tracking.register_model, loaded by
`models:/<name>/<version>` in a fresh process; never logged or registered with a NaN final metric."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from sparsegrad.experiment.model_registry import non_finite, publish
from tests.harness import TINY, client_for, store_uri, train

# A fresh interpreter that knows only the store's URI: loads the model by name and version, reconstructs.
LOAD = """
import json, sys
import numpy as np
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
recon = model.predict(x)
codes = model.predict(x, params={"output": "codes"})
print(json.dumps({"recon": list(recon.shape), "codes": list(codes.shape), "dtype": str(recon.dtype),
                  "in_unit": bool(((recon > 0) & (recon < 1)).all()), "sparsegrad": "sparsegrad" in sys.modules,
                  "nonzero_codes": int((codes > 0).sum(axis=1).max())}))
"""


def test_a_nan_final_metric_publishes_nothing():
    assert non_finite({"train/loss": [1.0, math.nan, 0.5], "l0": [3.0, 2.0]}) == []  # an earlier epoch: says nothing
    assert non_finite({"train/loss": [1.0, math.nan], "l0": [3.0, math.inf]}) == ["l0", "train/loss"]
    # returns before it touches MLflow, the config or the model
    assert publish(None, None, None, None, {"val/recon_loss": [0.1, math.nan]}, np.zeros((2, 784))) is None


@pytest.mark.slow
def test_registered_model_loads_in_a_fresh_process_and_reconstructs(tmp_path):
    uri = store_uri(tmp_path)
    topk = train([*TINY, f"tracking.uri={uri}", "tracking.experiment=models", "model.hidden_activation=topk",
                  "model.k=3", "sparsity=none", f"hydra.run.dir={tmp_path}/a"], tmp_path, "topk").wait()
    assert topk.returncode == 0, topk
    unregistered = train([*TINY, f"tracking.uri={uri}", "tracking.experiment=models", "tracking.register_model=null",
                          f"hydra.run.dir={tmp_path}/b"], tmp_path, "off").wait()
    assert unregistered.returncode == 0, unregistered
    client = client_for(uri)
    (version,) = client.search_model_versions("name='models'")  # the default name: the experiment's
    assert int(version.version) == 1
    runs = {r.info.run_id: r for r in client.search_runs([client.get_experiment_by_name("models").experiment_id])}
    assert version.run_id in runs and runs[version.run_id].info.status == "FINISHED"
    for run in runs.values():  # both logged it; only the first registered it
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"model"}
        assert client.search_logged_models([run.info.experiment_id],
                                           filter_string=f"source_run_id='{run.info.run_id}'")
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        local = mlflow.artifacts.download_artifacts(f"models:/models/{version.version}", dst_path=str(tmp_path / "m"))
    finally:
        mlflow.set_tracking_uri(None)
    requirements = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements if not r.startswith("mlflow")] == ["numpy"], requirements
    mlmodel = (tmp_path / "m" / "MLmodel").read_text()
    assert "float32" in mlmodel and "784" in mlmodel and "output" in mlmodel  # signature: input and the param
    assert (tmp_path / "m" / "input_example.json").exists() and local

    loaded = subprocess.run([sys.executable, "-c", LOAD, "models:/models/1"], capture_output=True, text=True,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": uri,
                                               "HOME": str(tmp_path)}, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result == {"recon": [5, 784], "codes": [5, 64], "dtype": "float32", "in_unit": True,
                      "sparsegrad": True, "nonzero_codes": result["nonzero_codes"]}
    assert 1 <= result["nonzero_codes"] <= 3  # TopK k=3: the model's own code, from its bundled library
