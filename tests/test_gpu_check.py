"""benchmarks/gpu_check.sh: refuses clearly without a GPU, and its stages run (rehearsed on
the CPU with tiny sizes), so the minutes of a lent GPU go to measuring."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigrad import backend as mg_backend
from gan_fixtures import REAL_MNIST

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


@pytest.fixture(autouse=True)
def once(backend):
    """The script starts its own processes: running it once per test backend would only repeat it."""
    if backend != "numpy":
        pytest.skip("runs once, under the numpy test backend")


def run(*argv, data_dir=None):
    env = dict(os.environ, PYTHON=sys.executable)
    if data_dir is not None:
        env["DATA_DIR"] = str(data_dir)
    return subprocess.run(["bash", str(SCRIPT), *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


@pytest.mark.skipif(mg_backend.cupy_available(), reason="a GPU is here: the check would run")
def test_without_a_gpu_it_stops_at_once_saying_why(tmp_path):
    result = run(tmp_path / "results.md")
    assert result.returncode == 2
    assert "no GPU to check" in result.stderr and "--rehearsal" in result.stderr
    assert not (tmp_path / "results.md").exists()  # no file that could pass for results


@pytest.mark.real_data  # the rehearsal trains on the real MNIST files
def test_the_rehearsal_runs_every_stage(tmp_path):
    result = run("--rehearsal", tmp_path / "results.md", data_dir=REAL_MNIST)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "results.md").read_text()
    assert "Rehearsal on the CPU" in text
    models = ["gan", "dcgan", "dcgan-keras", "sgan", "sgan_improved", "wgan_gp", "cgan"]
    stages = ["Tests on the numpy backend", *(f"Training: {m}" for m in models), "Training: dcgan eager",
              "Training: dcgan empty kernel cache", "Training step against PyTorch", "Training step without the fused kernels",
              "The whole default DCGAN run"]
    places = [text.find(f"## {stage}") for stage in stages]
    assert -1 not in places and places == sorted(places)  # the side-by-side runs' sections in order
    assert text.count("exit status 0") == len(stages)
    assert "examples/sgan.py --model improved" in text and "examples/dcgan.py --arch keras" in text
    assert text.count("| gan | 8 |") == 2 and "ours captured ms/step" in text  # the benchmark's table, both ways
    assert "MINIGRAD_FUSED_KERNELS=0" in text
    assert "--capture on" in text and "--capture off" in text
    assert text.count("\nwall time: ") == 9 + 1  # each training run's, and the whole run's
    assert "`env CUPY_CACHE_DIR=" in text  # the first run's compilations, timed apart
    assert "apart (benchmarks/loop_overhead.py --split):\n\n```\ndcgan-full: 2 iterations in " in text  # its pace


def test_a_captured_step_that_ran_eagerly_is_marked_in_the_table(monkeypatch, capsys):
    """Where capture fails, minigrad runs the step eagerly (minigrad/capture.py): the
    captured column then times an eager step, and the table says so, with why."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gan_step
    memory = {"peak_kb": 2048, "baseline_kb": 1024}
    results = {"ours": ([10.0, 12.0], memory),
               "ours-captured": ([9.0, 11.0], dict(memory, not_captured="CUDARuntimeError: an example"))}
    monkeypatch.setattr(gan_step, "measure", lambda model, batch_size, args: results)
    gan_step.print_table(gan_step.parse_args(["--models", "gan", "--batch-sizes", "8", "--capture"]))
    out = capsys.readouterr().out
    assert "| 11.00 (10.0–12.0) | 10.00 (9.0–11.0) † |" in out
    assert "† gan: not captured, so that column is an eager step: CUDARuntimeError: an example" in out
    results["ours-captured"][1]["not_captured"] = None
    gan_step.print_table(gan_step.parse_args(["--models", "gan", "--batch-sizes", "8", "--capture"]))
    assert "†" not in capsys.readouterr().out


def test_a_column_whose_worker_died_costs_its_cells_not_the_table(monkeypatch, capsys):
    """A lease is one run of the script: if one worker dies (PyTorch cannot capture a step,
    say), the other columns and models are still measured, and the command still fails."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gan_step

    class Worker:  # dies in its set-up (torch on gan) or in its first run (ours captured on dcgan)
        def __init__(self, name, model, batch_size, args):
            self.name, self.model, self.times = name, model, []

        def ready(self):
            if (self.name, self.model) == ("torch", "gan"):
                raise RuntimeError("benchmark worker died (see its error above)")

        def run(self, count):
            if (self.name, self.model) == ("ours-captured", "dcgan"):
                raise BrokenPipeError(32, "Broken pipe")
            self.times += [10.0 if self.name == "torch" else 5.0] * count

        def finish(self):
            return {"peak_kb": 2048, "baseline_kb": 1024, "flop": 1e9, "gemm_peak": 1e11}

    monkeypatch.setattr(gan_step, "Worker", Worker)
    monkeypatch.setattr(gan_step, "describe_machine", lambda args: "a machine")
    args = gan_step.parse_args(["--models", "gan,dcgan", "--batch-sizes", "8", "--compare-torch",
                                "--capture", "--steps", "4", "--rounds", "2"])
    assert gan_step.print_table(args) == 1
    out, err = capsys.readouterr()
    assert "| gan | 8 | 5.00 (5.0–5.0) | 5.00 (5.0–5.0) | failed ‡ | — | — | 2 (1) | — | — | — | — | — |" in out
    assert "| dcgan | 8 | 5.00 (5.0–5.0) | failed ‡ | 10.00 (10.0–10.0) | 0.50 | — | 2 (1) | 2 (1) | 1.0 |" in out
    assert "‡ gan: PyTorch did not run" in out and "‡ dcgan: ours captured did not run" in out
    assert "gan, PyTorch: benchmark worker died" in err and "dcgan, ours captured: [Errno 32]" in err
