"""The judge: a small LeNet-style classifier of MNIST digits whose eyes score the GANs.

    python -m gan.judge                   # train it once, cache it
    python -m gan.judge --data-dir ... --out judge.npz --epochs 8

`gan.evaluate` feeds generated images to it: its softmax predictions give the Inception
score and the class histogram, its penultimate layer (256 features) the Fréchet distance.
Trained with minigrad on MNIST's 60,000 training images; it reaches about 99% test accuracy
(the training run prints it and refuses to cache a judge below --min-accuracy).

Cached in the user cache, `data.user_cache_dir("judge-<dataset>.npz")` (on Linux
`~/.cache/minigrad/judge-mnist.npz`), a plain checkpoint (arrays and JSON, read with
allow_pickle=False).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigrad
from minigrad import functional as F
from minigrad import nn, optim

from .. import data, flags, idx
from ..training import batches, checkpoint

FORMAT = "minigrad-judge/1"


class LeNet(nn.Module):
    """LeNet's plan (two 5x5 convolutions, then two dense layers) with stride-2
    convolutions in place of pooling."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(                        # x: (N, 1, 28, 28) in [-1, 1]
            nn.Conv2D(1, 32, 5, stride=2, padding="same"),    # (N, 32, 14, 14)
            nn.ReLU(),
            nn.Conv2D(32, 64, 5, stride=2, padding="same"),   # (N, 64, 7, 7)
            nn.ReLU(),
            nn.Flatten(),                                     # (N, 3136)
            nn.Dense(64 * 7 * 7, 256),                        # (N, 256)
            nn.ReLU(),                                        # the features FID compares
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.3),
            nn.Dense(256, num_classes),                       # (N, 10) class logits
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class Judge:
    """judge(images) -> (probs, features), as gan.metrics expects: images (N, 1, 28, 28)
    float32 in [-1, 1], host NumPy in and out; runs in eval mode without a graph."""

    def __init__(self, model, meta=None):
        self.model = model.eval()
        self.meta = meta or {}

    def __call__(self, images, batch_size=500):
        probs, features = [], []
        with minigrad.no_grad():
            for start in range(0, len(images), batch_size):
                h = self.model.features(minigrad.tensor(images[start:start + batch_size]))
                probs.append(F.softmax(self.model.classifier(h), axis=1).numpy())
                features.append(h.numpy())
        return np.concatenate(probs).astype(np.float64), np.concatenate(features).astype(np.float64)


def default_path(dataset="mnist"):
    return data.user_cache_dir(f"judge-{dataset}.npz")


def accuracy(model, images, labels):
    """Test accuracy of a LeNet, measured in eval mode (its own mode is kept)."""
    with model.evaluating():
        probs, _ = Judge(model)(images)
    return float((probs.argmax(axis=1) == labels).mean())


def train_judge(dataset, epochs=5, batch_size=128, lr=1e-3, seed=0, limit=None, progress=True):
    """A LeNet trained on `dataset` (a gan.data.Dataset); returns (model, test accuracy)."""
    minigrad.manual_seed(seed)
    images, labels = idx.to_unit_range(dataset.train_images[:limit]), dataset.train_labels[:limit]
    model = LeNet(dataset.num_classes)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    sampler = batches.BatchSampler(len(images), batch_size, seed)
    iterations = int(epochs * sampler.batches_per_epoch)
    with tqdm(range(iterations), desc="judge", disable=not progress, dynamic_ncols=True) as bar:
        for i in bar:
            optimizer.lr = lr * (1 - i / iterations)  # linear decay: the last epochs settle
            index = next(sampler)
            logits = model(minigrad.tensor(images[index]))
            loss = F.cross_entropy(logits, minigrad.tensor(labels[index], dtype=np.int64))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    test_images = idx.to_unit_range(dataset.test_images[:limit])
    return model, accuracy(model, test_images, dataset.test_labels[:limit])


def save_judge(path, model, meta):
    checkpoint.save_npz(path, model.state_dict(), {"format": FORMAT, **meta})


def load_judge(path=None, dataset="mnist"):
    """The cached judge (a `Judge`), or an error saying how to train it."""
    path = Path(path) if path else default_path(dataset)
    if not path.is_file():
        raise checkpoint.CheckpointError(
            f"no judge at {path}; train it once with: python -m gan.judge --dataset {dataset}"
            + (f" --out {path}" if path != default_path(dataset) else "")
            + " (and --data-dir FOLDER if your dataset files are not in the user cache)")
    arrays, meta = checkpoint.load_npz(path, "judge")
    if meta.get("format") != FORMAT:
        raise checkpoint.CheckpointError(f"{path} is not a judge (format {meta.get('format')!r})")
    model = LeNet(meta.get("num_classes", 10))
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: the judge's weights do not fit: {e}") from None
    return Judge(model, meta)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the judge classifier that gan.evaluate uses.",
                                     formatter_class=flags.HelpFormatter)
    flags.add_common_flags(parser)
    parser.add_argument("--out", default=None, help="where to write the judge (default: the user cache)")
    parser.add_argument("--epochs", type=flags.positive_float, default=5)
    parser.add_argument("--batch-size", type=flags.positive_int, default=128)
    parser.add_argument("--lr", type=flags.positive_float, default=1e-3)
    parser.add_argument("--seed", type=flags.non_negative_int, default=0)
    parser.add_argument("--limit", type=flags.positive_int, default=None, help="use the first N train and test images only")
    parser.add_argument("--min-accuracy", type=flags.probability, default=0.99,
                        help="refuse to save a judge below this test accuracy")
    args = parser.parse_args(argv)

    path = Path(args.out) if args.out else default_path(args.dataset)
    try:
        if path.is_dir():
            raise checkpoint.CheckpointError(f"--out {path} is a folder; name the file to write the judge to")
        minigrad.set_backend(args.backend)
        dataset = data.load_dataset(args.dataset, args.data_dir)
        if args.batch_size > len(dataset.train_images[:args.limit]):
            raise data.DataError(f"--batch-size {args.batch_size} is larger than the "
                                 f"{len(dataset.train_images[:args.limit])} training images; lower it")
        started = time.perf_counter()
        model, test_accuracy = train_judge(dataset, args.epochs, args.batch_size, args.lr, args.seed, args.limit)
        seconds = time.perf_counter() - started
        print(f"judge: test accuracy {test_accuracy:.4f} after {args.epochs} epochs ({seconds:.0f} s)")
        if test_accuracy < args.min_accuracy:
            print(f"error: below --min-accuracy {args.min_accuracy}; not saved (train longer: --epochs)",
                  file=sys.stderr)
            return 1
        save_judge(path, model, {"dataset": args.dataset, "num_classes": dataset.num_classes,
                                 "test_accuracy": test_accuracy, "epochs": args.epochs, "seed": args.seed})
    except (checkpoint.CheckpointError, data.DataError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"saved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
