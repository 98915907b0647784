"""How good are generated digits? Fréchet distance, Inception score, class coverage.

NumPy only, in float64. The numbers come from a *judge*: a classifier trained on the real
images (built with minigrad elsewhere). Anything of this shape is a judge:

    judge(images) -> (probs, features)
        images:   float32 (N, 1, 28, 28) in [-1, 1], as gan.idx.to_unit_range makes them
        probs:    (N, num_classes) class probabilities (softmax outputs), host NumPy
        features: (N, D) activations of a late hidden layer, host NumPy

`evaluate_samples(images, judge, ref_features)` feeds a judge in batches and hands its
outputs to `summarize`; given the labels a conditional generator was asked for, it also
reports how often the judge reads them back (`requested_accuracy`). With our own judge instead of Inception-v3, FID and Inception
score compare our runs with each other, not with published numbers.
"""
import numpy as np


def sqrtm_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix: V diag(√λ) Vᵀ from
    λ, V = eigh(matrix); eigenvalues that rounding left slightly negative count as 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2):

        d² = |mu1 - mu2|² + tr(sigma1) + tr(sigma2) - 2 tr((sigma1^½ sigma2 sigma1^½)^½)

    The last term equals the usual tr((sigma1 sigma2)^½) (the two matrices are similar),
    but its argument is symmetric PSD, so a symmetric eigendecomposition suffices.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
                         f"mu2 {mu2.shape}, sigma2 {sigma2.shape}")
    sigma1_half = sqrtm_psd(sigma1)
    inner = sigma1_half @ sigma2 @ sigma1_half
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def feature_statistics(features):
    """Mean (D,) and covariance (D, D) of features (N, D), N >= 2, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features (N, D) with N >= 2, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)


def fid_from_features(feats_a, feats_b):
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D).
    Either may also be a (mean, covariance) pair from `feature_statistics`."""
    stats_a = feats_a if isinstance(feats_a, tuple) else feature_statistics(feats_a)
    stats_b = feats_b if isinstance(feats_b, tuple) else feature_statistics(feats_b)
    return frechet_distance(*stats_a, *stats_b)


def _check_probs(probs):
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"need probabilities (N, num_classes), got shape {probs.shape}")
    if probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1, atol=1e-3):
        raise ValueError("rows must be probabilities (non-negative, summing to 1): logits passed?")
    return probs


def inception_score_splits(probs, splits=1):
    """exp(E_x[KL(p(y|x) || p(y))]) on each of `splits` consecutive chunks of probs (N, C),
    p(y) being the chunk's mean prediction; 0·log 0 counts as 0."""
    probs = _check_probs(probs)
    scores = []
    for chunk in np.array_split(probs, splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        ratio = np.divide(chunk, marginal, out=np.ones_like(chunk), where=chunk > 0)
        kl = (chunk * np.log(ratio)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return np.array(scores)


def inception_score(probs, splits=1):
    """Mean over splits of exp(E_x[KL(p(y|x) || p(y))]): from 1 (every sample judged the
    same, or every judgement unsure) to num_classes (confident and all classes equally)."""
    return float(inception_score_splits(probs, splits).mean())


def class_histogram(probs_or_labels, num_classes=10):
    """Counts (num_classes,) int64 of each class: of integer labels (N,), or of the argmax
    of probabilities (N, num_classes)."""
    values = np.asarray(probs_or_labels)
    labels = values.argmax(axis=1) if values.ndim == 2 else values
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"need labels in 0..{num_classes - 1} (N,) or probabilities (N, "
                         f"{num_classes}), got shape {values.shape}")
    return np.bincount(labels.astype(np.int64), minlength=num_classes)


def summarize(probs, features=None, ref_features=None, presence_threshold=0.01):
    """The numbers logged for a batch of generated samples, as a JSON-able dict:

    num_samples; inception_score; fid against ref_features (None without features);
    class_fractions, the share of samples the judge puts in each class (argmax);
    classes_present, how many classes hold at least `presence_threshold` (default 1%) of
    the samples, so 10 is full coverage and a collapsed generator scores few;
    min_class_fraction and max_class_fraction.
    ref_features: the real images' features (M, D), or their (mean, covariance).
    """
    probs = _check_probs(probs)
    fractions = class_histogram(probs, probs.shape[1]) / len(probs)
    fid = None
    if features is not None and ref_features is not None:
        fid = fid_from_features(features, ref_features)
    return {"num_samples": int(len(probs)),
            "inception_score": inception_score(probs),
            "fid": fid,
            "class_fractions": [float(f) for f in fractions],
            "classes_present": int((fractions >= presence_threshold).sum()),
            "min_class_fraction": float(fractions.min()),
            "max_class_fraction": float(fractions.max())}


def requested_accuracy(probs, labels):
    """How often the judge reads the digit a conditional generator was asked for, from its
    probabilities (N, C) and the requested labels (N,):

    requested_accuracy, the fraction of samples whose most probable class is their label;
    requested_accuracy_per_class, that fraction among the samples asked for each class
    (None for a class none was asked for).
    """
    probs = _check_probs(probs)
    labels = np.asarray(labels)
    if labels.shape != (len(probs),) or labels.dtype.kind not in "iu":
        raise ValueError(f"need integer labels ({len(probs)},) for probabilities of shape {probs.shape}, "
                         f"got {labels.dtype} of shape {labels.shape}")
    num_classes = probs.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels from {labels.min()} to {labels.max()}: the judge knows classes "
                         f"0..{num_classes - 1}")
    read_right = probs.argmax(axis=1) == labels
    per_class = [float(read_right[labels == c].mean()) if (labels == c).any() else None
                 for c in range(num_classes)]
    return {"requested_accuracy": float(read_right.mean()), "requested_accuracy_per_class": per_class}


def evaluate_samples(images, judge, ref_features=None, batch_size=500, presence_threshold=0.01,
                     labels=None):
    """Run `judge` (see the module docstring) on images (N, 1, 28, 28) in [-1, 1], batch by
    batch, and `summarize` its outputs; with the requested `labels` (N,) of conditional
    samples, add their `requested_accuracy`."""
    probs, features = [], []
    for start in range(0, len(images), batch_size):
        batch_probs, batch_features = judge(images[start:start + batch_size])
        probs.append(np.asarray(batch_probs))
        features.append(np.asarray(batch_features))
    probs = np.concatenate(probs)
    summary = summarize(probs, np.concatenate(features), ref_features, presence_threshold)
    if labels is not None:
        summary.update(requested_accuracy(probs, labels))
    return summary
