"""Does a change of the code's layout leave training bit for bit as it was?

    python benchmarks/layout_check.py --baseline db8c4e7 --data-dir ~/data/mnist

Trains every model (and every DCGAN --arch, both conditional discriminators, the SGAN's
supervised baseline) for a few iterations on a few images, once with this checkout and once
with the `--baseline` commit (checked out into a temporary git worktree), and compares the two
checkpoints: every array (weights, BatchNorm statistics, Adam's moments, moving averages, the
fixed noise) bit for bit, and the optimizers', random generators' and batch samplers' state.
Exits 1 naming the first difference of each model that differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

RUNS = {  # name -> (example, its flags)
    "gan": ("gan", ()),
    "dcgan": ("dcgan", ()),
    "dcgan-infogan": ("dcgan", ("--arch", "infogan")),
    "dcgan-infogan-sn": ("dcgan", ("--arch", "infogan-sn")),
    "dcgan-keras": ("dcgan", ("--arch", "keras")),
    "sgan": ("sgan", ("--num-labeled", "20")),
    "sgan-supervised-only": ("sgan", ("--num-labeled", "20", "--supervised-only")),
    "sgan-improved": ("sgan", ("--model", "improved", "--num-labeled", "20", "--d-ema", "0.9")),
    "wgan_gp": ("wgan_gp", ("--n-critic", "2")),
    "cgan": ("cgan", ()),
    "cgan-acgan": ("cgan", ("--discriminator", "acgan")),
}
COMMON = ("--iterations", "3", "--limit", "64", "--batch-size", "8", "--log-every", "1",
          "--sample-every", "1000", "--checkpoint-every", "1000")


def train(tree, example, flags, out, data_dir):
    """Run examples/<example>.py of checkout `tree` into `out`; its checkpoint's path."""
    command = [sys.executable, str(tree / "examples" / f"{example}.py"), *COMMON, *flags,
               "--out", str(out), "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {tree}:\n{done.stderr[-2000:]}")
    return out / "latest.npz"


def differences(path_a, path_b):
    """What differs between two checkpoints: array names, values, optimizer/RNG/batch state.
    (Read as the plain .npz + JSON they are, so that this works whatever the layout.)"""
    arrays_a, meta_a = read(path_a)
    arrays_b, meta_b = read(path_b)
    found = []
    if sorted(arrays_a) != sorted(arrays_b):
        found.append(f"arrays {sorted(set(arrays_a) ^ set(arrays_b))} in one only")
    for name in sorted(set(arrays_a) & set(arrays_b)):
        if arrays_a[name].dtype != arrays_b[name].dtype or not np.array_equal(arrays_a[name], arrays_b[name]):
            found.append(f"{name} differs")
    for key in ("kind", "iteration", "optimizers"):
        if meta_a[key] != meta_b[key]:
            found.append(f"meta {key} differs")
    for key in ("rng", "batches"):
        if meta_a["state"].get(key) != meta_b["state"].get(key):
            found.append(f"{key} state differs")
    return found


def read(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return arrays, json.loads(str(arrays.pop("meta")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with (e.g. main before the move)")
    parser.add_argument("--data-dir", default=os.environ.get("MINIGRAD_DATA"),
                        help="folder of the MNIST files (default: $MINIGRAD_DATA)")
    parser.add_argument("--only", nargs="*", choices=tuple(RUNS), help="check these runs only")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("name the MNIST folder with --data-dir or MINIGRAD_DATA")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        baseline = scratch / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(baseline),
                        args.baseline], check=True)
        try:
            failed = 0
            for name in args.only or RUNS:
                example, flags = RUNS[name]
                a = train(baseline, example, flags, scratch / f"{name}-baseline", args.data_dir)
                b = train(ROOT, example, flags, scratch / f"{name}-now", args.data_dir)
                found = differences(a, b)
                failed += bool(found)
                print(f"{name:22} {'identical' if not found else 'DIFFERS: ' + '; '.join(found[:3])}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
