"""One training iteration of each GAN: the step functions the recipes name.

A step function takes the networks and the batch source, plays one iteration of its
model's game, and returns its numbers (losses, accuracies) as floats:

- `gan_step` (vanilla GAN and DCGAN): a discriminator step on a real batch and on
  `fake.detach()`, then a generator step with the non-saturating loss -log D(G(z)).
- `sgan_step`: a supervised step (cross-entropy on a labelled batch), an unsupervised step
  (real unlabelled images against `fake.detach()`), then the generator step.
- `supervised_step`: the SGAN discriminator trained on the labelled images alone
  (`--supervised-only`), the baseline the semi-supervised one is compared with.
- `projection_step` (conditional GAN): `gan_step` on labelled batches, G and D given the
  labels, D a projection discriminator D(x, y).
- `acgan_step` (conditional GAN, `--discriminator acgan`): the same game, plus a
  cross-entropy on D's class logits of the real and the generated images for both players.
- `wgan_gp_step`: `n_critic` critic steps on the Wasserstein loss with a gradient penalty,
  then one generator step.
- `improved_gan_step` (Improved-GAN, feature matching): one discriminator step on the
  supervised and unsupervised losses together, then a generator step that matches the mean
  features of D's last hidden layer on real and generated images.
"""
from dataclasses import dataclass

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad.tensor import Tensor

from . import models


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


# ----------------------------------------------------------------------------- step pieces
def latent_noise(n, latent_dim, distribution="normal"):
    """z ~ N(0, I) (or U[0, 1) with distribution="uniform") of shape (n, latent_dim), drawn
    on the active backend."""
    draw = {"normal": backend.random_normal, "uniform": backend.random_uniform}[distribution]
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


def fraction(mask):
    """The fraction of True in a backend boolean array, as a Python float."""
    return float(mask.mean())


def optimizer_step(optimizer, loss):
    """Backpropagate `loss` into fresh gradients of `optimizer`'s parameters, and let it
    update them. Only those: a generator step through D computes no gradient for D's
    weights (PyTorch computes and discards them unless told otherwise), a sixth of the
    DCGAN's step."""
    optimizer.zero_grad()
    loss.backward(inputs=optimizer.params)
    optimizer.step()


# ----------------------------------------------------------------------------- steps
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

    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


def infogan_step(nets, batches, real_label=1.0):
    """The DCGAN's game plus InfoGAN's mutual-information term (`--arch infogan-code`): D's second head
    guesses the categorical code c = latent_code(z) of each fake, and D and G both minimise
    the cross-entropy of the guess: G learns to draw its 10 codes so that they can be told
    apart, which on MNIST are the 10 digits, and no fake falls between two of them."""
    G, D = nets.generator, nets.discriminator
    real = batches.next_images()                                  # (N, 1, 28, 28)
    z = latent_noise(real.shape[0], nets.latent_dim)
    codes = models.latent_code(z)                                 # (N,) in 0..9
    fake = G(z)

    (real_logits, _), (fake_logits, fake_codes) = D(real), D(fake.detach())
    d_loss = (discriminator_loss(real_logits, fake_logits, real_label)
              + F.cross_entropy(fake_codes, codes))
    optimizer_step(nets.d_optimizer, d_loss)

    fake_logits_g, fake_codes_g = D(fake)
    g_loss = generator_loss(fake_logits_g) + F.cross_entropy(fake_codes_g, codes)
    optimizer_step(nets.g_optimizer, g_loss)

    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0),
            "code_acc": fraction(fake_codes_g.data.argmax(axis=1) == codes.data)}


def supervised_loss(D, images, labels):
    """Cross-entropy of D's class logits on a labelled batch, and the batch accuracy."""
    class_logits = D(images)
    accuracy = fraction(class_logits.data.argmax(axis=1) == labels.data)
    return F.cross_entropy(class_logits, labels), accuracy


def supervised_step(nets, batches):
    """`--supervised-only`: the SGAN discriminator as a plain classifier of the labelled set."""
    sup_loss, sup_acc = supervised_loss(nets.discriminator, *batches.next_labeled())
    optimizer_step(nets.d_optimizer, sup_loss)
    return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc}


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
    real_logits = models.real_fake_logit(D(unlabeled))
    fake_logits = models.real_fake_logit(D(fake.detach()))
    d_loss = discriminator_loss(real_logits, fake_logits)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: non-saturating, on D's real-versus-fake logit; only G's optimizer steps.
    g_loss = generator_loss(models.real_fake_logit(D(fake)))
    optimizer_step(nets.g_optimizer, g_loss)

    return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc,
            "d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


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

    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


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
    real_logits = models.real_fake_logit(D(unlabeled))
    fake_logits = models.real_fake_logit(D(fake.detach()))
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
        g_loss = generator_loss(models.real_fake_logit(D(fake)))
    optimizer_step(nets.g_optimizer, g_loss)

    return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc,
            "unsup_loss": unsup_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


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
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0),
            "class_acc_real": class_accuracy(real_classes),
            "class_acc_fake": class_accuracy(fake_classes_g)}


def gradient_penalty(D, real, fake):
    """mean over the batch of (‖∇ₓ̂ D(x̂)‖₂ − 1)², at x̂ = ε·real + (1 − ε)·fake with
    ε ~ U[0, 1] per image (Gulrajani et al. 2017). The gradient is taken with
    create_graph=True, so the penalty's own gradient reaches D's weights: a second
    derivative (docs/higher-order.md)."""
    n = real.shape[0]
    eps = backend.random_uniform((n, 1, 1, 1), real.dtype, backend.backend_of(real.data))
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
    codes = models.latent_code(z)
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
    numbers = {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
               "wasserstein": wasserstein.item(), "penalty": penalty.item()}
    if code:
        numbers["code_acc"] = code_acc
    return numbers
