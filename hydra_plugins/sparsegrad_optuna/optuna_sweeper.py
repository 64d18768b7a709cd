"""Hydra instantiates a sweeper only from a class it found in the `hydra_plugins` namespace package:
this is that class. Its logic lives with the rest of the runner, in sparsegrad/experiment/tuning/."""

from sparsegrad.experiment.tuning import sweeper


class OptunaSweeper(sweeper.TuningSweeper):
    """`hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml)."""
