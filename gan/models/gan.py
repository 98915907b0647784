"""The vanilla GAN of the PyTorch tutorials: an MLP generator against an MLP discriminator,
the non-saturating game (Goodfellow et al. 2014) on MNIST.

    python examples/gan.py

This module is the pattern of a model kind: its networks, with the tensor shape after every
layer; its step, one iteration of its game; and its RECIPE, the networks, step, batches and
defaults that the training loop reads (gan/training/recipe.py says what each field means).
"""
from minigrad import nn

from ..training.batches import image_batches
from ..training.recipe import Recipe
from .blocks import (IMAGE_SHAPE, LATENT_DIM, discriminator_loss, game_numbers, generator_loss, latent_noise,
                     optimizer_step)


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.net = nn.Sequential(            # z: (N, 100)
            nn.Dense(latent_dim, 256),       # (N, 256)
            nn.ReLU(),
            nn.Dense(256, 512),              # (N, 512)
            nn.ReLU(),
            nn.Dense(512, 1024),             # (N, 1024)
            nn.ReLU(),
            nn.Dense(1024, 28 * 28),         # (N, 784)
            nn.Tanh(),
            nn.Reshape(IMAGE_SHAPE),         # (N, 1, 28, 28)
        )

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    # Dropout(0.3) after each hidden layer, as in the PyTorch tutorials: without it D
    # outpaces G, and G collapses onto a few digits (docs/results.md).
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(            # x: (N, 1, 28, 28)
            nn.Flatten(),                    # (N, 784)
            nn.Dense(28 * 28, 1024),         # (N, 1024)
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Dense(1024, 512),             # (N, 512)
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Dense(512, 256),              # (N, 256)
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Dense(256, 1),                # (N, 1) logit of "real"
        )

    def forward(self, x):
        return self.net(x)


def gan_step(nets, batches, real_label=1.0):
    """One iteration of the GAN game (vanilla GAN and DCGAN) on a batch of real images."""
    G, D = nets.generator, nets.discriminator
    real = batches.next_images()                                  # (N, 1, 28, 28)
    fake = G(latent_noise(real.shape[0], nets.latent_dim))

    # Discriminator: real images are 1, generated ones 0. fake.detach() keeps this loss
    # from reaching the generator.
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits, real_label)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: the non-saturating loss -log D(G(z)), i.e. "call the fakes real"; the
    # gradient flows through D to G, and only G's weights get one.
    g_loss = generator_loss(D(fake))
    optimizer_step(nets.g_optimizer, g_loss)

    return game_numbers(d_loss, g_loss, real_logits, fake_logits)


def networks(options):
    return MLPGenerator(), MLPDiscriminator()


def step(nets, batches, options):
    return gan_step(nets, batches)


RECIPE = Recipe(
    name="gan",
    summary="Train the vanilla (MLP) GAN of the PyTorch tutorials on MNIST.",
    networks=networks,
    step=step,
    batches=image_batches,
    latent_dim=LATENT_DIM,
    # Adam(2e-4, β₁ 0.5) as in the DCGAN paper; 90,000 batches of 128 is 192 epochs
    # (docs/results.md: why so long).
    defaults=dict(iterations=90_000, batch_size=128, lr=2e-4, beta1=0.5,
                  log_every=100, sample_every=1000, checkpoint_every=1000),
)
