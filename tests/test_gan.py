"""The GAN toolkit: models, training steps, the command lines end to end (--dry-run),
divergence and Ctrl-C handling, sampling, evaluation and the judge."""
import dataclasses
import math
import signal

import numpy as np
import pytest

import minigrad
from minigrad import optim
from gan import models
from gan.evaluation import evaluate, judge, sample
from gan.models import blocks, dcgan, sgan, wgan_gp
from gan.models import gan as vanilla
from gan.training import checkpoint, cli
from gan.training.recipe import Networks
from gan_fixtures import REAL_MNIST, mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)

KINDS = ("gan", "dcgan", "sgan")


def random_images(n, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)))


def networks(kind, lr=1e-3):
    G, D = models.build_networks(kind)
    return Networks(G, D, optim.Adam(G.parameters(), lr=lr), optim.Adam(D.parameters(), lr=lr),
                    blocks.LATENT_DIM)


class Batches:
    """A batch source (gan/training/batches.py's interface) handing out the given tensors."""

    def __init__(self, images=None, labels=None, unlabeled=None):
        self.images, self.labels, self.unlabeled = images, labels, unlabeled

    def next_images(self):
        return self.images

    def next_labeled(self):
        return self.images, self.labels

    def next_unlabeled(self):
        return self.unlabeled


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("kind, arch", [("gan", None), ("dcgan", "infogan"), ("dcgan", "infogan-sn"),
                                        ("dcgan", "keras"), ("sgan", None)])
def test_models_map_noise_to_images_and_images_to_logits(kind, arch):
    G, D = models.build_networks(kind, dcgan.DCGANOptions(arch) if arch else None)
    images = G(blocks.latent_noise(3, blocks.LATENT_DIM))
    assert images.shape == (3, 1, 28, 28)
    assert np.abs(images.numpy()).max() <= 1  # tanh
    assert D(images).shape == ((3, 10) if kind == "sgan" else (3, 1))


@pytest.mark.parametrize("arch", ["infogan-code", "infogan", "infogan-sn", "keras"])
def test_dcgan_weights_are_drawn_from_normal_0_002(arch):
    G, D = models.build_networks("dcgan", dcgan.DCGANOptions(arch))
    weights = np.concatenate([p.numpy().ravel() for name, p in G.named_parameters() + D.named_parameters()
                              if name.endswith("weight")])
    assert abs(weights.mean()) < 1e-3
    assert weights.std() == pytest.approx(0.02, rel=0.02)


def test_sgan_real_fake_logit_is_the_books_d_of_x():
    logits = np.random.default_rng(0).normal(0, 3, (5, 10))
    z = np.exp(logits).sum(axis=1)
    d_of_x = 1 / (1 + np.exp(-blocks.real_fake_logit(minigrad.tensor(logits, dtype=np.float64)).numpy()))
    np.testing.assert_allclose(d_of_x, z / (z + 1), rtol=1e-12)


@pytest.mark.parametrize("scale", [1000.0, -1000.0])
def test_sgan_unsupervised_losses_are_finite_at_extreme_logits(scale):
    """Z = Σ exp(logits) overflows at +1000 and D(x) rounds to 0 at -1000; on logsumexp
    the losses stay exact: -log D(x) = softplus(-lse), -log(1 - D(x)) = softplus(lse)."""
    logits = minigrad.tensor(np.full((2, 10), scale), requires_grad=True)
    lse = scale + math.log(10)
    real_loss = blocks.F.binary_cross_entropy_with_logits(blocks.real_fake_logit(logits), 1.0)
    fake_loss = blocks.F.binary_cross_entropy_with_logits(blocks.real_fake_logit(logits), 0.0)
    np.testing.assert_allclose(real_loss.item(), max(-lse, 0), atol=1e-3)   # softplus(-lse)
    np.testing.assert_allclose(fake_loss.item(), max(lse, 0), rtol=1e-6)    # softplus(lse)
    (real_loss + fake_loss).backward()
    assert np.isfinite(logits.grad).all()
    # d(softplus(-lse) + softplus(lse))/dlse = σ(lse) - σ(-lse) = sign(scale) here, spread
    # over the 10 classes by softmax (equal logits: 1/10 each), averaged over 2 rows.
    np.testing.assert_allclose(blocks.backend.to_numpy(logits.grad), np.sign(scale) / 20, rtol=1e-5)


