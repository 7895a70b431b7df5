"""Tests for gan_jax.evaluation.stats against closed forms and reference formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from gan_jax.evaluation import stats


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
  """Well-conditioned SPD matrix: A A^T / d + I."""
  a = rng.normal(size=(d, d))
  return a @ a.T / d + np.eye(d)


# --- Fréchet distance -------------------------------------------------------


def test_frechet_diagonal_closed_form():
  rng = np.random.default_rng(0)
  d = 5
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = rng.uniform(0.1, 3.0, size=d), rng.uniform(0.1, 3.0, size=d)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2.0 * np.sqrt(s1 * s2))
  got = stats.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_frechet_commuting_closed_form():
  # C1 = Q diag(a) Q^T, C2 = Q diag(b) Q^T commute, so (C1 C2)^{1/2} = Q diag(sqrt(ab)) Q^T
  # and FD = ||dmu||^2 + sum (sqrt(a) - sqrt(b))^2.
  rng = np.random.default_rng(1)
  d = 6
  q, _ = np.linalg.qr(rng.normal(size=(d, d)))
  a, b = rng.uniform(0.2, 4.0, size=d), rng.uniform(0.2, 4.0, size=d)
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = stats.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
  assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_matches_scipy_sqrtm_non_diagonal():
  rng = np.random.default_rng(2)
  d = 7
  c1, c2 = _random_spd(rng, d), _random_spd(rng, d)
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  covmean = scipy.linalg.sqrtm(c1 @ c2).real
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2.0 * covmean)
  got = stats.frechet_distance(mu1, c1, mu2, c2)
  assert got == pytest.approx(expected, rel=1e-8)
  # Symmetric in its two arguments.
  assert stats.frechet_distance(mu2, c2, mu1, c1) == pytest.approx(got, rel=1e-8)


def test_frechet_singular_covariance_is_real_and_finite():
  # Rank-1 identical covariances: the trace terms cancel exactly, FD = ||dmu||^2.
  v = np.array([[1.0, 2.0, -1.0]])
  c = v.T @ v
  mu1, mu2 = np.zeros(3), np.array([0.5, 0.0, 0.0])
  got = stats.frechet_distance(mu1, c, mu2, c)
  # Rounding-level (~1e-16) null eigenvalues become ~1e-8 after the sqrt, so singular
  # covariances are only accurate to about sqrt(eps) * Tr(C), as for any sqrtm.
  assert got == pytest.approx(0.25, abs=1e-6)


def test_frechet_from_features_self_is_zero():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8)) + 3.0
  fd = stats.frechet_distance_from_features(x, x)
  scale = np.trace(np.cov(x, rowvar=False))
  assert abs(fd) < 1e-6 * scale


# --- Streaming moments ------------------------------------------------------


def test_streaming_moments_match_one_shot():
  rng = np.random.default_rng(4)
  x = (rng.normal(size=(157, 6)) * 2.0 + 1.5).astype(np.float32)
  m = stats.init_moments(6)
  for lo, hi in [(0, 1), (1, 50), (50, 51), (51, 157)]:
    m = stats.update_moments(m, x[lo:hi])
  mu, cov = stats.moments_to_gaussian(m)
  assert m.count == 157
  np.testing.assert_allclose(mu, np.mean(x.astype(np.float64), axis=0), rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(
    cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12
  )

  # Merging two partial accumulators gives the same answer (e.g. per-host sums).
  a = stats.update_moments(stats.init_moments(6), x[:70])
  b = stats.update_moments(stats.init_moments(6), x[70:])
  mu2, cov2 = stats.moments_to_gaussian(stats.merge_moments(a, b))
  np.testing.assert_allclose(mu2, mu, rtol=1e-12)
  np.testing.assert_allclose(cov2, cov, rtol=1e-10, atol=1e-12)


def test_moments_reject_bad_shapes():
  with pytest.raises(ValueError):
    stats.update_moments(stats.init_moments(3), np.zeros((4, 2)))
  with pytest.raises(ValueError):
    stats.moments_to_gaussian(stats.update_moments(stats.init_moments(3), np.zeros((1, 3))))


# --- KID --------------------------------------------------------------------


def test_mmd2_unbiased_matches_explicit_sum():
  rng = np.random.default_rng(5)
  x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.3
  k = lambda a, b: (a @ b / 3 + 1.0) ** 3
  m = 6
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  assert stats.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_same_distribution_near_zero():
  rng = np.random.default_rng(6)
  x, y = rng.normal(size=(400, 16)), rng.normal(size=(300, 16))
  mean, std = stats.kid(x, y, num_subsets=20, subset_size=200, rng=0)
  assert std > 0
  assert abs(mean) < 3 * std + 1e-6


def test_kid_shifted_distribution_positive():
  rng = np.random.default_rng(7)
  x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)) + 1.0
  mean, std = stats.kid(x, y, num_subsets=20, subset_size=200, rng=0)
  assert mean > 10 * std  # std >= 0: so mean > 0 as well


def test_kid_seeding_and_subset_clipping():
  rng = np.random.default_rng(8)
  x, y = rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) + 0.5
  a = stats.kid(x, y, num_subsets=5, subset_size=1000, rng=3)
  b = stats.kid(x, y, num_subsets=5, subset_size=1000, rng=np.random.default_rng(3))
  assert a == b
  # subset_size clips to min(len(x), len(y)) = 40 (y is then used whole every round): the
  # subsets, and so the numbers, of subset_size=40 itself.
  assert a == stats.kid(x, y, num_subsets=5, subset_size=40, rng=3)
  assert a != stats.kid(x, y, num_subsets=5, subset_size=39, rng=3)


# --- Inception Score --------------------------------------------------------


def test_is_uniform_one_hot_equals_num_classes():
  k, num_splits = 4, 10
  labels = np.arange(k * num_splits) % k  # every contiguous split holds each class once
  probs = np.eye(k)[labels]
  mean, std = stats.inception_score(probs, num_splits=num_splits)
  assert mean == pytest.approx(k, abs=1e-6)
  assert std == pytest.approx(0.0, abs=1e-6)


def test_is_identical_predictions_is_one():
  rng = np.random.default_rng(9)
  p = rng.dirichlet(np.ones(10))
  mean, std = stats.inception_score(np.tile(p, (30, 1)), num_splits=3)
  assert mean == pytest.approx(1.0, abs=1e-9)
  assert std == pytest.approx(0.0, abs=1e-9)


def test_is_logits_match_probs_and_reference():
  rng = np.random.default_rng(10)
  logits = rng.normal(size=(53, 7)) * 3.0
  probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  from_logits = stats.inception_score(logits, num_splits=4, from_logits=True)
  from_probs = stats.inception_score(probs, num_splits=4)
  np.testing.assert_allclose(from_logits, from_probs, rtol=1e-9)

  # Reference: the original formula, split by split.
  scores = []
  n = len(probs)
  for i in range(4):
    part = probs[i * n // 4 : (i + 1) * n // 4]
    py = part.mean(axis=0, keepdims=True)
    scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), axis=1))))
  np.testing.assert_allclose(from_probs, (np.mean(scores), np.std(scores)), rtol=1e-9)


def test_is_streaming_matches_array_form():
  rng = np.random.default_rng(11)
  probs = rng.dirichlet(np.ones(5) * 0.3, size=40)
  splits = []
  for i in range(4):
    s = stats.init_is_stats(5)
    for chunk in np.array_split(probs[i * 10 : (i + 1) * 10], 3):
      s = stats.update_is_stats(s, chunk)
    splits.append(s)
  np.testing.assert_allclose(
    stats.inception_score_from_stats(splits),
    stats.inception_score(probs, num_splits=4),
    rtol=1e-12,
  )
