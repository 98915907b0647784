"""The conditional GAN: ask it for a digit, it draws that digit. InfoGAN's networks, the label
joined to z in G (one-hot) and read by D through a projection (Miyato & Koyama 2018) or an
auxiliary classifier (AC-GAN, Odena et al. 2017). G(z, y) and D(x, y) take labels (N,).

    python examples/cgan.py [--discriminator projection|acgan]
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from minigrad import functional as F
from minigrad import nn
from minigrad.nn import init

from ..training.batches import labeled_batches
from ..training.config import flag
from ..training.recipe import Recipe, generate
from .blocks import (LATENT_DIM, NUM_CLASSES, ACGANDiscriminator, InfoGANGenerator, dcgan_init,
                     discriminator_loss, fraction, game_numbers, generator_loss, infogan_features, latent_noise,
                     one_hot, optimizer_step)


# ----------------------------------------------------------------------------- networks
class ConditionalGenerator(nn.Module):
    """InfoGAN's generator on z joined to the one-hot label, as InfoGAN feeds its categorical
    code: G(z, y) with z (N, 100) and integer labels y (N,). The first dense layer then adds
    a learned vector per class, W_y·onehot(y), to W_z·z: an embedding of the label."""

    def __init__(self, latent_dim=LATENT_DIM, num_classes=NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes                                  # G takes labels
        self.body = InfoGANGenerator(latent_dim + num_classes)          # (N, 110) -> (N, 1, 28, 28)

    def forward(self, z, labels):
        return self.body(F.concatenate([z, one_hot(labels, self.num_classes)], axis=1))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩ (Miyato & Koyama 2018): InfoGAN's features φ(x)
    (N, 1024), an unconditional logit ψ (a dense layer), plus the inner product of φ(x)
    with a learned vector e_y per class (an embedding). Returns the logit of "real and of
    class y", (N, 1). The projection is what the optimal D of a conditional GAN looks
    like when p(y | x) is a softmax over φ(x): log p(x, y)/q(x, y) splits into a term of x
    and a term linear in φ(x) for each class."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.features = infogan_features()                              # (N, 1024)
        self.linear = nn.Dense(1024, 1)                                 # (N, 1)  ψ(φ(x))
        self.embed = nn.Embedding(num_classes, 1024)                    # (N, 1024) e_y
        self.apply(dcgan_init)
        # N(0, 0.02²) like the dense weights: at N(0, 1) the projection of 1024 features of
        # order 1 would start near ±30 and swamp ψ.
        init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x, labels):
        h = self.features(x)                                            # (N, 1024)
        return self.linear(h) + (self.embed(labels) * h).sum(axis=1, keepdims=True)   # (N, 1)


# ----------------------------------------------------------------------------- steps
def projection_step(nets, batches):
    """One conditional GAN iteration with a projection discriminator D(x, y): gan_step's
    game where every image comes with its label. The fakes are drawn for the labels of
    the real batch, so both halves of D's loss see the same classes."""
    G, D = nets.generator, nets.discriminator
    real, labels = batches.next_labeled()                         # (N, 1, 28, 28), (N,)
    fake = G(latent_noise(real.shape[0], nets.latent_dim), labels)

    # Discriminator: "real and of class y" is 1, "generated for class y" is 0.
    real_logits, fake_logits = D(real, labels), D(fake.detach(), labels)
    d_loss = discriminator_loss(real_logits, fake_logits)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: non-saturating, "call the fakes real, of the class they were drawn for".
    g_loss = generator_loss(D(fake, labels))
    optimizer_step(nets.g_optimizer, g_loss)

    return game_numbers(d_loss, g_loss, real_logits, fake_logits)


def acgan_step(nets, batches):
    """One AC-GAN iteration (Odena et al. 2017): D(x) returns a real-versus-fake logit and
    class logits. D minimises the real-versus-fake loss plus the cross-entropy of the
    classes of real and generated images; G minimises its non-saturating loss plus the
    cross-entropy of the class it was asked for: both players want the class read right."""
    G, D = nets.generator, nets.discriminator
    real, labels = batches.next_labeled()                         # (N, 1, 28, 28), (N,)
    fake = G(latent_noise(real.shape[0], nets.latent_dim), labels)

    (real_logits, real_classes), (fake_logits, fake_classes) = D(real), D(fake.detach())
    d_loss = (discriminator_loss(real_logits, fake_logits)
              + F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels))
    optimizer_step(nets.d_optimizer, d_loss)

    fake_logits_g, fake_classes_g = D(fake)
    g_loss = generator_loss(fake_logits_g) + F.cross_entropy(fake_classes_g, labels)
    optimizer_step(nets.g_optimizer, g_loss)

    def class_accuracy(class_logits):
        return fraction(class_logits.data.argmax(axis=1) == labels.data)
    return {**game_numbers(d_loss, g_loss, real_logits, fake_logits),
            "class_acc_real": class_accuracy(real_classes),
            "class_acc_fake": class_accuracy(fake_classes_g)}


# ----------------------------------------------------------------------------- the recipe
@dataclass(frozen=True)
class ConditionalDiscriminator:
    """How D takes the label: its network, and the step that plays the game with it."""
    network: type
    step: Callable                   # (nets, batches) -> numbers


DISCRIMINATORS = {
    "projection": ConditionalDiscriminator(ProjectionDiscriminator, projection_step),
    "acgan": ConditionalDiscriminator(ACGANDiscriminator, acgan_step),
}


@dataclass
class CGANOptions:
    discriminator: str = flag("projection", "how D reads the label: a projection D(x, y) = "
                                            "ψ(φ(x)) + ⟨e_y, φ(x)⟩, or an auxiliary classifier (AC-GAN)",
                              choices=tuple(DISCRIMINATORS))


def class_grid(G, noise):
    """The training grid of a conditional G: (images, per_row), one row per class 0..9 and
    one column per fixed noise vector (the first 10), so that down a column the style is
    held fixed while the class changes, and along a row one digit is drawn in 10 styles."""
    k = G.num_classes
    columns = noise[:k]                                  # (10, latent_dim)
    latent = np.tile(columns, (k, 1))                    # image r·10 + c: noise c
    labels = np.repeat(np.arange(k), len(columns))       # image r·10 + c: class r
    return generate(G, latent, labels), len(columns)


def networks(options):
    return ConditionalGenerator(), DISCRIMINATORS[options.discriminator].network()


def step(nets, batches, options):
    return DISCRIMINATORS[options.discriminator].step(nets, batches)


RECIPE = Recipe(
    name="cgan",
    summary="Train a conditional GAN on MNIST that draws the digit it is asked for (InfoGAN's networks).",
    networks=networks,
    step=step,
    batches=labeled_batches,
    latent_dim=LATENT_DIM,
    # The DCGAN's settings, taken as they are (not tuned for the conditional model yet).
    defaults=dict(iterations=5_000, batch_size=64, lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999,
                  log_every=50, sample_every=500, checkpoint_every=500),
    options=CGANOptions,
    grid=class_grid,  # one row per digit, one column per fixed noise vector
)
