"""`python -m gan_jax.prepare ITEM...`: the entry point of the prepare CLI, gan_jax/data/prepare.py.

The CLI lives in gan_jax.data; this module hands it the Inception converter and adds the one
item that is trained rather than fetched:

  classifiers    the in-project classifiers that evaluation reads (classifier_fid, ...), for
                 each of mnist and fashion_mnist that is prepared, at the data's own 28 px:
                 trained once into the cache (about 20 s for MNIST, 4 min for Fashion-MNIST on
                 2 CPU cores), so a run's first evaluation does not stop to train them. Other
                 sizes still train on first use. Name it after the data sets it reads.

The converter and the classifiers are evaluation code, and gan_jax.data imports none, so they
meet the CLI here, above both. Importing this module imports no JAX.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence

from gan_jax.data import cache as cache_lib
from gan_jax.data import prepare as prepare_lib
from gan_jax.errors import EXIT_BAD_INPUT

CLASSIFIERS = "classifiers"
CLASSIFIER_DATASETS = ("mnist", "fashion_mnist")
CLASSIFIER_IMAGE_SIZE = 28


def convert_inception(torchscript_path: str, npz_path: str, source: str) -> None:
  """fid-helper's TorchScript -> the project's Inception .npz (prepare_lib.InceptionConverter)."""
  from gan_jax.evaluation import convert_torchscript  # noqa: PLC0415 - imports JAX: only here

  convert_torchscript.convert_file(torchscript_path, npz_path, source=source)


def _evaluation_classifier(dataset: str):
  """The classifier evaluation reads for `dataset` at CLASSIFIER_IMAGE_SIZE: the evaluator's
  own choice (evaluate.classifier_of), so the file trained here is the one it loads."""
  from gan_jax.evaluation import evaluate  # noqa: PLC0415 - imports JAX: only here

  return evaluate.classifier_of(
    dataset, image_size=CLASSIFIER_IMAGE_SIZE, data_source="auto", data_dir=""
  )


def prepare_classifiers(
  cache: str | None,
  *,
  out: Callable[[str], None] = print,
  get_classifier: Callable[[str], object] = _evaluation_classifier,
) -> int:
  """Train (or find cached) the evaluation classifier of each prepared data set of
  CLASSIFIER_DATASETS, one line each; exit status 2 when none is prepared."""
  ready = [d for d in CLASSIFIER_DATASETS if cache_lib.prepared_idx_dir(d, cache) is not None]
  if not ready:
    print(
      f"error: {CLASSIFIERS}: none of {' '.join(CLASSIFIER_DATASETS)} is prepared: prepare "
      f"them first (python -m gan_jax.prepare mnist fashion_mnist {CLASSIFIERS})",
      file=sys.stderr,
    )
    return EXIT_BAD_INPUT
  saved = os.environ.get("GAN_JAX_CACHE")
  if cache:  # the classifiers' cache is the process's (cache_lib.cache_dir)
    os.environ["GAN_JAX_CACHE"] = cache
  try:
    for dataset in ready:
      t = time.time()
      clf = get_classifier(dataset)
      out(
        f"{CLASSIFIERS}: {dataset} at {CLASSIFIER_IMAGE_SIZE} px, held-out accuracy "
        f"{clf.accuracy:.4f} ({clf.name}, {time.time() - t:.1f} s)"
      )
  finally:
    if cache:
      if saved is None:
        os.environ.pop("GAN_JAX_CACHE", None)
      else:
        os.environ["GAN_JAX_CACHE"] = saved
  return 0


# The items made here rather than fetched (prepare_lib.ExtraItem).
EXTRA_ITEMS = {CLASSIFIERS: prepare_classifiers}


def main(argv: Sequence[str] | None = None) -> int:
  return prepare_lib.main(argv, convert_inception=convert_inception, extra_items=EXTRA_ITEMS)


if __name__ == "__main__":
  sys.exit(main())
