"""Improved-GAN's semi-supervised classifier (Salimans et al. 2016, MNIST with feature
matching): weight-normalised dense layers with Gaussian noise in D, a generator of uniform z
trained to match the mean of D's last hidden features on real images.

    python examples/sgan.py --model improved

The defaults are their code's settings; docs/sgan.md and results.md say what each measured.
"""
import math
from dataclasses import dataclass

import numpy as np

import minigrad
from minigrad import functional as F
from minigrad import nn
from minigrad.nn import init

from ..training.config import ConfigError, flag
from ..training.recipe import Recipe
from ..training.schedule import check_lr_decay, lr_decay_flag, lr_decay_schedule
from .blocks import (IMAGE_SHAPE, LATENT_DIM, NUM_CLASSES, LabeledSubsetOptions, discriminator_loss,
                     game_numbers, generator_loss, labeled_subset_batches, latent_noise, optimizer_step,
                     real_fake_logit, supervised_loss, test_accuracy)


# ----------------------------------------------------------------------------- networks
class SignedRange(nn.Module):
    """s -> 2s − 1: a sigmoid's (0, 1) onto the (−1, 1) of our images."""

    def forward(self, s):
        return s * 2 - 1


class UnitRange(nn.Module):
    """x -> (x + 1)/2: our images' [−1, 1] onto the paper's pixel scale [0, 1]."""

    def forward(self, x):
        return (x + 1) * 0.5


class ImprovedGANGenerator(nn.Module):
    """The MNIST generator of Improved-GAN's feature-matching code: z ~ U[0, 1)¹⁰⁰, two
    dense layers of 500 with BatchNorm and softplus, a weight-normalised output layer and a
    sigmoid, mapped to [−1, 1] (2·σ − 1) like every other generator here, so gan.sample's
    [0, 1] pictures stay right. Their BatchNorm has a shift β and no scale γ; ours has both
    unless bn_scale=False."""

    def __init__(self, latent_dim=LATENT_DIM, bn_scale=True):
        super().__init__()
        self.net = nn.Sequential(                           # z: (N, 100), uniform in [0, 1)
            nn.Dense(latent_dim, 500, bias=False),          # (N, 500); BatchNorm's β is the bias
            nn.BatchNorm(500, train_scale=bn_scale),
            nn.Softplus(),
            nn.Dense(500, 500, bias=False),                 # (N, 500)
            nn.BatchNorm(500, train_scale=bn_scale),
            nn.Softplus(),
            nn.WeightNormDense(500, 28 * 28),               # (N, 784)
            nn.Sigmoid(),                                   # (N, 784) in (0, 1)
            SignedRange(),                                  # (N, 784) in (−1, 1)
            nn.Reshape(IMAGE_SHAPE),                        # (N, 1, 28, 28)
        )
        output = self.net[6]
        init.constant_(output.weight_g, 1.0)                # rows of length 1, bias 0, as theirs
        init.zeros_(output.bias)

    def forward(self, z):
        return self.net(z)


def dense_layer(in_features, out_features, weight_norm=True, train_scale=False):
    """Weight-normalised dense (its length g trained only if train_scale, else set by the
    data-dependent initialisation, as in their code), or, without weight_norm, a plain
    Dense with the default initialisation: what weight normalisation is worth."""
    if weight_norm:
        return nn.WeightNormDense(in_features, out_features, train_scale=train_scale)
    return nn.Dense(in_features, out_features)


def noise_layer(sigma, noise=True):
    """Gaussian noise of std sigma (training only), or nothing: what the noise is worth."""
    return [nn.GaussianNoise(sigma)] if noise else []


def hidden_layer(in_features, out_features, weight_norm=True, noise=True):
    """Dense, ReLU, then Gaussian noise (σ 0.5) for the next layer."""
    return [dense_layer(in_features, out_features, weight_norm), nn.ReLU(), *noise_layer(0.5, noise)]


class ImprovedGANDiscriminator(nn.Module):
    """The MNIST discriminator of Improved-GAN's feature-matching code: Gaussian noise on the
    input (σ 0.3, in [0, 1] pixel units as theirs) and before every later layer (σ 0.5),
    weight-normalised dense layers 1000-500-250-250-250 with ReLU, and 10 class logits.
    `features` is the last hidden layer, the one the generator's feature matching reads.
    weight_norm=False and noise=False drop those pieces (docs/sgan.md measures each).
    v_init_std, if set, draws the weight directions v from N(0, v_init_std²), as their code
    (0.1: rows about five times longer than the default's at 784 inputs). w = g·v/‖v‖ does
    not depend on that length, but each of Adam's steps, about the same size either way,
    turns a longer row less."""

    def __init__(self, num_classes=NUM_CLASSES, weight_norm=True, noise=True, v_init_std=None):
        super().__init__()
        self.body = nn.Sequential(                          # x: (N, 1, 28, 28) in [−1, 1]
            UnitRange(),                                    # (N, 1, 28, 28) in [0, 1]
            nn.Flatten(),                                   # (N, 784)
            *noise_layer(0.3, noise),
            *hidden_layer(28 * 28, 1000, weight_norm, noise),  # (N, 1000)
            *hidden_layer(1000, 500, weight_norm, noise),   # (N, 500)
            *hidden_layer(500, 250, weight_norm, noise),    # (N, 250)
            *hidden_layer(250, 250, weight_norm, noise),    # (N, 250)
            dense_layer(250, 250, weight_norm),             # (N, 250)
            nn.ReLU(),                                      # (N, 250): the matched features
        )
        self.head = nn.Sequential(
            *noise_layer(0.5, noise),
            dense_layer(250, num_classes, weight_norm, train_scale=True),  # (N, 10) logits; g trained
        )
        if v_init_std:
            for layer in self.modules():
                if isinstance(layer, nn.WeightNormDense):
                    init.normal_(layer.weight_v, std=v_init_std)  # g, and so w's length, unchanged

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))

    def init_from_batch(self, x):
        """Data-dependent initialisation on a batch of images (training mode, noise on, as
        theirs): every weight-normalised layer, bottom up, gets mean-0 std-1 pre-activations."""
        data_dependent_init(list(self.body) + list(self.head), x)


