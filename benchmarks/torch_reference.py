"""The GANs of gan_step.py built identically in PyTorch, for timing side by side (optional: needs torch).

Each `make_*` returns (G, D, step). `step(labeled, labels, unlabeled)` runs one iteration
of gan/training/loop.py's loop: the same work as the recipe's step in gan/models/, in the same
order, then the moving average the recipe keeps. A model reads what it needs:

- gan, dcgan-infogan, dcgan-keras: `step(real)`: fake = G(z); D step on D(real) and
  D(fake.detach()); G step with the non-saturating loss on D(fake). Losses on logits.
- dcgan (the default, --arch infogan-code): `step(real)`, the same game with InfoGAN's
  categorical code c = argmax z[:, :10], fed to G one-hot; D's second head guesses c of the
  fakes, and the cross-entropy of its guess joins D's loss and G's (infogan_step).
- cgan: `step(real, labels)`, the same game given the real batch's labels: G(z, y), and the
  projection discriminator D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩ (projection_step).
- sgan: `step(labeled, labels, unlabeled)`: a supervised D step (cross-entropy on the
  labelled batch), an unsupervised D step (unlabelled real against G(z).detach(), read
  through D's real-versus-fake logit logsumexp(class logits)), then the G step.
- sgan_improved: `step(labeled, labels, unlabeled)`: one D step on the supervised loss plus
  half the unsupervised one, then a G step matching the mean features of D's last hidden
  layer on real images (taken without a graph) and on G(z), z ~ U[0, 1). Dense layers
  weight-normalised, w = g·v/‖v‖ per row (g a buffer in D's hidden layers, as ours), and
  Gaussian noise in D.
- wgan_gp: `step(real)`: 5 critic steps, each on fresh fakes (drawn under no_grad), of
  D(fake) − D(real) plus 10 × the gradient penalty (‖∇ D(x̂)‖ − 1)² at random interpolates
  x̂ (a double backward, create_graph=True), then the G step on −D(G(z)). The critic's
  LayerNorm normalises each image over its (C, H, W) values, γ and β of that shape, as ours.

Every backward reaches only the parameters of the optimizer that steps on it, as ours
(backward(inputs=...)). All return the same numbers as ours, as 0-d tensors that the
benchmark reads after an eager step as our loop does (so both pay the same device-to-host
reads), and not at all after a graph's replay. CAPTURABLE = True (set before a model is
made) builds Adam capturable, as torch.cuda.graphs needs. Adam with the learning rates
and betas of the recipes in gan/models/ (the DCGAN's and the cGAN's G at 1e-3, D at 2e-4, β₁ 0.5;
WGAN-GP's 1e-4, β (0.5, 0.9); Improved-GAN's 3e-3, β₁ 0.5). Moving averages: of G's
weights for dcgan, cgan and wgan_gp (decay 0.999), of D's for sgan_improved (0.9999).
Layers and paddings match gan/models/ exactly: Keras "same" padding of a stride-2
convolution is asymmetric (the odd pixel goes bottom/right), so those layers pad with
ZeroPad2d and convolve with padding 0; InfoGAN's and Keras' networks draw their weights as
`gan.models.dcgan_init` draws ours (N(0, 0.02), biases 0, BatchNorm γ N(1, 0.02)). Every
network lists its parameters in the order of ours (`parameters()`), so that `gan_step.py
--check-reference` can copy ours into it.
"""
import copy

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 100
CAPTURABLE = False  # Adam's step count and rate on the device, for a step captured as a CUDA graph


def _adam(module, lr, beta1, beta2=0.999):
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(beta1, beta2), capturable=CAPTURABLE)


def _optimizer_step(optimizer, loss):
    """gan/models/blocks.py's optimizer_step: backpropagate `loss` into fresh gradients of `optimizer`'s
    parameters only, and step. A G step through D computes no gradient for D's weights."""
    optimizer.zero_grad()
    loss.backward(inputs=[p for group in optimizer.param_groups for p in group["params"]])
    optimizer.step()


