"""What the toolkit does with a bad input or an accident: a clear `error:` line and an exit
code, never a traceback or a lost file. One test per case of the issue that asked for it."""
import dataclasses
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from minigrad import backend as mg_backend
from gan import models
from gan.evaluation import evaluate, judge, sample
from gan.models import blocks
from gan.models import gan as vanilla
from gan.training import batches, checkpoint, cli
from gan.training.recipe import Recipe
from gan_fixtures import mnist_dir, run_example  # noqa: F401  (mnist_dir: a fixture)

TINY = ("--limit", 64, "--batch-size", 8, "--log-every", 1)


def train(out, mnist_dir, *extra, model="gan", iterations=2):
    return run_example(model, "--iterations", iterations, "--out", out, "--data-dir", mnist_dir, *TINY, *extra)


def error_of(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def usage_error(capsys, model, *argv):
    """The exit code and message of a command line that argparse refuses."""
    with pytest.raises(SystemExit) as exit_info:
        run_example(model, *argv)
    return exit_info.value.code, error_of(capsys)


# ----------------------------------------------------------------------------- never lose a run
def test_a_new_run_refuses_a_folder_that_holds_one(mnist_dir, tmp_path, capsys):
    assert train(tmp_path, mnist_dir) == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("latest.npz", "metrics.jsonl")}
    capsys.readouterr()
    assert train(tmp_path, mnist_dir, iterations=3) == 1
    err = error_of(capsys)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before  # nothing touched

    assert train(tmp_path, mnist_dir, "--overwrite", iterations=3) == 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [1, 2, 3]  # a fresh log, not appended


def test_resume_and_overwrite_together_are_refused(mnist_dir, tmp_path, capsys):
    code, err = usage_error(capsys, "gan", "--resume", "--overwrite", "--out", tmp_path)
    assert code == 2 and "not allowed with" in err


def test_sample_refuses_to_write_over_the_checkpoint_it_reads(mnist_dir, tmp_path, capsys):
    assert train(tmp_path, mnist_dir) == 0
    ckpt = tmp_path / "latest.npz"
    before = ckpt.read_bytes()
    assert sample.main(["--checkpoint", str(ckpt), "--n", "4", "--out", str(ckpt)]) == 1
    assert "would overwrite the checkpoint" in error_of(capsys)
    assert ckpt.read_bytes() == before


def test_evaluate_refuses_to_write_over_the_samples_it_reads(tmp_path, capsys):
    samples = tmp_path / "samples.npz"
    np.savez(samples, images=np.zeros((4, 28, 28), np.float32))
    assert evaluate.main([str(samples), "--json", str(samples)]) == 1
    assert "would overwrite the samples" in error_of(capsys)
    assert "images" in np.load(samples).files


