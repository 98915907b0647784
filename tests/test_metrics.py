"""gan.metrics against closed forms: Fréchet distance of Gaussians, Inception score of
one-hot predictions, class histograms, the summary a trainer logs."""
import json

import numpy as np
import pytest

from gan.evaluation import metrics


def random_covariance(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def features_with_exact_statistics(rng, n, mean, covariance):
    """n samples whose sample mean and covariance (ddof=1) are exactly `mean`, `covariance`."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: cov = I
    return z @ np.linalg.cholesky(covariance).T + mean


def test_fid_of_a_set_against_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16)) * 3 + 1
    assert abs(metrics.fid_from_features(feats, feats)) < 1e-8


def test_fid_with_identity_covariances_is_the_squared_mean_distance():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = float(((mu1 - mu2) ** 2).sum())
    assert metrics.frechet_distance(mu1, np.eye(6), mu2, np.eye(6)) == pytest.approx(expected, rel=1e-12)


def test_fid_with_diagonal_covariances_matches_the_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    var1, var2 = rng.uniform(0.1, 4, 5), rng.uniform(0.1, 4, 5)
    # For commuting covariances: |Δμ|² + Σ (√var1 - √var2)².
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    got = metrics.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_fid_with_full_covariances_matches_the_trace_of_sqrt_sigma1_sigma2():
    rng = np.random.default_rng(3)
    sigma1, sigma2 = random_covariance(rng, 7), random_covariance(rng, 7)
    mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
    # Another route: the eigenvalues of sigma1 @ sigma2 (not symmetric) are real, >= 0.
    trace_sqrt = np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).real).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        metrics.frechet_distance(mu2, sigma2, mu1, sigma1), rel=1e-9)  # symmetric


def test_fid_from_features_uses_the_sample_mean_and_covariance():
    rng = np.random.default_rng(4)
    mean_a, mean_b = rng.normal(size=4), rng.normal(size=4)
    var_a, var_b = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    feats_a = features_with_exact_statistics(rng, 300, mean_a, np.diag(var_a))
    feats_b = features_with_exact_statistics(rng, 200, mean_b, np.diag(var_b))
    expected = ((mean_a - mean_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    assert metrics.fid_from_features(feats_a, feats_b) == pytest.approx(expected, rel=1e-9)
    stats_b = metrics.feature_statistics(feats_b)  # precomputed reference statistics
    assert metrics.fid_from_features(feats_a, stats_b) == pytest.approx(expected, rel=1e-9)


def test_sqrtm_psd_squares_back():
    sigma = random_covariance(np.random.default_rng(5), 5)
    root = metrics.sqrtm_psd(sigma)
    np.testing.assert_allclose(root @ root, sigma, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(root, root.T, atol=1e-14)


def test_fid_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="N >= 2"):
        metrics.fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    assert metrics.inception_score(probs) == pytest.approx(10.0, rel=1e-12)
    assert metrics.inception_score(probs, splits=5) == pytest.approx(10.0, rel=1e-12)
    assert metrics.inception_score(np.eye(4)[np.arange(40) % 4]) == pytest.approx(4.0, rel=1e-12)


def test_inception_score_is_one_for_one_class_or_unsure_predictions():
    assert metrics.inception_score(np.eye(10)[np.full(50, 3)]) == pytest.approx(1.0, rel=1e-12)
    assert metrics.inception_score(np.full((50, 10), 0.1)) == pytest.approx(1.0, rel=1e-12)


def test_inception_score_of_half_and_half_is_two():
    # Two equally frequent confident classes: KL = log 2 for every sample.
    probs = np.eye(10)[np.arange(100) % 2]
    assert metrics.inception_score(probs) == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(metrics.inception_score_splits(probs, splits=2), [2.0, 2.0])


def test_inception_score_refuses_logits():
    with pytest.raises(ValueError, match="logits"):
        metrics.inception_score(np.random.default_rng(0).normal(size=(8, 10)))


def test_class_histogram_counts_labels_and_argmax():
    counts = metrics.class_histogram(np.array([0, 0, 1, 9, 9, 9]))
    assert counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    probs = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    assert metrics.class_histogram(probs, num_classes=3).tolist() == [1, 2, 1]
    with pytest.raises(ValueError):
        metrics.class_histogram(np.array([0, 10]))


def test_summarize_reports_coverage_of_a_collapsed_generator():
    labels = np.array([3] * 190 + [5] * 8 + [7] * 2)  # 95%, 4%, 1%
    summary = metrics.summarize(np.eye(10)[labels])
    assert summary["classes_present"] == 3  # exactly 1% counts as present
    assert summary["class_fractions"][3] == pytest.approx(0.95)
    assert summary["min_class_fraction"] == 0.0 and summary["max_class_fraction"] == pytest.approx(0.95)
    assert summary["fid"] is None and summary["num_samples"] == 200
    one_below = metrics.summarize(np.eye(10)[labels], presence_threshold=0.011)
    assert one_below["classes_present"] == 2
    json.dumps(summary)  # goes into the metrics log as is


def test_evaluate_samples_feeds_the_judge_in_batches():
    rng = np.random.default_rng(6)
    images = rng.uniform(-1, 1, size=(23, 1, 28, 28)).astype(np.float32)
    batch_sizes = []

    def judge(batch):  # a stand-in: "class" from mean brightness, features = two moments
        batch_sizes.append(len(batch))
        flat = batch.reshape(len(batch), -1)
        probs = np.eye(10)[np.clip(((flat.mean(1) + 0.05) * 100).astype(int), 0, 9)]
        return probs, np.stack([flat.mean(1), flat.std(1)], axis=1)

    reference = rng.normal(size=(50, 2))
    summary = metrics.evaluate_samples(images, judge, reference, batch_size=10)
    assert batch_sizes == [10, 10, 3]
    probs, feats = judge(images)
    assert summary == metrics.summarize(probs, feats, reference)
    assert summary["fid"] == pytest.approx(metrics.fid_from_features(feats, reference))
