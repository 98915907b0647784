"""benchmarks/gpu_sweep.sh, rehearsed on the CPU: every run is trained, sampled and scored,
a run that fails is reported as failed, and the table names each with its flags."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan.evaluation import judge
from gan_fixtures import REAL_MNIST

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.real_data  # the runs and the FID read the real MNIST files
def test_a_rehearsed_sweep_scores_each_run_and_reports_a_failed_one(backend, tmp_path):
    if backend != "numpy":
        pytest.skip("the script starts its own processes: once, under the numpy test backend")
    judge_path = tmp_path / "judge.npz"
    assert judge.main(["--data-dir", str(REAL_MNIST), "--out", str(judge_path), "--limit", "64",
                       "--epochs", "1", "--batch-size", "16", "--min-accuracy", "0"]) == 0
    env = dict(os.environ, PYTHON=sys.executable, BACKEND="numpy", N="200", LIMIT="120",
               DATA_DIR=str(REAL_MNIST), JUDGE=str(judge_path))
    result = subprocess.run(["bash", "benchmarks/gpu_sweep.sh", str(tmp_path / "sweep"),
                             "good: gan.py --dry-run --seed 1", "bad: gan.py --dry-run --lr -1"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| run")}
    assert set(rows) == {"good", "bad"}
    assert "`gan.py --dry-run --seed 1`" in rows["good"] and "×" in rows["good"]
    assert "failed: exit status 2" in rows["bad"]
    assert (tmp_path / "sweep" / "good.json").exists() and (tmp_path / "sweep" / "summary.md").exists()