# ----------------------------------------------------------------------------- steps
def test_gan_step_trains_d_on_detached_fakes_and_g_without_touching_d():
    nets = networks("gan")
    G, D = nets.generator, nets.discriminator
    g_before = [p.numpy().copy() for p in G.parameters()]
    seen = {}
    d_step = nets.d_optimizer.step

    def spy_d_step():  # what the D step sees and leaves behind
        seen["g_grads"] = [p.grad for p in G.parameters()]
        d_step()
        seen["d_after"] = [p.numpy().copy() for p in D.parameters()]
        seen["d_grads"] = [p.grad for p in D.parameters()]
    nets.d_optimizer.step = spy_d_step

    numbers = vanilla.gan_step(nets, Batches(random_images(8)))
    assert all(g is None for g in seen["g_grads"]), "the D loss reached G: fake was not detached"
    for after, p in zip(seen["d_after"], D.parameters()):
        np.testing.assert_array_equal(p.numpy(), after)  # the G step left D as its own step did
    assert any(not np.array_equal(b, p.numpy()) for b, p in zip(g_before, G.parameters()))
    # the G step computed no gradient for D's weights: D's are still those of its own step
    assert all(p.grad is g for p, g in zip(D.parameters(), seen["d_grads"]))
    assert set(numbers) == {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(math.isfinite(v) for v in numbers.values())


def test_sgan_step_shapes_and_numbers():
    nets = networks("sgan")
    labels = minigrad.tensor(np.arange(6) % 10, dtype=np.int64)
    numbers = sgan.sgan_step(nets, Batches(random_images(6, seed=1), labels, random_images(8, seed=2)))
    assert set(numbers) == {"sup_loss", "sup_acc", "d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(math.isfinite(v) for v in numbers.values())
    assert 0 <= numbers["sup_acc"] <= 1
    assert numbers["sup_loss"] == pytest.approx(math.log(10), abs=1.0)  # about chance at the start


def test_supervised_step_learns_a_few_labelled_images():
    nets = networks("sgan")
    images, labels = random_images(10, seed=3), minigrad.tensor(np.arange(10), dtype=np.int64)
    first = sgan.supervised_step(nets, Batches(images, labels))
    for _ in range(30):
        last = sgan.supervised_step(nets, Batches(images, labels))
    assert last["sup_loss"] < first["sup_loss"] / 2
    assert set(last) == {"sup_loss", "sup_acc"}


# ----------------------------------------------------------------------------- command lines
@pytest.mark.parametrize("kind, extra", [("gan", []), ("dcgan", []), ("sgan", []),
                                         ("sgan", ["--supervised-only"])],
                         ids=["gan", "dcgan", "sgan", "sgan-supervised-only"])
def test_dry_run_writes_every_output(kind, extra, backend, mnist_dir, tmp_path):
    out = tmp_path / "run"
    code = run_example(kind, "--dry-run", "--backend", backend, "--batch-size", 16,
                       "--out", out, "--data-dir", mnist_dir, *extra)
    assert code == 0
    rows = read_metrics(out)
    assert [row["iteration"] for row in rows] == [1, 2]
    expected = {"sup_loss", "sup_acc"} if extra else {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    if kind == "sgan":
        expected |= {"test_acc"} | ({"sup_loss", "sup_acc"})
    assert expected <= set(rows[-1])
    assert (out / "losses.png").stat().st_size > 0 and (out / "accuracy.png").stat().st_size > 0
    if not extra:
        assert (out / "samples_final.png").stat().st_size > 0
        assert (out / "samples_000001.png").exists()
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["kind"] == kind and meta["iteration"] == 2


def test_epochs_set_the_length_in_passes_over_the_data(mnist_dir, tmp_path):
    code = run_example("gan", "--epochs", 0.5, "--limit", 64, "--batch-size", 16, "--out", tmp_path,
                       "--data-dir", mnist_dir, "--log-every", 1)
    assert code == 0
    assert read_metrics(tmp_path)[-1]["iteration"] == 2  # half of 64 / 16 batches


def test_an_epoch_of_wgan_gp_counts_its_critic_batches(mnist_dir, tmp_path):
    """Each WGAN-GP iteration draws n_critic real batches: one pass over 32 images in
    batches of 8 is 4 batches, so 2 iterations at --n-critic 2."""
    code = run_example("wgan_gp", "--epochs", 1, "--n-critic", 2, "--limit", 32, "--batch-size", 8,
                       "--out", tmp_path, "--data-dir", mnist_dir, "--log-every", 1, "--sample-every", 100)
    assert code == 0
    assert read_metrics(tmp_path)[-1]["iteration"] == 2


def test_resume_without_a_checkpoint_says_so(mnist_dir, tmp_path, capsys):
    code = run_example("gan", "--dry-run", "--resume", "--out", tmp_path, "--data-dir", mnist_dir)
    assert code == 1
    assert f"no checkpoint at {tmp_path / 'latest.npz'}" in capsys.readouterr().err


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(mnist_dir, tmp_path, monkeypatch, capsys):
    real_step = vanilla.gan_step
    calls = []

    def step_that_diverges(nets, batches, options):
        numbers = real_step(nets, batches)
        calls.append(1)
        if len(calls) == 3:
            numbers["g_loss"] = float("nan")
        return numbers
    monkeypatch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step_that_diverges))
    code = run_example("gan", "--iterations", 5, "--limit", 64, "--batch-size", 16, "--out", tmp_path,
                       "--data-dir", mnist_dir, "--checkpoint-every", 2)
    assert code == 1
    message = capsys.readouterr().err
    assert "iteration 3" in message and "g_loss = nan" in message
    assert "latest.npz (iteration 2)" in message
    assert len(calls) == 3
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["iteration"] == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; kill or a scheduler
def test_ctrl_c_or_sigterm_finishes_the_iteration_and_writes_a_checkpoint(signum, mnist_dir, tmp_path, monkeypatch, capsys):
    real_step = vanilla.gan_step
    calls = []
    handler_before = signal.getsignal(signum)

    def step_then_signal(nets, batches, options):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signum)  # arrives mid-step, as a real one would
        return real_step(nets, batches)
    monkeypatch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step_then_signal))
    code = run_example("gan", "--iterations", 10, "--limit", 64, "--batch-size", 16, "--out", tmp_path,
                       "--data-dir", mnist_dir, "--checkpoint-every", 100)
    assert code == 130
    assert len(calls) == 2
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["iteration"] == 2
    assert "--resume" in capsys.readouterr().out
    assert signal.getsignal(signum) is handler_before  # handler restored


