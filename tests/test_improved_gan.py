"""The Improved-GAN recipe (examples/sgan.py --model improved): its networks and their
data-dependent initialisation, its step, its batches, the learning-rate schedule and the
moving average of D the loop keeps for it, and the command line end to end."""
import signal

import numpy as np
import pytest

import minigrad
from minigrad import nn, optim
from minigrad import functional as F
from minigrad.random import get_rng_state, set_rng_state
from gan import models
from gan.models import blocks, improved_gan, sgan
from gan.training import checkpoint, cli, loop, schedule
from gan.training.batches import SemiSupervisedBatches
from gan.training.config import TrainConfig
from gan.training.recipe import Networks, TrainingData
from gan_fixtures import load_example, mnist_dir, read_metrics, run_example  # noqa: F401

TINY = ("--limit", 128, "--batch-size", 16, "--num-labeled", 20, "--log-every", 1,
        "--sample-every", 1000, "--eval-every", 3)


def images(n, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)))


def improved_networks(lr=3e-3):
    G, D = models.build_networks("sgan_improved")
    return Networks(G, D, optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
                    optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
                    blocks.LATENT_DIM, latent="uniform")


class Batches:
    """A batch source handing out fixed tensors, with the generator's own real batch."""

    def __init__(self, n=8):
        self.labeled, self.labels = images(n, 1), minigrad.tensor(np.arange(n) % 10, dtype=np.int64)
        self.unlabeled, self.for_generator = images(n, 2), images(n, 3)

    def next_labeled(self):
        return self.labeled, self.labels

    def next_unlabeled(self, for_generator=False):
        return self.for_generator if for_generator else self.unlabeled


# ----------------------------------------------------------------------------- networks
def test_networks_map_uniform_noise_to_images_and_images_to_logits_and_features():
    G, D = models.build_networks("sgan_improved")
    fake = G(blocks.latent_noise(3, blocks.LATENT_DIM, "uniform"))
    assert fake.shape == (3, 1, 28, 28) and np.abs(fake.numpy()).max() <= 1   # 2·σ − 1
    assert D(fake).shape == (3, 10) and D.features(fake).shape == (3, 250)
    # g is trained in the output layer only, as in their code; the hidden layers' is a buffer
    trained_scales = [name for name, _ in D.named_parameters() if name.endswith("weight_g")]
    assert trained_scales == ["head.1.weight_g"]
    assert sum(name.endswith("weight_g") for name, _ in D.named_buffers()) == 5


