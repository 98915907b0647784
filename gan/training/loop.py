"""The training loop, the same for every model: a recipe (gan/training/recipe.py, one per
model in gan/models/) says what to build and which step to take, a TrainConfig
(gan/training/config.py) says how long and where to.

`train(recipe, config)` is read best from the bottom up; each piece it calls does one thing:

- `run_folder`      the --out folder: refused if it holds another run or another writer
- `build_run`       data, networks, optimizers, batches and the fixed noise of the sample grid
- `resume`          puts a checkpoint back: weights, optimizer moments, RNG, batch position
- `save_checkpoint` checks the weights are finite, then has latest.npz written atomically
- `outputs`         metrics.jsonl, a row every --log-every iterations, the pictures, and the
                    Writer that writes pictures and checkpoints while training goes on
- `signals`         StopRequest: Ctrl-C or SIGTERM stops the run after this iteration
"""
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigrad
from minigrad import optim
from minigrad.nn import ExponentialMovingAverage
from minigrad.random import get_rng_state, set_rng_state, use_splitmix64

from .. import data, idx
from . import checkpoint, run_folder, stepping, tensorboard
from .config import ConfigError, checkpoint_defaults
from .outputs import Log, Writer, write_pictures
from .recipe import Networks, TrainingData, host_latent
from .run_folder import GENERATOR, LATEST, METRICS
from .signals import StopRequest

GRID_SIZE = 64  # samples in the fixed-noise grid (8 x 8)


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or infinite; the message names the iteration."""


@dataclass
class Run:
    """A training run in progress: what it trains, and where it stands."""
    recipe: object
    config: object
    nets: Networks
    batches: object
    data: TrainingData
    fixed_noise: np.ndarray
    out: Path
    iteration: int = 0
    seconds_before: float = 0.0          # training time of the runs this one resumed
    last_checkpoint: tuple = None        # (path, iteration) of the last good checkpoint
    board: object = None                 # the TensorBoard writer of --tensorboard
    writer: Writer = field(default_factory=Writer)  # writes pictures and checkpoints
    started: float = field(default_factory=time.perf_counter)

    def seconds(self):
        return self.seconds_before + time.perf_counter() - self.started

    def modules(self):
        """The networks a checkpoint holds, by name."""
        modules = {"G": self.nets.generator, "D": self.nets.discriminator}
        if self.nets.g_average is not None:
            modules["G_average"] = self.nets.g_average.average
        if self.nets.d_average is not None:
            modules["D_average"] = self.nets.d_average.average
        return modules

    def optimizers(self):
        return {"G": self.nets.g_optimizer, "D": self.nets.d_optimizer}

    def align_averages(self):
        """The moving averages take one update per iteration: their bias correction goes on
        from the iteration the run stands at."""
        for average in (self.nets.g_average, self.nets.d_average):
            if average is not None:
                average.updates = self.iteration

    def sampler(self):
        """The generator that draws the pictures: the moving average of G when there is one."""
        return self.nets.g_average.average if self.nets.g_average is not None else self.nets.generator


# ----------------------------------------------------------------------------- setup
def load_data(config):
    """Host arrays: training images in [-1, 1] (N, 1, 28, 28), labels, and the test set."""
    dataset = data.load_dataset(config.dataset, config.data_dir)
    limit = config.limit
    train = TrainingData(idx.to_unit_range(dataset.train_images[:limit]), dataset.train_labels[:limit],
                         idx.to_unit_range(dataset.test_images[:limit]), dataset.test_labels[:limit])
    if config.batch_size > len(train.train_images):
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the {len(train.train_images)} "
                          "training images: lower --batch-size or raise --limit")
    return train


def build_networks(recipe, config, train_data=None):
    """G and D (initialised on the training data if the recipe asks), their Adam optimizers,
    and the moving averages of G and of D that --ema and --d-ema ask for."""
    G, D = recipe.networks(config.options)
    if recipe.initialize is not None and train_data is not None:
        recipe.initialize(G, D, train_data, config)
    capturable = config.captures()  # their counters and rates on the device: docs/capture.md
    g_average = ExponentialMovingAverage(G, config.ema, capturable=capturable) if config.ema else None
    d_average = ExponentialMovingAverage(D, config.d_ema, capturable=capturable) if config.d_ema else None
    g_optimizer = optim.Adam(G.parameters(), lr=config.generator_lr(), betas=config.generator_betas(),
                             eps=config.generator_adam_eps(), capturable=capturable)
    d_optimizer = optim.Adam(D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                             eps=config.adam_eps, capturable=capturable)
    return Networks(G, D, g_optimizer, d_optimizer, recipe.latent_dim,
                    g_average, d_average, recipe.latent)


def build_run(recipe, config, out, train_data):
    try:
        batches = recipe.batches(train_data, config)
    except ValueError as e:  # a labelled subset or a batch that cannot be drawn from this data
        raise ConfigError(f"{e}: lower --batch-size, or raise --limit") from None
    nets = build_networks(recipe, config, train_data)
    fixed_noise = host_latent(np.random.default_rng(config.seed), (GRID_SIZE, recipe.latent_dim),
                                     recipe.latent)
    return Run(recipe, config, nets, batches, train_data, fixed_noise, out)


def checkpoint_config(run):
    return run.config.checkpoint_config(run.recipe.latent_dim)


def resume(run, path):
    """Continue `run` from the checkpoint at `path`, exactly where it stopped."""
    run.iteration, arrays, state = checkpoint.load_training(
        path, kind=run.recipe.name, config=checkpoint_config(run), modules=run.modules(),
        optimizers=run.optimizers(), defaults=checkpoint_defaults(run.recipe.options))
    try:
        run.fixed_noise = arrays["fixed_noise"]
        set_rng_state(state["rng"])
        run.batches.set_state(state["batches"])
        run.seconds_before = float(state["seconds"])
    except (KeyError, ValueError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{path} is damaged: its training state cannot be "
                                         f"restored ({type(e).__name__}: {e})") from None
    run.last_checkpoint = (path, run.iteration)
    run.align_averages()
    # The learning rates are this run's, not the checkpoint's: lowering them is how a
    # diverged run goes on from its last good checkpoint.
    set_learning_rates(run, 1.0)
    Log.keep_until(run.out / METRICS, run.iteration)
    print(f"resumed from {path} at iteration {run.iteration}")
    warn_if_schedule_changes(run, state.get("config", {}))


def run_length(config):
    """How a config sets its run's length: "--iterations N" or "--epochs E"."""
    iterations, epochs = config.get("iterations"), config.get("epochs")
    return f"--epochs {epochs}" if epochs is not None else f"--iterations {iterations}"