@pytest.mark.parametrize("decay_start, factor", [("1", 1.0), ("0.5", 0.5)])
def test_dcgan_learning_rates_decay_over_the_end_of_the_run_when_asked(decay_start, factor, mnist_dir, tmp_path):
    # 4 iterations decaying from the 3rd: the last step (iteration index 3) runs at
    # (4 − 3)/(4 − 2) = 0.5 of each network's rate; with 1 the rates stay constant.
    out = tmp_path / "run"
    assert run_example("dcgan", "--iterations", 4, "--limit", 64, "--batch-size", 16,
                       "--lr-decay-start", decay_start, "--out", out, "--data-dir", mnist_dir) == 0
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["optimizers"]["D"]["lr"] == pytest.approx(2e-4 * factor)
    assert meta["optimizers"]["G"]["lr"] == pytest.approx(1e-3 * factor)


@pytest.mark.parametrize("decay_start, length, warned", [
    ("0.5", 2, False),   # the same length: the same schedule, exactly
    ("0.5", 4, True),    # another length: another schedule from here on, and the run says so
    ("1", 4, False),     # constant rates: the length changes nothing
])
def test_resuming_a_decaying_run_with_another_length_says_so(decay_start, length, warned, mnist_dir,
                                                             tmp_path, capsys):
    common = ("--limit", 64, "--batch-size", 16, "--lr-decay-start", decay_start, "--out", tmp_path / "run",
              "--data-dir", mnist_dir)
    assert run_example("dcgan", "--iterations", 2, *common) == 0
    capsys.readouterr()
    assert run_example("dcgan", "--iterations", length, "--resume", *common) == 0
    out = capsys.readouterr().out
    assert ("note: the learning rates decay" in out) == warned
    if warned:
        assert "--iterations 2 when the checkpoint was written and by --iterations 4 now" in out


