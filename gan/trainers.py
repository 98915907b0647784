"""Training the GANs: one step function per model, and one loop that drives them all.

A step function plays one iteration of its model's game and returns its numbers (losses,
accuracies) as floats:

- `gan_step` (vanilla GAN and DCGAN): a discriminator step on a real batch and on
  `fake.detach()`, then a generator step with the non-saturating loss -log D(G(z)).
- `sgan_step`: a supervised step (cross-entropy on a labelled batch), an unsupervised step
  (real unlabelled images against `fake.detach()`), then the generator step.
- `supervised_step`: the SGAN discriminator trained on the labelled images alone
  (`--supervised-only`), the baseline the semi-supervised one is compared with.

`train` is the loop: data, models, optimizers, resuming, logging, sample grids, loss
curves and checkpoints, the same for every model.
"""
import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad import optim
from minigrad.tensor import Tensor

from . import checkpoint, data, models

GRID_SIZE = 64  # samples in the fixed-noise grid (8 x 8)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the iteration and the loss."""


@dataclass
class Networks:
    """What a step function updates: the two networks and their optimizers."""
    generator: object
    discriminator: object
    g_optimizer: object
    d_optimizer: object
    latent_dim: int


# ----------------------------------------------------------------------------- step pieces
def latent_noise(n, latent_dim):
    """z ~ N(0, I) of shape (n, latent_dim), drawn on the active backend."""
    return Tensor._wrap(backend.random_normal((n, latent_dim), minigrad.float32))


def discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))) on logits: real images are 1, generated ones 0."""
    return (F.binary_cross_entropy_with_logits(real_logits, 1.0)
            + F.binary_cross_entropy_with_logits(fake_logits, 0.0))


def generator_loss(fake_logits):
    """The non-saturating generator loss -log D(G(z)): "call the fakes real". Its gradient
    stays large while D still rejects the fakes, unlike log(1 - D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, 1.0)


def fraction(mask):
    """The fraction of True in a backend boolean array, as a Python float."""
    return float(mask.mean())


def optimizer_step(optimizer, loss):
    """Backpropagate `loss` into fresh gradients and let `optimizer` update its parameters."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


# ----------------------------------------------------------------------------- steps
def gan_step(nets, real):
    """One iteration of the GAN game (vanilla GAN and DCGAN); `real` is (N, 1, 28, 28)."""
    G, D = nets.generator, nets.discriminator
    fake = G(latent_noise(real.shape[0], nets.latent_dim))

    # Discriminator: real images are 1, generated ones 0. fake.detach() keeps this loss
    # from reaching the generator.
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: the non-saturating loss -log D(G(z)), i.e. "call the fakes real". The
    # gradients it leaves on D's parameters are never used: only G's optimizer steps, and
    # D's step above starts from zeroed gradients.
    g_loss = generator_loss(D(fake))
    optimizer_step(nets.g_optimizer, g_loss)
    nets.discriminator.zero_grad()

    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


def supervised_loss(D, images, labels):
    """Cross-entropy of D's class logits on a labelled batch, and the batch accuracy."""
    class_logits = D(images)
    accuracy = fraction(class_logits.data.argmax(axis=1) == labels.data)
    return F.cross_entropy(class_logits, labels), accuracy


def supervised_step(nets, labeled, labels):
    """`--supervised-only`: the SGAN discriminator as a plain classifier of the labelled set."""
    sup_loss, sup_acc = supervised_loss(nets.discriminator, labeled, labels)
    optimizer_step(nets.d_optimizer, sup_loss)
    return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc}


