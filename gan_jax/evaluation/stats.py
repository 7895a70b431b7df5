"""Sample statistics for GAN evaluation: Fréchet distance, KID and Inception Score.

Everything here is plain numpy in float64. Feature extraction (which network, which
layer) lives elsewhere; these functions only see arrays of features or class
probabilities, so they can be checked against closed forms.

* Fréchet distance (FID when the features are Inception pool features):

    FD = ||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^{1/2}).

* Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic
  polynomial kernel k(a, b) = (a.b / d + 1)^3, averaged over random subsets.

* Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), per split.

The Gaussian moments and the Inception Score both have streaming accumulators whose
memory does not grow with the number of samples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# ---------------------------------------------------------------------------
# Streaming first and second moments.
# ---------------------------------------------------------------------------


class FeatureMoments(NamedTuple):
  """Running sums for the mean and covariance of d-dimensional features.

  Attributes:
    count: number of samples seen, n.
    total: sum_i x_i, shape (d,), float64.
    outer: sum_i x_i x_i^T, shape (d, d), float64.
  """

  count: int
  total: np.ndarray
  outer: np.ndarray


def init_moments(dim: int) -> FeatureMoments:
  """Empty accumulator for `dim`-dimensional features."""
  return FeatureMoments(0, np.zeros((dim,), np.float64), np.zeros((dim, dim), np.float64))


def update_moments(m: FeatureMoments, features: np.ndarray) -> FeatureMoments:
  """Adds a batch of features (n, d) to the running sums; returns a new accumulator.

  count += n,  total += sum_i x_i,  outer += X^T X  (all in float64).
  """
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[1] != m.total.shape[0]:
    raise ValueError(f"expected features of shape (n, {m.total.shape[0]}), got {x.shape}")
  return FeatureMoments(m.count + x.shape[0], m.total + x.sum(axis=0), m.outer + x.T @ x)


def merge_moments(a: FeatureMoments, b: FeatureMoments) -> FeatureMoments:
  """Combines two accumulators (e.g. from different hosts); the sums simply add."""
  return FeatureMoments(a.count + b.count, a.total + b.total, a.outer + b.outer)


def moments_to_gaussian(m: FeatureMoments) -> tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance (ddof=1) from the running sums.

  mu = total / n,   C = (outer - n mu mu^T) / (n - 1),

  which equals np.mean(x, 0) and np.cov(x, rowvar=False) on the concatenated data.
  """
  n = m.count
  if n < 2:
    raise ValueError(f"need at least 2 samples for a covariance, got {n}")
  mu = m.total / n
  cov = (m.outer - n * np.outer(mu, mu)) / (n - 1)
  # The subtraction can leave rounding-level asymmetry; the maths is symmetric.
  return mu, 0.5 * (cov + cov.T)


