"""The three GANs built identically in PyTorch, for timing side by side (optional: needs torch).

Each `make_*` returns (G, D, step). `step` runs one full training step and does the same
work as minigrad's step in gan/trainers.py, in the same order:

- gan, dcgan, dcgan-keras: `step(real, labels, unlabeled)`, the last two unused: fake = G(z); D step on D(real) and D(fake.detach()); G step
  with the non-saturating loss on D(fake). Losses on logits.
- sgan: `step(labeled, labels, unlabeled)`: a supervised D step (cross-entropy on the
  labelled batch), an unsupervised D step (unlabelled real against G(z).detach(), read
  through D's real-versus-fake logit logsumexp(class logits)), then the G step.

Both return the same numbers as ours (losses and accuracies as Python floats), so both
pay the same device-to-host reads. Adam with betas (beta1, 0.999) and the learning rates
of gan/recipes.py (the DCGAN's: G at 1e-3, D at 2e-4, and the moving average of G's
weights updated after each step, as the training loop does). Layers and paddings match gan/models.py exactly: Keras "same" padding of
a stride-2 convolution is asymmetric (the odd pixel goes bottom/right), so those layers
pad with ZeroPad2d and convolve with padding 0; the DCGAN's weights are drawn as
`gan.models.dcgan_init` draws ours (N(0, 0.02), biases 0, BatchNorm γ N(1, 0.02)).
"""
import copy

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 100


def _adam(module, lr, beta1, beta2=0.999):
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(beta1, beta2))


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
    """gan/models.py's dcgan_init: conv/dense weights N(0, 0.02), biases 0,
    BatchNorm γ N(1, 0.02) and β 0."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _gan_step(G, D, optG, optD, device, conditional=False):
    """gan/steps.py's gan_step; conditional=True: its projection_step, G(z, y) and D(x, y)
    given the labels of the real batch."""
    def step(real, labels=None, *unused):  # (unlabelled images: the SGAN's)
        n, y = real.shape[0], ((labels,) if conditional else ())
        fake = G(torch.randn(n, LATENT, device=device), *y)
        real_logits, fake_logits = D(real, *y), D(fake.detach(), *y)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optD.zero_grad()
        d_loss.backward()
        optD.step()
        fake_logits_g = D(fake, *y)
        g_loss = F.binary_cross_entropy_with_logits(fake_logits_g, torch.ones_like(fake_logits_g))
        optG.zero_grad()
        g_loss.backward()
        optG.step()
        optD.zero_grad()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_acc_real": (real_logits > 0).float().mean().item(),
                "d_acc_fake": (fake_logits < 0).float().mean().item()}
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
    """gan/models.py's InfoGANGenerator."""
    return nn.Sequential(                                # z: (N, latent_dim)
        nn.Linear(latent_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),            # (N, 1024)
        nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),    # (N, 6272)
        nn.Unflatten(1, (128, 7, 7)),                                            # (N, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),                     # (N, 64, 14, 14)
        nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1),                       # (N, 1, 28, 28)
        nn.Tanh())


def _infogan_features():
    """gan/models.py's infogan_features(): InfoGAN's discriminator without its last layer."""
    return nn.Sequential(                                # x: (N, 1, 28, 28)
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.1),             # (N, 64, 14, 14)
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),  # (N, 128, 7, 7)
        nn.Flatten(),                                                            # (N, 6272)
        nn.Linear(128 * 7 * 7, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.1))  # (N, 1024)


def _averaging(step, model, decay):
    """`step`, then the moving average of `model`'s weights, as gan/trainers.py's loop
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
    """gan/models.py's InfoGAN networks (the DCGAN's default), G at g_lr, and the moving
    average of G's weights updated after every step, as gan/trainers.py's loop does."""
    G = _infogan_generator().to(device)                  # z: (N, 100) -> (N, 1, 28, 28)
    D = nn.Sequential(                                   # x: (N, 1, 28, 28)
        *_infogan_features(),                            # (N, 1024)
        nn.Linear(1024, 1)).to(device)                   # (N, 1)
    _dcgan_init(G)
    _dcgan_init(D)
    step = _gan_step(G, D, _adam(G, g_lr, beta1), _adam(D, lr, beta1), device)
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
        """gan/models.py's real_fake_logit: D(x) = Z/(Z+1) = σ(logsumexp(logits))."""
        return class_logits.logsumexp(1)

    def step(labeled, labels, unlabeled):
        """gan/trainers.py's sgan_step: supervised, unsupervised, generator."""
        class_logits = D(labeled)
        sup_acc = (class_logits.argmax(1) == labels).float().mean().item()
        sup_loss = F.cross_entropy(class_logits, labels)
        optD.zero_grad()
        sup_loss.backward()
        optD.step()

        fake = G(torch.randn(unlabeled.shape[0], LATENT, device=device))
        real_logits = real_fake_logit(D(unlabeled))
        fake_logits = real_fake_logit(D(fake.detach()))
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optD.zero_grad()
        d_loss.backward()
        optD.step()

        fake_logits_g = real_fake_logit(D(fake))
        g_loss = F.binary_cross_entropy_with_logits(fake_logits_g, torch.ones_like(fake_logits_g))
        optG.zero_grad()
        g_loss.backward()
        optG.step()
        optD.zero_grad()
        return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc,
                "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_acc_real": (real_logits > 0).float().mean().item(),
                "d_acc_fake": (fake_logits < 0).float().mean().item()}
    return G, D, step


MODELS = {"gan": make_mlp, "dcgan": make_dcgan_infogan, "dcgan-keras": make_dcgan, "sgan": make_sgan}
