"""The run folder tells its story: config.json, rows and pictures even when a run is stopped
early, one writer at a time, the weights-only generator.npz, and the commands that read a
run folder (gan.sample, gan.evaluate, gan.export) or train without a checkout (gan.train)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import types
from urllib.error import URLError

import numpy as np
import pytest

import minigrad
from gan import data, models
from gan.evaluation import evaluate, export, judge, sample
from gan.models import gan as vanilla
from gan.training import checkpoint, run_folder
from gan import train as gan_train
from gan_fixtures import ROOT, mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)

TINY = ("--limit", 64, "--batch-size", 8)
COMMANDS = [("gan", ()), ("dcgan", ()), ("sgan", ()), ("sgan", ("--model", "improved")),
            ("wgan_gp", ()), ("cgan", ())]


# ----------------------------------------------------------------------------- config.json
@pytest.mark.parametrize("model, extra", COMMANDS, ids=[" ".join((m, *e)) for m, e in COMMANDS])
def test_a_dry_run_writes_config_json_with_every_setting_resolved(model, extra, mnist_dir, tmp_path):
    assert run_example(model, *extra, "--dry-run", "--out", tmp_path, "--data-dir", mnist_dir) == 0
    record = json.loads((tmp_path / "config.json").read_text())
    recipe = models.get_recipe(record["model"])
    assert record["model"] == ("sgan_improved" if extra else model)
    assert record["minigrad_version"] == minigrad.__version__ and "git_commit" in record
    flags = record["flags"]
    assert flags["iterations"] == 2 and flags["out"] == str(tmp_path)
    assert flags["log_every"] == 1  # the dry run's
    for key in ("lr", "batch_size", "beta1", "seed"):  # the recipe's, resolved
        assert flags[key] == recipe.defaults.get(key, flags[key]) and flags[key] is not None
    options = recipe.options() if recipe.options else None
    for name in (dataclasses.asdict(options) if options else {}):
        assert name in flags  # the model's own flags too


def test_git_commit_is_the_checkouts_or_none():
    commit = run_folder.git_commit()
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        assert commit.removesuffix("+dirty") == head
    else:
        assert commit is None


def test_a_run_that_cannot_load_its_data_leaves_no_folder(tmp_path, monkeypatch, capsys):
    def offline(url, timeout=None):
        raise URLError("no network")
    monkeypatch.setattr(data, "urlopen", offline)
    out, nothing = tmp_path / "run", tmp_path / "nothing"
    assert run_example("gan", "--dry-run", "--out", out, "--data-dir", nothing) == 1
    assert "could not download" in capsys.readouterr().err
    assert not out.exists() and not nothing.exists()


# ----------------------------------------------------------------------------- a stopped run
def test_a_run_stopped_early_still_leaves_a_metrics_row_and_pictures(mnist_dir, tmp_path, monkeypatch):
    """Stopped long before its first --log-every row or grid, a run still writes what it has."""
    real_step, calls = vanilla.gan_step, []

    def step_then_ctrl_c(nets, batches, options):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return real_step(nets, batches)
    monkeypatch.setitem(models.COMMANDS, "gan", dataclasses.replace(vanilla.RECIPE, step=step_then_ctrl_c))
    assert run_example("gan", *TINY, "--iterations", 1000, "--out", tmp_path, "--data-dir", mnist_dir) == 130
    rows = read_metrics(tmp_path)
    assert [row["iteration"] for row in rows] == [3]
    assert {"d_loss", "g_loss"} <= set(rows[0])
    assert (tmp_path / "samples_000003.png").stat().st_size > 0
    assert (tmp_path / "losses.png").stat().st_size > 0


# ----------------------------------------------------------------------------- one writer
HOLD_THE_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from gan.training import run_folder
    with run_folder.one_writer(Path(sys.argv[1])):
        print("holding", flush=True)
        time.sleep(60)
""")