def gaussian_from_features(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """One-shot mean and unbiased covariance of features (n, d), in float64."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"expected features of shape (n >= 2, d), got {x.shape}")
  return x.mean(axis=0), np.cov(x, rowvar=False)


# ---------------------------------------------------------------------------
# Fréchet distance.
# ---------------------------------------------------------------------------


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
  """Symmetric PSD square root via eigh: V diag(sqrt(max(w, 0))) V^T."""
  w, v = np.linalg.eigh(0.5 * (c + c.T))
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
  """Fréchet (2-Wasserstein) distance between N(mu1, C1) and N(mu2, C2).

    FD = ||mu1 - mu2||^2 + Tr(C1) + Tr(C2) - 2 Tr((C1 C2)^{1/2}).

  C1 C2 is not symmetric, so scipy.linalg.sqrtm on it can return complex parts and
  is unstable for near-singular covariances. Instead use the similarity
  C1 C2 = S (S C2 S) S^{-1} with S = C1^{1/2}, so C1 C2 and the symmetric PSD matrix
  S C2 S share eigenvalues and

    Tr((C1 C2)^{1/2}) = sum_i sqrt(lambda_i(S C2 S)).

  S comes from a symmetric eigendecomposition with negative eigenvalues clipped to
  0, and so do the eigenvalues of S C2 S. Everything is float64. The result is not
  clipped, so it can be rounding-level negative for identical inputs.
  """
  mu1 = np.asarray(mu1, np.float64)
  mu2 = np.asarray(mu2, np.float64)
  c1 = np.asarray(cov1, np.float64)
  c2 = np.asarray(cov2, np.float64)
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
    raise ValueError(
      f"shape mismatch: mu1 {mu1.shape}, cov1 {c1.shape}, mu2 {mu2.shape}, cov2 {c2.shape}"
    )
  s1 = _psd_sqrt(c1)
  m = s1 @ c2 @ s1
  eig = np.linalg.eigvalsh(0.5 * (m + m.T))
  tr_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)


def frechet_distance_from_features(x: np.ndarray, y: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted (mean, ddof=1 cov) to x (n, d) and y (m, d)."""
  mu1, c1 = gaussian_from_features(x)
  mu2, c2 = gaussian_from_features(y)
  return frechet_distance(mu1, c1, mu2, c2)


# ---------------------------------------------------------------------------
# Kernel Inception Distance.
# ---------------------------------------------------------------------------


def _cubic_kernel_sum(a: np.ndarray, b: np.ndarray, *, drop_diagonal: bool) -> float:
  """sum_{i,j} k(a_i, b_j), k(a, b) = (a.b / d + 1)^3, without the i == j terms if asked.

  In place in float64: KID is the slowest part of an evaluation on CPU (100 subsets x
  three 1000 x 1000 kernel matrices), and two multiplies are several times faster than
  `** 3` on such matrices.
  """
  k = a @ b.T
  k /= a.shape[1]
  k += 1.0
  k3 = k * k
  k3 *= k
  total = float(k3.sum())
  return total - float(np.trace(k3)) if drop_diagonal else total


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 between equal-size samples x, y (m, d) with the cubic kernel.

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2,

  i.e. the diagonals of K_xx and K_yy are dropped, K_xy is kept whole (the estimator
  of torch-fidelity / clean-fid / the KID paper's code).
  """
  m = x.shape[0]
  if y.shape[0] != m or m < 2:
    raise ValueError(f"need two samples of equal size >= 2, got {x.shape[0]} and {y.shape[0]}")
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  xx = _cubic_kernel_sum(x, x, drop_diagonal=True) / (m * (m - 1))
  yy = _cubic_kernel_sum(y, y, drop_diagonal=True) / (m * (m - 1))
  return float(xx + yy - 2.0 * _cubic_kernel_sum(x, y, drop_diagonal=False) / (m * m))


def kid(
  x_feats: np.ndarray,
  y_feats: np.ndarray,
  *,
  num_subsets: int = 100,
  subset_size: int = 1000,
  rng: np.random.Generator | int = 0,
) -> tuple[float, float]:
  """Kernel Inception Distance: mean and std of MMD^2_u over random subsets.

  For each of `num_subsets` rounds, draw m = min(subset_size, len(x), len(y)) rows
  of x and of y without replacement and compute `mmd2_unbiased`. Returns
  (mean, std) over the rounds, std with ddof=0 as in torch-fidelity. Note std is
  the spread of single-subset estimates, not the standard error of the mean.
  """
  x = np.asarray(x_feats, np.float64)
  y = np.asarray(y_feats, np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"expected (n, d) and (m, d) features, got {x.shape} and {y.shape}")
  gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
  m = min(subset_size, x.shape[0], y.shape[0])
  if m < 2:
    raise ValueError(f"KID needs at least 2 samples per side, got {m}")
  mmds = np.empty((num_subsets,), np.float64)
  for i in range(num_subsets):
    xi = x[gen.choice(x.shape[0], m, replace=False)]
    yi = y[gen.choice(y.shape[0], m, replace=False)]
    mmds[i] = mmd2_unbiased(xi, yi)
  return float(mmds.mean()), float(mmds.std())


# ---------------------------------------------------------------------------
# Inception Score.
# ---------------------------------------------------------------------------

_PROB_EPS = 1e-12


class ISStats(NamedTuple):
  """Streaming sums for the Inception Score of one split.

  With n samples, P = sum_x p(y|x) and H = sum_x sum_y p(y|x) log p(y|x):

    E_x KL(p(y|x) || p(y)) = H / n - sum_y p(y) log p(y),   p(y) = P / n.
  """

  count: int
  prob_sum: np.ndarray
  neg_entropy_sum: float


def init_is_stats(num_classes: int) -> ISStats:
  """Empty Inception Score accumulator for one split."""
  return ISStats(0, np.zeros((num_classes,), np.float64), 0.0)


def _probs_and_logs(x: np.ndarray, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
  """(p, log p) in float64 from logits (log-softmax) or probabilities (clipped log)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"expected (n, num_classes), got {x.shape}")
  if from_logits:
    z = x - x.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(log_p), log_p
  # Clip only inside the log so that 0 * log 0 contributes exactly 0.
  return x, np.log(np.clip(x, _PROB_EPS, None))


def update_is_stats(
  s: ISStats, probs_or_logits: np.ndarray, *, from_logits: bool = False
) -> ISStats:
  """Adds a batch (n, num_classes) of class probabilities (or logits) to one split."""
  p, log_p = _probs_and_logs(probs_or_logits, from_logits)
  return ISStats(
    s.count + p.shape[0],
    s.prob_sum + p.sum(axis=0),
    s.neg_entropy_sum + float((p * log_p).sum()),
  )


def is_stats_score(s: ISStats) -> float:
  """exp(H / n - sum_y p(y) log p(y)) for one split (see `ISStats`)."""
  if s.count == 0:
    raise ValueError("empty split")
  p_y = s.prob_sum / s.count
  marginal_term = (p_y * np.log(np.clip(p_y, _PROB_EPS, None))).sum()
  return float(np.exp(s.neg_entropy_sum / s.count - marginal_term))


def inception_score_from_stats(splits: list[ISStats]) -> tuple[float, float]:
  """Mean and std (ddof=0) of the per-split scores."""
  scores = np.array([is_stats_score(s) for s in splits])
  return float(scores.mean()), float(scores.std())


def inception_score(
  probs_or_logits: np.ndarray, *, num_splits: int = 10, from_logits: bool = False
) -> tuple[float, float]:
  """Inception Score: exp(E_x KL(p(y|x) || p(y))) per split; (mean, std) over splits.

  Splits are contiguous: split i holds rows [i n / S, (i+1) n / S) as in the
  original implementation, and p(y) is the mean of p(y|x) within the split. With
  logits, log p comes from a log-softmax; with probabilities, log p = log(max(p, eps))
  so that zero probabilities contribute 0 to p log p.
  """
  x = np.asarray(probs_or_logits)
  if x.ndim != 2:
    raise ValueError(f"expected (n, num_classes), got {x.shape}")
  n = x.shape[0]
  if num_splits < 1 or n < num_splits:
    raise ValueError(f"need at least num_splits={num_splits} samples, got {n}")
  splits = []
  for i in range(num_splits):
    part = x[i * n // num_splits : (i + 1) * n // num_splits]
    splits.append(update_is_stats(init_is_stats(x.shape[1]), part, from_logits=from_logits))
  return inception_score_from_stats(splits)
