"""The run's FID Inception network: found from `eval.inception_path`, loaded without failing.

'auto' means the weights `python -m gan_jax.prepare inception` converted into the cache. A run
must never fail for want of Inception weights: a missing, empty or unreadable path costs only
fid / kid / inception_score, with one log line saying why. The network itself and its weights
files are inception.py's; this module decides which file a run uses, names the network (file
name and digest, for the reference caches) and sizes its batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import jax
from absl import logging

from gan_jax.data import cache
from gan_jax.evaluation import inception as inception_lib
from gan_jax.evaluation.features import FeatureFn


@dataclasses.dataclass(frozen=True)
class InceptionNet:
  """The FID Inception feature function of a weights file, and what it can compute."""

  fn: FeatureFn  # images in [-1, 1] -> (pool features, logits or None)
  has_logits: bool  # False: fid and kid only (no inception_score)
  name: str  # identifies the network (file name and a digest), for caches and eval_info


def resolve_inception_path(path: str) -> str:
  """eval.inception_path: 'auto' is the weights `python -m gan_jax.prepare inception`
  converted ('' when they are not prepared); '' skips the Inception metrics."""
  if path == "auto":
    return cache.prepared_inception_path() or ""
  return os.path.expanduser(path)


def load_inception(path: str, *, batch_size: int = 200) -> InceptionNet | None:
  """The FID Inception network of the weights at `path` ('auto': the prepared ones), or
  None with one log line.

  Never downloads and never raises: an empty path, a missing file or an unreadable one each
  log a single line saying that fid / kid / inception_score are skipped.
  """
  how = "fid, kid and inception_score are skipped"
  resolved = resolve_inception_path(path)
  if not resolved:
    why = "not prepared" if path == "auto" else "eval.inception_path is empty"
    logging.info("no Inception weights (%s): %s; %s", why, how, inception_lib.HOW_TO_GET_WEIGHTS)
    return None
  if not os.path.exists(resolved):
    logging.warning(
      "Inception weights %s not found: %s. %s", resolved, how, inception_lib.HOW_TO_GET_WEIGHTS
    )
    return None
  try:
    weights = inception_lib.load_inception_weights(resolved)
  except Exception as e:  # any broken file must only cost these metrics, not the run
    logging.warning(
      "Inception weights %s unusable (%s: %s): %s", resolved, type(e).__name__, e, how
    )
    return None
  if not weights.has_logits:
    logging.info("inception_score is skipped: %s", inception_lib.NO_LOGITS_NOTE)
  fn = inception_lib.make_inception_fn(
    weights.variables, batch_size=batch_size, preprocess=weights.preprocess
  )
  with open(resolved, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:8]
  name = f"{os.path.splitext(os.path.basename(resolved))[0]}-{digest}"
  return InceptionNet(fn, weights.has_logits, name)


# Inception-v3 at 299 px keeps about 33 MB of activations per image in flight on XLA:CPU (peak
# memory 2.7 GB at batch 64, 8.9 GB at 250; eval.batch_size 500 took 16 GB, past a laptop's).
# On CPU its batches are capped; the images/s do not change.
CPU_INCEPTION_BATCH = 64


def inception_batch_size(batch_size: int) -> int:
  """The Inception batch for a feature batch of `batch_size` (capped on CPU, see above)."""
  return min(batch_size, CPU_INCEPTION_BATCH) if jax.default_backend() == "cpu" else batch_size
