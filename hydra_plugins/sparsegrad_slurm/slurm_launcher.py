"""Hydra instantiates a launcher only from a class it found in the `hydra_plugins` namespace package:
this is `hydra/launcher=slurm`'s (conf/hydra/launcher/slurm.yaml). Its logic lives with the rest of the
runner, in sparsegrad/experiment/slurm.py."""

from hydra_plugins.hydra_submitit_launcher import submitit_launcher

from sparsegrad.experiment import slurm


class SlurmLauncher(slurm.KeepGoing, submitit_launcher.SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher, where a job SLURM ended without a result is one failed job."""
