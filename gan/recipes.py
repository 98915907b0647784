"""One recipe per model: everything that makes a model kind what it is, declared in one
place for the training loop, the command line and the benchmarks to read.

A recipe names its networks, its step function, its batch source, its own flags (an
options dataclass) and its defaults. The loop (gan/trainers.py) knows nothing else about
the model, so adding a model kind is adding a recipe here:

    RECIPES["mine"] = Recipe(name="mine", summary="...", networks=..., step=..., batches=...)

and an examples/mine.py that calls `gan.cli.main("mine")`. Several recipes may share one
command line as its variants (`VARIANTS`): examples/sgan.py trains the book's SGAN or, with
`--model improved`, the Improved-GAN recipe.
"""
import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import minigrad

from . import batches as batching
from . import models, steps
from .config import ConfigError, flag


@dataclass(frozen=True)
class TrainingData:
    """Host arrays of a run: images in [-1, 1] (N, 1, 28, 28), int64 labels."""
    train_images: object
    train_labels: object
    test_images: object
    test_labels: object


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str                     # the command line's description
    networks: Callable               # options -> (generator, discriminator)
    step: Callable                   # options -> step(nets, batches) -> {name: float}
    batches: Callable                # (data, config) -> a batch source (gan/batches.py)
    defaults: dict = field(default_factory=dict)   # TrainConfig values for this model
    options: type = None             # dataclass of the model's own flags
    evaluate: Callable = None        # (nets, data) -> {name: float}, every --eval-every
    draws_samples: Callable = lambda options: True  # does the run train a generator?
    defaults_for: Callable = lambda options: {}     # defaults that depend on the options
    defaults_note: str = ""                          # says so in --help
    latent_dim: int = models.LATENT_DIM
    grid: Callable = models.noise_grid  # (G, fixed noise) -> (images, per row) of the sample grid
    latent: str = "normal"           # G's latent distribution: "normal" or "uniform"
    initialize: Callable = None      # (G, D, data, config) -> None: data-dependent init of a
                                     # fresh run, before the optimizers and moving averages
    lr_schedule: Callable = None     # options -> (iteration, total) -> factor of the learning
                                     # rates for that iteration's step; None: constant
    batches_per_iteration: Callable = lambda options: 1  # batches a step draws: what --epochs
                                                         # divides the batches of an epoch by


def image_batches(data, config):
    return batching.ImageBatches(data.train_images, config.batch_size, config.seed)


# ----------------------------------------------------------------------------- vanilla GAN
GAN = Recipe(
    name="gan",
    summary="Train the vanilla (MLP) GAN of the PyTorch tutorials on MNIST.",
    networks=lambda options: (models.MLPGenerator(), models.MLPDiscriminator()),
    step=lambda options: steps.gan_step,
    batches=image_batches,
    # Adam(2e-4, β₁ 0.5) as in the DCGAN paper; 90,000 batches of 128 is 192 epochs: the
    # Inception score still rises past 60,000 (docs/results.md).
    defaults=dict(iterations=90_000, batch_size=128, lr=2e-4, beta1=0.5,
                  log_every=100, sample_every=1000, checkpoint_every=1000),
)


# ----------------------------------------------------------------------------- learning-rate decay
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


# ----------------------------------------------------------------------------- DCGAN
DCGAN_ARCHITECTURES = {  # --arch of examples/dcgan.py
    "infogan-code": (models.CodedGenerator, models.ACGANDiscriminator),
    "infogan": (models.InfoGANGenerator, models.InfoGANDiscriminator),
    "infogan-sn": (models.InfoGANGenerator, models.InfoGANSNDiscriminator),
    "keras": (models.KerasDCGANGenerator, models.KerasDCGANDiscriminator),
}


@dataclass
class DCGANOptions:
    arch: str = flag("infogan-code", "the networks: InfoGAN's MNIST model with its categorical "
                                     "latent code, without it, without it and with spectral "
                                     "normalisation in D instead of BatchNorm, or the Keras tutorial's",
                     choices=tuple(DCGAN_ARCHITECTURES))
    lr_decay_start: float = lr_decay_flag(None, " (default: 0.5 for infogan-code, 1 for the others)")
    width: int = flag(1, "multiplies the size of every hidden layer of InfoGAN's networks")
    real_label: float = flag(1.0, "D's target for real images; 0.9 is one-sided label smoothing "
                                  "(Salimans et al. 2016)")

    LEGACY_DEFAULTS = {"lr_decay_start": 1.0}  # checkpoints from before the flag: constant rates

    def __post_init__(self):
        # The coded networks' rates decay over the second half (it brings their FID under 3×
        # the real images'); the others keep the constant rates of their documented runs.
        if self.lr_decay_start is None:
            self.lr_decay_start = 0.5 if self.arch == "infogan-code" else 1.0

    def check(self, config):
        check_lr_decay(self)
        if self.width != 1 and self.arch == "keras":
            raise ConfigError("--width scales InfoGAN's networks; the Keras tutorial's keep their size")
        if not 0.5 < self.real_label <= 1:
            raise ConfigError(f"--real-label must be in (0.5, 1], got {self.real_label}")


