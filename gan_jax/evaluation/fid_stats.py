"""FID reference statistics as the usual `.npz` (`mu`, `sigma`), as TTUR and pytorch-fid write it.

Real-data statistics take minutes of Inception time; saving them lets a sweep compute them once,
and the common file layout lets them be exchanged with other FID code:

    np.savez(path, mu=mu, sigma=sigma)       # TTUR precalc stats, pytorch-fid --save-stats

`save_fid_stats` adds optional `meta/<key>` strings (e.g. which network and preprocessing, the
data set, the number of images) that such tools ignore and `load_fid_stats` returns, because
statistics from a different feature network or preprocessing are not comparable.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from gan_jax import writers
from gan_jax.errors import BadFileError

META_PREFIX = "meta/"


class FidStats(NamedTuple):
  mu: np.ndarray  # (d,) float64 mean of the features
  sigma: np.ndarray  # (d, d) float64 covariance (ddof=1)
  metadata: dict[str, str]
  arrays: dict[str, np.ndarray] = {}  # other arrays of the file (e.g. features kept for KID)


def save_fid_stats(
  path: str | os.PathLike,
  mu: np.ndarray,
  sigma: np.ndarray,
  *,
  metadata: Mapping[str, object] | None = None,
  arrays: Mapping[str, np.ndarray] | None = None,
) -> None:
  """Write `mu` (d,) and `sigma` (d, d) as float64 to `path`, atomically and under exactly
  that name (np.savez on a path would append .npz); `arrays` are stored beside them."""
  mu, sigma = _checked(np.asarray(mu, np.float64), np.asarray(sigma, np.float64), os.fspath(path))
  entries = {"mu": mu, "sigma": sigma, **(arrays or {})}
  entries.update({META_PREFIX + k: np.asarray(str(v)) for k, v in (metadata or {}).items()})
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  writers.write_atomic(path, lambda f: np.savez(f, **entries))


def load_fid_stats(path: str | os.PathLike) -> FidStats:
  """Read an FID statistics .npz (ours, TTUR's or pytorch-fid's): mu, sigma and metadata.

  Raises errors.BadFileError (one line) for a missing, unreadable or malformed file.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise BadFileError(f"FID statistics {path} not found")
  try:
    with np.load(path, allow_pickle=False) as data:
      if "mu" not in data.files or "sigma" not in data.files:
        raise BadFileError(f"{path}: expected arrays 'mu' and 'sigma', found {data.files}")
      mu = np.asarray(data["mu"], np.float64)
      sigma = np.asarray(data["sigma"], np.float64)
      metadata = {
        k[len(META_PREFIX) :]: str(data[k]) for k in data.files if k.startswith(META_PREFIX)
      }
      arrays = {
        k: np.asarray(data[k])
        for k in data.files
        if k not in ("mu", "sigma") and not k.startswith(META_PREFIX)
      }
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise BadFileError(f"{path}: not a readable .npz ({e})") from None
  mu, sigma = _checked(mu, sigma, path)
  return FidStats(mu, sigma, metadata, arrays)


def _checked(mu: np.ndarray, sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise BadFileError(f"{name}: mu {mu.shape} and sigma {sigma.shape} are not (d,) and (d, d)")
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    raise BadFileError(f"{name}: mu or sigma has non-finite values")
  return mu, sigma
