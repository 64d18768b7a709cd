"""Tuning with Optuna: `hydra/sweeper=optuna` asks Optuna for each trial's parameters, launches the trials
as jobs on any Hydra launcher, and tells Optuna how each ended; the `OptunaPruning` callback reports each
epoch's objective from inside the trial and stops it when the pruner says so."""