def _same_pad(size, kernel, stride):
    """Keras "same" padding (left, right, top, bottom) for a square input and kernel:
    out = ceil(size / stride), the odd pixel of padding on the bottom/right."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2
    return (before, after, before, after)


def _conv_same(c_in, c_out, kernel, stride, size):
    """Conv2d with Keras "same" padding for an input of size × size."""
    left, right, top, bottom = _same_pad(size, kernel, stride)
    if left == right and top == bottom:
        return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=left)]
    return [nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(c_in, c_out, kernel, stride=stride)]


def _dcgan_init(model):
    """gan/models/blocks.py's dcgan_init: conv/dense weights N(0, 0.02), biases 0,
    BatchNorm γ N(1, 0.02) and β 0."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _gan_step(G, D, optG, optD, device, conditional=False):
    """gan/models/gan.py's gan_step; conditional=True: its projection_step, G(z, y) and D(x, y)
    given the labels of the real batch."""
    def step(real, labels=None, *unused):  # (unlabelled images: the SGAN's)
        n, y = real.shape[0], ((labels,) if conditional else ())
        fake = G(torch.randn(n, LATENT, device=device), *y)
        real_logits, fake_logits = D(real, *y), D(fake.detach(), *y)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        _optimizer_step(optD, d_loss)
        fake_logits_g = D(fake, *y)
        g_loss = F.binary_cross_entropy_with_logits(fake_logits_g, torch.ones_like(fake_logits_g))
        _optimizer_step(optG, g_loss)
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_acc_real": (real_logits > 0).float().mean(),
                "d_acc_fake": (fake_logits < 0).float().mean()}
    return step


def make_mlp(device="cpu", lr=2e-4, beta1=0.5):
    G = nn.Sequential(                                   # z: (N, 100)
        nn.Linear(LATENT, 256), nn.ReLU(),               # (N, 256)
        nn.Linear(256, 512), nn.ReLU(),                  # (N, 512)
        nn.Linear(512, 1024), nn.ReLU(),                 # (N, 1024)
        nn.Linear(1024, 784), nn.Tanh(),                 # (N, 784)
        nn.Unflatten(1, (1, 28, 28))).to(device)         # (N, 1, 28, 28)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        nn.Flatten(),                                    # (N, 784)
        nn.Linear(784, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),   # (N, 1024)
        nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),   # (N, 512)
        nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),    # (N, 256)
        nn.Linear(256, 1)).to(device)                    # (N, 1)
    return G, D, _gan_step(G, D, _adam(G, lr, beta1), _adam(D, lr, beta1), device)


def make_dcgan(device="cpu", lr=2e-4, beta1=0.5):
    G = nn.Sequential(                                   # z: (N, 100)
        nn.Linear(LATENT, 128 * 7 * 7), nn.LeakyReLU(0.2),
        nn.BatchNorm1d(128 * 7 * 7),                     # (N, 6272)
        nn.Unflatten(1, (128, 7, 7)),                    # (N, 128, 7, 7)
        nn.Upsample(scale_factor=2),                     # (N, 128, 14, 14)
        *_conv_same(128, 64, 5, 1, 14),                  # (N, 64, 14, 14)
        nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2),                     # (N, 64, 28, 28)
        *_conv_same(64, 1, 5, 1, 28),                    # (N, 1, 28, 28)
        nn.Tanh()).to(device)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        *_conv_same(1, 64, 5, 2, 28),                    # (N, 64, 14, 14): pads 1 top/left, 2 bottom/right
        nn.LeakyReLU(0.2), nn.Dropout(0.3),
        *_conv_same(64, 128, 5, 2, 14),                  # (N, 128, 7, 7): pads 1, 2
        nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Flatten(),                                    # (N, 6272)
        nn.Linear(128 * 7 * 7, 1)).to(device)            # (N, 1)
    _dcgan_init(G)
    _dcgan_init(D)
    return G, D, _gan_step(G, D, _adam(G, lr, beta1), _adam(D, lr, beta1), device)


def _infogan_generator(latent_dim=LATENT):
    """gan/models/blocks.py's InfoGANGenerator."""
    return nn.Sequential(                                # z: (N, latent_dim)
        nn.Linear(latent_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),            # (N, 1024)
        nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),    # (N, 6272)
        nn.Unflatten(1, (128, 7, 7)),                                            # (N, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),                     # (N, 64, 14, 14)
        nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1),                       # (N, 1, 28, 28)
        nn.Tanh())


