"""Streaming summaries of an image set's features, and the set-level metrics between two.

Fréchet distance, KID and the Inception-Score formula each need one image set reduced to a
summary whose memory does not grow with the number of images: a feature network's outputs are
folded batch by batch into running moments (the Gaussian fit of the Fréchet distance), per-split
class-probability sums (the score) and a bounded uniform reservoir of at most `max_kept` feature
rows (KID). `compare_summaries` turns two summaries into the numbers. The feature network is any
`FeatureFn` (the in-project classifier, the FID Inception); evaluate.py picks them per data set.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from absl import logging

from gan_jax import writers
from gan_jax.evaluation import stats

CHUNK_SIZE = 1000  # rows of images held at once while streaming arrays through a network
MAX_KID_FEATURES = 10_000  # reservoir size per side for KID
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
NUM_SCORE_SPLITS = 10

# (N, H, W, C) images in [-1, 1] -> (features, logits), e.g. an inception.make_inception_fn.
FeatureFn = Callable[[Any], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class FeatureSummary:
  """What the set-level metrics need of one image set, in memory independent of its size.

  Attributes:
    moments: running sums for the Gaussian fit (Fréchet distance).
    kept: a uniform random subset of at most `max_kept` feature rows (KID).
    splits: class-probability sums of contiguous splits (Inception-Score formula).
    all_finite: whether every input image was finite. (A network can map NaN images to
      finite features, e.g. XLA's max(NaN, 0) = 0 in ReLU, so features alone cannot tell.)
  """

  moments: stats.FeatureMoments
  kept: np.ndarray
  splits: tuple[stats.ISStats, ...]
  all_finite: bool = True

  @property
  def count(self) -> int:
    return self.moments.count


class Summarizer:
  """Accumulates a FeatureSummary batch by batch (mutable; `summarize` drives one)."""

  def __init__(self, total: int, *, max_kept: int, num_splits: int, seed: int):
    if total < 1:
      raise ValueError(f"need at least one sample, got total={total}")
    self.total = total
    self.max_kept = max_kept
    self.num_splits = max(1, min(num_splits, total))
    self.rng = np.random.default_rng(seed)
    self.seen = 0
    self.moments: stats.FeatureMoments | None = None
    self.kept: np.ndarray | None = None
    self.splits: list[stats.ISStats] = []
    self.all_finite = True

  def add(
    self, features: np.ndarray, logits: np.ndarray | None, *, inputs_finite: bool = True
  ) -> None:
    """A batch of features and of logits (None: a network without a classifier head)."""
    features = np.asarray(features, np.float64)
    n = features.shape[0]
    if logits is not None:
      logits = np.asarray(logits, np.float64)
      if logits.shape[0] != n:
        raise ValueError(f"{n} feature rows but {logits.shape[0]} logit rows")
    if self.seen + n > self.total:
      raise ValueError(f"more than the announced {self.total} samples")
    self.all_finite = self.all_finite and bool(inputs_finite)
    if self.moments is None:
      self.moments = stats.init_moments(features.shape[1])
      self.kept = np.zeros((min(self.max_kept, self.total), features.shape[1]), np.float64)
      if logits is not None:
        self.splits = [stats.init_is_stats(logits.shape[1]) for _ in range(self.num_splits)]
    self.moments = stats.update_moments(self.moments, features)
    self._reservoir(features)
    if logits is None:
      self.seen += n
      return
    # Split s holds the contiguous global rows [s T / S, (s + 1) T / S), as in the classic IS.
    start = self.seen
    for s in range(self.num_splits):
      lo = max(start, s * self.total // self.num_splits)
      hi = min(start + n, (s + 1) * self.total // self.num_splits)
      if lo < hi:
        self.splits[s] = stats.update_is_stats(
          self.splits[s], logits[lo - start : hi - start], from_logits=True
        )
    self.seen += n

  def _reservoir(self, x: np.ndarray) -> None:
    """Algorithm R, vectorised: row t (global, 0-based) is kept with probability K / (t + 1)."""
    k = self.kept.shape[0]
    t = self.seen + np.arange(x.shape[0])
    fill = t < k
    self.kept[t[fill]] = x[fill]
    rest = ~fill
    if not rest.any():
      return
    slot = self.rng.integers(0, t[rest] + 1)
    rows = x[rest]
    take = slot < k
    slot, rows = slot[take], rows[take]
    # Rows are processed in order, so when two rows hit the same slot the later one stays.
    _, last_rev = np.unique(slot[::-1], return_index=True)
    last = len(slot) - 1 - last_rev
    self.kept[slot[last]] = rows[last]

  def result(self) -> FeatureSummary:
    if self.seen != self.total:
      raise ValueError(f"announced {self.total} samples, got {self.seen}")
    return FeatureSummary(self.moments, self.kept, tuple(self.splits), self.all_finite)


def as_unit_float(images: Any) -> np.ndarray:
  """uint8 -> float32 in [-1, 1]; float images (already in [-1, 1]) -> float32."""
  x = np.asarray(images)
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 127.5 - 1.0
  return x.astype(np.float32, copy=False)


def array_chunks(images: Any, chunk_size: int) -> Iterator[np.ndarray]:
  """Consecutive row blocks of at most chunk_size: what a feature network is fed at once."""
  for start in range(0, images.shape[0], chunk_size):
    yield images[start : start + chunk_size]


class Progress:
  """Logs the progress of a long pass over samples: count, rate and ETA, every 30 s."""

  def __init__(self, what: str, total: int, every_s: float = 30.0):
    self.what, self.total, self.every_s = what, total, every_s
    self.done, self.t0 = 0, time.time()
    self.t_last = self.t0

  def add(self, n: int) -> None:
    self.done += n
    now = time.time()
    if now - self.t_last < self.every_s or self.done >= self.total:
      return
    self.t_last = now
    rate = self.done / max(now - self.t0, 1e-9)
    eta = (self.total - self.done) / rate if rate > 0 else float("nan")
    logging.info(
      "%s: %d/%d samples (%.1f/s, ETA %s)",
      self.what,
      self.done,
      self.total,
      rate,
      writers.format_duration(eta) if eta == eta else "?",
    )


def summarize(
  chunks: Iterable[Any],
  feature_fn: FeatureFn,
  total: int,
  *,
  max_kept: int = MAX_KID_FEATURES,
  num_splits: int = NUM_SCORE_SPLITS,
  seed: int = 0,
  what: str = "features",
) -> FeatureSummary:
  """Streams `total` images, given as chunks, through `feature_fn` into a FeatureSummary."""
  acc = Summarizer(total, max_kept=max_kept, num_splits=num_splits, seed=seed)
  progress = Progress(what, total)
  for chunk in chunks:
    x = as_unit_float(chunk)
    acc.add(*feature_fn(x), inputs_finite=np.isfinite(x).all())
    progress.add(len(x))
  return acc.result()


def compare_summaries(
  real: FeatureSummary,
  fake: FeatureSummary,
  *,
  kid_subsets: int = KID_SUBSETS,
  kid_subset_size: int = KID_SUBSET_SIZE,
  seed: int = 0,
) -> dict[str, float]:
  """{'fd', 'kid', 'kid_std', 'score', 'score_std'} of `fake` against `real`.

  fd: Fréchet distance of Gaussians fitted to the two feature sets; kid: mean (and std) of the
  unbiased cubic-kernel MMD^2 over random subsets of the kept features; score: the
  Inception-Score formula exp(E KL(p(y|x) || p(y))) on `fake`'s softmax, mean (std) over splits.
  Non-finite samples or features (a diverged generator) give nan rather than an exception
  or a meaningless number.
  """
  nan = float("nan")
  out = {"fd": nan, "kid": nan, "kid_std": nan, "score": nan, "score_std": nan}
  finite = np.isfinite(fake.moments.outer).all() and np.isfinite(fake.moments.total).all()
  if not (finite and fake.all_finite):
    return out
  mu_r, cov_r = stats.moments_to_gaussian(real.moments)
  mu_f, cov_f = stats.moments_to_gaussian(fake.moments)
  out["fd"] = stats.frechet_distance(mu_r, cov_r, mu_f, cov_f)
  if min(len(real.kept), len(fake.kept)) >= 2:
    out["kid"], out["kid_std"] = stats.kid(
      real.kept, fake.kept, num_subsets=kid_subsets, subset_size=kid_subset_size, rng=seed
    )
  if fake.splits:  # no splits: a network without a classifier head
    out["score"], out["score_std"] = stats.inception_score_from_stats(list(fake.splits))
  return out
