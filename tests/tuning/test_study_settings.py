"""The Optuna sweeper's settings, checked before a study opens (in-process: no study, no run)."""

from __future__ import annotations

import pytest

from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.tuning.study import StudySettings


@pytest.mark.parametrize("settings, line", [
    ({"objective": "val_recon_loss"}, "hydra.sweeper.objective='val_recon_loss' is not allowed: "
                                      "the metric is named val/recon_loss"),
    ({"sampler": "grid"}, "hydra.sweeper.sampler='grid' is not allowed: tpe | random | cmaes"),
    ({"n_trials": 0}, "hydra.sweeper.n_trials=0 is not allowed: an integer >= 1"),
])
def test_a_bad_setting_is_named_with_what_is_allowed(settings, line):
    with pytest.raises(ConfigError) as error:
        StudySettings(**settings).check()
    assert str(error.value) == f"config error: {line}"


def test_the_defaults_pass():
    StudySettings().check()
    StudySettings(objective="explained_variance", direction="maximize").check()
