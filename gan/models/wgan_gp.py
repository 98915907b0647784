"""A Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): InfoGAN's generator and
latent code against a critic with LayerNorm in place of BatchNorm, kept 1-Lipschitz by the
penalty λ·(‖∇D(x̂)‖₂ − 1)², a second derivative (docs/higher-order.md).

    python examples/wgan_gp.py
"""
from dataclasses import dataclass

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad import nn
from minigrad.random import random_uniform
from minigrad.tensor import Tensor

from ..training.batches import image_batches
from ..training.config import flag
from ..training.recipe import Recipe
from ..training.schedule import check_lr_decay, lr_decay_flag, lr_decay_schedule
from .blocks import (LATENT_DIM, NUM_CLASSES, CodedGenerator, InfoGANGenerator, dcgan_init, fraction,
                     latent_code, latent_noise, optimizer_step)


class WGANCritic(nn.Module):
    """InfoGAN's discriminator with LayerNorm in place of BatchNorm: the gradient penalty is
    taken per image, and batch statistics would tie each image's score to the others'.
    Returns an unbounded score (N, 1), not a logit: higher means more real. With `num_codes`
    (`--code`), a second head guesses InfoGAN's categorical code from the same features."""

    def __init__(self, num_codes=0):
        super().__init__()
        self.net = nn.Sequential(                                       # x: (N, 1, 28, 28)
            nn.Conv2D(1, 64, 4, stride=2, padding=1),                   # (N, 64, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2D(64, 128, 4, stride=2, padding=1),                 # (N, 128, 7, 7)
            nn.LayerNorm((128, 7, 7)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),                                               # (N, 6272)
            nn.Dense(128 * 7 * 7, 1024),                                # (N, 1024)
            nn.LayerNorm(1024),
            nn.LeakyReLU(0.2),
            nn.Dense(1024, 1),                                          # (N, 1) score
        )
        if num_codes:
            self.code_head = nn.Dense(1024, num_codes)                  # (N, 10) code logits
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x)

    def heads(self, x):
        """(score (N, 1), code logits (N, num_codes)) from one pass."""
        h = self.net[:-1](x)                                            # (N, 1024)
        return self.net[-1](h), self.code_head(h)


# ----------------------------------------------------------------------------- step
def gradient_penalty(D, real, fake):
    """mean over the batch of (‖∇ₓ̂ D(x̂)‖₂ − 1)², at x̂ = ε·real + (1 − ε)·fake with
    ε ~ U[0, 1] per image (Gulrajani et al. 2017). The gradient is taken with
    create_graph=True, so the penalty's own gradient reaches D's weights: a second
    derivative (docs/higher-order.md)."""
    n = real.shape[0]
    eps = random_uniform((n, 1, 1, 1), real.dtype, backend.backend_of(real.data))
    x_hat = Tensor._wrap(eps * real.data + (1 - eps) * fake.data, requires_grad=True)
    (g,) = minigrad.grad(D(x_hat).sum(), x_hat, create_graph=True)    # (N, 1, 28, 28)
    norms = F.sqrt((g * g).sum(axis=(1, 2, 3)) + 1e-12)               # (N,); ε keeps √ smooth at 0
    return ((norms - 1) ** 2).mean()


def score_and_code_loss(D, fake, z, code):
    """The critic's scores of the fakes G(z), and with InfoGAN's code (`--code`) the
    cross-entropy of its guess of their codes and the fraction it guessed right (else 0, None)."""
    if not code:
        return D(fake), 0.0, None
    scores, code_logits = D.heads(fake)
    codes = latent_code(z)
    accuracy = fraction(code_logits.data.argmax(axis=1) == codes.data)
    return scores, F.cross_entropy(code_logits, codes), accuracy


def wgan_gp_step(nets, batches, n_critic=5, gp_weight=10.0, code=False):
    """One WGAN-GP iteration: `n_critic` critic steps, then one generator step.

    The critic D maximises D(real) − D(fake), an estimate of the Wasserstein distance, kept
    1-Lipschitz by the gradient penalty; the generator minimises −D(G(z)). With `code`,
    both also minimise the cross-entropy of the critic's guess of the fakes' codes, as the
    DCGAN's infogan_step.
    """
    G, D = nets.generator, nets.discriminator
    for _ in range(n_critic):
        real = batches.next_images()                                  # (N, 1, 28, 28)
        z = latent_noise(real.shape[0], nets.latent_dim)
        with minigrad.no_grad():  # the critic's fakes: no graph through G to keep
            fake = G(z)
        real_scores = D(real)
        fake_scores, code_loss, _ = score_and_code_loss(D, fake, z, code)
        wasserstein = real_scores.mean() - fake_scores.mean()
        penalty = gradient_penalty(D, real, fake)
        d_loss = -wasserstein + gp_weight * penalty + code_loss
        optimizer_step(nets.d_optimizer, d_loss)

    z = latent_noise(real.shape[0], nets.latent_dim)
    fake_scores, code_loss, code_acc = score_and_code_loss(D, G(z), z, code)
    g_loss = -fake_scores.mean() + code_loss
    optimizer_step(nets.g_optimizer, g_loss)
    numbers = {"d_loss": d_loss.data, "g_loss": g_loss.data,
               "wasserstein": wasserstein.data, "penalty": penalty.data}
    if code:
        numbers["code_acc"] = code_acc
    return numbers


# ----------------------------------------------------------------------------- the recipe
@dataclass
class WGANGPOptions:
    n_critic: int = flag(1, "critic steps per generator step (the paper's: 5)")
    gp_weight: float = flag(10.0, "λ, the weight of the gradient penalty")
    code: bool = flag(True, "InfoGAN's categorical latent code, as the DCGAN's default: G draws "
                            "one of 10 codes that a second head of the critic must read back")
    lr_decay_start: float = lr_decay_flag(0.5)

    # What a checkpoint made before a flag existed trained with:
    LEGACY_DEFAULTS = {
        "code": False,             # no latent code before --code
        "lr_decay_start": 1.0,     # constant rates before --lr-decay-start
    }

    def check(self, config):
        check_lr_decay(self)


def networks(options):
    if options.code:
        return CodedGenerator(), WGANCritic(num_codes=NUM_CLASSES)
    return InfoGANGenerator(), WGANCritic()


def step(nets, batches, options):
    return wgan_gp_step(nets, batches, options.n_critic, options.gp_weight, options.code)


def critic_batches(options):
    return options.n_critic


RECIPE = Recipe(
    name="wgan_gp",
    summary="Train a Wasserstein GAN with gradient penalty (WGAN-GP) on MNIST.",
    networks=networks,
    step=step,
    batches=image_batches,
    latent_dim=LATENT_DIM,
    # Gulrajani et al.'s Adam β = (0.5, 0.9) and λ = 10, but one critic step per generator
    # step with the critic at 4e-4 and G at 3e-4 (their 5 steps at 1e-4: docs/wgan-gp.md);
    # an iteration is one generator step (and n_critic batches).
    defaults=dict(iterations=10_000, batch_size=64, lr=4e-4, g_lr=3e-4, beta1=0.5, beta2=0.9, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=WGANGPOptions,
    batches_per_iteration=critic_batches,
    lr_schedule=lr_decay_schedule,
)
