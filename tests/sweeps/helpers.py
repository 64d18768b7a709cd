"""What the sweep tests import: all of it lives in tests/harness.py, the one harness for subprocess tests.

Kept so that `from tests.sweeps.helpers import ...` goes on working in the modules that use it.
"""

from tests.harness import ROOT, TIMEOUT, TINY, client_for, sweep_runs  # noqa: F401

# Three jobs, one of which diverges in its first epoch (identity outputs, relu hidden units and no
# sparsity penalty let lr=1e4 blow the weights up; sigmoid outputs would keep the loss bounded).
DIVERGING = ["optimizer=sgd", "model.hidden_activation=relu", "model.output_activation=identity", "sparsity=none",
             "optimizer.lr=0.02,0.1,1e4"]