def sgan_step(nets, labeled, labels, unlabeled):
    """One SGAN iteration (GANs in Action, ch. 7): supervised, unsupervised, generator.

    The unsupervised head reads real-versus-fake from the class logits:
    D(x) = Z / (Z + 1) = σ(logsumexp(logits)), so its logit is `real_fake_logit`.
    """
    G, D = nets.generator, nets.discriminator

    # Supervised: softmax cross-entropy on the labelled batch.
    sup_loss, sup_acc = supervised_loss(D, labeled, labels)
    optimizer_step(nets.d_optimizer, sup_loss)

    # Unsupervised: unlabelled real images are real, generated ones fake.
    fake = G(latent_noise(unlabeled.shape[0], nets.latent_dim))
    real_logits = models.real_fake_logit(D(unlabeled))
    fake_logits = models.real_fake_logit(D(fake.detach()))
    d_loss = discriminator_loss(real_logits, fake_logits)
    optimizer_step(nets.d_optimizer, d_loss)

    # Generator: non-saturating, on D's real-versus-fake logit; only G's optimizer steps.
    g_loss = generator_loss(models.real_fake_logit(D(fake)))
    optimizer_step(nets.g_optimizer, g_loss)
    nets.discriminator.zero_grad()

    return {"sup_loss": sup_loss.item(), "sup_acc": sup_acc,
            "d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_acc_real": fraction(real_logits.data > 0),
            "d_acc_fake": fraction(fake_logits.data < 0)}


# ----------------------------------------------------------------------------- batches
class ImageBatches:
    """Shuffled batches of training images, as tensors on the active backend."""

    def __init__(self, images, batch_size, seed):
        self.images = images  # host float32 (N, 1, 28, 28) in [-1, 1]
        self.sampler = data.BatchSampler(len(images), batch_size, seed)

    def __next__(self):
        return (minigrad.tensor(self.images[next(self.sampler)]),)

    @property
    def batches_per_epoch(self):
        return self.sampler.batches_per_epoch

    def state(self):
        return {"images": self.sampler.state()}

    def set_state(self, state):
        self.sampler.set_state(state["images"])


class SemiSupervisedBatches:
    """For the SGAN: a labelled batch (images, labels) drawn from the few labelled images,
    and, unless `supervised_only`, a batch of the other images, unlabelled."""

    def __init__(self, images, labels, labeled_index, batch_size, seed, supervised_only):
        self.labeled_images, self.labels = images[labeled_index], labels[labeled_index]
        self.unlabeled_images = images[data.unlabeled_indices(len(images), labeled_index)]
        self.supervised_only = supervised_only
        self.labeled_sampler = data.BatchSampler(len(labeled_index), min(batch_size, len(labeled_index)), seed)
        self.unlabeled_sampler = data.BatchSampler(len(self.unlabeled_images), batch_size, seed + 1)

    def __next__(self):
        index = next(self.labeled_sampler)
        labeled = (minigrad.tensor(self.labeled_images[index]),
                   minigrad.tensor(self.labels[index], dtype=np.int64))
        if self.supervised_only:
            return labeled
        return labeled + (minigrad.tensor(self.unlabeled_images[next(self.unlabeled_sampler)]),)

    @property
    def batches_per_epoch(self):
        sampler = self.labeled_sampler if self.supervised_only else self.unlabeled_sampler
        return sampler.batches_per_epoch

    def state(self):
        return {"labeled": self.labeled_sampler.state(), "unlabeled": self.unlabeled_sampler.state()}

    def set_state(self, state):
        self.labeled_sampler.set_state(state["labeled"])
        self.unlabeled_sampler.set_state(state["unlabeled"])


# ----------------------------------------------------------------------------- loop pieces
class StopRequest:
    """Ctrl-C asks the loop to stop after the current iteration, so that the checkpoint it
    then writes is consistent; a second Ctrl-C stops at once (latest.npz stays as it was)."""

    def __init__(self):
        self.requested = False
        self.previous_handler = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous_handler = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def _on_interrupt(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this iteration to write a checkpoint "
              "(press again to stop at once)", file=sys.stderr)

    def __exit__(self, *exc_info):
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)


def check_finite(numbers, iteration, last_checkpoint):
    for name, value in numbers.items():
        if not math.isfinite(value):
            kept = (f"the last good checkpoint, {last_checkpoint[0]} (iteration {last_checkpoint[1]}), "
                    "is left as it was" if last_checkpoint else "no checkpoint had been written yet")
            raise TrainingDiverged(f"training diverged at iteration {iteration}: {name} = {value}; "
                                   f"stopped, {kept}. Try a smaller --lr or another --seed.")


