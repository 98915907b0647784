"""Score generated images with the judge classifier, next to real images as the baseline.

    python -m gan.evaluate samples.npz [--judge PATH] [--data-dir FOLDER] [--json out.json]
    python -m gan.evaluate runs/dcgan --n 10000       # draws the samples from the run first

`samples.npz` holds `images` (n, 28, 28) float32 in [0, 1] (what gan.sample writes); in its
place a run folder, a training checkpoint or a generator.npz gives --n samples drawn as
gan.sample draws them. The judge (python -m gan.judge) gives, for the samples and for n real training images:
the Fréchet distance of its features to those of the test set (FID), the Inception score,
and the class histogram with how many of the 10 classes appear. When the samples come from
a conditional model (the .npz also holds the requested `labels`, as `gan.sample` writes
them), it also reports how often the judge reads the requested digit, overall and per
class, next to its accuracy on the real images' own labels.
"""
import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

import minigrad

from .. import data, flags, idx
from ..training import checkpoint
from ..training.recipe import is_conditional
from . import metrics, sample
from .judge import load_judge


def samples_to_score(path, n=10_000, seed=0):
    """(images, labels) as `load_samples` returns them: read from a samples file, or drawn
    (n, latent vectors seeded by `seed`) from a run folder, checkpoint or generator.npz."""
    if not holds_a_model(path):
        return load_samples(path)
    generator, meta = sample.load_generator(path)
    labels = sample.requested_labels(None, n, generator.num_classes) if is_conditional(generator) else None
    images = sample.draw_samples(generator, meta, n, seed, labels)
    return images[:, None] * 2 - 1, labels


def holds_a_model(path):
    """Is `path` a run folder or a checkpoint (an .npz with a meta document), not samples?"""
    path = Path(path)
    if path.is_dir():
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return "meta.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False  # load_samples says what is wrong with it


def load_samples(path):
    """Images (n, 1, 28, 28) in [-1, 1] from a samples file, checked, and the requested
    labels (n,) int64 of conditional samples (None when the file has none)."""
    arrays = checkpoint.read_npz(path, "samples file (an .npz from gan.sample)")
    if "images" not in arrays:
        raise ValueError(f"{path} has no 'images' array (it has {sorted(arrays)}); make one with gan.sample")
    images = arrays["images"]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) < 2:
        raise ValueError(f"{path}: images of shape {images.shape}, expected (n, 28, 28) with n >= 2")
    if images.dtype.kind != "f" or not np.isfinite(images).all():
        raise ValueError(f"{path}: images must be finite floats, got {images.dtype}")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"{path}: pixels from {images.min()} to {images.max()}, expected [0, 1]")
    labels = arrays.get("labels")
    if labels is not None and (labels.shape != (len(images),) or labels.dtype.kind not in "iu"):
        raise ValueError(f"{path}: labels of shape {labels.shape} ({labels.dtype}), expected integers "
                         f"({len(images)},), one per image")
    return (images[:, None].astype(np.float32) * 2 - 1), None if labels is None else labels.astype(np.int64)


def evaluate(images, judge, dataset, seed=0, limit=None, labels=None):
    """{"samples": ..., "real": ...}: gan.metrics.summarize of the samples and of as many
    real training images (drawn with `seed`), both with FID against the test set (its
    first `limit` images if given). With the requested `labels` of conditional samples,
    both also say how often the judge reads the label: the samples' requested one, the
    real images' own."""
    _, test_features = judge(idx.to_unit_range(dataset.test_images[:limit]))
    reference = metrics.feature_statistics(test_features)
    pick = np.random.default_rng(seed).choice(len(dataset.train_images), size=min(len(images), len(dataset.train_images)),
                                              replace=False)
    pick = np.sort(pick)
    real = idx.to_unit_range(dataset.train_images[pick])
    real_labels = None if labels is None else dataset.train_labels[pick].astype(np.int64)
    return {"samples": metrics.evaluate_samples(images, judge, reference, labels=labels),
            "real": metrics.evaluate_samples(real, judge, reference, labels=real_labels)}


def report(results, class_names):
    """The two summaries side by side, as text."""
    samples, real = results["samples"], results["real"]
    lines = [f"{'':24}{'samples':>12}{'real (baseline)':>18}",
             f"{'images':24}{samples['num_samples']:>12}{real['num_samples']:>18}",
             f"{'FID vs test set':24}{samples['fid']:>12.3f}{real['fid']:>18.3f}",
             f"{'Inception score':24}{samples['inception_score']:>12.3f}{real['inception_score']:>18.3f}",
             f"{'classes present':24}{samples['classes_present']:>12}{real['classes_present']:>18}",
             "class fractions:"]
    for name, s, r in zip(class_names, samples["class_fractions"], real["class_fractions"]):
        lines.append(f"  {name:22}{s:>12.3f}{r:>18.3f}")
    if "requested_accuracy" in samples:
        lines.append(f"{'requested digit read':24}{samples['requested_accuracy']:>12.3f}"
                     f"{real['requested_accuracy']:>18.3f}")
        lines.append("requested digit read, per class:")
        for name, s, r in zip(class_names, samples["requested_accuracy_per_class"],
                              real["requested_accuracy_per_class"]):
            lines.append(f"  {name:22}{'-' if s is None else f'{s:.3f}':>12}{'-' if r is None else f'{r:.3f}':>18}")
    lines.append(f"FID ratio samples / real: {samples['fid'] / real['fid']:.2f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Score generated images with the judge classifier.",
                                     formatter_class=flags.HelpFormatter)
    parser.add_argument("samples", help="a .npz with images (n, 28, 28) in [0, 1] (and the requested "
                                        "labels (n,) of a conditional model's samples), or a run "
                                        "folder or checkpoint to draw --n samples from")
    parser.add_argument("--n", type=flags.positive_int, default=10_000,
                        help="samples drawn when SAMPLES is a run folder or checkpoint")
    parser.add_argument("--judge", default=None, help="the judge's file (default: the user cache)")
    flags.add_common_flags(parser)
    parser.add_argument("--seed", type=flags.non_negative_int, default=0,
                        help="picks the real baseline images (and seeds the latent vectors of drawn samples)")
    parser.add_argument("--limit", type=flags.positive_int, default=None,
                        help="compare with the first N test images only (N >= 2)")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 2:
        parser.error("--limit must be at least 2: a covariance needs two test images")

    try:
        if args.json and Path(args.json).exists() and Path(args.json).resolve() == Path(args.samples).resolve():
            raise ValueError(f"--json {args.json} would overwrite the samples it reads; choose another file")
        minigrad.set_backend(args.backend)
        images, labels = samples_to_score(args.samples, args.n, args.seed)
        judge = load_judge(args.judge, args.dataset)
        dataset = data.load_dataset(args.dataset, args.data_dir)
        results = evaluate(images, judge, dataset, args.seed, args.limit, labels)
        print(report(results, dataset.class_names))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    except (ValueError, OSError, RuntimeError, checkpoint.CheckpointError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