def _infogan_features():
    """gan/models/blocks.py's infogan_features(): InfoGAN's discriminator without its last layer."""
    return nn.Sequential(                                # x: (N, 1, 28, 28)
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.1),             # (N, 64, 14, 14)
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),  # (N, 128, 7, 7)
        nn.Flatten(),                                                            # (N, 6272)
        nn.Linear(128 * 7 * 7, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.1))  # (N, 1024)


def _averaging(step, model, decay):
    """`step`, then the moving average of `model`'s weights, as gan/training/loop.py's loop
    updates --ema's and --d-ema's after every step (minigrad.nn.ExponentialMovingAverage:
    θ̄ ← decay·θ̄ + (1 − decay)·θ for every parameter and floating-point buffer)."""
    def floats(m):  # not BatchNorm's batch counter
        return [t for t in (*m.parameters(), *m.buffers()) if t.dtype.is_floating_point]
    averaged, trained = floats(copy.deepcopy(model)), floats(model)

    def averaged_step(*batch):
        numbers = step(*batch)
        with torch.no_grad():
            for a, value in zip(averaged, trained):
                a.mul_(decay).add_(value, alpha=1 - decay)
        return numbers
    return averaged_step


def make_dcgan_infogan(device="cpu", lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999):
    """gan/models/dcgan.py's InfoGAN networks (the DCGAN's default), G at g_lr, and the moving
    average of G's weights updated after every step, as gan/training/loop.py's loop does."""
    G = _infogan_generator().to(device)                  # z: (N, 100) -> (N, 1, 28, 28)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        *_infogan_features(),                            # (N, 1024)
        nn.Linear(1024, 1)).to(device)                   # (N, 1)
    _dcgan_init(G)
    _dcgan_init(D)
    step = _gan_step(G, D, _adam(G, g_lr, beta1), _adam(D, lr, beta1), device)
    return G, D, _averaging(step, G, ema)


class CodedGenerator(nn.Module):
    """gan/models/blocks.py's CodedGenerator: InfoGAN's generator on onehot(c) joined to z[:, 10:], where the
    categorical code c = argmax z[:, :10] is read off the noise."""

    def __init__(self, num_codes=10):
        super().__init__()
        self.num_codes = num_codes
        self.body = _infogan_generator()                 # (N, 100) -> (N, 1, 28, 28)

    def forward(self, z):
        code = F.one_hot(z[:, :self.num_codes].argmax(1), self.num_codes).to(z.dtype)
        return self.body(torch.cat([code, z[:, self.num_codes:]], 1))


class TwoHeadedDiscriminator(nn.Module):
    """gan/models/blocks.py's ACGANDiscriminator: InfoGAN's features φ(x), a real-versus-fake logit
    (N, 1) and 10 class (or code) logits (N, 10)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = _infogan_features()              # (N, 1024)
        self.real_fake = nn.Linear(1024, 1)              # (N, 1)
        self.classes = nn.Linear(1024, num_classes)      # (N, 10)

    def forward(self, x):
        h = self.features(x)
        return self.real_fake(h), self.classes(h)


def _infogan_step(G, D, optG, optD, device):
    """gan/models/dcgan.py's infogan_step: gan_step plus the cross-entropy of D's guess of the code,
    in D's loss and in G's."""
    def step(real, *unused):
        z = torch.randn(real.shape[0], LATENT, device=device)
        codes = z[:, :10].argmax(1)
        fake = G(z)
        (real_logits, _), (fake_logits, fake_codes) = D(real), D(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
                  + F.cross_entropy(fake_codes, codes))
        _optimizer_step(optD, d_loss)
        fake_logits_g, fake_codes_g = D(fake)
        g_loss = (F.binary_cross_entropy_with_logits(fake_logits_g, torch.ones_like(fake_logits_g))
                  + F.cross_entropy(fake_codes_g, codes))
        _optimizer_step(optG, g_loss)
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_acc_real": (real_logits > 0).float().mean(),
                "d_acc_fake": (fake_logits < 0).float().mean(),
                "code_acc": (fake_codes_g.argmax(1) == codes).float().mean()}
    return step


def make_dcgan_infogan_code(device="cpu", lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999):
    """The DCGAN's default (--arch infogan-code): InfoGAN's networks with its categorical
    code, G at g_lr, the moving average of G's weights."""
    G, D = CodedGenerator().to(device), TwoHeadedDiscriminator().to(device)
    _dcgan_init(G)
    _dcgan_init(D)
    step = _infogan_step(G, D, _adam(G, g_lr, beta1), _adam(D, lr, beta1), device)
    return G, D, _averaging(step, G, ema)


