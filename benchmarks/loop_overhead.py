"""What a training run costs besides its steps: start-up, batches, logging, sample grids and
curves, checkpoints. A model's run, with its flags, where every step after the first returns
the first one's numbers; the pictures and checkpoints are written in the loop's thread (a
run writes them on its writer's, gan/training/outputs.py, while it trains on), each timed.

    python benchmarks/loop_overhead.py dcgan                   # the default DCGAN run
    python benchmarks/loop_overhead.py dcgan --backend cupy    # the same on a GPU
    python benchmarks/loop_overhead.py sgan --model improved --iterations 2000
    python benchmarks/loop_overhead.py --split runs/dcgan    # a real run's time, from its log

On a GPU, where a captured step takes milliseconds, this is the host's work that the whole
run has beside its steps, what its writer's thread has to hide: the default DCGAN run's
goal is 60 s in all (issue #40, docs/performance.md).
The networks still train for one step, so the pictures and checkpoints are the real ones.
--split reads a finished run's folder instead: its time per iteration between writes, and
what each writing of pictures and checkpoint added, from the log rows' times.
"""
import time

start = time.perf_counter()  # noqa: E402  (start-up counts: the imports below are part of a run)

import collections  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from gan.models import COMMANDS  # noqa: E402
from gan.training import cli, loop, outputs, stepping  # noqa: E402

spent = collections.defaultdict(list)  # what -> seconds of each call
EagerStep = stepping.EagerStep


def timed(what, function):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[what].append(time.perf_counter() - began)
    return wrapper


class FirstStepOnly:
    """The loop's step (eager, whatever --capture says): the real one once, then its numbers."""

    def __init__(self, run):
        self.step, self.numbers = EagerStep(run), None

    def __call__(self):
        if self.numbers is None:
            self.numbers = self.step()
        return self.numbers


def split(folder):
    """A run's time between its log rows (metrics.jsonl): per iteration where nothing was
    written, and the extra time of each interval that began with pictures or a checkpoint
    (every --sample-every / --checkpoint-every iterations, after that iteration's row)."""
    folder = pathlib.Path(folder)
    try:
        flags = json.loads((folder / "config.json").read_text())["flags"]
        every = {key: int(flags[key]) for key in ("sample_every", "checkpoint_every")}
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        if not rows:
            raise ValueError("metrics.jsonl has no rows yet")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"loop_overhead: cannot split {folder}: it needs a run's config.json and "
                         f"metrics.jsonl ({type(error).__name__}: {error})") from None
    plain, writes = [], []
    for a, b in zip(rows, rows[1:]):
        wrote = any(a["iteration"] % interval == 0 for interval in every.values())
        (writes if wrote else plain).append((b["iteration"] - a["iteration"], b["seconds"] - a["seconds"]))
    last = rows[-1]
    print(f"{folder.name}: {last['iteration']} iterations in {last['seconds']:.1f} s", end="")
    if not plain:
        print(" (no log interval without writes to split it by)")
        return
    per_iteration = statistics.median(seconds / count for count, seconds in plain)
    first = rows[0]  # its interval began with the run: kernels compiled, warm-up, capture
    print(f": {1e3 * per_iteration:.2f} ms an iteration between writes (median of {len(plain)} "
          f"log intervals)" + (f", {statistics.mean(s - per_iteration * n for n, s in writes):.2f} s "
                               f"more at each of {len(writes)} writings of pictures and checkpoint"
                               if writes else "")
          + f"; the first {first['iteration']} iterations took "
            f"{first['seconds'] - per_iteration * first['iteration']:.2f} s more (the start: first "
            "compilations, warm-up, capture)")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--split"] and len(argv) == 2:
        return split(argv[1])
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python benchmarks/loop_overhead.py MODEL [its flags]; MODEL: "
                         f"{', '.join(COMMANDS)}")
    model, flags = argv[0], argv[1:]
    stepping.EagerStep = stepping.CapturedSteps = FirstStepOnly
    outputs.Writer.submit = lambda writer, job: job()  # in the loop's thread, each write timed whole
    loop.save_checkpoint = timed("checkpoints", loop.save_checkpoint)
    loop.write_pictures = timed("pictures", loop.write_pictures)
    with tempfile.TemporaryDirectory() as folder:
        if "--out" not in flags:
            flags = [*flags, "--out", str(pathlib.Path(folder) / model)]
        status = cli.main(COMMANDS[model], flags)
    total = time.perf_counter() - start
    parts = [f"{what} {len(times)} × {sum(times) / len(times):.2f} s = {sum(times):.1f} s"
             for what, times in spent.items()]
    rest = total - sum(sum(times) for times in spent.values())
    print(f"{' '.join(argv)}: {total:.1f} s in all, the steps left out: "
          + ", ".join(parts) + f"; the rest (start-up, one step, batches, logging) {rest:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
