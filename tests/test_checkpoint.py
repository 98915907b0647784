"""Checkpoints: resuming continues exactly, writing is atomic, a checkpoint that does not fit
is refused with a message saying what differs, and loading never unpickles."""
import json
import threading
import time

import numpy as np
import pytest

from gan import models
from gan.models import blocks
from gan.training import checkpoint, outputs
from gan_fixtures import mnist_dir, read_metrics, run_example  # noqa: F401  (mnist_dir: a fixture)

TINY = ("--limit", 128, "--batch-size", 8, "--log-every", 1, "--sample-every", 1000)
# The DCGAN at constant rates: its default decay is a function of the run's length, so a
# run of 3 decays otherwise than one of 6 (a decaying run stopped and resumed at its own
# length: tests/test_improved_gan.py).
EXTRA = {"gan": (), "dcgan": ("--lr-decay-start", 1), "sgan": ("--num-labeled", 20, "--eval-every", 3)}


@pytest.mark.parametrize("kind", ["gan", "dcgan", "sgan"])
def test_resume_continues_exactly_as_one_straight_run(kind, backend, mnist_dir, tmp_path):
    """3 iterations, stop, resume for 3 more == 6 straight: every weight, BatchNorm statistic,
    Adam moment, the RNG and the batch order, bit for bit."""
    common = (*TINY, *EXTRA[kind], "--backend", backend, "--data-dir", mnist_dir)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_example(kind, "--iterations", 6, "--out", straight, *common) == 0
    assert run_example(kind, "--iterations", 3, "--out", resumed, *common) == 0
    assert run_example(kind, "--iterations", 6, "--out", resumed, "--resume", *common) == 0

    arrays_a, meta_a = checkpoint.read_training(straight / "latest.npz")
    arrays_b, meta_b = checkpoint.read_training(resumed / "latest.npz")
    assert sorted(arrays_a) == sorted(arrays_b)
    if kind != "gan":  # their generators have BatchNorm: its running statistics are saved
        assert any(name.startswith("G/") and name.endswith("running_var") for name in arrays_a)
    if kind == "dcgan":  # and the moving average of G's weights, with its statistics
        assert any(name.startswith("G_average/") and name.endswith("running_var") for name in arrays_a)
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert meta_a["iteration"] == meta_b["iteration"] == 6
    assert meta_a["optimizers"] == meta_b["optimizers"]
    assert meta_a["state"]["rng"] == meta_b["state"]["rng"]
    assert meta_a["state"]["batches"] == meta_b["state"]["batches"]

    def losses(out):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(out)]
    assert losses(straight) == losses(resumed)  # the metrics log continues seamlessly too