def data_dependent_init(layers, x):
    """Run x through `layers` in order; each WeightNormDense first sets its g and b from its
    own input (`init_from_batch`), so the layers above see initialised activations."""
    with minigrad.no_grad():
        for layer in layers:
            x = layer.init_from_batch(x) if isinstance(layer, nn.WeightNormDense) else layer(x)
    return x


# ----------------------------------------------------------------------------- step
def improved_gan_step(nets, batches, unlabeled_weight=1.0, feature_matching=True):
    """One Improved-GAN iteration (Salimans et al. 2016, MNIST with feature matching).

    Discriminator, one Adam step on  sup_loss + unlabeled_weight·unsup_loss:  the
    cross-entropy of the labelled batch, and half the real-versus-fake loss of an unlabelled
    batch and a generated one, read through `real_fake_logit` as in the SGAN.
    Generator: feature matching, ‖mean f(x) − mean f(G(z))‖² with f D's last hidden layer,
    on a real batch of its own (a second order of the unlabelled images) and fresh z. Only
    G's optimizer steps on it; the real features are taken without a graph. Without
    feature_matching, G takes the SGAN's non-saturating loss instead (what matching is worth).
    """
    G, D = nets.generator, nets.discriminator
    labeled, labels = batches.next_labeled()
    unlabeled = batches.next_unlabeled()                              # (N, 1, 28, 28)
    n = unlabeled.shape[0]

    sup_loss, sup_acc = supervised_loss(D, labeled, labels)
    fake = G(latent_noise(n, nets.latent_dim, nets.latent))
    real_logits = real_fake_logit(D(unlabeled))
    fake_logits = real_fake_logit(D(fake.detach()))
    unsup_loss = 0.5 * discriminator_loss(real_logits, fake_logits)
    d_loss = sup_loss + unlabeled_weight * unsup_loss
    optimizer_step(nets.d_optimizer, d_loss)

    if feature_matching:
        real = batches.next_unlabeled(for_generator=True)
        with minigrad.no_grad():
            real_features = D.features(real)                          # (N, 250)
        fake_features = D.features(G(latent_noise(n, nets.latent_dim, nets.latent)))
        g_loss = F.feature_matching_loss(real_features, fake_features)
    else:
        fake = G(latent_noise(n, nets.latent_dim, nets.latent))
        g_loss = generator_loss(real_fake_logit(D(fake)))
    optimizer_step(nets.g_optimizer, g_loss)

    return {"sup_loss": sup_loss.data, "sup_acc": sup_acc,
            **game_numbers(unsup_loss, g_loss, real_logits, fake_logits, d_loss_name="unsup_loss")}


# ----------------------------------------------------------------------------- the recipe
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
    """The labelled batch as large as the others (the labelled set cycled), and a second
    order of the unlabelled images for G's feature matching."""
    return labeled_subset_batches(data, config, labeled_batch_size=config.batch_size, generator_stream=True)


def init_discriminator(G, D, data, config):
    """D's data-dependent initialisation on --init-images training images chosen by --seed."""
    n = min(config.options.init_images, len(data.train_images))
    if n == 0:
        return
    index = np.random.default_rng(config.seed).choice(len(data.train_images), n, replace=False)
    D.init_from_batch(minigrad.tensor(data.train_images[np.sort(index)]))


def networks(options):
    return (ImprovedGANGenerator(bn_scale=options.g_bn_scale),
            ImprovedGANDiscriminator(weight_norm=options.weight_norm, noise=options.noise,
                                     v_init_std=options.v_init_std))


def step(nets, batches, options):
    return improved_gan_step(nets, batches, options.unlabeled_weight, options.feature_matching)


RECIPE = Recipe(
    name="sgan_improved",
    summary="Train the Improved-GAN semi-supervised classifier (Salimans et al. 2016, feature "
            "matching) on MNIST with 100 labels.",
    networks=networks,
    step=step,
    batches=improved_batches,
    latent_dim=LATENT_DIM,
    # Their MNIST script: batches of 100 (the 100 labelled images in each), Adam(3e-3,
    # β₁ 0.5) with their code's ε (1e-4 for D, 0.025 for G) at constant rates, 300 epochs of
    # 600 batches, D tested with a moving average of its weights of decay 0.9999.
    # (docs/sgan.md: the recipe before, ε 1e-8 and rates decaying over the last third, is
    # --adam-eps 1e-8 --g-adam-eps 1e-8 --lr-decay-start 0.67.)
    defaults=dict(iterations=180_000, batch_size=100, lr=3e-3, beta1=0.5, adam_eps=1e-4, g_adam_eps=0.025,
                  d_ema=0.9999, log_every=100, sample_every=6000, checkpoint_every=3000, eval_every=3000),
    options=ImprovedGANOptions,
    evaluate=test_accuracy,
    latent="uniform",
    initialize=init_discriminator,
    lr_schedule=lr_decay_schedule,
)
