"""The three GANs built identically in PyTorch, for timing side by side (optional: needs torch).

Each `make_*` returns (G, D, step) where step(real, labels) runs one full training step:
D on real and on G(z).detach(), then G through D, Adam with betas (0.5, 0.999), losses on
logits — the same work as minigrad's trainers in gan/trainers.py.
"""
import torch
from torch import nn
from torch.nn import functional as F

LATENT = 100


def _adam(module, lr=2e-4):
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))


def _gan_step(G, D, optG, optD, device):
    """D step on real and detached fake, then the non-saturating G step."""
    def step(real, labels=None):
        n = real.shape[0]
        ones = torch.ones(n, 1, device=device)
        zeros = torch.zeros(n, 1, device=device)
        fake = G(torch.randn(n, LATENT, device=device))
        optD.zero_grad()
        d_loss = (F.binary_cross_entropy_with_logits(D(real), ones)
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
        d_loss.backward()
        optD.step()
        optG.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
        g_loss.backward()
        optG.step()
        return d_loss, g_loss
    return step


def make_mlp(device="cpu"):
    G = nn.Sequential(nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                      nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 784), nn.Tanh(),
                      nn.Unflatten(1, (1, 28, 28))).to(device)
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.LeakyReLU(0.2),
                      nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2), nn.Linear(256, 1)).to(device)
    return G, D, _gan_step(G, D, _adam(G), _adam(D), device)


def make_dcgan(device="cpu"):
    G = nn.Sequential(
        nn.Linear(LATENT, 128 * 7 * 7), nn.LeakyReLU(0.2), nn.BatchNorm1d(128 * 7 * 7),
        nn.Unflatten(1, (128, 7, 7)),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 5, padding=2), nn.BatchNorm2d(64),
        nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(64, 1, 5, padding=2), nn.Tanh()).to(device)
    D = nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1)).to(device)
    return G, D, _gan_step(G, D, _adam(G), _adam(D), device)


def make_sgan(device="cpu"):
    G = nn.Sequential(
        nn.Linear(LATENT, 256 * 7 * 7), nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(128), nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(128, 64, 3, stride=1, padding=1), nn.BatchNorm2d(64),
        nn.LeakyReLU(0.01),
        nn.ConvTranspose2d(64, 1, 3, stride=2, padding=1, output_padding=1), nn.Tanh()).to(device)
    D = nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.01),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.01),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.01), nn.Dropout(0.5),
        nn.Flatten(), nn.Linear(128 * 4 * 4, 10)).to(device)
    optG, optD = _adam(G, 1e-3), _adam(D, 1e-3)

    def step(real, labels):
        """Supervised step on a labelled batch, unsupervised on real and fake, then G."""
        n = real.shape[0]
        optD.zero_grad()
        supervised = F.cross_entropy(D(real), labels)
        supervised.backward()
        optD.step()
        fake = G(torch.randn(n, LATENT, device=device))
        optD.zero_grad()
        lse_real, lse_fake = D(real).logsumexp(1), D(fake.detach()).logsumexp(1)
        # D(x) = Z/(Z+1): log D = lse - softplus(lse), log(1 - D) = -softplus(lse)
        d_loss = (F.softplus(lse_real) - lse_real).mean() + F.softplus(lse_fake).mean()
        d_loss.backward()
        optD.step()
        optG.zero_grad()
        lse = D(fake).logsumexp(1)
        g_loss = (F.softplus(lse) - lse).mean()
        g_loss.backward()
        optG.step()
        return d_loss, g_loss
    return G, D, step


MODELS = {"gan": make_mlp, "dcgan": make_dcgan, "sgan": make_sgan}