def test_resume_from_an_older_checkpoint_drops_the_metrics_logged_after_it(mnist_dir, tmp_path):
    common = (*TINY, "--data-dir", mnist_dir)
    run, straight = tmp_path / "run", tmp_path / "straight"
    assert run_example("gan", "--iterations", 2, "--out", run, *common) == 0
    (tmp_path / "at2.npz").write_bytes((run / "latest.npz").read_bytes())
    assert run_example("gan", "--iterations", 3, "--out", run, "--resume", *common) == 0
    assert [row["iteration"] for row in read_metrics(run)] == [1, 2, 3]

    assert run_example("gan", "--iterations", 5, "--out", run, "--resume", tmp_path / "at2.npz", *common) == 0
    assert [row["iteration"] for row in read_metrics(run)] == [1, 2, 3, 4, 5]
    assert run_example("gan", "--iterations", 5, "--out", straight, *common) == 0
    a, _ = checkpoint.read_training(run / "latest.npz")
    b, _ = checkpoint.read_training(straight / "latest.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# ----------------------------------------------------------------------------- refusing
def test_a_checkpoint_of_another_model_is_refused(mnist_dir, tmp_path, capsys):
    common = ("--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir)
    assert run_example("dcgan", *common) == 0
    assert run_example("gan", *common, "--resume") == 1
    assert "holds a 'dcgan' model; this run trains 'gan'" in capsys.readouterr().err


def test_a_checkpoint_made_with_other_settings_is_refused_naming_them(mnist_dir, tmp_path, capsys):
    assert run_example("gan", "--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir) == 0
    capsys.readouterr()
    assert run_example("gan", "--dry-run", "--batch-size", 16, "--beta1", 0.9, "--out", tmp_path,
                       "--data-dir", mnist_dir, "--resume") == 1
    err = capsys.readouterr().err
    assert "batch_size: checkpoint 8, this run 16" in err
    assert "beta1: checkpoint 0.5, this run 0.9" in err


def test_a_checkpoint_made_before_a_flag_existed_resumes_and_samples_with_its_default(mnist_dir, tmp_path):
    """A flag added later (here the DCGAN's --width, --real-label and --lr-decay-start) must
    not strand the runs made before it: a checkpoint without the key counts as having the
    flag's default (or, where the default has changed since, the one it trained with)."""
    common = ("--arch", "infogan", "--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir)
    assert run_example("dcgan", *common) == 0
    path = tmp_path / "latest.npz"
    arrays, meta = checkpoint.load_npz(path)
    for key in ("width", "real_label", "lr_decay_start"):
        del meta["config"][key]
    checkpoint.save_npz(path, arrays, meta)
    assert run_example("dcgan", *common, "--iterations", 3, "--resume") == 0
    assert run_example("dcgan", *common, "--iterations", 4, "--resume", "--width", 2) == 1
    from gan.evaluation import sample
    generator, _ = sample.load_generator(path)
    assert generator.net[0].weight.shape == (1024, 100)   # width 1: Dense(100, 1024)


def test_a_coded_dcgan_from_before_the_decay_flag_resumes_at_its_constant_rates_only(mnist_dir, tmp_path, capsys):
    """Such a run trained at constant rates: resuming it under today's default (decaying)
    would change it, so that is refused naming the flag, and --lr-decay-start 1 resumes it."""
    common = ("--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir)
    assert run_example("dcgan", *common) == 0
    path = tmp_path / "latest.npz"
    arrays, meta = checkpoint.load_npz(path)
    del meta["config"]["lr_decay_start"]
    checkpoint.save_npz(path, arrays, meta)
    capsys.readouterr()
    assert run_example("dcgan", *common, "--iterations", 3, "--resume") == 1
    assert "lr_decay_start: checkpoint 1.0, this run 0.5" in capsys.readouterr().err
    assert run_example("dcgan", *common, "--iterations", 3, "--resume", "--lr-decay-start", 1) == 0


def test_a_wgan_gp_run_from_before_the_code_and_decay_flags_resumes_as_it_trained(mnist_dir, tmp_path, capsys):
    """Such a run had no code and constant rates: today's defaults (both on) would change it,
    so resuming under them is refused naming the flags, and it samples without a code."""
    common = ("--n-critic", 1, "--dry-run", "--batch-size", 8, "--out", tmp_path, "--data-dir", mnist_dir)
    assert run_example("wgan_gp", *common, "--no-code", "--lr-decay-start", 1) == 0
    path = tmp_path / "latest.npz"
    arrays, meta = checkpoint.load_npz(path)
    for key in ("code", "lr_decay_start"):
        del meta["config"][key]
    checkpoint.save_npz(path, arrays, meta)
    capsys.readouterr()
    assert run_example("wgan_gp", *common, "--iterations", 3, "--resume") == 1
    err = capsys.readouterr().err
    assert "code: checkpoint False, this run True" in err and "lr_decay_start: checkpoint 1.0, this run 0.5" in err
    assert run_example("wgan_gp", *common, "--iterations", 3, "--resume", "--no-code", "--lr-decay-start", 1) == 0
    from gan.evaluation import sample
    generator, _ = sample.load_generator(path)
    assert type(generator) is blocks.InfoGANGenerator


def test_a_resumed_run_may_lower_its_learning_rate(mnist_dir, tmp_path):
    """The way on after a divergence: the last good checkpoint, with a smaller --lr."""
    common = ("--batch-size", 8, "--limit", 64, "--out", tmp_path, "--data-dir", mnist_dir)
    assert run_example("gan", "--iterations", 2, *common) == 0
    assert run_example("gan", "--iterations", 3, "--lr", 1e-5, "--resume", *common) == 0
    arrays, meta = checkpoint.read_training(tmp_path / "latest.npz")
    assert meta["iteration"] == 3 and meta["optimizers"]["D"]["lr"] == 1e-5


def test_weights_of_other_shapes_are_refused_naming_the_layer(tmp_path):
    G, D = models.build_networks("gan")
    path = tmp_path / "ckpt.npz"
    checkpoint.save_training(path, kind="gan", config={}, iteration=1, modules={"G": G, "D": D}, optimizers={})
    arrays, meta = checkpoint.load_npz(path)
    arrays["G/net.0.weight"] = np.zeros((7, 100), np.float32)
    checkpoint.save_npz(path, arrays, meta)
    with pytest.raises(checkpoint.CheckpointError, match=r"G weights do not fit.*net\.0\.weight.*\(256, 100\).*\(7, 100\)"):
        checkpoint.load_training(path, kind="gan", config={}, modules={"G": G, "D": D}, optimizers={})


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array(json.dumps({"format": checkpoint.FORMAT})),
             payload=np.array([object()], dtype=object))
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        checkpoint.load_npz(path)


def test_a_file_that_is_not_a_training_checkpoint_is_refused(tmp_path):
    checkpoint.save_npz(tmp_path / "other.npz", {"x": np.zeros(3)}, {"format": "something else"})
    with pytest.raises(checkpoint.CheckpointError, match="not a minigrad training checkpoint"):
        checkpoint.read_training(tmp_path / "other.npz")


# ----------------------------------------------------------------------------- written on
def test_a_checkpoint_written_while_training_goes_on_holds_its_own_iteration(backend, mnist_dir, tmp_path,
                                                                           monkeypatch):
    """The writer's thread writes a checkpoint while the loop trains on: what it writes is
    the run at the checkpoint's iteration (copies taken then), not at the one it has reached."""
    common = (*TINY, "--backend", backend, "--data-dir", mnist_dir)
    assert run_example("gan", "--iterations", 2, "--out", tmp_path / "two", *common) == 0
    written, real_save_training = {}, checkpoint.save_training

    def slow_save_training(path, **fields):  # iterations 3 and 4 run meanwhile
        time.sleep(0.5)
        real_save_training(path, **fields)
        written[fields["iteration"]] = checkpoint.read_training(path)[0]
    monkeypatch.setattr(checkpoint, "save_training", slow_save_training)
    assert run_example("gan", "--iterations", 4, "--checkpoint-every", 2, "--out", tmp_path / "four",
                       *common) == 0
    assert sorted(written) == [2, 4]
    at_two = checkpoint.read_training(tmp_path / "two" / "latest.npz")[0]
    for name in at_two:
        np.testing.assert_array_equal(written[2][name], at_two[name], err_msg=name)
    assert any(not np.array_equal(written[4][name], at_two[name]) for name in at_two)  # it trained on


def test_a_checkpoint_that_fails_to_be_written_stops_the_run_saying_why(mnist_dir, tmp_path, monkeypatch, capsys):
    """A write on the writer's thread that fails (a full disk) is the run's error, and the
    checkpoint before it is left as it was."""
    out, real_save_npz = tmp_path / "run", checkpoint.save_npz

    def fails_after_iteration_2(path, arrays, meta):
        if meta.get("iteration", 0) > 2 and path.name == "latest.npz":
            raise OSError("[Errno 28] No space left on device")
        real_save_npz(path, arrays, meta)
    monkeypatch.setattr(checkpoint, "save_npz", fails_after_iteration_2)
    assert run_example("gan", "--iterations", 6, "--checkpoint-every", 2, "--out", out, *TINY,
                       "--data-dir", mnist_dir) == 1
    assert "error: [Errno 28] No space left on device; the last checkpoint in --out is left as it was" \
        in capsys.readouterr().err
    assert checkpoint.read_training(out / "latest.npz")[1]["iteration"] == 2


def test_the_writer_keeps_the_order_and_holds_at_most_two_jobs():
    """An iteration's pictures and checkpoint are written side by side with training; a third
    job (copies of another checkpoint) waits for the first, and all run in the order given."""
    writer, done, release = outputs.Writer(), [], threading.Event()

    def job(k):
        def write():
            if k == 0:
                release.wait(10)
            done.append(k)
        return write
    writer.submit(job(0))
    writer.submit(job(1))  # does not wait: two outstanding
    assert done == []
    threading.Timer(0.3, release.set).start()
    began = time.perf_counter()
    writer.submit(job(2))  # waits for the first
    assert time.perf_counter() - began > 0.2 and done[0] == 0
    writer.wait()
    assert done == [0, 1, 2]


def test_the_writer_raises_a_failed_jobs_error_at_the_next_submit_or_wait():
    writer = outputs.Writer()

    def fail():
        raise OSError("disk full")
    writer.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        writer.wait()
    writer.submit(fail)
    writer.threads[0].join()
    with pytest.raises(OSError, match="disk full"):
        writer.submit(lambda: None)  # the run stops at its next write, not at its end
    writer.submit(fail)
    writer.wait(quietly=True)  # another error is on its way: this one is dropped
    writer.wait()


# ----------------------------------------------------------------------------- atomic writes
def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.npz"
    checkpoint.save_npz(path, {"w": np.arange(5.0)}, {"iteration": 1})
    real_savez = np.savez

    def savez_then_crash(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)   # a complete-looking file is half way to disk...
        file.truncate(100)                  # ...then it is cut short and the process dies
        raise OSError("disk full")
    with monkeypatch.context() as patch, pytest.raises(OSError, match="disk full"):
        patch.setattr(checkpoint.numpy, "savez", savez_then_crash)
        checkpoint.save_npz(path, {"w": np.arange(9.0)}, {"iteration": 2})

    arrays, meta = checkpoint.load_npz(path)
    np.testing.assert_array_equal(arrays["w"], np.arange(5.0))
    assert meta == {"iteration": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["latest.npz"]  # no temporary file left


def test_the_file_is_replaced_only_once_complete(tmp_path, monkeypatch):
    """os.replace is the only step that touches the target; until it runs the old file stays."""
    path = tmp_path / "latest.npz"
    checkpoint.save_npz(path, {"w": np.zeros(2)}, {"iteration": 1})
    seen = {}
    real_replace = checkpoint.os.replace

    def replace(source, target):
        seen["old_still_there"] = checkpoint.load_npz(target)[1] == {"iteration": 1}
        seen["new_complete"] = checkpoint.load_npz(source)[1] == {"iteration": 2}
        real_replace(source, target)
    monkeypatch.setattr(checkpoint.os, "replace", replace)
    checkpoint.save_npz(path, {"w": np.ones(2)}, {"iteration": 2})
    assert seen == {"old_still_there": True, "new_complete": True}
    assert checkpoint.load_npz(path)[1] == {"iteration": 2}


def test_optimizer_state_round_trips_through_json_and_arrays():
    state = {"lr": 0.001, "betas": [0.5, 0.999], "state.0.step": 3,
             "state.0.exp_avg": np.arange(4.0), "moments": {0: np.ones(2), 1: {"a": [np.zeros(1), 2]}}}
    arrays = {}
    tree = checkpoint.flatten_state("opt", state, arrays)
    back = checkpoint.unflatten_state(json.loads(json.dumps(tree)), arrays)
    assert back["lr"] == 0.001 and back["betas"] == [0.5, 0.999] and back["state.0.step"] == 3
    np.testing.assert_array_equal(back["state.0.exp_avg"], np.arange(4.0))
    assert set(back["moments"]) == {0, 1}  # integer keys come back as integers
    np.testing.assert_array_equal(back["moments"][1]["a"][0], np.zeros(1))
    assert back["moments"][1]["a"][1] == 2