def test_wgan_gp_rates_decay_over_the_second_half_by_default(mnist_dir, tmp_path):
    # 4 iterations decaying from the 3rd end at half of the critic's 4e-4 and of G's 3e-4
    assert run_example("wgan_gp", "--iterations", 4, "--limit", 64, "--batch-size", 8,
                       "--out", tmp_path, "--data-dir", mnist_dir) == 0
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["optimizers"]["D"]["lr"] == pytest.approx(2e-4)
    assert meta["optimizers"]["G"]["lr"] == pytest.approx(1.5e-4)


@pytest.mark.parametrize("argv, n_critic, code, decay_start, rates", [
    ((), 1, True, 0.5, (4e-4, 3e-4)),                    # the measured default (docs/wgan-gp.md)
    (("--n-critic", "5", "--no-code", "--lr-decay-start", "1", "--lr", "1e-4", "--g-lr", "1e-4"),
     5, False, 1.0, (1e-4, 1e-4)),                       # the paper's run, spelled out
])
def test_wgan_gp_defaults_and_the_papers_settings(argv, n_critic, code, decay_start, rates):
    config = cli.parse_config(wgan_gp.RECIPE, list(argv))
    assert (config.options.n_critic, config.options.code, config.options.lr_decay_start) == (
        n_critic, code, decay_start)
    assert (config.lr, config.generator_lr(), config.beta1, config.beta2) == (*rates, 0.5, 0.9)


@pytest.mark.parametrize("example", ["dcgan", "wgan_gp"])
def test_a_decay_start_past_1_is_refused(example, mnist_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        run_example(example, "--lr-decay-start", "1.5", "--out", tmp_path / "run", "--data-dir", mnist_dir)
    assert exit.value.code == 2
    assert "--lr-decay-start must be in (0, 1]" in capsys.readouterr().err


# ----------------------------------------------------------------------------- sample, judge, evaluate
def test_sample_then_evaluate_with_a_judge(backend, mnist_dir, tmp_path, capsys):
    assert run_example("dcgan", "--dry-run", "--backend", backend, "--batch-size", 8,
                       "--out", tmp_path / "run", "--data-dir", mnist_dir) == 0
    samples = tmp_path / "samples.npz"
    assert sample.main(["--checkpoint", str(tmp_path / "run" / "latest.npz"), "--n", "50",
                        "--out", str(samples), "--backend", backend]) == 0
    with np.load(samples, allow_pickle=False) as npz:
        images = npz["images"]
    assert images.shape == (50, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert (tmp_path / "samples.png").stat().st_size > 0

    judge_path = tmp_path / "judge.npz"
    assert judge.main(["--data-dir", str(mnist_dir), "--out", str(judge_path), "--limit", "64",
                       "--epochs", "1", "--batch-size", "16", "--min-accuracy", "0",
                       "--backend", backend]) == 0
    capsys.readouterr()
    assert evaluate.main([str(samples), "--judge", str(judge_path), "--data-dir", str(mnist_dir),
                          "--limit", "100", "--json", str(tmp_path / "scores.json")]) == 0
    printed = capsys.readouterr().out
    assert "FID vs test set" in printed and "Inception score" in printed


def test_evaluate_without_a_judge_says_how_to_train_it(mnist_dir, tmp_path, capsys):
    np.savez(tmp_path / "samples.npz", images=np.zeros((4, 28, 28), np.float32))
    code = evaluate.main([str(tmp_path / "samples.npz"), "--judge", str(tmp_path / "none.npz"),
                          "--data-dir", str(mnist_dir)])
    assert code == 1
    assert "python -m gan.judge" in capsys.readouterr().err


def test_judge_features_and_probabilities():
    j = judge.Judge(judge.LeNet())
    probs, features = j(random_images(7).numpy())
    assert probs.shape == (7, 10) and features.shape == (7, 256)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.real_data
def test_judge_reaches_99_percent_on_mnist(tmp_path):
    assert judge.main(["--data-dir", str(REAL_MNIST), "--out", str(tmp_path / "judge.npz")]) == 0
    assert judge.load_judge(tmp_path / "judge.npz").meta["test_accuracy"] >= 0.99


# ----------------------------------------------------------------------------- WGAN-GP
def test_gradient_penalty_of_a_linear_critic_is_its_closed_form():
    """D(x) = Σ w·x has ∇ₓD = w everywhere, so the penalty is (‖w‖₂ − 1)² whatever x̂, and
    its gradient with respect to w is 2(‖w‖ − 1)·w/‖w‖: a second derivative of the engine."""
    w = minigrad.tensor(np.random.default_rng(0).standard_normal((1, 1, 28, 28)) * 0.1,
                        requires_grad=True, dtype=np.float64)

    def critic(x):
        return (x * w).sum(axis=(1, 2, 3))

    real, fake = random_images(4, seed=1).to(dtype=np.float64), random_images(4, seed=2).to(dtype=np.float64)
    penalty = wgan_gp.gradient_penalty(critic, real, fake)
    norm = np.linalg.norm(w.numpy())
    np.testing.assert_allclose(penalty.item(), (norm - 1) ** 2, rtol=1e-9)
    penalty.backward()
    np.testing.assert_allclose(blocks.backend.to_numpy(w.grad), 2 * (norm - 1) * w.numpy() / norm, rtol=1e-6)


def test_wgan_gp_step_trains_the_critic_n_times_per_generator_step():
    G, D = models.build_networks("wgan_gp")
    nets = Networks(G, D, optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9)),
                    optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9)), blocks.LATENT_DIM)
    asked, d_steps = [], []
    batches = Batches(random_images(4))
    batches.next_images = lambda: asked.append(1) or random_images(4, seed=len(asked))
    d_step = nets.d_optimizer.step
    nets.d_optimizer.step = lambda: d_steps.append([p.grad for p in D.parameters()]) or d_step()
    numbers = wgan_gp.wgan_gp_step(nets, batches, n_critic=3, gp_weight=10.0)
    assert len(asked) == 3 and len(d_steps) == 3
    assert set(numbers) == {"d_loss", "g_loss", "wasserstein", "penalty"}
    assert all(math.isfinite(v) for v in numbers.values()) and numbers["penalty"] >= 0
    # the generator step computed no gradient for the critic: its last step's are left
    assert all(p.grad is g for p, g in zip(D.parameters(), d_steps[-1]))


