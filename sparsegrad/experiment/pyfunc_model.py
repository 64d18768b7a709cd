"""The code of a run's logged model (MLflow's "models from code"): a sparsegrad AutoEncoder behind
MLflow's pyfunc API. MLflow stores this file with the model and runs it when the model is loaded; the
model carries its own copy of the NumPy-only library (sparsegrad/ less experiment/ and data/), so the
loading process needs MLflow and NumPy, not this project.

    model = mlflow.pyfunc.load_model("models:/sparsegrad/1")
    model.predict(images)                                   # (n, 784) float32 -> reconstructions (n, 784)
    model.predict(images, params={"output": "codes"})       # -> the hidden codes (n, 64)
"""

from __future__ import annotations

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel

OUTPUTS = ("reconstruction", "codes")


class SparseAutoEncoder(PythonModel):
    """`predict(images, params={"output": "reconstruction" | "codes"})`."""

    def load_context(self, context) -> None:
        import json

        from sparsegrad.nn import AutoEncoder

        with open(context.artifacts["model"]) as f:
            c = json.load(f)
        self.model = AutoEncoder(c["input_dim"], c["hidden_dim"], c["hidden_activation"], c["output_activation"],
                                 k=c.get("k"))
        with np.load(context.artifacts["weights"]) as weights:
            self.model.load_state_dict(dict(weights))

    def predict(self, context, model_input: np.ndarray, params: dict | None = None) -> np.ndarray:
        from sparsegrad import Tensor, no_grad

        output = (params or {}).get("output", "reconstruction")
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r} is not allowed: one of {', '.join(OUTPUTS)}")
        x = np.ascontiguousarray(np.asarray(model_input, dtype=np.float32))  # (a DataFrame too)
        with no_grad():
            code = self.model.encode(Tensor(x))
            return code.data if output == "codes" else self.model.decode(code).data


mlflow.models.set_model(SparseAutoEncoder())
