"""What a run writes besides its checkpoint: metrics.jsonl, the fixed-noise sample grids
and the loss and accuracy curves (and, with --tensorboard, the same numbers and grids); and
the Writer that writes the pictures and checkpoints while training goes on."""
import json
import queue
import threading
from pathlib import Path

import numpy as np

from minigrad import backend

from .. import plots
from . import tensorboard
from .run_folder import METRICS


class Log:
    """metrics.jsonl: one JSON row every --log-every iterations, the mean of the step
    numbers since the last row, plus what the recipe measured at that iteration."""

    def __init__(self, path, board=None):
        self.file = open(path, "a")
        self.board = board  # --tensorboard's writer, which gets every row too
        self.window = []  # the step numbers since the last row: floats, or a captured step's
                          # 0-d device arrays, read at the row

    def add(self, numbers):
        self.window.append(numbers)

    def means(self):
        row = {k: float(np.mean(host_floats([n[k] for n in self.window]))) for k in self.window[0]}
        self.window = []
        return row

    def write(self, row):
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.board is not None:
            tensorboard.add_row(self.board, row)

    def close(self):
        self.file.close()

    @staticmethod
    def read(path):
        path = Path(path)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @staticmethod
    def keep_until(path, iteration):
        """Drop the rows logged after `iteration` (training that a resume will redo)."""
        rows = Log.read(path)
        kept_rows = [row for row in rows if row["iteration"] <= iteration]
        if len(kept_rows) != len(rows):
            Path(path).write_text("".join(json.dumps(row) + "\n" for row in kept_rows))


def host_floats(values):
    """Logged numbers as host floats: Python floats as they are, device values in one read."""
    if all(isinstance(value, float) for value in values):
        return values
    xp = backend.get_array_module(*values)
    return backend.to_numpy(xp.stack(values)).astype(np.float64)


class Writer:
    """Writes a run's pictures and checkpoints on threads of their own, in the order given,
    while the loop trains on. On a GPU a step takes milliseconds, and the default DCGAN run's
    writes took 18–24 s of the host's time (benchmarks/loop_overhead.py, on a CPU), a third
    of the run's 60 s goal. A job is given host copies taken when it was given, so it writes
    the run as it was then.

    Two jobs at most are outstanding, an iteration's pictures and its checkpoint: a third
    waits for the first, so copies never pile up. A job that failed raises its error at the
    next `submit` or `wait`; `wait(quietly=True)` only waits (an error is on its way already)."""

    def __init__(self):
        self.threads, self.errors = [], queue.SimpleQueue()  # the failed jobs' errors

    def submit(self, job):
        self._raise_errors()
        self.threads = [thread for thread in self.threads if thread.is_alive()]
        if len(self.threads) == 2:
            self.threads.pop(0).join()
        after = self.threads[-1] if self.threads else None
        thread = threading.Thread(target=self._run, args=(job, after), name="minigrad-writer")
        thread.start()
        self.threads.append(thread)

    def _run(self, job, after):
        if after is not None:
            after.join()  # in order: a checkpoint is on disk before the next is written
        try:
            job()
        except BaseException as error:  # raised again in the loop's thread
            self.errors.put(error)

    def wait(self, quietly=False):
        for thread in self.threads:
            thread.join()
        self.threads = []
        self._raise_errors(quietly)

    def _raise_errors(self, quietly=False):
        errors = []
        while not self.errors.empty():
            errors.append(self.errors.get())
        if errors and not quietly:
            raise errors[0]


def write_pictures(run, samples_name=None):
    """The fixed-noise grid as `samples_name` (if the model draws), and the curves: the
    samples drawn and the log read now, the files written by the run's writer."""
    grids = []  # (images, per row, file)
    if samples_name and run.recipe.draws_samples(run.config.options):
        grids.append((*run.recipe.grid(run.sampler(), run.fixed_noise), run.out / samples_name))
        if run.nets.g_average is not None:
            # G itself too: the average trails G by ~1/(1 - decay) iterations, so early in
            # a run it is a mix of very different generators and G's grid is the better one.
            raw_file = run.out / samples_name.replace(".png", "_raw.png")
            grids.append((*run.recipe.grid(run.nets.generator, run.fixed_noise), raw_file))
    rows, board, iteration, out = Log.read(run.out / METRICS), run.board, run.iteration, run.out

    def write():
        for k, (images, per_row, path) in enumerate(grids):
            grid = plots.save_grid(images, path, nrow=per_row, scale=2)
            if k == 0 and board is not None:
                tensorboard.add_grid(board, grid, iteration)
        if rows:
            plots.save_loss_curves(rows, out / "losses.png")
            if any("acc" in key for key in rows[-1]):  # a WGAN critic without the code measures none
                plots.save_accuracy_curve(rows, out / "accuracy.png")
    run.writer.submit(write)