def dcgan_networks(options):
    generator, discriminator = DCGAN_ARCHITECTURES[options.arch]
    if options.arch == "keras":
        return generator(), discriminator()
    return generator(width=options.width), discriminator(width=options.width)


def dcgan_step(options):
    step = steps.infogan_step if options.arch == "infogan-code" else steps.gan_step
    return functools.partial(step, real_label=options.real_label)


# The other networks keep the settings of their documented runs (docs/results.md).
DCGAN_ARCH_DEFAULTS = {
    "infogan": dict(iterations=5_000),
    "infogan-sn": dict(iterations=5_000),
    "keras": dict(iterations=10_000, batch_size=128, lr=2e-4, g_lr=None, ema=0.0),
}

DCGAN = Recipe(
    name="dcgan",
    summary="Train a DCGAN on MNIST: InfoGAN's networks and latent code (--arch infogan-code), "
            "the networks alone, or the Keras tutorial's.",
    networks=dcgan_networks,
    step=dcgan_step,
    batches=image_batches,
    # Adam(β₁ 0.5) and N(0, 0.02) weights as in the DCGAN paper, batches of 64 as InfoGAN's
    # for 10,000 iterations (10.7 epochs); G learns at InfoGAN's 1e-3, D at 2e-4, both
    # decaying over the second half (DCGANOptions), and samples come from a moving average
    # of G's weights (docs/results.md measures each choice).
    defaults=dict(iterations=10_000, batch_size=64, lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=DCGANOptions,
    defaults_for=lambda options: DCGAN_ARCH_DEFAULTS.get(options.arch, {}),
    defaults_note="The other architectures' defaults are those of their documented runs: "
                  "5,000 iterations for infogan and infogan-sn; for keras 10,000 iterations of "
                  "128 at lr 2e-4 for both networks, no moving average.",
    lr_schedule=lambda options: linear_decay(options.lr_decay_start),
)


# ----------------------------------------------------------------------------- SGAN
@dataclass
class LabeledSubsetOptions:
    """The labelled subset of a semi-supervised model."""
    num_labeled: int = flag(100, "training images whose labels the discriminator sees")
    first_labeled: bool = flag(False, "label the first N images, as the book does, instead of "
                                      "N/10 per class chosen by --seed")

    def check(self, config):
        if self.num_labeled < 1:
            raise ConfigError(f"--num-labeled must be at least 1, got {self.num_labeled}")
        if not self.first_labeled and self.num_labeled % models.NUM_CLASSES:
            raise ConfigError(f"--num-labeled {self.num_labeled}: a balanced labelled set takes "
                              f"the same number of each of the {models.NUM_CLASSES} digits, so it "
                              f"must be a multiple of {models.NUM_CLASSES} (or add --first-labeled)")


@dataclass
class SGANOptions(LabeledSubsetOptions):
    supervised_only: bool = flag(False, "train the same discriminator on the labelled images "
                                        "alone (the baseline)")


def semi_supervised_batches(data, config):
    options = config.options
    labeled_index = batching.labeled_subset(data.train_labels, options.num_labeled, config.seed,
                                            balanced=not options.first_labeled)
    return batching.SemiSupervisedBatches(data.train_images, data.train_labels, labeled_index,
                                          config.batch_size, config.seed, options.supervised_only)


def test_accuracy(nets, data):
    """D's test accuracy; with a moving average of D's weights (--d-ema), the average's, and
    D's own as test_acc_raw."""
    if nets.d_average is None:
        return {"test_acc": models.classifier_accuracy(nets.discriminator, data.test_images, data.test_labels)}
    return {"test_acc": models.classifier_accuracy(nets.d_average.average, data.test_images, data.test_labels),
            "test_acc_raw": models.classifier_accuracy(nets.discriminator, data.test_images, data.test_labels)}


SGAN = Recipe(
    name="sgan",
    summary="Train the semi-supervised GAN of GANs in Action (ch. 7) on MNIST with 100 labels.",
    networks=lambda options: (models.SGANGenerator(), models.SGANDiscriminator()),
    step=lambda options: steps.supervised_step if options.supervised_only else steps.sgan_step,
    batches=semi_supervised_batches,
    # The book's settings: batches of 32, Keras' default Adam (1e-3, β₁ 0.9), 8,000 iterations.
    defaults=dict(iterations=8_000, batch_size=32, lr=1e-3, beta1=0.9,
                  log_every=100, sample_every=800, checkpoint_every=800, eval_every=800),
    options=SGANOptions,
    evaluate=test_accuracy,
    draws_samples=lambda options: not options.supervised_only,
)


# ----------------------------------------------------------------------------- Improved-GAN
@dataclass
class ImprovedGANOptions(LabeledSubsetOptions):
    unlabeled_weight: float = flag(1.0, "weight of the unsupervised loss in D's loss")
    lr_decay_start: float = lr_decay_flag(1.0, " (their CIFAR script's: 0.67)")
    init_images: int = flag(500, "training images of D's data-dependent initialisation; 0: none",
                            type=int)
    # the recipe's pieces, each on by default; --no-<piece> drops it (docs/sgan.md: their worth)
    weight_norm: bool = flag(True, "weight-normalised dense layers in D (--no-weight-norm: plain "
                                   "Dense layers, their default initialisation)")
    noise: bool = flag(True, "Gaussian noise in D in training (σ 0.3 on the input, 0.5 later)")
    v_init_std: float = flag(0.0, "std of the normal entries D's weight directions v start from "
                                  "(their code: 0.1); 0: the default initialisation", type=float)
    g_bn_scale: bool = flag(True, "G's BatchNorm learns a scale γ (--no-g-bn-scale: a shift β "
                                  "only, as their code)")
    feature_matching: bool = flag(True, "G trained by feature matching (--no-feature-matching: "
                                        "by the non-saturating loss)")

    def check(self, config):
        super().check(config)
        check_lr_decay(self)
        if self.init_images < 0:
            raise ConfigError(f"--init-images must be 0 (none) or more, got {self.init_images}")
        if self.v_init_std < 0 or not math.isfinite(self.v_init_std):
            raise ConfigError(f"--v-init-std must be 0 (the default initialisation) or a positive "
                              f"standard deviation, got {self.v_init_std}")
        if self.v_init_std and not self.weight_norm:
            raise ConfigError("--v-init-std draws the directions v of weight-normalised layers: "
                              "drop --no-weight-norm or --v-init-std")


def improved_batches(data, config):
    """SemiSupervisedBatches with the labelled batch as large as the others (the labelled
    set cycled), and a second order of the unlabelled images for G's feature matching."""
    options = config.options
    labeled_index = batching.labeled_subset(data.train_labels, options.num_labeled, config.seed,
                                            balanced=not options.first_labeled)
    return batching.SemiSupervisedBatches(data.train_images, data.train_labels, labeled_index,
                                          config.batch_size, config.seed,
                                          labeled_batch_size=config.batch_size, generator_stream=True)


def init_discriminator(G, D, data, config):
    """D's data-dependent initialisation on --init-images training images chosen by --seed."""
    n = min(config.options.init_images, len(data.train_images))
    if n == 0:
        return
    index = np.random.default_rng(config.seed).choice(len(data.train_images), n, replace=False)
    D.init_from_batch(minigrad.tensor(data.train_images[np.sort(index)]))


SGAN_IMPROVED = Recipe(
    name="sgan_improved",
    summary="Train the Improved-GAN semi-supervised classifier (Salimans et al. 2016, feature "
            "matching) on MNIST with 100 labels.",
    networks=lambda options: (models.ImprovedGANGenerator(bn_scale=options.g_bn_scale),
                              models.ImprovedGANDiscriminator(weight_norm=options.weight_norm,
                                                              noise=options.noise,
                                                              v_init_std=options.v_init_std)),
    step=lambda options: functools.partial(steps.improved_gan_step,
                                           unlabeled_weight=options.unlabeled_weight,
                                           feature_matching=options.feature_matching),
    batches=improved_batches,
    # Their MNIST script: batches of 100 (the 100 labelled images in each), Adam(3e-3,
    # β₁ 0.5) with their code's ε (1e-4 for D, 0.025 for G) at constant rates, 300 epochs of
    # 600 batches, D tested with a moving average of its weights of decay 0.9999
    # (docs/sgan.md: the recipe before, ε 1e-8 and rates decaying over the last third, is
    # --adam-eps 1e-8 --g-adam-eps 1e-8 --lr-decay-start 0.67).
    defaults=dict(iterations=180_000, batch_size=100, lr=3e-3, beta1=0.5, adam_eps=1e-4, g_adam_eps=0.025,
                  d_ema=0.9999,
                  log_every=100, sample_every=6000, checkpoint_every=3000, eval_every=3000),
    options=ImprovedGANOptions,
    evaluate=test_accuracy,
    latent="uniform",
    initialize=init_discriminator,
    lr_schedule=lambda options: linear_decay(options.lr_decay_start),
)


# ----------------------------------------------------------------------------- WGAN-GP
@dataclass
class WGANGPOptions:
    n_critic: int = flag(1, "critic steps per generator step (the paper's: 5)")
    gp_weight: float = flag(10.0, "λ, the weight of the gradient penalty")
    code: bool = flag(True, "InfoGAN's categorical latent code, as the DCGAN's default: G draws "
                            "one of 10 codes that a second head of the critic must read back")
    lr_decay_start: float = lr_decay_flag(0.5)

    # checkpoints made before these flags existed trained without the code at constant rates
    LEGACY_DEFAULTS = {"code": False, "lr_decay_start": 1.0}

    def check(self, config):
        check_lr_decay(self)


def wgan_gp_networks(options):
    if options.code:
        return models.CodedGenerator(), models.WGANCritic(num_codes=models.NUM_CLASSES)
    return models.InfoGANGenerator(), models.WGANCritic()


WGAN_GP = Recipe(
    name="wgan_gp",
    summary="Train a Wasserstein GAN with gradient penalty (WGAN-GP) on MNIST.",
    networks=wgan_gp_networks,
    step=lambda options: functools.partial(steps.wgan_gp_step, n_critic=options.n_critic,
                                           gp_weight=options.gp_weight, code=options.code),
    batches=image_batches,
    # Gulrajani et al.'s Adam β = (0.5, 0.9) and λ = 10, but one critic step per generator
    # step with the critic at 4e-4 and G at 3e-4 (their 5 steps at 1e-4 reach IS 8.93 in
    # 3.6 times the time: docs/wgan-gp.md); an iteration is one generator step (and
    # n_critic batches).
    defaults=dict(iterations=10_000, batch_size=64, lr=4e-4, g_lr=3e-4, beta1=0.5, beta2=0.9, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=WGANGPOptions,
    batches_per_iteration=lambda options: options.n_critic,
    lr_schedule=lambda options: linear_decay(options.lr_decay_start),
)


# ----------------------------------------------------------------------------- conditional GAN
# How D takes the label: its network, and the step that plays the game with it.
CONDITIONAL_DISCRIMINATORS = {
    "projection": (models.ProjectionDiscriminator, steps.projection_step),
    "acgan": (models.ACGANDiscriminator, steps.acgan_step),
}


@dataclass
class CGANOptions:
    discriminator: str = flag("projection", "how D reads the label: a projection D(x, y) = "
                                            "ψ(φ(x)) + ⟨e_y, φ(x)⟩, or an auxiliary classifier (AC-GAN)",
                              choices=tuple(CONDITIONAL_DISCRIMINATORS))


def labeled_batches(data, config):
    return batching.LabeledBatches(data.train_images, data.train_labels, config.batch_size, config.seed)


CGAN = Recipe(
    name="cgan",
    summary="Train a conditional GAN on MNIST that draws the digit it is asked for (InfoGAN's networks).",
    networks=lambda options: (models.ConditionalGenerator(),
                              CONDITIONAL_DISCRIMINATORS[options.discriminator][0]()),
    step=lambda options: CONDITIONAL_DISCRIMINATORS[options.discriminator][1],
    batches=labeled_batches,
    # The DCGAN's settings, taken as they are (not tuned for the conditional model yet).
    defaults=dict(iterations=5_000, batch_size=64, lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=CGANOptions,
    grid=models.class_grid,  # one row per digit, one column per fixed noise vector
)


RECIPES = {recipe.name: recipe for recipe in (GAN, DCGAN, SGAN, SGAN_IMPROVED, WGAN_GP, CGAN)}

# Commands that train one of several recipes, chosen with --model: command -> {choice:
# recipe name}, the first choice the default.
VARIANTS = {"sgan": {"book": "sgan", "improved": "sgan_improved"}}


def commands():
    """The training commands, as examples/<command>.py and `python -m gan.train <command>`
    name them: every recipe but those reached only through another command's --model."""
    reached_by_model = {name for choices in VARIANTS.values() for name in choices.values()} - set(VARIANTS)
    return [name for name in RECIPES if name not in reached_by_model]


def get_recipe(name):
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def build_networks(name, options=None):
    """(generator, discriminator) of a model, with its default options unless given."""
    recipe = get_recipe(name)
    if options is None and recipe.options is not None:
        options = recipe.options()
    return recipe.networks(options)