def test_the_temporary_file_of_a_killed_write_is_cleaned_up_by_the_next_run(mnist_dir, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    dead = _dead_pid()
    stale, alive = tmp_path / f".latest.npz.{dead}.tmp", tmp_path / f".latest.npz.{os.getppid()}.tmp"
    stale.write_bytes(b"x" * 1000)
    alive.write_bytes(b"in progress")  # a write of a process that still runs is left alone
    assert train(tmp_path, mnist_dir) == 0
    assert not stale.exists() and alive.exists()
    alive.unlink()


def _dead_pid():
    """The pid of a process that has ended (a new interpreter's: a fork of this process, whose
    writer and progress-bar threads may run, is what Python 3.12 warns against)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_weights_that_became_nan_are_never_checkpointed_and_the_last_good_one_resumes(
        mnist_dir, tmp_path, monkeypatch, capsys):
    real_step, calls = vanilla.gan_step, []

    def step_that_ruins_a_weight(nets, batches, options):
        numbers = real_step(nets, batches)
        calls.append(1)
        if len(calls) == 4:  # the losses of this step are fine: only a weight went bad
            nets.generator.parameters()[0].data[0, 0] = np.nan
        return numbers
    # A context of its own: undoing the whole monkeypatch would also undo mnist_dir's patches.
    with monkeypatch.context() as patch:
        patch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step_that_ruins_a_weight))
        assert train(tmp_path, mnist_dir, "--checkpoint-every", 2, iterations=4) == 1
    err = error_of(capsys)
    assert "by iteration 4: G's net.0.weight is not finite" in err
    assert "(iteration 2)" in err and "--resume" in err
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["iteration"] == 2

    # the named checkpoint continues the run, with the real step
    assert train(tmp_path, mnist_dir, "--resume", tmp_path / "latest.npz", iterations=4) == 0
    assert checkpoint.read_training(tmp_path / "latest.npz")[1]["iteration"] == 4


# ----------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("argv, words", [
    (("--epochs", "inf"), "positive finite"),
    (("--epochs", "nan"), "positive finite"),
    (("--beta1", "1"), "below 1"),
    (("--ema", "1.5"), "below 1"),
    (("--seed", "-1"), "0 or more"),
    (("--lr", "nan"), "positive finite"),
    (("--adam-eps", "0"), "positive finite"),
    (("--g-adam-eps", "-0.001"), "positive finite"),
    (("--batch-size", "0"), "at least 1"),
    (("--limit", "16", "--batch-size", "32"), "larger than --limit"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_bad_values_are_refused_by_the_parser(argv, words, tmp_path, capsys):
    code, err = usage_error(capsys, "gan", "--out", tmp_path, *argv)
    assert code == 2 and words in err


def test_an_unbalanced_labelled_set_is_refused_with_the_way_out(tmp_path, capsys):
    code, err = usage_error(capsys, "sgan", "--num-labeled", "5", "--out", tmp_path)
    assert code == 2 and "multiple of 10" in err and "--first-labeled" in err


def test_a_batch_larger_than_the_data_is_refused(mnist_dir, tmp_path, capsys):
    # 256 images, 100 of them labelled: 156 unlabelled, fewer than a batch of 200
    assert run_example("sgan", "--dry-run", "--batch-size", 200, "--out", tmp_path, "--data-dir", mnist_dir) == 1
    err = error_of(capsys)
    assert "batch_size 200 > num_examples 156" in err and "--batch-size" in err


@pytest.mark.skipif(mg_backend.cupy_available(), reason="CuPy and a GPU are here")
def test_cupy_without_a_gpu_says_why(mnist_dir, tmp_path, capsys):
    assert run_example("gan", "--dry-run", "--backend", "cupy", "--out", tmp_path, "--data-dir", mnist_dir) == 1
    err = error_of(capsys)
    assert err.startswith("error:") and "cupy" in err.lower() and ("install" in err.lower() or "GPU" in err)


def test_out_onto_a_file_or_an_unwritable_place_is_refused(mnist_dir, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    assert run_example("gan", "--dry-run", "--out", a_file, "--data-dir", mnist_dir) == 1
    assert "is a file" in error_of(capsys)
    assert run_example("gan", "--dry-run", "--out", a_file / "run", "--data-dir", mnist_dir) == 1
    assert "cannot write to --out" in error_of(capsys)
    assert a_file.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(mnist_dir, tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        assert run_example("gan", "--dry-run", "--out", tmp_path / "run", "--data-dir", mnist_dir) == 1
    finally:
        tmp_path.chmod(0o700)
    assert "cannot write" in error_of(capsys)


# ----------------------------------------------------------------------------- unreadable checkpoints
def _good_checkpoint(mnist_dir, folder):
    assert train(folder, mnist_dir) == 0
    return folder / "latest.npz"


def _corrupt(path, how):
    raw = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(raw[:len(raw) // 2])
    elif how == "bit-flipped":
        flipped = bytearray(raw)
        for i in range(200, len(flipped) - 200, 997):  # inside the stored arrays and their CRCs
            flipped[i] ^= 0x10
        path.write_bytes(bytes(flipped))
    elif how == "text":
        path.write_text("these are my notes, not a checkpoint\n")
    elif how == "no-kind":
        arrays, meta = checkpoint.load_npz(path)
        del meta["kind"]
        checkpoint.save_npz(path, arrays, meta)
    elif how == "optimizer-shape":
        arrays, meta = checkpoint.load_npz(path)
        name = next(k for k in arrays if k.startswith("G_optimizer/") and arrays[k].ndim == 2)
        arrays[name] = np.zeros((3, 3), np.float32)
        checkpoint.save_npz(path, arrays, meta)


@pytest.mark.parametrize("how, words", [
    ("empty", "is empty"), ("truncated", "damaged or cut short"), ("bit-flipped", "damaged"),
    ("text", "not an .npz"), ("no-kind", "lacks kind"), ("optimizer-shape", "optimizer state does not fit"),
])
def test_an_unreadable_checkpoint_gets_one_message_naming_the_file(how, words, mnist_dir, tmp_path, capsys):
    path = _good_checkpoint(mnist_dir, tmp_path / "run")
    _corrupt(path, how)
    capsys.readouterr()
    assert train(tmp_path / "run", mnist_dir, "--resume", iterations=4) == 1
    err = error_of(capsys)
    assert err.startswith("error:") and str(path) in err and words in err
    if how not in ("no-kind", "optimizer-shape"):  # gan.sample says the same
        assert sample.main(["--checkpoint", str(path), "--out", str(tmp_path / "s.npz"), "--n", "2"]) == 1
        assert str(path) in error_of(capsys)


def test_a_damaged_zip_member_is_reported_not_raised(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save_npz(path, {"w": np.arange(1000.0)}, {"format": "x"})
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("w.npy").header_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 200] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match="damaged"):
        checkpoint.load_npz(path)


# ----------------------------------------------------------------------------- the other commands
def test_sample_refuses_a_count_that_cannot_fit(mnist_dir, tmp_path, capsys):
    path = _good_checkpoint(mnist_dir, tmp_path / "run")
    assert sample.main(["--checkpoint", str(path), "--n", str(10**13), "--out", str(tmp_path / "s.npz")]) == 1
    assert "GiB" in error_of(capsys)
    assert not (tmp_path / "s.npz").exists()
    with pytest.raises(SystemExit) as exit_info:
        sample.main(["--checkpoint", str(path), "--n", "0"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("content, words", [
    (None, "no samples file"), (b"", "is empty"), (b"plain text", "not an .npz"),
])
def test_evaluate_reports_a_missing_or_unreadable_samples_file(content, words, tmp_path, capsys):
    samples = tmp_path / "samples.npz"
    if content is not None:
        samples.write_bytes(content)
    assert evaluate.main([str(samples)]) == 1
    assert words in error_of(capsys)


def test_evaluate_reports_a_damaged_judge(tmp_path, capsys):
    samples, broken = tmp_path / "samples.npz", tmp_path / "judge.npz"
    np.savez(samples, images=np.zeros((4, 28, 28), np.float32))
    broken.write_text("not a judge")
    assert evaluate.main([str(samples), "--judge", str(broken)]) == 1
    assert str(broken) in error_of(capsys)


@pytest.mark.parametrize("argv", [("--epochs", "inf"), ("--batch-size", "0"), ("--min-accuracy", "2"),
                                  ("--seed", "-3"), ("--lr", "-1")], ids=" ".join)
def test_judge_refuses_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        judge.main(list(argv))
    assert exit_info.value.code == 2


def test_judge_refuses_a_folder_as_its_output(mnist_dir, tmp_path, capsys):
    assert judge.main(["--data-dir", str(mnist_dir), "--out", str(tmp_path), "--limit", "64"]) == 1
    assert "is a folder" in error_of(capsys)


# ----------------------------------------------------------------------------- recipes
def test_a_new_model_is_one_recipe(mnist_dir, tmp_path, monkeypatch):
    """Registering a recipe is all it takes: the loop, the flags, the checkpoint and
    gan.sample work for it without a line elsewhere."""
    from minigrad import nn

    class TinyGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Dense(blocks.LATENT_DIM, 784), nn.Tanh(), nn.Reshape((1, 28, 28)))

        def forward(self, z):
            return self.net(z)

    tiny = Recipe(name="tiny", summary="A one-layer GAN.",
                  networks=lambda options: (TinyGenerator(), nn.Sequential(nn.Flatten(), nn.Dense(784, 1))),
                  step=vanilla.step, batches=batches.image_batches, latent_dim=blocks.LATENT_DIM,
                  defaults=dict(iterations=3, batch_size=8, ema=0.5))
    monkeypatch.setitem(models.RECIPES, "tiny", tiny)  # where gan.sample finds it
    assert cli.main(tiny, ["--out", str(tmp_path), "--data-dir", str(mnist_dir), "--limit", "64"]) == 0
    _, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["kind"] == "tiny" and meta["iteration"] == 3 and meta["config"]["ema"] == 0.5
    assert sample.main(["--checkpoint", str(tmp_path / "latest.npz"), "--n", "5",
                        "--out", str(tmp_path / "s.npz")]) == 0


def test_samples_come_from_the_moving_average_unless_raw(mnist_dir, tmp_path):
    assert run_example("dcgan", "--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir) == 0
    arrays, _ = checkpoint.read_training(tmp_path / "latest.npz")
    assert any(k.startswith("G_average/") for k in arrays)
    averaged, _ = sample.load_generator(tmp_path / "latest.npz")
    raw, _ = sample.load_generator(tmp_path / "latest.npz", raw=True)
    first = "body.net.0.weight"   # the default CodedGenerator's first layer
    np.testing.assert_array_equal(averaged.state_dict()[first], arrays[f"G_average/{first}"])
    np.testing.assert_array_equal(raw.state_dict()[first], arrays[f"G/{first}"])
    assert not np.array_equal(arrays[f"G_average/{first}"], arrays[f"G/{first}"])
    assert (tmp_path / "samples_final.png").exists() and (tmp_path / "samples_final_raw.png").exists()


def test_the_moving_average_follows_its_formula():
    """θ̄ is the decay-weighted mean of the weights seen at each update, bias-corrected: the
    first update copies θ₁, the second gives (0.9·θ₁ + θ₂)/1.9; never the untrained start."""
    from minigrad import nn
    layer = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    average = nn.ExponentialMovingAverage(layer, decay=0.9)
    start = {name: np.array(value) for name, value in average.average.state_dict().items()}

    def move(by):
        for p in layer.parameters():
            p.data = p.data + by
        layer[1].running_mean = layer[1].running_mean + 2 * by

    def shift(name):  # how far move(1) moves each entry
        return 2.0 if name.endswith("running_mean") else 0.0 if "running" in name else 1.0

    move(1.0)
    average.update()  # θ₁ = start + 1
    for name, value in average.average.state_dict().items():
        np.testing.assert_allclose(value, start[name] + shift(name), rtol=1e-6, atol=1e-7)
    move(1.0)
    average.update()  # θ₂ = start + 2
    for name, value in average.average.state_dict().items():
        expected = start[name] + shift(name) * (0.9 * 1 + 2) / 1.9
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6)
    assert average.updates == 2 and not average.average.training
    with pytest.raises(ValueError, match="decay"):
        nn.ExponentialMovingAverage(layer, decay=1.0)