def hold_the_lock(folder):
    """A second process holding `folder`'s lock; returns it once it holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(folder)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "holding"
    return holder


@pytest.mark.parametrize("how", ["--resume", "--overwrite", None])
def test_a_second_writer_of_a_folder_is_refused_naming_the_first(how, mnist_dir, tmp_path, capsys):
    args = (*TINY, "--iterations", 1, "--out", tmp_path, "--data-dir", mnist_dir)
    if how == "--resume":
        assert run_example("gan", *args) == 0
    holder = hold_the_lock(tmp_path)
    try:
        capsys.readouterr()
        assert run_example("gan", *args, *([how] if how else [])) == 1
        err = capsys.readouterr().err
        assert f"is being written by process {holder.pid}" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(mnist_dir, tmp_path, capsys):
    holder = hold_the_lock(tmp_path)
    holder.kill()  # dies holding it: the OS lets go, its owner file stays
    holder.wait()
    assert (tmp_path / run_folder.OWNER).exists()
    assert run_example("gan", *TINY, "--iterations", 1, "--out", tmp_path, "--data-dir", mnist_dir) == 0
    out = capsys.readouterr().out
    assert f"last written by process {holder.pid}" in out and "takes it over" in out
    assert not (tmp_path / run_folder.OWNER).exists()  # let go at the end


# ----------------------------------------------------------------------------- reading a run
@pytest.fixture
def dcgan_run(mnist_dir, tmp_path):
    out = tmp_path / "run"
    assert run_example("dcgan", "--dry-run", "--batch-size", 8, "--out", out, "--data-dir", mnist_dir) == 0
    return out


def test_the_weights_only_file_is_a_fraction_of_the_checkpoint_and_draws_the_same(dcgan_run, tmp_path):
    weights, latest = dcgan_run / run_folder.GENERATOR, dcgan_run / run_folder.LATEST
    assert weights.stat().st_size < latest.stat().st_size / 4  # no D, no moments, one G
    drawn = {}
    for name, source in {"folder": dcgan_run, "checkpoint": latest, "weights": weights}.items():
        out = tmp_path / f"{name}.npz"
        assert sample.main(["--checkpoint", str(source), "--n", "12", "--out", str(out)]) == 0
        drawn[name] = np.load(out)["images"]
    np.testing.assert_array_equal(drawn["folder"], drawn["checkpoint"])
    np.testing.assert_array_equal(drawn["weights"], drawn["checkpoint"])  # the moving average's


def test_raw_samples_need_the_checkpoint_not_the_averaged_weights(dcgan_run, tmp_path, capsys):
    out = str(tmp_path / "s.npz")
    assert sample.main(["--checkpoint", str(dcgan_run / run_folder.GENERATOR), "--raw", "--out", out]) == 1
    assert "latest.npz" in capsys.readouterr().err
    assert sample.main(["--checkpoint", str(dcgan_run), "--raw", "--n", "4", "--out", out]) == 0


def test_export_writes_the_weights_only_file_of_an_older_checkpoint(dcgan_run, tmp_path):
    (dcgan_run / run_folder.GENERATOR).unlink()  # as a run from before the file existed
    assert export.main([str(dcgan_run)]) == 0
    arrays, meta = checkpoint.read_generator_source(dcgan_run / run_folder.GENERATOR)
    stored, _ = checkpoint.read_training(dcgan_run / run_folder.LATEST)
    assert meta["averaged"] and meta["kind"] == "dcgan"
    for key, value in checkpoint.module_state(stored, "G_average").items():
        np.testing.assert_array_equal(arrays[f"G/{key}"], value)
    assert export.main([str(dcgan_run), "--raw", "--out", str(tmp_path / "raw.npz")]) == 0
    raw, meta = checkpoint.read_generator_source(tmp_path / "raw.npz")
    assert not meta["averaged"]
    np.testing.assert_array_equal(raw["G/body.net.0.weight"], stored["G/body.net.0.weight"])


def test_export_refuses_what_it_cannot_export_with_one_line(dcgan_run, tmp_path, capsys):
    cases = [([str(tmp_path / "none.npz")], "no checkpoint at"),
             ([str(dcgan_run), "--out", str(tmp_path)], "is a folder"),
             ([str(dcgan_run / run_folder.GENERATOR), "--out", str(tmp_path / "g.npz")], "weights-only file already")]
    for argv, words in cases:
        assert export.main(argv) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, argv


def test_a_folder_without_a_checkpoint_is_refused_by_name(tmp_path, capsys):
    assert sample.main(["--checkpoint", str(tmp_path), "--out", str(tmp_path / "s.npz")]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_evaluate_draws_from_a_run_folder(dcgan_run, mnist_dir, tmp_path, capsys):
    judge_path = tmp_path / "judge.npz"
    assert judge.main(["--data-dir", str(mnist_dir), "--out", str(judge_path), "--limit", "64",
                       "--epochs", "1", "--batch-size", "16", "--min-accuracy", "0"]) == 0
    capsys.readouterr()
    scores = tmp_path / "scores.json"
    assert evaluate.main([str(dcgan_run), "--n", "40", "--judge", str(judge_path), "--data-dir",
                          str(mnist_dir), "--limit", "100", "--json", str(scores)]) == 0
    assert json.loads(scores.read_text())["samples"]["num_samples"] == 40


# ----------------------------------------------------------------------------- gan.train
def test_gan_train_trains_what_the_example_trains(mnist_dir, tmp_path):
    args = ["--dry-run", "--batch-size", "8", "--data-dir", str(mnist_dir)]
    assert gan_train.main(["gan", *args, "--out", str(tmp_path / "a")]) == 0
    assert run_example("gan", *args, "--out", tmp_path / "b") == 0
    a, _ = checkpoint.read_training(tmp_path / "a" / "latest.npz")
    b, _ = checkpoint.read_training(tmp_path / "b" / "latest.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_gan_train_lists_the_models_and_refuses_an_unknown_one(capsys):
    assert gan_train.main([]) == 2
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("gan", "dcgan", "sgan", "wgan_gp", "cgan"))
    assert "sgan_improved" not in listed  # reached through sgan --model improved
    assert gan_train.main(["bigan"]) == 2
    assert "unknown model 'bigan'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- --tensorboard
def test_tensorboard_without_its_extra_names_the_extra(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    assert run_example("gan", *TINY, "--iterations", 1, "--tensorboard", "--out", tmp_path,
                       "--data-dir", mnist_dir) == 1
    assert '.[tensorboard]' in capsys.readouterr().err


def test_tensorboard_gets_every_logged_number_and_the_grids(mnist_dir, tmp_path, monkeypatch):
    written = []

    class SummaryWriter:  # tensorboardX's interface, recording what it is given
        def __init__(self, logdir):
            written.append(("logdir", logdir))

        def add_scalar(self, tag, value, step):
            written.append(("scalar", tag, step))

        def add_image(self, tag, image, step, dataformats):
            written.append(("image", tag, step, image.shape, dataformats))

        def flush(self):
            pass

        def close(self):
            written.append(("closed",))
    monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    assert run_example("gan", *TINY, "--iterations", 2, "--log-every", 1, "--sample-every", 2,
                       "--tensorboard", "--out", tmp_path, "--data-dir", mnist_dir) == 0
    assert written[0] == ("logdir", str(tmp_path / "tensorboard")) and written[-1] == ("closed",)
    scalars = {(tag, step) for kind, tag, step, *_ in written[1:-1] if kind == "scalar"}
    for row in read_metrics(tmp_path):
        assert {(key, row["iteration"]) for key in row if key != "iteration"} <= scalars
    images = [entry for entry in written if entry[0] == "image"]
    assert images and images[0][1:3] == ("samples", 2) and images[0][4] == "CHW" and images[0][3][0] == 1