def classifier_accuracy(D, images, labels, batch_size=1000):
    """Accuracy of D's class logits (argmax) on host images and labels, in eval mode."""
    was_training, correct = D.training, 0
    D.eval()
    with minigrad.no_grad():
        for start in range(0, len(images), batch_size):
            logits = D(minigrad.tensor(images[start:start + batch_size]))
            predicted = backend.to_numpy(logits.data.argmax(axis=1))
            correct += int((predicted == labels[start:start + batch_size]).sum())
    D.train(was_training)
    return correct / len(images)


def generate(G, latent):
    """Images G draws from host latent vectors, in eval mode, as host pixels in [0, 1]:
    (N, 28, 28) float32, mapped back from tanh's range with 0.5·x + 0.5."""
    was_training = G.training
    G.eval()
    with minigrad.no_grad():
        images = G(minigrad.tensor(latent)).numpy()
    G.train(was_training)
    return np.clip(0.5 * images[:, 0] + 0.5, 0, 1).astype(np.float32)


def read_metrics(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def keep_metrics_until(path, iteration):
    """Drop the rows logged after `iteration` (training that a resume will redo)."""
    rows = read_metrics(path)
    kept = [row for row in rows if row["iteration"] <= iteration]
    if len(kept) != len(rows):
        Path(path).write_text("".join(json.dumps(row) + "\n" for row in kept))


def write_curves(out):
    """losses.png and accuracy.png from metrics.jsonl (once it has rows)."""
    from . import plots  # matplotlib is loaded only when a picture is drawn
    rows = read_metrics(out / "metrics.jsonl")
    if rows:
        plots.save_loss_curves(rows, out / "losses.png")
        plots.save_accuracy_curve(rows, out / "accuracy.png")


def write_samples(out, G, fixed_noise, name):
    from . import plots
    plots.save_grid(generate(G, fixed_noise), out / name, nrow=8, scale=2)


# ----------------------------------------------------------------------------- setup
def load_training_data(args):
    """Host arrays: training images in [-1, 1] (N, 1, 28, 28), labels, and the test set."""
    dataset = data.load_dataset(args.dataset, args.data_dir)
    limit = args.limit
    train_images = data.to_unit_range(dataset.train_images[:limit])
    test_images = data.to_unit_range(dataset.test_images[:limit])
    return train_images, dataset.train_labels[:limit], test_images, dataset.test_labels[:limit]


def step_and_batches(kind, args, train_images, train_labels):
    """The step function that trains model `kind`, and the source of its batches."""
    if kind != "sgan":
        return gan_step, ImageBatches(train_images, args.batch_size, args.seed)
    labeled_index = data.labeled_subset(train_labels, args.num_labeled, args.seed,
                                        balanced=not args.first_labeled)
    batches = SemiSupervisedBatches(train_images, train_labels, labeled_index, args.batch_size,
                                    args.seed, args.supervised_only)
    return (supervised_step if args.supervised_only else sgan_step), batches


def run_config(kind, args):
    """The settings a checkpoint must share with the run that resumes it."""
    config = {"latent_dim": models.LATENT_DIM, "dataset": args.dataset, "limit": args.limit,
              "batch_size": args.batch_size, "lr": args.lr, "beta1": args.beta1, "seed": args.seed}
    if kind == "sgan":
        config.update(num_labeled=args.num_labeled, first_labeled=args.first_labeled,
                      supervised_only=args.supervised_only)
    return config


def resume_path(args):
    return Path(args.out) / "latest.npz" if args.resume == "latest" else Path(args.resume)


# ----------------------------------------------------------------------------- the loop
def train(kind, args):
    """Train model `kind` ("gan", "dcgan", "sgan") as the parsed command line `args` says.

    Returns "done", or "interrupted" after a Ctrl-C (a checkpoint was written first).
    Raises TrainingDiverged on a NaN or infinite loss, CheckpointError for a checkpoint
    that does not fit, data.DataError for missing or damaged data files.
    """
    minigrad.set_backend(args.backend)
    minigrad.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path, latest = out / "metrics.jsonl", out / "latest.npz"

    train_images, train_labels, test_images, test_labels = load_training_data(args)
    step, batches = step_and_batches(kind, args, train_images, train_labels)
    draws_samples = step is not supervised_step

    G, D = models.build_models(kind, models.LATENT_DIM)
    betas = (args.beta1, 0.999)
    nets = Networks(G, D, optim.Adam(G.parameters(), lr=args.lr, betas=betas),
                    optim.Adam(D.parameters(), lr=args.lr, betas=betas), models.LATENT_DIM)
    fixed_noise = np.random.default_rng(args.seed).standard_normal((GRID_SIZE, models.LATENT_DIM),
                                                                   dtype=np.float32)
    config = run_config(kind, args)
    iteration, seconds_before, last_checkpoint = 0, 0.0, None
    if args.resume:
        path = resume_path(args)
        iteration, arrays, state = checkpoint.load_training(
            path, kind=kind, config=config, modules={"G": G, "D": D},
            optimizers={"G": nets.g_optimizer, "D": nets.d_optimizer})
        fixed_noise = arrays["fixed_noise"]
        backend.set_rng_state(state["rng"])
        batches.set_state(state["batches"])
        seconds_before = state["seconds"]
        keep_metrics_until(metrics_path, iteration)
        last_checkpoint = (path, iteration)
        print(f"resumed from {path} at iteration {iteration}")
    elif metrics_path.exists():
        metrics_path.unlink()  # a new run: its curves start from scratch

    total = args.iterations or math.ceil(args.epochs * batches.batches_per_epoch)
    started = time.perf_counter()

    def seconds():
        return seconds_before + time.perf_counter() - started

    def save_checkpoint():
        checkpoint.save_training(
            latest, kind=kind, config=config, iteration=iteration,
            modules={"G": G, "D": D}, optimizers={"G": nets.g_optimizer, "D": nets.d_optimizer},
            arrays={"fixed_noise": fixed_noise},
            state={"rng": backend.get_rng_state(), "batches": batches.state(), "seconds": seconds(),
                   "args": {k: v if v is None or isinstance(v, (bool, int, float)) else str(v)
                            for k, v in vars(args).items()}})
        return (latest, iteration)

    from tqdm import tqdm
    window = []  # the step results since the last log row
    with StopRequest() as stop, tqdm(total=total, initial=iteration, desc=kind,
                                     dynamic_ncols=True) as bar, open(metrics_path, "a") as log:
        while iteration < total:
            numbers = step(nets, *next(batches))
            iteration += 1
            check_finite(numbers, iteration, last_checkpoint)
            window.append(numbers)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in numbers.items() if "loss" in k}, refresh=False)

            row = {}
            if iteration % args.log_every == 0 or iteration == total:
                row = {k: float(np.mean([n[k] for n in window])) for k in window[0]}
                window = []
            if kind == "sgan" and (iteration % args.eval_every == 0 or iteration == total):
                row["test_acc"] = classifier_accuracy(D, test_images, test_labels)
                bar.write(f"iteration {iteration}: test accuracy {row['test_acc']:.4f}")
            if row:
                log.write(json.dumps({"iteration": iteration, "seconds": round(seconds(), 3), **row}) + "\n")
                log.flush()
            if iteration % args.sample_every == 0:
                if draws_samples:
                    write_samples(out, G, fixed_noise, f"samples_{iteration:06d}.png")
                write_curves(out)
            if iteration % args.checkpoint_every == 0 or stop.requested:
                last_checkpoint = save_checkpoint()
            if stop.requested:
                bar.write(f"interrupted: checkpoint of iteration {iteration} written to {latest}; "
                          f"continue with --resume {latest}")
                return "interrupted"

    if last_checkpoint != (latest, iteration):  # not written at this iteration yet
        last_checkpoint = save_checkpoint()
    if draws_samples:
        write_samples(out, G, fixed_noise, "samples_final.png")
    write_curves(out)
    print(f"done: {iteration} iterations in {seconds():.0f} s; checkpoint {latest}, "
          f"samples, curves and metrics in {out}")
    return "done"
