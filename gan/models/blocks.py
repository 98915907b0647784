"""What the model kinds share: InfoGAN's network bodies, the one-hot and latent-code helpers,
the losses and pieces of a step, and the semi-supervised models' classifier pieces.

Generators map latent vectors z of shape (N, 100) to images (N, 1, 28, 28) in [-1, 1];
discriminators return logits, never probabilities: the losses take logits so that they never
reach log(0). Each model's own networks, step and recipe are in its module beside this one.
"""
from dataclasses import dataclass

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad import nn
from minigrad.nn import init
from minigrad.random import random_normal, random_uniform
from minigrad.tensor import Tensor

from ..training.batches import SemiSupervisedBatches, labeled_subset
from ..training.config import ConfigError, flag

LATENT_DIM = 100
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


# ----------------------------------------------------------------------------- InfoGAN's networks
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


def one_hot(labels, num_classes=NUM_CLASSES):
    """Integer labels (N,) (a tensor) -> a constant float32 tensor (N, num_classes)."""
    xp = backend.get_array_module(labels.data)
    return Tensor._wrap(xp.eye(num_classes, dtype=minigrad.float32)[labels.data])


# ----------------------------------------------------------------------------- step pieces
def latent_noise(n, latent_dim, distribution="normal"):
    """z ~ N(0, I) (or U[0, 1) with distribution="uniform") of shape (n, latent_dim), drawn
    on the active backend."""
    draw = {"normal": random_normal, "uniform": random_uniform}[distribution]
    return Tensor._wrap(draw((n, latent_dim), minigrad.float32))


def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """-log D(x) - log(1 - D(G(z))) on logits: real images are 1, generated ones 0. A
    `real_label` below 1 (one-sided label smoothing) keeps D from pushing real logits ever
    higher; the fakes' target stays 0, so D still pulls G towards the data."""
    return (F.binary_cross_entropy_with_logits(real_logits, real_label)
            + F.binary_cross_entropy_with_logits(fake_logits, 0.0))


def generator_loss(fake_logits):
    """The non-saturating generator loss -log D(G(z)): "call the fakes real". Its gradient
    stays large while D still rejects the fakes, unlike log(1 - D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, 1.0)


# A step returns its numbers as 0-d device arrays, never read on the host: the loop reads them
# after the step, since a read inside would stop a captured step (docs/capture.md).
def fraction(mask):
    """The fraction of True in a backend boolean array, on the device."""
    return mask.mean()


def game_numbers(d_loss, g_loss, real_logits, fake_logits, d_loss_name="d_loss"):
    """What every GAN step logs of its game: both losses, and D's accuracy in its own step,
    the fraction of real logits above 0 and of fake logits below 0."""
    return {d_loss_name: d_loss.data, "g_loss": g_loss.data,
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


def optimizer_step(optimizer, loss):
    """Backpropagate `loss` into fresh gradients of `optimizer`'s parameters, and let it
    update them. Only those: a generator step through D computes no gradient for D's
    weights (PyTorch computes and discards them unless told otherwise), a sixth of the
    DCGAN's step."""
    optimizer.zero_grad()
    loss.backward(inputs=optimizer.params)
    optimizer.step()


# ----------------------------------------------------------------------------- semi-supervised pieces
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


def supervised_loss(D, images, labels):
    """Cross-entropy of D's class logits on a labelled batch, and the batch accuracy."""
    class_logits = D(images)
    accuracy = fraction(class_logits.data.argmax(axis=1) == labels.data)
    return F.cross_entropy(class_logits, labels), accuracy


def classifier_accuracy(D, images, labels, batch_size=1000):
    """Accuracy of D's class logits (argmax) on host images and labels, in eval mode."""
    correct = 0
    with D.evaluating(), minigrad.no_grad():
        for start in range(0, len(images), batch_size):
            logits = D(minigrad.tensor(images[start:start + batch_size]))
            predicted = backend.to_numpy(logits.data.argmax(axis=1))
            correct += int((predicted == labels[start:start + batch_size]).sum())
    return correct / len(images)


def test_accuracy(nets, data):
    """D's test accuracy; with a moving average of D's weights (--d-ema), the average's, and
    D's own as test_acc_raw."""
    if nets.d_average is None:
        return {"test_acc": classifier_accuracy(nets.discriminator, data.test_images, data.test_labels)}
    return {"test_acc": classifier_accuracy(nets.d_average.average, data.test_images, data.test_labels),
            "test_acc_raw": classifier_accuracy(nets.discriminator, data.test_images, data.test_labels)}


@dataclass
class LabeledSubsetOptions:
    """The labelled subset of a semi-supervised model."""
    num_labeled: int = flag(100, "training images whose labels the discriminator sees")
    first_labeled: bool = flag(False, "label the first N images, as the book does, instead of "
                                      "N/10 per class chosen by --seed")

    def check(self, config):
        if self.num_labeled < 1:
            raise ConfigError(f"--num-labeled must be at least 1, got {self.num_labeled}")
        if not self.first_labeled and self.num_labeled % NUM_CLASSES:
            raise ConfigError(f"--num-labeled {self.num_labeled}: a balanced labelled set takes "
                              f"the same number of each of the {NUM_CLASSES} digits, so it "
                              f"must be a multiple of {NUM_CLASSES} (or add --first-labeled)")


def labeled_subset_batches(data, config, **settings):
    """SemiSupervisedBatches of a run whose options are a LabeledSubsetOptions: its labelled
    subset drawn as --num-labeled and --first-labeled say (`settings`: the batch source's own)."""
    options = config.options
    labeled_index = labeled_subset(data.train_labels, options.num_labeled, config.seed,
                                   balanced=not options.first_labeled)
    return SemiSupervisedBatches(data.train_images, data.train_labels, labeled_index,
                                 config.batch_size, config.seed, **settings)
