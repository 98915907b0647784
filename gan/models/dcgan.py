"""The DCGAN: convolutional GANs with weights drawn from N(0, 0.02) as the DCGAN paper
(Radford et al., 2015) asks (`dcgan_init`), in four architectures (--arch):

- infogan-code (the default): the MNIST networks of InfoGAN (Chen et al., 2016) with its
  categorical latent code: `CodedGenerator` against `ACGANDiscriminator`, whose second head
  reads the code back (`infogan_step`);
- infogan: the same networks without the code; infogan-sn: with spectral normalisation in D
  in place of its BatchNorm; keras: the Keras DCGAN tutorial's networks.

    python examples/dcgan.py [--arch infogan-code|infogan|infogan-sn|keras]
"""
from dataclasses import dataclass
from typing import Callable

from minigrad import functional as F
from minigrad import nn

from ..training.batches import image_batches
from ..training.config import ConfigError, flag
from ..training.recipe import Recipe
from ..training.schedule import check_lr_decay, lr_decay_flag, lr_decay_schedule
from .blocks import (LATENT_DIM, ACGANDiscriminator, CodedGenerator, InfoGANGenerator, dcgan_init,
                     discriminator_loss, fraction, game_numbers, generator_loss, infogan_features, latent_code,
                     latent_noise, optimizer_step)
from .gan import gan_step


# ----------------------------------------------------------------------------- networks
class InfoGANDiscriminator(nn.Module):
    """InfoGAN's MNIST discriminator: two 4×4 stride-2 convolutions (28 → 14 → 7), a dense
    layer of 1024, BatchNorm after every layer but the first and the last. The shapes in the
    comments are for width 1."""

    def __init__(self, width=1):
        super().__init__()
        self.net = nn.Sequential(                                       # x: (N, 1, 28, 28)
            *infogan_features(width),                                   # (N, 1024): see below
            nn.Dense(1024 * width, 1),                                  # (N, 1) logit of "real"
        )
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x)


class InfoGANSNDiscriminator(nn.Module):
    """InfoGAN's discriminator with spectral normalisation (Miyato et al. 2018) on every layer
    in place of its BatchNorm (`--arch infogan-sn`, as TF-GAN's MNIST example): no layer can
    stretch an input by more than 1, which bounds how sharp D can get ahead of G."""

    def __init__(self, width=1):
        super().__init__()
        c1, c2, hidden = 64 * width, 128 * width, 1024 * width
        def sn(layer):  # initialised first, so the power iteration starts on the real weights
            return nn.SpectralNorm(layer.apply(dcgan_init))
        self.net = nn.Sequential(                                       # x: (N, 1, 28, 28)
            sn(nn.Conv2D(1, c1, 4, stride=2, padding=1)),               # (N, 64, 14, 14)
            nn.LeakyReLU(0.1),
            sn(nn.Conv2D(c1, c2, 4, stride=2, padding=1)),              # (N, 128, 7, 7)
            nn.LeakyReLU(0.1),
            nn.Flatten(),                                               # (N, 6272)
            sn(nn.Dense(c2 * 7 * 7, hidden)),                           # (N, 1024)
            nn.LeakyReLU(0.1),
            sn(nn.Dense(hidden, 1)),                                    # (N, 1) logit of "real"
        )

    def forward(self, x):
        return self.net(x)


