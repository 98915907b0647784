"""What the training loop knows of a model: its `Recipe`, the `Networks` a step updates, the
data it trains on, and how its generator draws the sample grid.

A model module (gan/models/*.py) declares one Recipe; the loop (gan/training/loop.py) reads
nothing else about the model, so adding a model kind is adding such a module. A command line
that trains one of several recipes, chosen with --model, is a `Variants`.
"""
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import minigrad

from ..idx import from_unit_range


# ----------------------------------------------------------------------------- drawing
def host_latent(rng, shape, distribution="normal"):
    """Host latent vectors (float32) from a numpy Generator: N(0, I) or U[0, 1)."""
    if distribution == "normal":
        return rng.standard_normal(shape, dtype=np.float32)
    if distribution == "uniform":
        return rng.random(shape, dtype=np.float32)
    raise ValueError(f"unknown latent distribution {distribution!r}; choose normal or uniform")


def generate(G, latent, labels=None):
    """Images G draws from host latent vectors (and, for a conditional G, host integer
    labels (N,)), in eval mode, as host pixels in [0, 1]: (N, 28, 28) float32, mapped back
    from tanh's range with (x + 1) / 2."""
    inputs = [minigrad.tensor(latent)]
    if labels is not None:
        inputs.append(minigrad.tensor(labels, dtype=np.int64))
    with G.evaluating(), minigrad.no_grad():
        images = G(*inputs).numpy()
    return from_unit_range(images[:, 0])


def is_conditional(G):
    """Does G take labels, G(z, y)? Conditional generators say how many classes they draw."""
    return getattr(G, "num_classes", None) is not None


def noise_grid(G, noise):
    """The training grid of an unconditional G: (images, per_row), one image per fixed
    noise vector, in a square (8 per row for 64)."""
    return generate(G, noise), math.isqrt(len(noise))


# ----------------------------------------------------------------------------- recipes
def always(options):
    return True


def no_defaults(options):
    return {}


def one_batch(options):
    return 1


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str                     # the command line's description
    networks: Callable               # options -> (generator, discriminator)
    step: Callable                   # (nets, batches, options) -> {name: number}: one iteration
    batches: Callable                # (data, config) -> a batch source (gan/training/batches.py)
    latent_dim: int                  # the size of G's latent vectors z
    defaults: dict = field(default_factory=dict)   # this model's values of TrainConfig's settings
    options: type = None             # dataclass of the model's own flags
    evaluate: Callable = None        # (nets, data) -> {name: float}, every --eval-every
    draws_samples: Callable = always  # options -> does the run train a generator?
    defaults_for: Callable = no_defaults  # options -> the defaults that depend on them, of
                                          # TrainConfig's settings and of options left None
    defaults_note: str = ""          # --help's word on those
    grid: Callable = noise_grid      # (G, fixed noise) -> (images, per row) of the sample grid
    latent: str = "normal"           # G's latent distribution: "normal" or "uniform"
    initialize: Callable = None      # (G, D, data, config) -> None: data-dependent init of a
                                     # fresh run, before the optimizers and moving averages
    lr_schedule: Callable = None     # options -> (iteration, total) -> factor of the learning
                                     # rates for that iteration's step; None: constant
    batches_per_iteration: Callable = one_batch  # options -> batches a step draws: what
                                                 # --epochs divides an epoch's batches by


@dataclass(frozen=True)
class Variants:
    """A command line that trains one of several recipes, chosen with --model (the first
    choice by default): examples/sgan.py trains the book's SGAN or Improved-GAN's."""
    name: str
    choices: dict                    # --model choice -> Recipe


@dataclass
class Networks:
    """What a step function updates: the two networks and their optimizers, the moving
    average of G's weights that samples are drawn from (None when --ema is 0), that of D's
    weights that a classifier is tested with (None when --d-ema is 0), and the latent
    distribution G draws from ("normal" or "uniform")."""
    generator: object
    discriminator: object
    g_optimizer: object
    d_optimizer: object
    latent_dim: int
    g_average: object = None
    d_average: object = None
    latent: str = "normal"


@dataclass(frozen=True)
class TrainingData:
    """Host arrays of a run: images in [-1, 1] (N, 1, 28, 28), int64 labels."""
    train_images: object
    train_labels: object
    test_images: object
    test_labels: object