def warn_if_schedule_changes(run, saved_config):
    """A decaying schedule is a function of the run's length: resumed with another length,
    the rates jump to that length's schedule. Allowed (it is how a run is extended), but said."""
    schedule = run.recipe.lr_schedule and run.recipe.lr_schedule(run.config.options)
    before, now = run_length(saved_config), run_length(dataclasses.asdict(run.config))
    if schedule is not None and saved_config and before != now:
        print(f"note: the learning rates decay over the run's length, set by {before} when the "
              f"checkpoint was written and by {now} now: from here they follow the new "
              f"length's schedule (resume with {before} to continue the run exactly)")


def save_checkpoint(run):
    """Check that the weights and optimizer moments are finite, then have the run's writer
    write latest.npz atomically, from copies taken now: a checkpoint called good can always
    be resumed."""
    modules = {name: checkpoint.Snapshot(module) for name, module in run.modules().items()}
    optimizers = {name: checkpoint.Snapshot(optimizer) for name, optimizer in run.optimizers().items()}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            if not np.isfinite(value).all():
                raise TrainingDiverged(f"training diverged by iteration {run.iteration}: {name}'s "
                                       f"{key} is not finite; {kept(run)}")
    for name, optimizer in optimizers.items():
        for key, value in optimizer.state_dict().items():
            if isinstance(value, np.ndarray) and not np.isfinite(value).all():
                raise TrainingDiverged(f"training diverged by iteration {run.iteration}: {name}'s "
                                       f"optimizer {key} is not finite; {kept(run)}")
    config = run.config
    path, iteration = run.out / LATEST, run.iteration
    written_as = dict(kind=run.recipe.name, config=checkpoint_config(run), iteration=iteration)
    state = {"rng": get_rng_state(), "batches": run.batches.state(), "seconds": run.seconds(),
             "config": json.loads(json.dumps(dataclasses.asdict(config), default=str))}
    arrays, averaged = {"fixed_noise": run.fixed_noise}, run.nets.g_average is not None
    sampler = None  # a fraction of latest.npz, for gan.sample
    if run.recipe.draws_samples(config.options):
        sampler = checkpoint.Snapshot(run.sampler())

    def write():
        checkpoint.save_training(path, **written_as, modules=modules, optimizers=optimizers,
                                 arrays=arrays, state=state)
        run.last_checkpoint = (path, iteration)  # once it is on disk
        if sampler is not None:
            checkpoint.save_generator(run.out / GENERATOR, **written_as, generator=sampler,
                                      averaged=averaged)
    run.writer.submit(write)
    run.align_averages()


def kept(run):
    """What a stopped run leaves to resume from, for its error message (once the checkpoint
    being written, if any, is on disk)."""
    run.writer.wait(quietly=True)  # a write that failed leaves the one before: named below
    if run.last_checkpoint is None:
        return "stopped; no checkpoint had been written yet. Try a smaller --lr or another --seed."
    path, iteration = run.last_checkpoint
    return (f"stopped; the last good checkpoint, {path} (iteration {iteration}), is left as it was: "
            f"continue from it with --resume {path}, perhaps with a smaller --lr, or try another --seed.")


