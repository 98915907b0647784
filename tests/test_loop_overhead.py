"""benchmarks/loop_overhead.py: what a run costs besides its steps, from a run with its steps
left out, or split from a finished run's log."""
import json

import pytest

from gan.training import loop, outputs, stepping
from gan_fixtures import ROOT, mnist_dir, read_metrics  # noqa: F401  (mnist_dir: a fixture)


@pytest.fixture(autouse=True)
def once(backend):
    """It measures the training loop, whatever the test backend: once is enough."""
    if backend != "numpy":
        pytest.skip("runs once, under the numpy test backend")


@pytest.fixture
def loop_overhead(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import loop_overhead
    for module, name in ((loop, "save_checkpoint"), (loop, "write_pictures"),
                         (stepping, "EagerStep"), (stepping, "CapturedSteps"), (outputs.Writer, "submit")):
        monkeypatch.setattr(module, name, getattr(module, name))  # put back after the test
    return loop_overhead


def test_a_run_with_its_steps_left_out_times_its_pictures_and_checkpoints(loop_overhead, mnist_dir,
                                                                          tmp_path, monkeypatch, capsys):
    steps = []

    class CountedStep(loop_overhead.EagerStep):
        def __call__(self):
            steps.append(1)
            return super().__call__()

    monkeypatch.setattr(loop_overhead, "EagerStep", CountedStep)
    status = loop_overhead.main(["gan", "--iterations", "6", "--log-every", "2", "--sample-every", "3",
                                 "--checkpoint-every", "3", "--data-dir", str(mnist_dir), "--limit", "300",
                                 "--out", str(tmp_path / "run")])
    assert status == 0 and len(steps) == 1  # the networks trained once; the loop went on to 6
    assert [row["iteration"] for row in read_metrics(tmp_path / "run")] == [2, 4, 6]
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("gan --iterations 6 ")
    assert "pictures 3 × " in line and "checkpoints 2 × " in line  # at 3 and 6, and the final grid
    assert "the rest (start-up, one step, batches, logging)" in line


def test_a_finished_run_is_split_into_its_steps_and_its_writes(loop_overhead, tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"flags": {"sample_every": 100, "checkpoint_every": 200}}))
    rows, seconds = [], 50 * 0.002 + 0.7  # the first row's interval: 0.7 s of start
    for iteration in range(50, 501, 50):
        rows.append({"iteration": iteration, "seconds": seconds, "d_loss": 0.5})
        seconds += 50 * 0.002 + (1.5 if iteration % 100 == 0 else 0)  # a write after rows 100, 200, ...
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    loop_overhead.main(["--split", str(tmp_path)])
    assert capsys.readouterr().out.strip() == (
        f"{tmp_path.name}: 500 iterations in {rows[-1]['seconds']:.1f} s: 2.00 ms an iteration between "
        "writes (median of 5 log intervals), 1.50 s more at each of 4 writings of pictures and checkpoint; "
        "the first 50 iterations took 0.70 s more (the start: first compilations, warm-up, capture)")


@pytest.mark.parametrize("files", [{}, {"config.json": "{}"}, {"config.json": "not json"},
                                   {"config.json": '{"flags": {"sample_every": 10, "checkpoint_every": 10}}',
                                    "metrics.jsonl": ""}])
def test_a_folder_that_is_not_a_run_is_refused_in_one_line(loop_overhead, tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit) as stopped:
        loop_overhead.main(["--split", str(tmp_path)])
    message = str(stopped.value.code)
    assert message.startswith(f"loop_overhead: cannot split {tmp_path}: it needs a run's config.json")
    assert "\n" not in message