def make_sgan(device="cpu", lr=1e-3, beta1=0.9):
    G = nn.Sequential(                                   # z: (N, 100)
        nn.Linear(LATENT, 256 * 7 * 7),                  # (N, 12544)
        nn.Unflatten(1, (256, 7, 7)),                    # (N, 256, 7, 7)
        nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1),  # (N, 128, 14, 14)
        nn.BatchNorm2d(128), nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(128, 64, 3, stride=1, padding=1),                     # (N, 64, 14, 14)
        nn.BatchNorm2d(64), nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(64, 1, 3, stride=2, padding=1, output_padding=1),     # (N, 1, 28, 28)
        nn.Tanh()).to(device)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        *_conv_same(1, 32, 3, 2, 28), nn.LeakyReLU(0.01),    # (N, 32, 14, 14): pads 0, 1
        *_conv_same(32, 64, 3, 2, 14), nn.LeakyReLU(0.01),   # (N, 64, 7, 7): pads 0, 1
        *_conv_same(64, 128, 3, 2, 7), nn.LeakyReLU(0.01),   # (N, 128, 4, 4): pads 1, 1
        nn.Dropout(0.5),
        nn.Flatten(),                                    # (N, 2048)
        nn.Linear(128 * 4 * 4, 10)).to(device)           # (N, 10) class logits
    optG, optD = _adam(G, lr, beta1), _adam(D, lr, beta1)

    def real_fake_logit(class_logits):
        """gan/models/blocks.py's real_fake_logit: D(x) = Z/(Z+1) = σ(logsumexp(logits))."""
        return class_logits.logsumexp(1)

    def step(labeled, labels, unlabeled):
        """gan/training/loop.py's sgan_step: supervised, unsupervised, generator."""
        class_logits = D(labeled)
        sup_acc = (class_logits.argmax(1) == labels).float().mean()
        sup_loss = F.cross_entropy(class_logits, labels)
        _optimizer_step(optD, sup_loss)

        fake = G(torch.randn(unlabeled.shape[0], LATENT, device=device))
        real_logits = real_fake_logit(D(unlabeled))
        fake_logits = real_fake_logit(D(fake.detach()))
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        _optimizer_step(optD, d_loss)

        fake_logits_g = real_fake_logit(D(fake))
        g_loss = F.binary_cross_entropy_with_logits(fake_logits_g, torch.ones_like(fake_logits_g))
        _optimizer_step(optG, g_loss)
        return {"sup_loss": sup_loss, "sup_acc": sup_acc,
                "d_loss": d_loss, "g_loss": g_loss,
                "d_acc_real": (real_logits > 0).float().mean(),
                "d_acc_fake": (fake_logits < 0).float().mean()}
    return G, D, step


