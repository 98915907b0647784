"""The semi-supervised GAN of *GANs in Action*, chapter 7: the discriminator classifies the
10 digits, learning from 100 labelled images and, through a real-versus-fake head read from
the same logits (`real_fake_logit`), from all the others.

    python examples/sgan.py                      # the book's SGAN (--model book)
    python examples/sgan.py --supervised-only    # the same D on the 100 labelled images alone
    python examples/sgan.py --model improved     # Improved-GAN's recipe (gan/models/improved_gan.py)
"""
from dataclasses import dataclass

from minigrad import nn

from ..training.config import flag
from ..training.recipe import Recipe, Variants
from . import improved_gan
from .blocks import (LATENT_DIM, NUM_CLASSES, LabeledSubsetOptions, discriminator_loss, game_numbers,
                     generator_loss, labeled_subset_batches, latent_noise, optimizer_step,
                     real_fake_logit, supervised_loss, test_accuracy)


# ----------------------------------------------------------------------------- networks
class SGANGenerator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        # Keras' padding="same" for a transposed convolution of stride s gives s·in pixels:
        # here padding=1 with output_padding=s-1.
        self.net = nn.Sequential(                                           # z: (N, 100)
            nn.Dense(latent_dim, 256 * 7 * 7),                              # (N, 12544)
            nn.Reshape((256, 7, 7)),                                        # (N, 256, 7, 7)
            nn.ConvTranspose2D(256, 128, 3, stride=2, padding=1, output_padding=1),  # (N, 128, 14, 14)
            nn.BatchNorm(128),
            nn.LeakyReLU(0.01),
            nn.ConvTranspose2D(128, 64, 3, stride=1, padding=1),           # (N, 64, 14, 14)
            nn.BatchNorm(64),
            nn.LeakyReLU(0.01),
            nn.ConvTranspose2D(64, 1, 3, stride=2, padding=1, output_padding=1),     # (N, 1, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z)


class SGANDiscriminator(nn.Module):
    """Returns the 10 class logits. Softmax over them is the supervised head; the
    unsupervised head reads real-versus-fake from the same logits (`real_fake_logit`)."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.net = nn.Sequential(                             # x: (N, 1, 28, 28)
            nn.Conv2D(1, 32, 3, stride=2, padding="same"),    # (N, 32, 14, 14)
            nn.LeakyReLU(0.01),
            nn.Conv2D(32, 64, 3, stride=2, padding="same"),   # (N, 64, 7, 7)
            nn.LeakyReLU(0.01),
            nn.Conv2D(64, 128, 3, stride=2, padding="same"),  # (N, 128, 4, 4)
            nn.LeakyReLU(0.01),
            nn.Dropout(0.5),
            nn.Flatten(),                                     # (N, 2048)
            nn.Dense(128 * 4 * 4, num_classes),               # (N, 10) class logits
        )

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------------------- steps
def supervised_step(nets, batches):
    """`--supervised-only`: the SGAN discriminator as a plain classifier of the labelled set."""
    sup_loss, sup_acc = supervised_loss(nets.discriminator, *batches.next_labeled())
    optimizer_step(nets.d_optimizer, sup_loss)
    return {"sup_loss": sup_loss.data, "sup_acc": sup_acc}


def sgan_step(nets, batches):
    """One SGAN iteration (GANs in Action, ch. 7): supervised, unsupervised, generator.

    The unsupervised head reads real-versus-fake from the class logits:
    D(x) = Z / (Z + 1) = σ(logsumexp(logits)), so its logit is `real_fake_logit`.
    """
    G, D = nets.generator, nets.discriminator
    labeled, labels = batches.next_labeled()
    unlabeled = batches.next_unlabeled()

    # Supervised: softmax cross-entropy on the labelled batch.
    sup_loss, sup_acc = supervised_loss(D, labeled, labels)
    optimizer_step(nets.d_optimizer, sup_loss)

    # Unsupervised: unlabelled real images are real, generated ones fake.
    fake = G(latent_noise(unlabeled.shape[0], nets.latent_dim))
    real_logits = real_fake_logit(D(unlabeled))
    fake_logits = real_fake_logit(D(fake.detach()))
    d_loss = discriminator_loss(real_logits, fake_logits)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: non-saturating, on D's real-versus-fake logit; only G's optimizer steps.
    g_loss = generator_loss(real_fake_logit(D(fake)))
    optimizer_step(nets.g_optimizer, g_loss)

    return {"sup_loss": sup_loss.data, "sup_acc": sup_acc,
            **game_numbers(d_loss, g_loss, real_logits, fake_logits)}


# ----------------------------------------------------------------------------- the recipe
@dataclass
class SGANOptions(LabeledSubsetOptions):
    supervised_only: bool = flag(False, "train the same discriminator on the labelled images "
                                        "alone (the baseline)")


def semi_supervised_batches(data, config):
    return labeled_subset_batches(data, config, supervised_only=config.options.supervised_only)


def networks(options):
    return SGANGenerator(), SGANDiscriminator()


def step(nets, batches, options):
    return (supervised_step if options.supervised_only else sgan_step)(nets, batches)


def draws_samples(options):
    return not options.supervised_only


RECIPE = Recipe(
    name="sgan",
    summary="Train the semi-supervised GAN of GANs in Action (ch. 7) on MNIST with 100 labels.",
    networks=networks,
    step=step,
    batches=semi_supervised_batches,
    latent_dim=LATENT_DIM,
    # The book's settings: batches of 32, Keras' default Adam (1e-3, β₁ 0.9), 8,000 iterations.
    defaults=dict(iterations=8_000, batch_size=32, lr=1e-3, beta1=0.9,
                  log_every=100, sample_every=800, checkpoint_every=800, eval_every=800),
    options=SGANOptions,
    evaluate=test_accuracy,
    draws_samples=draws_samples,
)

# examples/sgan.py trains the book's recipe, or with --model improved Improved-GAN's
COMMAND = Variants("sgan", {"book": RECIPE, "improved": improved_gan.RECIPE})
