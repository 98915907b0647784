"""The DCGAN's levers beyond the defaults: --width scales InfoGAN's networks, --real-label
smooths D's target for real images, and the default --arch infogan-code adds InfoGAN's
categorical latent code with its mutual-information term; bad values are refused saying why."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import optim
from gan import models
from gan.evaluation import sample
from gan.models import blocks, dcgan
from gan.training import cli
from gan.training.recipe import Networks
from gan_fixtures import mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)


def dcgan_nets(**options):
    G, D = models.build_networks("dcgan", dcgan.DCGANOptions(**options))
    return Networks(G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3),
                    blocks.LATENT_DIM)


class Images:
    def __init__(self, n):
        self.images = minigrad.tensor(np.random.default_rng(0).uniform(-1, 1, (n, 1, 28, 28)))

    def next_images(self):
        return self.images



host = minigrad.backend.to_numpy   # a .grad is a backend array


def shapes(module):
    return [p.shape for _, p in module.named_parameters() if _.endswith("weight")]


def test_width_multiplies_every_hidden_layer_and_keeps_the_outputs():
    for arch in ("infogan-code", "infogan", "infogan-sn"):
        check_width(arch)


def check_width(arch):
    one, two = dcgan_nets(arch=arch, width=1), dcgan_nets(arch=arch, width=2)
    for narrow, wide in zip(shapes(one.generator) + shapes(one.discriminator),
                            shapes(two.generator) + shapes(two.discriminator)):
        # each weight's hidden dimensions double; the image's 1 channel and D's logit stay
        assert all(w in (n, 2 * n) for n, w in zip(narrow, wide)) and wide != narrow
    images = two.generator(blocks.latent_noise(3, blocks.LATENT_DIM))
    logits = two.discriminator(images)
    logits = logits[0] if arch == "infogan-code" else logits    # (real logit, code logits)
    assert images.shape == (3, 1, 28, 28) and logits.shape == (3, 1)


def test_a_smoothed_real_label_is_the_target_of_real_images_only():
    logits = minigrad.tensor(np.linspace(-3, 3, 7).reshape(7, 1))
    zeros = minigrad.tensor(np.full((7, 1), -50.0))   # fakes rejected: their loss is ~0
    p = 1 / (1 + np.exp(-logits.numpy()))
    expected = -(0.9 * np.log(p) + 0.1 * np.log(1 - p)).mean()
    assert blocks.discriminator_loss(logits, zeros, 0.9).item() == pytest.approx(expected, rel=1e-5)
    assert blocks.discriminator_loss(logits, zeros).item() == pytest.approx(-np.log(p).mean(), rel=1e-5)


def test_the_code_is_read_off_the_noise_uniformly_and_steers_the_generator():
    minigrad.manual_seed(0)
    z = blocks.latent_noise(20_000, blocks.LATENT_DIM)
    codes = blocks.latent_code(z).numpy()
    np.testing.assert_array_equal(codes, z.numpy()[:, :10].argmax(axis=1))
    assert np.bincount(codes, minlength=10).min() > 0.09 * len(codes)   # each ~10%
    G = dcgan_nets(arch="infogan-code").generator.eval()
    noise = np.repeat(z.numpy()[:1], 3, axis=0)
    noise[:, :10] = 0
    noise[0, 0], noise[1, 1], noise[2, 0] = 1, 1, 5      # codes 0, 1, 0
    images = G(minigrad.tensor(noise)).numpy()
    assert not np.allclose(images[0], images[1])          # another code, another image
    np.testing.assert_array_equal(images[0], images[2])   # G sees the code, not those entries


def test_infogan_step_trains_the_code_head_and_g_through_it():
    nets = dcgan_nets(arch="infogan-code")
    D = nets.discriminator
    seen = {}
    d_step = nets.d_optimizer.step

    def spy():
        seen["q_grad"] = D.classes.weight.grad
        d_step()
    nets.d_optimizer.step = spy
    numbers = dcgan.infogan_step(nets, Images(8))
    assert set(numbers) == {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "code_acc"}
    assert all(math.isfinite(v) for v in numbers.values())
    assert np.abs(host(seen["q_grad"])).max() > 0      # Q learns in D's step


def test_g_gets_a_gradient_from_the_code_term_alone(monkeypatch):
    nets = dcgan_nets(arch="infogan-code")
    monkeypatch.setattr(dcgan, "generator_loss", lambda logits: (logits * 0).sum())
    numbers = dcgan.infogan_step(nets, Images(8))
    assert all(np.abs(host(p.grad)).max() > 0 for p in nets.generator.parameters()
               if p.grad is not None) and any(p.grad is not None for p in nets.generator.parameters())
    assert numbers["g_loss"] > 0                          # the cross-entropy of the code


@pytest.mark.parametrize("flags, message", [
    (("--width", 0), "--width: must be at least 1, got 0"),
    (("--arch", "keras", "--width", 2), "--width scales InfoGAN's networks"),
    (("--real-label", 0.4), "--real-label must be in (0.5, 1]"),
])
def test_bad_values_are_refused_saying_why(flags, message, mnist_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        run_example("dcgan", *flags, "--dry-run", "--out", tmp_path / "run", "--data-dir", mnist_dir)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_the_default_run_is_infogan_with_its_code_in_batches_of_64(mnist_dir, tmp_path):
    out = tmp_path / "run"
    assert run_example("dcgan", "--dry-run", "--out", out, "--data-dir", mnist_dir) == 0
    G, meta = sample.load_generator(out / "latest.npz")
    assert isinstance(G, blocks.CodedGenerator) and meta["config"]["arch"] == "infogan-code"
    assert meta["config"]["batch_size"] == 64
    assert "code_acc" in read_metrics(out)[-1]


@pytest.mark.parametrize("argv, decay_start", [
    ((), 0.5),                                             # the coded default decays
    (("--arch", "infogan"), 1.0),                          # the others keep constant rates
    (("--arch", "keras"), 1.0),
    (("--lr-decay-start", "1"), 1.0),                      # a flag given wins
    (("--arch", "infogan", "--lr-decay-start", "0.7"), 0.7),
])
def test_the_decay_start_defaults_by_architecture(argv, decay_start):
    config = cli.parse_config(dcgan.RECIPE, list(argv))
    assert config.options.lr_decay_start == decay_start
