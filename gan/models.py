"""The three GANs' generators and discriminators, with the tensor shape after every layer.

Generators map latent vectors z of shape (N, 100) to images (N, 1, 28, 28) in [-1, 1]
(tanh). Discriminators return logits, never probabilities: the losses take logits so that
they never reach log(0).

- "gan":   the MLP GAN of the PyTorch tutorials.
- "dcgan": convolutional GANs, weights drawn from N(0, 0.02) as the DCGAN paper
           (Radford et al., 2015) asks (`dcgan_init`): the MNIST networks of InfoGAN
           (Chen et al., 2016) with its categorical latent code (the default, `--arch
           infogan-code`: `CodedGenerator`, `ACGANDiscriminator`) or without it
           (`--arch infogan`), and the Keras DCGAN tutorial's (`--arch keras`).
- "cgan":  the conditional GAN: InfoGAN's networks, the label joined to z in G (one-hot)
           and read by D through a projection (Miyato & Koyama 2018) or an auxiliary
           classifier (AC-GAN, Odena et al. 2017). G(z, y) and D(x, y) take labels (N,).
- "sgan":  the semi-supervised GAN of *GANs in Action*, chapter 7: the discriminator
           returns 10 class logits; real-versus-fake is read from the same logits
           (`real_fake_logit`).
- "sgan_improved": the MNIST networks of Improved-GAN (Salimans et al. 2016, feature
           matching): weight-normalised dense layers with Gaussian noise in D, a generator
           of uniform z; the same class logits and `real_fake_logit` as the SGAN.
"""
import math

import numpy as np

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad import nn
from minigrad.nn import init
from minigrad.tensor import Tensor

from . import data

LATENT_DIM = 100
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


# ----------------------------------------------------------------------------- vanilla GAN
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


# ----------------------------------------------------------------------------- DCGAN
def dcgan_init(module):
    """The DCGAN paper's initialisation, for `model.apply(dcgan_init)`: dense and
    convolution weights N(0, 0.02²) and biases 0; BatchNorm γ N(1, 0.02²) and β 0."""
    if isinstance(module, (nn.Dense, nn.Conv2D, nn.ConvTranspose2D)):
        init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm) and module.affine:
        init.normal_(module.gamma, 1.0, 0.02)
        init.zeros_(module.beta)