def test_wgan_gp_with_the_code_trains_the_critics_code_head_and_g_through_it(monkeypatch):
    G, D = models.build_networks("wgan_gp", wgan_gp.WGANGPOptions(code=True))
    assert isinstance(G, blocks.CodedGenerator) and D(random_images(2)).shape == (2, 1)
    nets = Networks(G, D, optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9)),
                    optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9)), blocks.LATENT_DIM)
    head_grads, d_step = [], nets.d_optimizer.step
    nets.d_optimizer.step = lambda: head_grads.append(D.code_head.weight.grad) or d_step()
    g_step = nets.g_optimizer.step
    g_grads = []
    nets.g_optimizer.step = lambda: g_grads.append([p.grad for p in G.parameters()]) or g_step()
    real_score_and_code_loss = wgan_gp.score_and_code_loss

    def code_term_only_for_g(D, fake, z, code):  # G's fakes carry a graph, the critic's do not
        scores, code_loss, accuracy = real_score_and_code_loss(D, fake, z, code)
        return (scores * 0 if fake.requires_grad else scores), code_loss, accuracy
    monkeypatch.setattr(wgan_gp, "score_and_code_loss", code_term_only_for_g)
    numbers = wgan_gp.wgan_gp_step(nets, Batches(random_images(4)), n_critic=2, gp_weight=10.0, code=True)
    assert all(math.isfinite(v) for v in numbers.values()) and 0 <= numbers["code_acc"] <= 1
    assert len(head_grads) == 2 and all(np.abs(minigrad.backend.to_numpy(g)).max() > 0 for g in head_grads)
    assert numbers["g_loss"] > 0 and any(np.abs(minigrad.backend.to_numpy(g)).max() > 0
                                         for g in g_grads[0] if g is not None)


def test_wgan_gp_command_line_trains_and_resumes(mnist_dir, tmp_path):
    common = ("--batch-size", 8, "--limit", 64, "--n-critic", 1, "--out", tmp_path, "--data-dir", mnist_dir,
              "--log-every", 1)
    assert run_example("wgan_gp", "--iterations", 1, *common) == 0
    assert run_example("wgan_gp", "--iterations", 2, "--resume", *common) == 0
    rows = read_metrics(tmp_path)
    assert [row["iteration"] for row in rows] == [1, 2] and {"wasserstein", "penalty"} <= set(rows[-1])
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["kind"] == "wgan_gp" and meta["config"]["beta2"] == 0.9 and meta["config"]["n_critic"] == 1
    assert (tmp_path / "samples_final.png").exists() and (tmp_path / "losses.png").exists()
