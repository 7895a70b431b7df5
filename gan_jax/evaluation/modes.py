"""Exact mode-count protocols: 2-D Gaussian mixtures and Stacked MNIST.

Follows PacGAN (Lin et al. 2018), which in turn follows VEEGAN / Unrolled GAN:

* 2-D mixtures (ring of 8 with std 0.01 on the unit circle, 5x5 grid with std 0.05):
  each generated point is assigned to its nearest mode; it is "high quality" if it
  lies within 3 standard deviations of that mode's mean (strictly: `< 3 std`, as the
  authors' MetricLogger, fjxmlzn/PacGAN pacgan/extensions.py). A mode is recovered if it
  has at least one high-quality point. The reverse KL is the authors': of the histogram
  of *high-quality* points over their modes (their `detail_of_coverage`), not of all
  points.
* Stacked MNIST: each sample is classified into a digit triple (r, g, b), one of
  1000 modes; count distinct triples and the KL divergence to the uniform
  distribution over modes.

Both KL numbers are KL(p_g || uniform) = sum_k p_k log(p_k M), with 0 log 0 = 0.

The data sets themselves (mode means, std, the 1,000 digit triples) are defined with the data,
in data/mixtures.py and data/stacked_mnist.py; this module only counts.
"""

from __future__ import annotations

import numpy as np

from gan_jax.data import stacked_mnist


def _kl_to_uniform(counts: np.ndarray, num_modes: int) -> float:
  """sum_k p_k log(p_k M) with p_k = counts_k / sum(counts); empty modes contribute 0."""
  p = counts[counts > 0] / counts.sum()
  return float((p * np.log(p * num_modes)).sum())


def mixture_mode_metrics(points: np.ndarray, modes: np.ndarray, std: float) -> dict:
  """PacGAN mode metrics for generated 2-D points against a mixture's mode means.

  With M modes and n points, a_i = argmin_k ||x_i - mu_k|| and
  hq_i = [||x_i - mu_{a_i}|| < 3 std]:

    modes        = #{k : exists i with a_i = k and hq_i},
    high_quality = (1/n) sum_i hq_i,
    reverse_kl   = sum_k p_k log(p_k M),  p_k = #{i : a_i = k, hq_i} / #{i : hq_i}
                   (high-quality points only, as PacGAN computes it; NaN without any).

  Returns {"modes": int, "high_quality": float, "reverse_kl": float}.
  """
  x = np.asarray(points, np.float64)
  mu = np.asarray(modes, np.float64)
  if x.ndim != 2 or mu.ndim != 2 or x.shape[1] != mu.shape[1] or x.shape[0] == 0:
    raise ValueError(f"expected points (n>0, d) and modes (M, d), got {x.shape}, {mu.shape}")
  num_modes = mu.shape[0]
  d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=-1)  # (n, M)
  nearest = d2.argmin(axis=1)
  dist = np.sqrt(d2[np.arange(x.shape[0]), nearest])
  hq = dist < 3.0 * std
  counts = np.bincount(nearest[hq], minlength=num_modes)
  return {
    "modes": int(np.unique(nearest[hq]).size),
    "high_quality": float(hq.mean()),
    "reverse_kl": _kl_to_uniform(counts, num_modes) if hq.any() else float("nan"),
  }


def triples_to_mode_ids(triples: np.ndarray) -> np.ndarray:
  """Digit triples (n, 3) in 0..9 -> mode ids 100 r + 10 g + b in [0, 1000)."""
  t = np.asarray(triples)
  if t.ndim != 2 or t.shape[1] != 3:
    raise ValueError(f"expected (n, 3) digit triples, got {t.shape}")
  if not np.issubdtype(t.dtype, np.integer):
    raise ValueError(f"digit triples must be integers, got dtype {t.dtype}")
  if t.size and (t.min() < 0 or t.max() > 9):
    raise ValueError("digit triples must be integers in 0..9")
  t = t.astype(np.int64)
  return 100 * t[:, 0] + 10 * t[:, 1] + t[:, 2]


def stacked_mode_metrics(digit_triples: np.ndarray) -> dict:
  """Stacked MNIST mode metrics from classified digit triples (n, 3).

    stacked_modes = number of distinct triples seen,
    stacked_kl    = sum_{seen t} p_t log(p_t * 1000),  p_t the empirical frequency.

  Returns {"stacked_modes": int, "stacked_kl": float}.
  """
  ids = triples_to_mode_ids(digit_triples)
  if ids.size == 0:
    raise ValueError("no samples")
  counts = np.bincount(ids, minlength=stacked_mnist.NUM_MODES)
  return {
    "stacked_modes": int((counts > 0).sum()),
    "stacked_kl": _kl_to_uniform(counts, stacked_mnist.NUM_MODES),
  }
