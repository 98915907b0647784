"""Learning-rate schedules: the linear decay over the end of a run that the DCGAN, WGAN-GP
and Improved-GAN recipes offer as --lr-decay-start."""
from .config import ConfigError, flag


def lr_decay_flag(default, note=""):
    """--lr-decay-start of the recipes whose learning rates may decay over the end of a run."""
    return flag(default, "fraction of the run after which the learning rates decay linearly "
                         "to 0 at its end; 1: no decay" + note)


def check_lr_decay(options):
    if not 0 < options.lr_decay_start <= 1:
        raise ConfigError(f"--lr-decay-start must be in (0, 1], got {options.lr_decay_start}")


def linear_decay(start):
    """The learning-rate factor: 1 until `start`·total iterations, then linearly down
    towards 0, reached at the end: (total − i)/(total − s) at iteration i ≥ s.
    None (no schedule: constant rates) for start = 1."""
    if start == 1:
        return None

    def factor(iteration, total):
        decay_from = int(start * total)
        return 1.0 if iteration < decay_from else (total - iteration) / (total - decay_from)
    return factor


def lr_decay_schedule(options):
    """A recipe's `lr_schedule`: the linear decay its --lr-decay-start asks for."""
    return linear_decay(options.lr_decay_start)