class KerasDCGANGenerator(nn.Module):
    """The Keras DCGAN tutorial's generator (`--arch keras`): nearest-neighbour upsampling
    followed by 5×5 convolutions."""

    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.net = nn.Sequential(                             # z: (N, 100)
            nn.Dense(latent_dim, 128 * 7 * 7),                # (N, 6272)
            nn.LeakyReLU(0.2),
            nn.BatchNorm(128 * 7 * 7),
            nn.Reshape((128, 7, 7)),                          # (N, 128, 7, 7)
            nn.UpSampling2D(2),                               # (N, 128, 14, 14)
            nn.Conv2D(128, 64, 5, padding="same"),            # (N, 64, 14, 14)
            nn.BatchNorm(64),
            nn.LeakyReLU(0.2),
            nn.UpSampling2D(2),                               # (N, 64, 28, 28)
            nn.Conv2D(64, 1, 5, padding="same"),              # (N, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z):
        return self.net(z)


class KerasDCGANDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(                             # x: (N, 1, 28, 28)
            nn.Conv2D(1, 64, 5, stride=2, padding="same"),    # (N, 64, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Conv2D(64, 128, 5, stride=2, padding="same"),  # (N, 128, 7, 7)
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Flatten(),                                     # (N, 6272)
            nn.Dense(128 * 7 * 7, 1),                         # (N, 1) logit of "real"
        )
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------------------- step
def infogan_step(nets, batches, real_label=1.0):
    """The DCGAN's game plus InfoGAN's mutual-information term (`--arch infogan-code`): D's second head
    guesses the categorical code c = latent_code(z) of each fake, and D and G both minimise
    the cross-entropy of the guess: G learns to draw its 10 codes so that they can be told
    apart, which on MNIST are the 10 digits, and no fake falls between two of them."""
    G, D = nets.generator, nets.discriminator
    real = batches.next_images()                                  # (N, 1, 28, 28)
    z = latent_noise(real.shape[0], nets.latent_dim)
    codes = latent_code(z)                                 # (N,) in 0..9
    fake = G(z)

    (real_logits, _), (fake_logits, fake_codes) = D(real), D(fake.detach())
    d_loss = (discriminator_loss(real_logits, fake_logits, real_label)
              + F.cross_entropy(fake_codes, codes))
    optimizer_step(nets.d_optimizer, d_loss)

    fake_logits_g, fake_codes_g = D(fake)
    g_loss = generator_loss(fake_logits_g) + F.cross_entropy(fake_codes_g, codes)
    optimizer_step(nets.g_optimizer, g_loss)

    return {**game_numbers(d_loss, g_loss, real_logits, fake_logits),
            "code_acc": fraction(fake_codes_g.data.argmax(axis=1) == codes.data)}


# ----------------------------------------------------------------------------- the recipe
@dataclass(frozen=True)
class Architecture:
    """An --arch: its networks, the game they play, and its defaults where they differ from
    the recipe's (those of its documented run, docs/results.md)."""
    generator: type
    discriminator: type
    step: Callable                   # (nets, batches, real_label) -> numbers
    defaults: dict
    scales: bool = True              # does --width scale its networks?


ARCHITECTURES = {
    "infogan-code": Architecture(CodedGenerator, ACGANDiscriminator, infogan_step,
                                 # the rates decay over the second half
                                 dict(lr_decay_start=0.5)),
    "infogan": Architecture(InfoGANGenerator, InfoGANDiscriminator, gan_step,
                            dict(iterations=5_000, lr_decay_start=1.0)),
    "infogan-sn": Architecture(InfoGANGenerator, InfoGANSNDiscriminator, gan_step,
                               dict(iterations=5_000, lr_decay_start=1.0)),
    "keras": Architecture(KerasDCGANGenerator, KerasDCGANDiscriminator, gan_step,
                          dict(iterations=10_000, batch_size=128, lr=2e-4, g_lr=None, ema=0.0,
                               lr_decay_start=1.0), scales=False),
}


@dataclass
class DCGANOptions:
    arch: str = flag("infogan-code", "the networks: InfoGAN's MNIST model with its categorical "
                                     "latent code, without it, without it and with spectral "
                                     "normalisation in D instead of BatchNorm, or the Keras tutorial's",
                     choices=tuple(ARCHITECTURES))
    lr_decay_start: float = lr_decay_flag(None, " (default: the --arch's, below)")
    width: int = flag(1, "multiplies the size of every hidden layer of InfoGAN's networks")
    real_label: float = flag(1.0, "D's target for real images; 0.9 is one-sided label smoothing "
                                  "(Salimans et al. 2016)")

    # What a checkpoint made before a flag existed trained with:
    LEGACY_DEFAULTS = {
        "lr_decay_start": 1.0,     # constant rates before --lr-decay-start
    }

    def check(self, config):
        check_lr_decay(self)
        if self.width != 1 and not ARCHITECTURES[self.arch].scales:
            raise ConfigError(f"--width scales InfoGAN's networks; --arch {self.arch}'s keep their size")
        if not 0.5 < self.real_label <= 1:
            raise ConfigError(f"--real-label must be in (0.5, 1], got {self.real_label}")


def networks(options):
    architecture = ARCHITECTURES[options.arch]
    if not architecture.scales:
        return architecture.generator(), architecture.discriminator()
    return architecture.generator(width=options.width), architecture.discriminator(width=options.width)


def step(nets, batches, options):
    return ARCHITECTURES[options.arch].step(nets, batches, real_label=options.real_label)


def arch_defaults(options):
    return ARCHITECTURES[options.arch].defaults


RECIPE = Recipe(
    name="dcgan",
    summary="Train a DCGAN on MNIST: InfoGAN's networks and latent code (--arch infogan-code), "
            "the networks alone, or the Keras tutorial's.",
    networks=networks,
    step=step,
    batches=image_batches,
    latent_dim=LATENT_DIM,
    # Adam(β₁ 0.5) and N(0, 0.02) weights as in the DCGAN paper, batches of 64 as InfoGAN's
    # for 10,000 iterations (10.7 epochs); G learns at InfoGAN's 1e-3, D at 2e-4, and samples
    # come from a moving average of G's weights (docs/results.md measures each choice).
    defaults=dict(iterations=10_000, batch_size=64, lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=DCGANOptions,
    defaults_for=arch_defaults,
    defaults_note="Where an --arch's defaults differ: " + "; ".join(
        f"{name}: " + ", ".join(f"{key} {value}" for key, value in architecture.defaults.items())
        for name, architecture in ARCHITECTURES.items()) + ".",
    lr_schedule=lr_decay_schedule,
)
