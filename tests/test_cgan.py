"""The conditional GAN (examples/cgan.py): its networks take labels, its steps play the
game with them, its grid draws one row per digit, it resumes exactly, gan.sample draws
the digits asked for and gan.evaluate reports how often the judge reads them back."""
import json
import math

import numpy as np
import pytest
from matplotlib.image import imread

import minigrad
from minigrad import optim
from gan import models
from gan.evaluation import evaluate, metrics, sample
from gan.models import blocks, cgan
from gan.training import batches as batching
from gan.training import checkpoint
from gan.training.recipe import Networks, generate, is_conditional, noise_grid
from gan_fixtures import mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)

DISCRIMINATORS = tuple(cgan.DISCRIMINATORS)
TINY = ("--limit", 128, "--batch-size", 8, "--log-every", 1, "--sample-every", 1000)


def random_images(n, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)))


def networks(discriminator):
    G, D = models.build_networks("cgan", cgan.CGANOptions(discriminator))
    return Networks(G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3),
                    blocks.LATENT_DIM)


class LabeledBatch:
    """A batch source handing out one labelled batch."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def next_labeled(self):
        return self.images, self.labels


# ----------------------------------------------------------------------------- networks and steps
def test_conditional_networks_take_labels():
    minigrad.manual_seed(0)
    G = cgan.ConditionalGenerator()
    z = minigrad.tensor(np.random.default_rng(0).standard_normal((4, blocks.LATENT_DIM)))
    labels = minigrad.tensor([0, 3, 3, 9], dtype=np.int64)
    assert G(z, labels).shape == (4, 1, 28, 28) and is_conditional(G)
    assert not is_conditional(blocks.InfoGANGenerator())

    D = cgan.ProjectionDiscriminator().eval()
    x = random_images(4)
    logits = D(x, labels)
    assert logits.shape == (4, 1)
    other = D(x, minigrad.tensor([1, 3, 4, 9], dtype=np.int64)).numpy()
    changed = ~np.isclose(logits.numpy(), other)[:, 0]
    assert changed.tolist() == [True, False, True, False]  # the label moves the logit, and only it

    real_fake, classes = blocks.ACGANDiscriminator()(x)
    assert real_fake.shape == (4, 1) and classes.shape == (4, 10)


@pytest.mark.parametrize("discriminator", DISCRIMINATORS)
def test_conditional_steps_return_finite_numbers_and_give_d_no_gradient_in_g_step(discriminator):
    nets = networks(discriminator)
    labels = minigrad.tensor(np.arange(8) % 10, dtype=np.int64)
    d_step, d_grads = nets.d_optimizer.step, []
    nets.d_optimizer.step = lambda: (d_step(), d_grads.append([p.grad for p in nets.discriminator.parameters()]))
    numbers = cgan.DISCRIMINATORS[discriminator].step(nets, LabeledBatch(random_images(8), labels))
    expected = {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"}
    if discriminator == "acgan":
        expected |= {"class_acc_real", "class_acc_fake"}
    assert set(numbers) == expected
    assert all(math.isfinite(v) for v in numbers.values())
    # D's gradients are those of its own step: G's step computed none for D's weights
    assert all(p.grad is g for p, g in zip(nets.discriminator.parameters(), d_grads[-1]))


def test_labeled_batches_resume_at_the_next_batch(backend):
    images = np.random.default_rng(0).uniform(-1, 1, (50, 1, 28, 28)).astype(np.float32)
    labels = np.arange(50) % 10
    source = batching.LabeledBatches(images, labels, 8, seed=3)
    for _ in range(7):  # into the second epoch
        source.next_labeled()
    resumed = batching.LabeledBatches(images, labels, 8, seed=3)
    resumed.set_state(source.state())
    (x_a, y_a), (x_b, y_b) = source.next_labeled(), resumed.next_labeled()
    np.testing.assert_array_equal(x_a.numpy(), x_b.numpy())
    np.testing.assert_array_equal(y_a.numpy(), y_b.numpy())
    assert y_a.dtype == np.int64
    # each image keeps its own label
    index = [int(np.flatnonzero((images == row).all(axis=(1, 2, 3)))[0]) for row in x_a.numpy()]
    np.testing.assert_array_equal(labels[index], y_a.numpy())


def test_the_class_grid_holds_the_style_down_a_column_and_the_class_along_a_row():
    minigrad.manual_seed(0)
    G = cgan.ConditionalGenerator()
    noise = np.random.default_rng(0).standard_normal((64, blocks.LATENT_DIM)).astype(np.float32)
    images, per_row = cgan.class_grid(G, noise)
    assert images.shape == (100, 28, 28) and per_row == 10
    for row, column in [(0, 0), (7, 3), (9, 9)]:
        alone = generate(G, noise[column:column + 1], np.array([row]))
        np.testing.assert_allclose(images[row * 10 + column], alone[0], atol=1e-6)
    assert models.get_recipe("cgan").grid is cgan.class_grid
    assert models.get_recipe("dcgan").grid is noise_grid


# ----------------------------------------------------------------------------- the command lines
@pytest.mark.parametrize("discriminator", DISCRIMINATORS)
def test_dry_run_writes_every_output_with_a_grid_of_ten_rows(discriminator, backend, mnist_dir, tmp_path):
    out = tmp_path / "run"
    assert run_example("cgan", "--dry-run", "--backend", backend, "--batch-size", 16, "--out", out,
                       "--data-dir", mnist_dir, "--discriminator", discriminator) == 0
    rows = read_metrics(out)
    assert [row["iteration"] for row in rows] == [1, 2]
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake"} <= set(rows[-1])
    for name in ("losses.png", "accuracy.png", "samples_000001.png", "samples_final.png"):
        assert (out / name).stat().st_size > 0, name
    cell = (28 + 2) * 2  # a 28-pixel image and its 2-pixel padding, drawn at scale 2
    for name in ("samples_final.png", "samples_final_raw.png"):  # the moving average's, G's
        assert imread(out / name).shape[:2] == (10 * cell + 4, 10 * cell + 4), name  # 10 rows of 10
    arrays, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["kind"] == "cgan" and meta["iteration"] == 2
    assert meta["config"]["discriminator"] == discriminator
    assert any(name.startswith("G_average/") for name in arrays)  # --ema 0.999 by default


@pytest.mark.parametrize("discriminator", DISCRIMINATORS)
def test_resume_continues_exactly_as_one_straight_run(discriminator, mnist_dir, tmp_path):
    """3 iterations, stop, resume for 3 more == 6 straight, bit for bit, with the labelled
    batches, the moving average of G and the fixed noise."""
    common = (*TINY, "--discriminator", discriminator, "--data-dir", mnist_dir)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_example("cgan", "--iterations", 6, "--out", straight, *common) == 0
    assert run_example("cgan", "--iterations", 3, "--out", resumed, *common) == 0
    assert run_example("cgan", "--iterations", 6, "--out", resumed, "--resume", *common) == 0
    arrays_a, meta_a = checkpoint.read_training(straight / "latest.npz")
    arrays_b, meta_b = checkpoint.read_training(resumed / "latest.npz")
    assert sorted(arrays_a) == sorted(arrays_b)
    assert any(name.startswith("G_average/") and name.endswith("running_var") for name in arrays_a)
    assert any(name.startswith("D/") and "embed" in name for name in arrays_a) == (discriminator == "projection")
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert meta_a["state"]["rng"] == meta_b["state"]["rng"]
    assert meta_a["state"]["batches"] == meta_b["state"]["batches"]

    def losses(out):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(out)]
    assert losses(straight) == losses(resumed)


def test_sample_draws_the_digits_asked_for(mnist_dir, tmp_path, capsys):
    assert run_example("cgan", "--dry-run", "--batch-size", 8, "--out", tmp_path / "run",
                       "--data-dir", mnist_dir) == 0
    source = str(tmp_path / "run" / "latest.npz")

    assert sample.main(["--checkpoint", source, "--n", "12", "--label", "7", "--out", str(tmp_path / "7.npz")]) == 0
    with np.load(tmp_path / "7.npz") as npz:
        assert npz["images"].shape == (12, 28, 28) and npz["labels"].dtype == np.int64
        assert npz["labels"].tolist() == [7] * 12
    assert (tmp_path / "7.png").exists()

    assert sample.main(["--checkpoint", source, "--n", "3", "--label", "all", "--out", str(tmp_path / "all.npz")]) == 0
    with np.load(tmp_path / "all.npz") as npz:
        assert npz["images"].shape == (30, 28, 28)
        assert np.bincount(npz["labels"], minlength=10).tolist() == [3] * 10
    assert imread(tmp_path / "all.png").shape[0] == 10 * 60 + 4  # a row per digit
    assert "30 samples of cgan (labels 0-9)" in capsys.readouterr().out

    # One latent batch or many, a label's images are the same: G runs in eval mode.
    seven = sample.draw(sample.load_generator(source)[0], blocks.LATENT_DIM, 6, labels=np.full(6, 7))
    sevens_in_batches = sample.draw(sample.load_generator(source)[0], blocks.LATENT_DIM, 6,
                                    batch_size=4, labels=np.full(6, 7))
    np.testing.assert_allclose(seven, sevens_in_batches, atol=1e-6)


@pytest.mark.parametrize("label", ["10", "-1", "seven", "7.0"])
def test_sample_refuses_a_label_that_is_not_a_digit(label, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        sample.main(["--checkpoint", str(tmp_path / "x.npz"), "--label", label])
    assert exit.value.code == 2
    assert "--label: must be a digit 0-9 or all" in capsys.readouterr().err


def test_sample_refuses_a_label_for_an_unconditional_model(mnist_dir, tmp_path, capsys):
    assert run_example("dcgan", "--dry-run", "--batch-size", 8, "--out", tmp_path / "run",
                       "--data-dir", mnist_dir) == 0
    capsys.readouterr()
    code = sample.main(["--checkpoint", str(tmp_path / "run" / "latest.npz"), "--label", "7",
                        "--out", str(tmp_path / "s.npz")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --label 7:") and "dcgan generator" in err and "drop --label" in err
    assert not (tmp_path / "s.npz").exists()


# ----------------------------------------------------------------------------- evaluation
def pixel_judge(images):
    """A fake judge that reads the class from the top-left pixel: class c is drawn as c/9
    (in [0, 1]), so (x + 1)/2 · 9 rounds to c. Features: a few pixels, for the FID."""
    classes = np.clip(np.rint((images[:, 0, 0, 0] + 1) / 2 * 9), 0, 9).astype(int)
    features = images.reshape(len(images), -1)[:, ::97].astype(np.float64)
    return np.eye(10)[classes], features


def drawn_as(classes, seed=0):
    """Images in [0, 1] that pixel_judge reads as `classes`."""
    images = np.random.default_rng(seed).uniform(0, 1, (len(classes), 28, 28)).astype(np.float32)
    images[:, 0, 0] = np.asarray(classes) / 9
    return images


def test_requested_accuracy_counts_the_labels_the_judge_reads_back():
    requested = np.arange(40) % 10
    drawn = requested.copy()
    drawn[requested == 3] = 5          # every 3 comes out a 5
    drawn[[0, 1]] = [6, 1]             # one 0 wrong, one 1 right
    probs, _ = pixel_judge(drawn_as(drawn)[:, None] * 2 - 1)
    result = metrics.requested_accuracy(probs, requested)
    assert result["requested_accuracy"] == pytest.approx(35 / 40)
    expected = [0.75, 1, 1, 0, 1, 1, 1, 1, 1, 1]
    assert result["requested_accuracy_per_class"] == pytest.approx(expected)
    only_sevens = metrics.requested_accuracy(probs[requested == 7], requested[requested == 7])
    assert only_sevens["requested_accuracy_per_class"][7] == 1.0
    assert only_sevens["requested_accuracy_per_class"][0] is None  # never asked for
    with pytest.raises(ValueError, match="integer labels"):
        metrics.requested_accuracy(probs, requested[:5])


def test_evaluate_reports_the_requested_digit_read_back(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(evaluate, "load_judge", lambda path, dataset: pixel_judge)
    requested = np.arange(40) % 10
    drawn = np.where(requested == 3, 5, requested)
    np.savez(tmp_path / "samples.npz", images=drawn_as(drawn), labels=requested)
    assert evaluate.main([str(tmp_path / "samples.npz"), "--data-dir", str(mnist_dir), "--limit", "50",
                          "--json", str(tmp_path / "scores.json")]) == 0
    printed = capsys.readouterr().out
    assert "requested digit read           0.900" in printed
    assert "FID vs test set" in printed and "class fractions" in printed
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["samples"]["requested_accuracy"] == pytest.approx(0.9)
    assert scores["samples"]["requested_accuracy_per_class"][3] == 0
    assert "requested_accuracy" in scores["real"]  # the real images, against their own labels

    np.savez(tmp_path / "plain.npz", images=drawn_as(drawn))  # unconditional samples: no such line
    assert evaluate.main([str(tmp_path / "plain.npz"), "--data-dir", str(mnist_dir), "--limit", "50"]) == 0
    assert "requested digit" not in capsys.readouterr().out

    np.savez(tmp_path / "bad.npz", images=drawn_as(drawn), labels=requested[:5])
    assert evaluate.main([str(tmp_path / "bad.npz"), "--data-dir", str(mnist_dir)]) == 1
    assert "error:" in capsys.readouterr().err