def make_wgan_gp(device="cpu", lr=1e-4, beta1=0.5, beta2=0.9, ema=0.999, n_critic=5, gp_weight=10.0):
    """gan/models/wgan_gp.py: InfoGAN's generator, the critic WGANCritic
    (InfoGAN's discriminator, LayerNorm for BatchNorm, LeakyReLU 0.2), the moving average of G."""
    G = _infogan_generator().to(device)                  # z: (N, 100) -> (N, 1, 28, 28)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),             # (N, 64, 14, 14)
        nn.Conv2d(64, 128, 4, stride=2, padding=1),                              # (N, 128, 7, 7)
        nn.LayerNorm((128, 7, 7)), nn.LeakyReLU(0.2),    # over each image's C·H·W values, γ (128, 7, 7)
        nn.Flatten(),                                                            # (N, 6272)
        nn.Linear(128 * 7 * 7, 1024), nn.LayerNorm(1024), nn.LeakyReLU(0.2),    # (N, 1024)
        nn.Linear(1024, 1)).to(device)                                           # (N, 1) score
    _dcgan_init(G)
    _dcgan_init(D)  # LayerNorm keeps γ 1, β 0, as dcgan_init leaves ours
    optG, optD = _adam(G, lr, beta1, beta2), _adam(D, lr, beta1, beta2)

    def gradient_penalty(real, fake):
        """gan/models/wgan_gp.py's gradient_penalty: mean over the batch of (‖∇ₓ̂ D(x̂)‖₂ − 1)², at
        x̂ = ε·real + (1 − ε)·fake with ε ~ U[0, 1) per image."""
        eps = torch.rand(real.shape[0], 1, 1, 1, device=device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)   # (N, 1, 28, 28)
        norms = ((g * g).sum((1, 2, 3)) + 1e-12).sqrt()
        return ((norms - 1) ** 2).mean()

    def step(real, *unused):
        """gan/models/wgan_gp.py's wgan_gp_step: n_critic critic steps, then one G step. Ours asks its
        batch source for a batch every critic step; the benchmark's hands out the same one."""
        n = real.shape[0]
        for _ in range(n_critic):
            with torch.no_grad():  # the critic's fakes: no graph through G, as ours
                fake = G(torch.randn(n, LATENT, device=device))
            wasserstein = D(real).mean() - D(fake).mean()
            penalty = gradient_penalty(real, fake)
            d_loss = -wasserstein + gp_weight * penalty
            _optimizer_step(optD, d_loss)
        g_loss = -D(G(torch.randn(n, LATENT, device=device))).mean()
        _optimizer_step(optG, g_loss)
        return {"d_loss": d_loss, "g_loss": g_loss,
                "wasserstein": wasserstein, "penalty": penalty}
    return G, D, _averaging(step, G, ema)


class ConditionalGenerator(nn.Module):
    """gan/models/cgan.py's ConditionalGenerator: InfoGAN's generator on z joined to the one-hot label, G(z, y)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.num_classes = num_classes
        self.body = _infogan_generator(LATENT + num_classes)    # (N, 110) -> (N, 1, 28, 28)

    def forward(self, z, labels):
        return self.body(torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], 1))


class ProjectionDiscriminator(nn.Module):
    """gan/models/cgan.py's ProjectionDiscriminator: D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩ on InfoGAN's features φ(x)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = _infogan_features()              # (N, 1024)
        self.linear = nn.Linear(1024, 1)                 # (N, 1)  ψ(φ(x))
        self.embed = nn.Embedding(num_classes, 1024)     # (N, 1024) e_y

    def forward(self, x, labels):
        h = self.features(x)                             # (N, 1024)
        return self.linear(h) + (self.embed(labels) * h).sum(1, keepdim=True)   # (N, 1)


def make_cgan(device="cpu", lr=2e-4, g_lr=1e-3, beta1=0.5, ema=0.999):
    """gan/models/cgan.py with its default projection discriminator: the DCGAN's settings,
    G and D given the real batch's labels (its projection_step)."""
    G, D = ConditionalGenerator().to(device), ProjectionDiscriminator().to(device)
    _dcgan_init(G)
    _dcgan_init(D)
    nn.init.normal_(D.embed.weight, 0.0, 0.02)
    step = _gan_step(G, D, _adam(G, g_lr, beta1), _adam(D, lr, beta1), device, conditional=True)
    return G, D, _averaging(step, G, ema)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class GaussianNoise(nn.Module):
    """gan's nn.GaussianNoise: x + N(0, σ²) in training, x in eval mode."""

    def __init__(self, sigma):
        super().__init__()
        self.sigma = sigma

    def forward(self, x):
        return x + self.sigma * torch.randn_like(x) if self.training else x


class WeightNormLinear(nn.Module):
    """gan's nn.WeightNormDense: y = x wᵀ + b, w = g·v/‖v‖ per output row; v and b drawn as
    nn.Linear's, g = ‖v‖ at first. g is a parameter, or a buffer (train_scale=False: never
    trained). Parameters in our order: weight_v, bias, weight_g."""

    def __init__(self, in_features, out_features, train_scale=True):
        super().__init__()
        linear = nn.Linear(in_features, out_features)
        self.weight_v, self.bias = linear.weight, linear.bias                  # (out, in), (out,)
        g = linear.weight.detach().norm(dim=1)                                  # (out,)
        if train_scale:
            self.weight_g = nn.Parameter(g)
        else:
            self.register_buffer("weight_g", g)

    def forward(self, x):
        v = self.weight_v
        return F.linear(x, self.weight_g[:, None] * (v / v.norm(dim=1, keepdim=True)), self.bias)