def test_discriminator_init_gives_unit_std_logits_on_its_batch():
    """Replaying the noise the initialisation drew, D's output on the batch is the last
    layer's initialised pre-activation: mean 0, standard deviation 1 per class logit."""
    _, D = models.build_networks("sgan_improved")
    x = images(200)
    state = get_rng_state()
    D.init_from_batch(x)
    set_rng_state(state)
    with minigrad.no_grad():
        logits = D(x).numpy()
    np.testing.assert_allclose(logits.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(logits.std(axis=0), 1, rtol=1e-3)
    features = D.features(x).numpy()
    assert 0.2 < features.std() < 2  # ReLU of unit-scale pre-activations, not blown up


def test_the_no_flags_drop_weight_normalisation_and_noise_from_d():
    _, D = models.build_networks("sgan_improved")
    layers = list(D.body) + list(D.head)
    assert sum(isinstance(layer, nn.WeightNormDense) for layer in layers) == 6
    assert sum(isinstance(layer, nn.GaussianNoise) for layer in layers) == 6
    options = cli.parse_config(improved_gan.RECIPE, ["--no-weight-norm", "--no-noise"]).options
    _, plain = models.build_networks("sgan_improved", options)
    layers = list(plain.body) + list(plain.head)
    assert not any(isinstance(layer, (nn.WeightNormDense, nn.GaussianNoise)) for layer in layers)
    assert sum(type(layer) is nn.Dense for layer in layers) == 6
    x = images(4)
    np.testing.assert_array_equal(plain(x).numpy(), plain(x).numpy())  # training mode, no noise


def test_v_init_std_draws_d_s_directions_at_that_scale_and_keeps_w_s_length():
    options = cli.parse_config(improved_gan.RECIPE, ["--v-init-std", "0.1"]).options
    state = get_rng_state()
    _, default = models.build_networks("sgan_improved")
    set_rng_state(state)                        # the same draws up to v's
    _, theirs = models.build_networks("sgan_improved", options)
    directions = [name for name, _ in theirs.named_parameters() if name.endswith("weight_v")]
    assert len(directions) == 6
    for name in directions:
        assert theirs.state_dict()[name].std() == pytest.approx(0.1, rel=0.05), name
        assert default.state_dict()[name].std() < 0.07, name  # kaiming-uniform: 1/√(3·fan_in)
    for name, g in default.state_dict().items():
        if name.endswith("weight_g"):
            np.testing.assert_array_equal(theirs.state_dict()[name], g, err_msg=name)


def test_no_g_bn_scale_leaves_g_s_batchnorm_a_shift_only():
    trained = lambda G: {name for name, _ in G.named_parameters() if name.endswith("gamma")}
    G, _ = models.build_networks("sgan_improved")
    assert trained(G) == {"net.1.gamma", "net.4.gamma"}
    options = cli.parse_config(improved_gan.RECIPE, ["--no-g-bn-scale"]).options
    G, _ = models.build_networks("sgan_improved", options)
    assert trained(G) == set() and {"net.1.beta", "net.4.beta"} <= dict(G.named_parameters()).keys()
    assert G(blocks.latent_noise(3, blocks.LATENT_DIM, "uniform")).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("flags, message", [
    (["--v-init-std", "-0.1"], "a positive standard deviation"),
    (["--v-init-std", "nan"], "a positive standard deviation"),
    (["--v-init-std", "0.1", "--no-weight-norm"], "drop --no-weight-norm"),
])
def test_a_bad_v_init_std_is_refused_saying_what_to_do(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.parse_config(improved_gan.RECIPE, flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_init_images_0_skips_the_data_dependent_initialisation():
    config = cli.parse_config(improved_gan.RECIPE, ["--init-images", "0"])
    data = TrainingData(images(8).numpy(), np.arange(8) % 10, None, None)
    _, D = models.build_networks("sgan_improved")
    before = D.state_dict()
    improved_gan.init_discriminator(None, D, data, config)
    for name, value in D.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    improved_gan.init_discriminator(None, D, data, cli.parse_config(improved_gan.RECIPE, []))
    assert not np.array_equal(D.state_dict()["head.1.bias"], before["head.1.bias"])


# ----------------------------------------------------------------------------- the step
def test_step_returns_finite_numbers_and_only_g_steps_on_feature_matching(monkeypatch):
    nets = improved_networks()
    G, D = nets.generator, nets.discriminator
    D.init_from_batch(images(64, 4))
    calls, d_after_its_step, d_grads = [], [], []
    real_optimizer_step = blocks.optimizer_step

    def spy(optimizer, loss):
        calls.append((optimizer, loss.item()))
        real_optimizer_step(optimizer, loss)
        if optimizer is nets.d_optimizer:
            d_after_its_step.append(D.state_dict())
            d_grads.append([p.grad for p in D.parameters()])
    monkeypatch.setattr(improved_gan, "optimizer_step", spy)
    g_before = G.state_dict()

    numbers = improved_gan.improved_gan_step(nets, Batches())
    assert set(numbers) == {"sup_loss", "sup_acc", "unsup_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(np.isfinite(value) for value in numbers.values())
    assert [optimizer for optimizer, _ in calls] == [nets.d_optimizer, nets.g_optimizer]
    d_loss = numbers["sup_loss"] + numbers["unsup_loss"]
    assert calls[0][1] == pytest.approx(d_loss, rel=1e-5)           # D: one step on both losses
    assert calls[1][1] == numbers["g_loss"]                         # G: the feature matching
    for name, value in D.state_dict().items():                      # G's step left D alone
        np.testing.assert_array_equal(value, d_after_its_step[0][name], err_msg=name)
    assert all(p.grad is g for p, g in zip(D.parameters(), d_grads[0]))  # none from G's step
    assert any(not np.array_equal(value, G.state_dict()[name]) for name, value in g_before.items())


def test_without_feature_matching_g_steps_on_the_non_saturating_loss(monkeypatch):
    nets = improved_networks()
    nets.discriminator.init_from_batch(images(64, 4))
    losses, g_steps, matched = [], [], []
    real_generator_loss, real_optimizer_step = blocks.generator_loss, blocks.optimizer_step

    def generator_loss(fake_logits):
        losses.append(real_generator_loss(fake_logits))
        return losses[-1]

    def optimizer_step(optimizer, loss):
        if optimizer is nets.g_optimizer:
            g_steps.append(loss)
        real_optimizer_step(optimizer, loss)
    monkeypatch.setattr(improved_gan, "generator_loss", generator_loss)
    monkeypatch.setattr(improved_gan, "optimizer_step", optimizer_step)
    monkeypatch.setattr(F, "feature_matching_loss", lambda *args: matched.append(args))
    batches = Batches()
    batches.for_generator = None  # G must not draw its real batch: nothing to match

    numbers = improved_gan.improved_gan_step(nets, batches, feature_matching=False)
    assert matched == [] and len(losses) == 1 and g_steps == losses
    assert numbers["g_loss"] == losses[0].item() > 0


def test_feature_matching_moves_the_fake_features_towards_the_real_ones():
    minigrad.manual_seed(0)
    nets = improved_networks(lr=5e-4)
    nets.discriminator.init_from_batch(images(64, 4))
    nets.discriminator.eval()  # no noise, and
    nets.d_optimizer.lr = 0.0  # D frozen: the generator alone chases the real features
    losses = [float(improved_gan.improved_gan_step(nets, Batches(64))["g_loss"]) for _ in range(20)]
    assert np.mean(losses[-5:]) < 0.3 * losses[0]


# ----------------------------------------------------------------------------- batches, schedule
def test_the_labelled_batch_cycles_the_labelled_set_to_the_batch_size():
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((60, 1, 2, 2)).astype(np.float32), np.arange(60) % 10
    labeled_index = np.arange(0, 60, 6)                                 # 10 labelled images
    batches = SemiSupervisedBatches(data, labels, labeled_index, 25, seed=0,
                                    labeled_batch_size=25, generator_stream=True)
    x, y = batches.next_labeled()
    assert x.shape == (25, 1, 2, 2) and y.shape == (25,)
    assert sorted(y.numpy()[:10].tolist()) == sorted(labels[labeled_index].tolist())  # a whole permutation
    state = batches.state()
    expected = [batches.next_labeled()[1].numpy(), batches.next_unlabeled().numpy(),
                batches.next_unlabeled(for_generator=True).numpy()]
    batches.set_state(state)
    again = [batches.next_labeled()[1].numpy(), batches.next_unlabeled().numpy(),
             batches.next_unlabeled(for_generator=True).numpy()]
    for a, b in zip(expected, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(expected[1], expected[2])  # the generator's order is its own


def test_linear_decay_is_constant_then_falls_linearly_towards_zero():
    factor = schedule.linear_decay(0.5)
    assert [factor(i, 10) for i in range(10)] == pytest.approx(
        [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2])
    assert schedule.linear_decay(1.0) is None  # no decay: no schedule, the rates stay as set


def test_a_d_average_is_in_the_checkpoint_config_only_when_used():
    plain = TrainConfig(model="sgan").checkpoint_config(100)
    assert "d_ema" not in plain  # checkpoints made before --d-ema existed still resume
    assert TrainConfig(model="sgan", d_ema=0.99).checkpoint_config(100)["d_ema"] == 0.99


def test_adam_eps_is_in_the_checkpoint_config_only_when_set():
    assert "adam_eps" not in TrainConfig(model="sgan").checkpoint_config(100)
    matched = TrainConfig(model="sgan", adam_eps=1e-4, g_adam_eps=0.025).checkpoint_config(100)
    assert (matched["adam_eps"], matched["g_adam_eps"]) == (1e-4, 0.025)
    assert TrainConfig(model="sgan", adam_eps=1e-4).checkpoint_config(100)["g_adam_eps"] == 1e-4


def test_adam_eps_flags_reach_the_optimizers_and_a_resume_must_repeat_them(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    common = ("--model", "improved", *TINY, "--data-dir", mnist_dir, "--out", out)
    assert run_example("sgan", *common, "--iterations", 2, "--adam-eps", 1e-3, "--g-adam-eps", 0.01) == 0
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["optimizers"]["D"]["eps"] == 1e-3 and meta["optimizers"]["G"]["eps"] == 0.01
    capsys.readouterr()
    assert run_example("sgan", *common, "--iterations", 3, "--resume") != 0  # ε left out: refused
    assert "adam_eps" in capsys.readouterr().err
    assert run_example("sgan", *common, "--iterations", 3, "--resume",
                       "--adam-eps", 1e-3, "--g-adam-eps", 0.01) == 0


def test_the_default_is_the_recipe_that_measured_99_percent():
    """Their code's Adam ε (1e-4 for D, 0.025 for G) at constant rates: docs/sgan.md."""
    config = cli.parse_config(models.get_recipe("sgan_improved"), [])
    assert (config.adam_eps, config.generator_adam_eps(), config.options.lr_decay_start) == (1e-4, 0.025, 1.0)
    before = cli.parse_config(models.get_recipe("sgan_improved"),
                              ["--adam-eps", "1e-8", "--g-adam-eps", "1e-8", "--lr-decay-start", "0.67"])
    assert (before.adam_eps, before.generator_adam_eps(), before.options.lr_decay_start) == (1e-8, 1e-8, 0.67)


def test_a_run_of_the_earlier_default_resumes_as_it_trained(mnist_dir, tmp_path, capsys):
    """Made under the earlier defaults (ε 1e-8, decay over the last third), a checkpoint is
    refused under today's, naming each setting, and resumes with the flags of the earlier ones."""
    out = tmp_path / "run"
    common = ("--model", "improved", *TINY, "--data-dir", mnist_dir, "--out", out)
    earlier = ("--adam-eps", 1e-8, "--g-adam-eps", 1e-8, "--lr-decay-start", 0.67)
    assert run_example("sgan", *common, "--iterations", 2, *earlier) == 0
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert "adam_eps" not in meta["config"]  # as the checkpoints of that time: ε 1e-8 went unrecorded
    capsys.readouterr()
    assert run_example("sgan", *common, "--iterations", 3, "--resume") == 1
    err = capsys.readouterr().err
    assert "adam_eps: checkpoint 1e-08, this run 0.0001" in err
    assert "g_adam_eps: checkpoint 1e-08, this run 0.025" in err
    assert "lr_decay_start: checkpoint 0.67, this run 1.0" in err
    assert run_example("sgan", *common, "--iterations", 3, "--resume", *earlier) == 0


def test_g_beta1_sets_only_the_generators_beta1_and_a_resume_must_repeat_it(mnist_dir, tmp_path, capsys):
    assert "g_beta1" not in TrainConfig(model="sgan").checkpoint_config(100)
    out = tmp_path / "run"
    common = ("--model", "improved", *TINY, "--data-dir", mnist_dir, "--out", out, "--beta2", 0.9999)
    assert run_example("sgan", *common, "--iterations", 2, "--g-beta1", 0) == 0
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert tuple(meta["optimizers"]["G"]["betas"]) == (0.0, 0.9999)
    assert tuple(meta["optimizers"]["D"]["betas"]) == (0.5, 0.9999)
    capsys.readouterr()
    assert run_example("sgan", *common, "--iterations", 3, "--resume") != 0  # β₁ left out: refused
    assert "g_beta1" in capsys.readouterr().err
    assert run_example("sgan", *common, "--iterations", 3, "--resume", "--g-beta1", 0) == 0


# ----------------------------------------------------------------------------- command line
def test_help_offers_the_model_choices_and_the_book_stays_the_default(capsys):
    with pytest.raises(SystemExit) as exit:
        load_example("sgan").main(["--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    assert "--model {book,improved}" in text and "(default: book)" in text
    assert "--supervised-only" in text and "--unlabeled-weight" not in text
    with pytest.raises(SystemExit):
        load_example("sgan").main(["--model", "improved", "--help"])
    assert "--unlabeled-weight" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:
        load_example("sgan").main(["--model", "nonsense"])
    assert exit.value.code == 2


def test_dry_run_writes_every_output(backend, mnist_dir, tmp_path):
    out = tmp_path / "run"
    assert run_example("sgan", "--model", "improved", "--dry-run", "--backend", backend,
                       "--batch-size", 16, "--num-labeled", 20, "--out", out,
                       "--data-dir", mnist_dir) == 0
    rows = read_metrics(out)
    assert [row["iteration"] for row in rows] == [1, 2]
    assert {"sup_loss", "sup_acc", "unsup_loss", "g_loss", "test_acc", "test_acc_raw"} <= set(rows[-1])
    for name in ("losses.png", "accuracy.png", "samples_000001.png", "samples_final.png"):
        assert (out / name).stat().st_size > 0, name
    arrays, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["kind"] == "sgan_improved" and meta["iteration"] == 2
    assert any(name.startswith("D_average/") for name in arrays)
    assert meta["optimizers"]["D"]["betas"][0] == 0.5


@pytest.mark.parametrize("first_part", ["three_iterations", "six_stopped_at_three"])
def test_resume_continues_exactly_as_one_straight_run(first_part, backend, mnist_dir, tmp_path, monkeypatch):
    """3 iterations, stop, resume for 3 more == 6 straight, bit for bit, with a moving
    average of D. The learning-rate schedule is a function of the run's length: a run of 3
    decays otherwise than one of 6, so with the decay on (over the last half) the first part
    is a run of 6 stopped by Ctrl-C after 3."""
    decay = "1" if first_part == "three_iterations" else "0.5"
    common = ("--model", "improved", *TINY, "--lr-decay-start", decay, "--d-ema", 0.9,
              "--backend", backend, "--data-dir", mnist_dir)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_example("sgan", "--iterations", 6, "--out", straight, *common) == 0
    if first_part == "three_iterations":
        assert run_example("sgan", "--iterations", 3, "--out", resumed, *common) == 0
    else:
        real_step, calls = improved_gan.improved_gan_step, []

        def step_then_ctrl_c(*args):
            calls.append(1)
            if len(calls) == 3:
                signal.raise_signal(signal.SIGINT)  # the loop stops after this iteration
            return real_step(*args)
        with monkeypatch.context() as patch:  # not monkeypatch.undo(): mnist_dir's patches stay
            patch.setattr(improved_gan, "improved_gan_step", step_then_ctrl_c)
            assert run_example("sgan", "--iterations", 6, "--out", resumed, *common) == 130
    assert run_example("sgan", "--iterations", 6, "--out", resumed, "--resume", *common) == 0

    arrays_a, meta_a = checkpoint.read_training(straight / "latest.npz")
    arrays_b, meta_b = checkpoint.read_training(resumed / "latest.npz")
    assert sorted(arrays_a) == sorted(arrays_b)
    assert any(name.startswith("D_average/") for name in arrays_a)
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert meta_a["optimizers"] == meta_b["optimizers"]
    for key in ("rng", "batches"):
        assert meta_a["state"][key] == meta_b["state"][key]
    # the last step (iteration index 5 of 6) ran at --lr, or with the decay from index 3 at a third of it
    assert meta_a["optimizers"]["D"]["lr"] == pytest.approx(3e-3 if decay == "1" else 3e-3 / 3)

    def rows(out):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(out)]
    assert rows(straight) == rows(resumed)
    assert "test_acc_raw" in read_metrics(straight)[-1]


def test_a_book_checkpoint_is_refused_by_the_improved_model(mnist_dir, tmp_path, capsys):
    common = ("--dry-run", "--batch-size", 16, "--num-labeled", 20, "--out", tmp_path,
              "--data-dir", mnist_dir)
    assert run_example("sgan", *common) == 0
    assert run_example("sgan", "--model", "improved", *common, "--resume") == 1
    assert "holds a 'sgan' model; this run trains 'sgan_improved'" in capsys.readouterr().err


def test_the_loop_keeps_no_d_average_or_schedule_for_the_other_models():
    config = TrainConfig(model="sgan", options=sgan.SGANOptions())
    nets = loop.build_networks(sgan.RECIPE, config)
    assert nets.d_average is None and nets.latent == "normal"
    assert sgan.RECIPE.lr_schedule is None and sgan.RECIPE.initialize is None