class InfoGANGenerator(nn.Module):
    """InfoGAN's MNIST generator (Chen et al. 2016, also Lucic et al. 2018): two dense
    layers, then two transposed convolutions of 4×4 kernels and stride 2 (7 → 14 → 28).
    `width` multiplies every hidden layer's size (`--width` of examples/dcgan.py)."""

    def __init__(self, latent_dim=LATENT_DIM, width=1):
        super().__init__()
        c1, c2, hidden = 128 * width, 64 * width, 1024 * width
        self.net = nn.Sequential(                                       # z: (N, 100)
            nn.Dense(latent_dim, hidden),                               # (N, 1024)
            nn.BatchNorm(hidden),
            nn.ReLU(),
            nn.Dense(hidden, c1 * 7 * 7),                               # (N, 6272)
            nn.BatchNorm(c1 * 7 * 7),
            nn.ReLU(),
            nn.Reshape((c1, 7, 7)),                                     # (N, 128, 7, 7)
            nn.ConvTranspose2D(c1, c2, 4, stride=2, padding=1),         # (N, 64, 14, 14)
            nn.BatchNorm(c2),
            nn.ReLU(),
            nn.ConvTranspose2D(c2, 1, 4, stride=2, padding=1),          # (N, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z):
        return self.net(z)


class CodedGenerator(nn.Module):
    """InfoGAN's generator with its categorical latent code (Chen et al. 2016; the DCGAN's
    default, `--arch infogan-code`): a
    code c, one of 10, that G must draw so that D's second head can read it back. c is read
    off the noise itself, c = argmax z[:, :10] (uniform over the 10: the draws are i.i.d.),
    and G sees onehot(c) joined to z[:, 10:]. Being a function of z, the code needs nothing
    new from sampling, grids or moving averages; the step recovers it with `latent_code`."""

    def __init__(self, latent_dim=LATENT_DIM, num_codes=NUM_CLASSES, width=1):
        super().__init__()
        self.num_codes = num_codes
        self.body = InfoGANGenerator(latent_dim, width)   # onehot(c) (10) + z[:, 10:] (90)

    def forward(self, z):
        code = one_hot(latent_code(z, self.num_codes), self.num_codes)   # (N, 10)
        return self.body(F.concatenate([code, z[:, self.num_codes:]], axis=1))


def latent_code(z, num_codes=NUM_CLASSES):
    """The categorical code of latent vectors z (N, latent_dim): the index of the largest of
    the first `num_codes` entries, an integer tensor (N,)."""
    return Tensor._wrap(z.data[:, :num_codes].argmax(axis=1))


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


# ----------------------------------------------------------------------------- WGAN-GP
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


# ----------------------------------------------------------------------------- conditional GAN
def one_hot(labels, num_classes=NUM_CLASSES):
    """Integer labels (N,) (a tensor) -> a constant float32 tensor (N, num_classes)."""
    xp = backend.get_array_module(labels.data)
    return Tensor._wrap(xp.eye(num_classes, dtype=minigrad.float32)[labels.data])


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


def infogan_features(width=1):
    """InfoGAN's discriminator without its last layer: the features φ(x) the conditional
    discriminators read the label against, (N, 1, 28, 28) -> (N, 1024·width)."""
    c1, c2, hidden = 64 * width, 128 * width, 1024 * width
    return nn.Sequential(                                               # x: (N, 1, 28, 28)
        nn.Conv2D(1, c1, 4, stride=2, padding=1),                       # (N, 64, 14, 14)
        nn.LeakyReLU(0.1),
        nn.Conv2D(c1, c2, 4, stride=2, padding=1),                      # (N, 128, 7, 7)
        nn.BatchNorm(c2),
        nn.LeakyReLU(0.1),
        nn.Flatten(),                                                   # (N, 6272)
        nn.Dense(c2 * 7 * 7, hidden),                                   # (N, 1024)
        nn.BatchNorm(hidden),
        nn.LeakyReLU(0.1),
    )


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


class ACGANDiscriminator(nn.Module):
    """InfoGAN's features φ(x) with two heads (AC-GAN, Odena et al. 2017): the logit of
    "real" (N, 1) and the logits of the 10 classes (N, 10). D(x) returns both; the label
    enters the loss, not the network. InfoGAN's D with its code head Q is the same network
    (`--arch infogan-code`, the DCGAN's default)."""

    def __init__(self, num_classes=NUM_CLASSES, width=1):
        super().__init__()
        self.features = infogan_features(width)                         # (N, 1024)
        self.real_fake = nn.Dense(1024 * width, 1)                      # (N, 1) logit of "real"
        self.classes = nn.Dense(1024 * width, num_classes)              # (N, 10) class logits
        self.apply(dcgan_init)

    def forward(self, x):
        h = self.features(x)
        return self.real_fake(h), self.classes(h)


# ----------------------------------------------------------------------------- SGAN
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


def real_fake_logit(class_logits):
    """The unsupervised head of the SGAN discriminator, as a logit: (N, K) -> (N,).

    The book's D(x) = Z / (Z + 1) with Z = Σ_k exp(logit_k) is a sigmoid of log Z:
    D(x) = σ(lse) with lse = logsumexp(logits). Returning lse lets the losses work on
    logits, where they are stable at any magnitude:
        log D(x)     = lse - softplus(lse) = -softplus(-lse)
        log(1 - D(x)) = -softplus(lse)
    and binary_cross_entropy_with_logits(lse, target) is exactly -log D or -log(1 - D).
    """
    return F.logsumexp(class_logits, axis=1)


# ----------------------------------------------------------------------------- Improved-GAN
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


# ----------------------------------------------------------------------------- using them
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
    return data.from_unit_range(images[:, 0])


def is_conditional(G):
    """Does G take labels, G(z, y)? Conditional generators say how many classes they draw."""
    return getattr(G, "num_classes", None) is not None


def noise_grid(G, noise):
    """The training grid of an unconditional G: (images, per_row), one image per fixed
    noise vector, in a square (8 per row for 64)."""
    return generate(G, noise), math.isqrt(len(noise))


def class_grid(G, noise):
    """The training grid of a conditional G: (images, per_row), one row per class 0..9 and
    one column per fixed noise vector (the first 10), so that down a column the style is
    held fixed while the class changes, and along a row one digit is drawn in 10 styles."""
    k = G.num_classes
    columns = noise[:k]                                  # (10, latent_dim)
    latent = np.tile(columns, (k, 1))                    # image r·10 + c: noise c
    labels = np.repeat(np.arange(k), len(columns))       # image r·10 + c: class r
    return generate(G, latent, labels), len(columns)


def classifier_accuracy(D, images, labels, batch_size=1000):
    """Accuracy of D's class logits (argmax) on host images and labels, in eval mode."""
    correct = 0
    with D.evaluating(), minigrad.no_grad():
        for start in range(0, len(images), batch_size):
            logits = D(minigrad.tensor(images[start:start + batch_size]))
            predicted = backend.to_numpy(logits.data.argmax(axis=1))
            correct += int((predicted == labels[start:start + batch_size]).sum())
    return correct / len(images)