class ImprovedGANDiscriminator(nn.Module):
    """gan/models/improved_gan.py's ImprovedGANDiscriminator: Gaussian noise, weight-normalised dense layers 1000-500-250-250-250,
    10 class logits; `features` is the last hidden layer, the one feature matching reads."""

    def __init__(self, num_classes=10):
        super().__init__()

        def hidden(in_features, out_features):           # g fixed; noise for the next layer
            return [WeightNormLinear(in_features, out_features, train_scale=False), nn.ReLU(),
                    GaussianNoise(0.5)]
        self.body = nn.Sequential(                       # x: (N, 1, 28, 28) in [−1, 1]
            Lambda(lambda x: (x + 1) * 0.5),             # (N, 1, 28, 28) in [0, 1]
            nn.Flatten(),                                # (N, 784)
            GaussianNoise(0.3),
            *hidden(28 * 28, 1000),                      # (N, 1000)
            *hidden(1000, 500),                          # (N, 500)
            *hidden(500, 250),                           # (N, 250)
            *hidden(250, 250),                           # (N, 250)
            WeightNormLinear(250, 250, train_scale=False), nn.ReLU())   # (N, 250) features
        self.head = nn.Sequential(
            GaussianNoise(0.5),
            WeightNormLinear(250, num_classes))          # (N, 10) class logits; g trained

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def make_sgan_improved(device="cpu", lr=3e-3, beta1=0.5, d_ema=0.9999):
    """gan/models/improved_gan.py: Improved-GAN's MNIST networks, uniform z, D's moving
    average. Without D's data-dependent initialisation, as the benchmark builds ours."""
    G = nn.Sequential(                                   # z: (N, 100), uniform in [0, 1)
        nn.Linear(LATENT, 500, bias=False), nn.BatchNorm1d(500), nn.Softplus(),   # (N, 500)
        nn.Linear(500, 500, bias=False), nn.BatchNorm1d(500), nn.Softplus(),      # (N, 500)
        WeightNormLinear(500, 28 * 28),                  # (N, 784)
        nn.Sigmoid(),                                    # (N, 784) in (0, 1)
        Lambda(lambda s: s * 2 - 1),                     # (N, 784) in (−1, 1)
        nn.Unflatten(1, (1, 28, 28))).to(device)         # (N, 1, 28, 28)
    with torch.no_grad():
        G[6].weight_g.fill_(1.0)                         # rows of length 1, bias 0, as ours
        G[6].bias.zero_()
    D = ImprovedGANDiscriminator().to(device)
    optG, optD = _adam(G, lr, beta1), _adam(D, lr, beta1)

    def step(labeled, labels, unlabeled):
        """gan/models/improved_gan.py's improved_gan_step: one D step on the supervised loss plus half the
        real-versus-fake loss, then G's feature matching on a real batch (ours asks for a
        second unlabelled batch; the benchmark's hands out the same one)."""
        n = unlabeled.shape[0]
        class_logits = D(labeled)
        sup_acc = (class_logits.argmax(1) == labels).float().mean()
        sup_loss = F.cross_entropy(class_logits, labels)
        fake = G(torch.rand(n, LATENT, device=device))
        real_logits, fake_logits = D(unlabeled).logsumexp(1), D(fake.detach()).logsumexp(1)
        unsup_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_loss = sup_loss + unsup_loss
        _optimizer_step(optD, d_loss)

        with torch.no_grad():
            real_features = D.features(unlabeled)        # (N, 250)
        fake_features = D.features(G(torch.rand(n, LATENT, device=device)))
        g_loss = (real_features.mean(0) - fake_features.mean(0)).square().sum()
        _optimizer_step(optG, g_loss)
        return {"sup_loss": sup_loss, "sup_acc": sup_acc,
                "unsup_loss": unsup_loss, "g_loss": g_loss,
                "d_acc_real": (real_logits > 0).float().mean(),
                "d_acc_fake": (fake_logits < 0).float().mean()}
    return G, D, _averaging(step, D, d_ema)


MODELS = {"gan": make_mlp, "dcgan": make_dcgan_infogan_code, "dcgan-infogan": make_dcgan_infogan,
          "dcgan-keras": make_dcgan, "sgan": make_sgan,
          "wgan_gp": make_wgan_gp, "cgan": make_cgan, "sgan_improved": make_sgan_improved}