def check_finite(numbers, run):
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"training diverged at iteration {run.iteration}: {name} = {value}; "
                                   + kept(run))


# ----------------------------------------------------------------------------- the loop
def show_losses(bar, numbers):
    bar.set_postfix({k: f"{v:.3f}" for k, v in numbers.items() if "loss" in k}, refresh=False)


def set_learning_rates(run, factor):
    """Both optimizers at `factor` times this run's learning rates (a recipe's schedule)."""
    run.nets.g_optimizer.lr = run.config.generator_lr() * factor
    run.nets.d_optimizer.lr = run.config.lr * factor


def train(recipe, config):
    """Train `recipe`'s model as `config` says. Returns "done", or "interrupted" after a
    Ctrl-C or SIGTERM (a checkpoint was written first). Raises ConfigError for settings or
    an --out that cannot work, TrainingDiverged on a NaN or infinite loss or weight,
    CheckpointError for a checkpoint that does not fit, data.DataError for missing or
    damaged data files."""
    try:
        minigrad.set_backend(config.backend)
    except RuntimeError as e:  # CuPy missing, or no GPU
        raise ConfigError(f"{e}") from None
    minigrad.manual_seed(config.seed)
    train_data = load_data(config)  # first: a run that cannot load its data leaves no folder
    out = run_folder.open_folder(config)
    # A captured step draws its random numbers on the device, as CuPy always does; numpy and
    # strict draw so only for a step checked for capture (their own streams stay the default).
    splitmix64_before = use_splitmix64(True) if config.captures() else None
    try:
        with run_folder.one_writer(out):
            run_folder.start_afresh(config, out)
            board = tensorboard.open_writer(out) if config.tensorboard else None
            try:
                return train_in(out, recipe, config, board, train_data)
            finally:
                if board is not None:
                    board.close()
    finally:
        if splitmix64_before is not None:
            use_splitmix64(splitmix64_before)


def train_in(out, recipe, config, board, train_data):
    """`train`, once the folder is this process's."""
    run = build_run(recipe, config, out, train_data)
    run.board = board
    if config.resume:
        resume(run, out / LATEST if config.resume == "latest" else Path(config.resume))
    run_folder.write_config(out, config, resumed_at=run.iteration if config.resume else None)
    total = config.iterations
    if config.epochs is not None:  # passes over the data, whatever a step draws
        total = math.ceil(config.epochs * run.batches.batches_per_epoch
                          / recipe.batches_per_iteration(config.options))
    lr_factor = recipe.lr_schedule(config.options) if recipe.lr_schedule else None

    captured = config.captures()
    take_step = (stepping.CapturedSteps if captured else stepping.EagerStep)(run)
    log = Log(out / METRICS, board)
    try:
        with StopRequest() as stop, tqdm(total=total, initial=run.iteration, desc=recipe.name,
                                         dynamic_ncols=True) as bar:
            while run.iteration < total:
                if lr_factor is not None:
                    set_learning_rates(run, lr_factor(run.iteration, total))
                numbers = take_step()  # on the device
                run.iteration += 1
                bar.update(1)
                if captured:  # read at the log rows only: a read waits for the GPU
                    log.add({name: value.copy() for name, value in numbers.items()})
                else:
                    numbers = {name: float(value) for name, value in numbers.items()}
                    check_finite(numbers, run)
                    log.add(numbers)
                    show_losses(bar, numbers)

                i, last = run.iteration, run.iteration == total
                # a stopped run logs what it has, so that even a short one leaves a row
                row = log.means() if i % config.log_every == 0 or last or stop.requested else {}
                if row and captured:
                    check_finite(row, run)
                    show_losses(bar, row)
                if recipe.evaluate and (i % config.eval_every == 0 or last):
                    measured = recipe.evaluate(run.nets, run.data)
                    bar.write(f"iteration {i}: " + ", ".join(f"{k} {v:.4f}" for k, v in measured.items()))
                    row.update(measured)
                if row:
                    log.write({"iteration": i, "seconds": round(run.seconds(), 3), **row})
                if i % config.sample_every == 0 or stop.requested:
                    write_pictures(run, f"samples_{i:06d}.png")
                if i % config.checkpoint_every == 0 or stop.requested:
                    save_checkpoint(run)
                if stop.requested:
                    run.writer.wait()
                    bar.write(f"interrupted: checkpoint of iteration {i} written to {out / LATEST}; "
                              f"continue with --resume")
                    return "interrupted"
        run.writer.wait()
        if run.last_checkpoint != (out / LATEST, run.iteration):  # not written at this iteration yet
            save_checkpoint(run)
        write_pictures(run, "samples_final.png")
        run.writer.wait()
    finally:
        log.close()
        run.writer.wait(quietly=True)  # a file being written is finished, not cut off by an error
    print(f"done: {run.iteration} iterations in {run.seconds():.0f} s; checkpoint {out / LATEST}, "
          f"samples, curves and metrics in {out}")
    return "done"
