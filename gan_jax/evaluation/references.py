"""The reference ("real") side of the metrics, computed once and cached for every run.

Every run of a data set, whatever its seed or sweep member, must be scored against the very same
reference: the reference images are chosen with the evaluator's own seed, their feature summary
and k-NN radii are computed once per key (data set, split, source, size, image size, network)
and written to the cache (data/cache.py), and every run reads them back from the file, so all
compare against the same bits. `reference_digest` fingerprints a summary for the run's info.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import numpy as np
from absl import logging

from gan_jax import writers
from gan_jax.data import cache, datasets
from gan_jax.evaluation import fid_stats, prdc, stats
from gan_jax.evaluation.features import FeatureSummary

REFERENCE_SPLIT = {"mnist": "test", "fashion_mnist": "test"}  # others: 'train'
# The evaluator's own randomness (the classifier's training, the reference subset, KID's
# subsets): fixed, and never the training seed's, so every seed of a variant and every
# member of a sweep is scored in one feature space against one reference.
EVALUATOR_SEED = 0


def cached_summary(key: str, compute: Callable[[], FeatureSummary]) -> FeatureSummary:
  """The reference set's summary, computed once per key and then read from the cache.

  The file is an FID-statistics .npz (mu, sigma, as pytorch-fid and TTUR write them; other
  tools ignore its extra arrays) plus the count and the kept rows for KID. Every run reads
  it back from the file, so all runs with one key compare against the very same bits.
  """
  path = cache.reference_stats_path(key)
  if not os.path.exists(path):
    summary = compute()
    mu, sigma = stats.moments_to_gaussian(summary.moments)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fid_stats.save_fid_stats(
      path,
      mu,
      sigma,
      metadata={"key": key, "count": str(summary.count)},
      arrays={"kept": summary.kept},
    )
  loaded = fid_stats.load_fid_stats(path)
  n = int(loaded.metadata["count"])
  mu, sigma = np.asarray(loaded.mu, np.float64), np.asarray(loaded.sigma, np.float64)
  # The moments the Fréchet distance reads back exactly these mu and sigma from.
  moments = stats.FeatureMoments(n, mu * n, sigma * (n - 1) + n * np.outer(mu, mu))
  return FeatureSummary(moments, loaded.arrays["kept"], ())


def real_manifold(key: str | None, features: np.ndarray) -> prdc.RealManifold | None:
  """The real set's k-NN radii for precision/recall/density/coverage, computed once per
  reference key (cached beside its statistics); None where the set is too small for k."""
  if len(features) <= max(prdc.K_PR, prdc.K_DC):
    logging.info("precision/recall/density/coverage need more than %d samples", prdc.K_DC)
    return None
  path = cache.reference_stats_path(f"{key}-prdc") if key else None
  if path and os.path.exists(path):
    with np.load(path) as f:
      x = np.asarray(features, np.float32)
      x.setflags(write=False)
      radii = {k: f[f"squared_radii_{k}"] for k in (prdc.K_PR, prdc.K_DC)}
      return prdc.RealManifold(x, f["center"], radii, int(f["block_size"]))
  manifold = prdc.real_manifold(features)
  if path:
    os.makedirs(os.path.dirname(path), exist_ok=True)  # a fresh machine has no cache yet
    arrays = {f"squared_radii_{k}": v for k, v in manifold.squared_radii.items()}
    writers.save_npz(
      path, {**arrays, "center": manifold.center, "block_size": np.asarray(manifold.block_size)}
    )
  return manifold


def reference_digest(summary: FeatureSummary) -> str:
  """A short fingerprint of reference statistics (equal digests: the same reference)."""
  h = hashlib.sha256()
  for a in (summary.moments.total, summary.moments.outer, summary.kept):
    h.update(np.ascontiguousarray(a, np.float64).tobytes())
  return h.hexdigest()[:12]


def load_reference(
  name: str, *, image_size: int, num_samples: int, data_source: str, data_dir: str
) -> tuple[np.ndarray, str, str]:
  """(uint8 reference images, source, split) for the image set `name` (why: evaluate.py):
  the split's images, or num_samples of them drawn with the evaluator's own seed."""
  split = REFERENCE_SPLIT.get(name, "train")
  images, _, source = datasets.load_images(
    name, split=split, size=image_size, source=data_source, data_dir=data_dir
  )
  if len(images) > num_samples:
    rng = np.random.default_rng(EVALUATOR_SEED)
    images = images[np.sort(rng.choice(len(images), num_samples, replace=False))]
  return images, source, split
