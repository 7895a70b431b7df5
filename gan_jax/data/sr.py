"""Super-resolution data: photographs that ship in registry packages, split once and for all.

Two sets of high-resolution colour photos, read with PIL from where their packages put them
(nothing is downloaded at run time):

  packages  scikit-image, scikit-learn and matplotlib sample photos (pip dependencies):
              train     astronaut, coffee, rocket, motorcycle_left (skimage); china (sklearn)
              held out  chelsea (skimage); flower (sklearn); grace_hopper (matplotlib)
  mate      Debian's mate-backgrounds 1.26.0-1 nature photos (1280x1024 to 2560x1920), put
            into the cache by `python -m gan_jax.prepare mate_backgrounds` (SHA-256 pinned):
              train     Aqua, Blinds, Dune, FreshFlower, Garden, GreenMeadow, RainDrops,
                        TwoWings, Wood
              held out  LadyBird, Storm, YellowFlower

  div2k     TFDS `div2k/bicubic_x4` (Agustsson & Timofte 2017) where it is prepared in the TFDS
            data directory (`tfds build div2k/bicubic_x4`): the 800 train photos for
            training, the 100 validation photos held out. The 2K photos are not kept whole:
            each gives DIV2K_TILES_PER_PHOTO fixed tiles of twice the crop, on a regular
            grid over the photo, and training crops are drawn inside those tiles.

`sr.photos` names what a run uses: 'packages', 'packages+mate', 'div2k', or 'auto' (div2k where
TFDS has it, else packages+mate where mate is prepared, else packages; the choice is recorded
in config.json). The split is fixed: a held-out photo is never cropped for training.

Training pairs are drawn inside the jitted step: a photo chosen with probability proportional
to its area (every training pixel equally likely), a uniformly placed `crop` x `crop` HR crop,
and its LR input, the crop downsampled x4 by MATLAB's antialiased bicubic (data/imresize.py:
for a fixed crop size that resize is two fixed matrices, so the jitted draw computes exactly
imresize(crop, 1/4) and rounds it to uint8, as MATLAB does for uint8 images). Held-out
evaluation uses fixed crops (`held_out_crops`) whose LR inputs are made with imresize itself.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax.data import cache, imresize, packaged
from gan_jax.data import images as images_lib
from gan_jax.errors import DataUnavailableError

Array = jax.Array
FACTOR = 4  # the upscaling factor of the game (two x2 pixel shuffles)
SR_DATASETS = ("sr_photos",)
PHOTO_SETS = ("auto", "packages", "packages+mate", "div2k")
DIV2K = "div2k/bicubic_x4"  # the TFDS config; its 'hr' images are the photos
DIV2K_SPLITS = {"train": "train", "test": "validation"}
DIV2K_TILES_PER_PHOTO = 16  # a 4 x 4 grid of tiles of 2 x crop per training photo

# (package, path inside the package's directory)
PACKAGE_PHOTOS = {
  "train": (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("sklearn", "datasets/images/china.jpg"),
  ),
  "test": (
    ("skimage", "data/chelsea.png"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
  ),
}
_PIP_NAMES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
MATE_PHOTOS = {
  "train": (
    "Aqua.jpg",
    "Blinds.jpg",
    "Dune.jpg",
    "FreshFlower.jpg",
    "Garden.jpg",
    "GreenMeadow.jpg",
    "RainDrops.jpg",
    "TwoWings.jpg",
    "Wood.jpg",
  ),
  "test": ("LadyBird.jpg", "Storm.jpg", "YellowFlower.jpg"),
}


def _package_path(package: str, name: str) -> str:
  path = packaged.package_file(package, name)
  if path is None:
    raise DataUnavailableError(
      f"the SR photos need {name} of the {_PIP_NAMES[package]} package, not found: "
      f"pip install {_PIP_NAMES[package]}"
    )
  return path


def mate_dir() -> str | None:
  """The prepared mate-backgrounds photos, or None (cheap: names and sizes)."""
  return cache.prepared_idx_dir("mate_backgrounds")


def resolve_photos(photos: str) -> str:
  """'auto' -> what this machine has; 'packages+mate' where mate is not prepared -> one line
  saying how to prepare it."""
  if photos not in PHOTO_SETS:
    raise ValueError(f"unknown photo set {photos!r}; valid: {', '.join(PHOTO_SETS)}")
  prepared = mate_dir() is not None
  if photos == "auto":
    if div2k_prepared():
      return "div2k"
    return "packages+mate" if prepared else "packages"
  if photos == "div2k" and not div2k_prepared():
    raise DataUnavailableError(
      f"sr.photos=div2k reads TFDS {DIV2K!r}, not prepared in the TFDS data directory: run "
      f"`tfds build {DIV2K}` (or set TFDS_DATA_DIR), or use --config.sr.photos=packages"
    )
  if photos == "packages+mate" and not prepared:
    raise DataUnavailableError(
      "sr.photos=packages+mate needs Debian's mate-backgrounds photos, not prepared: run "
      "`python -m gan_jax.prepare mate_backgrounds`, or use --config.sr.photos=packages"
    )
  return photos


def div2k_prepared() -> bool:
  """Whether TFDS has DIV2K on disk (checked without importing TensorFlow)."""
  return images_lib.tfds_prepared(DIV2K)


def div2k_photos(split: str):
  """The HR photos of DIV2K's `split` ('train' | 'test': TFDS's validation), one at a time,
  as (name, uint8 (H, W, 3))."""
  import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy; only on this path

  ds = tfds.load(DIV2K, split=DIV2K_SPLITS[split], download=False, shuffle_files=False)
  for i, example in enumerate(tfds.as_numpy(ds)):
    yield f"div2k_{DIV2K_SPLITS[split]}_{i:04d}", np.asarray(example["hr"], np.uint8)


def grid_tiles(photo: np.ndarray, tile: int, count: int) -> list[np.ndarray]:
  """`count` (a square) tiles of `tile` px on a regular grid spanning the photo, corners
  included; none for a photo smaller than a tile."""
  h, w = photo.shape[:2]
  if min(h, w) < tile:
    return []
  k = int(round(count**0.5))
  if k * k != count:
    raise ValueError(f"the tile count {count} is not a square")
  tops = np.linspace(0, h - tile, k).round().astype(int)
  lefts = np.linspace(0, w - tile, k).round().astype(int)
  return [photo[t : t + tile, c : c + tile] for t in tops for c in lefts]


def photo_paths(photos: str, split: str) -> list[str]:
  """The files of a resolved photo set's split ('train' | 'test')."""
  if split not in ("train", "test"):
    raise ValueError(f"unknown split {split!r}; valid: train, test")
  paths = [_package_path(p, n) for p, n in PACKAGE_PHOTOS[split]]
  if photos == "packages+mate":
    directory = mate_dir()
    if directory is None:
      resolve_photos("packages+mate")  # raises the one-line error
    paths += [os.path.join(directory, n) for n in MATE_PHOTOS[split]]
  return paths


def load_photo(path: str) -> np.ndarray:
  with Image.open(path) as im:
    return np.asarray(im.convert("RGB"), np.uint8)


# --- training pairs ---------------------------------------------------------------------------


def training_arrays(photos: list[np.ndarray], crop: int) -> dict[str, np.ndarray]:
  """The training photos as one resident pytree: zero-padded to the largest size, with their
  sizes and draw probabilities (proportional to the area where a crop can start)."""
  small = [p.shape[:2] for p in photos if min(p.shape[:2]) < crop]
  if small:
    raise ValueError(f"photos of {small} are smaller than the {crop}-px crop")
  h = max(p.shape[0] for p in photos)
  w = max(p.shape[1] for p in photos)
  stack = np.zeros((len(photos), h, w, 3), np.uint8)
  for i, p in enumerate(photos):
    stack[i, : p.shape[0], : p.shape[1]] = p
  heights = np.array([p.shape[0] for p in photos], np.int32)
  widths = np.array([p.shape[1] for p in photos], np.int32)
  area = (heights - crop + 1).astype(np.float64) * (widths - crop + 1)
  return {
    "photos": stack,
    "heights": heights,
    "widths": widths,
    "probs": (area / area.sum()).astype(np.float32),
  }


def bicubic_matrix(crop: int) -> np.ndarray:
  """imresize's (crop / 4, crop) matrix of one axis, downsampling a crop by 1/4."""
  return imresize.weight_matrix(crop, crop // FACTOR, 1 / FACTOR).astype(np.float32)


def sample_pairs(arrays: dict[str, Any], rng: Array, batch: int, crop: int) -> dict[str, Array]:
  """Pure, jittable: `batch` (LR, HR) pairs, {'lr': (B, crop/4, crop/4, 3), 'hr': (B, crop,
  crop, 3)}, both float32 in [-1, 1] from uint8 values."""
  k_photo, k_top, k_left = jax.random.split(rng, 3)
  n = arrays["photos"].shape[0]
  which = jax.random.choice(k_photo, n, (batch,), p=arrays["probs"])
  span_h = (jnp.asarray(arrays["heights"])[which] - crop + 1).astype(jnp.float32)
  span_w = (jnp.asarray(arrays["widths"])[which] - crop + 1).astype(jnp.float32)
  top = jnp.floor(jax.random.uniform(k_top, (batch,)) * span_h).astype(jnp.int32)
  left = jnp.floor(jax.random.uniform(k_left, (batch,)) * span_w).astype(jnp.int32)

  def one(i, y, x):
    return jax.lax.dynamic_slice(arrays["photos"], (i, y, x, 0), (1, crop, crop, 3))[0]

  hr = jax.vmap(one)(which, top, left).astype(jnp.float32)
  m = jnp.asarray(bicubic_matrix(crop))
  lr = jnp.einsum("ih,nhwc,jw->nijc", m, hr, m, precision=jax.lax.Precision.HIGHEST)
  lr = jnp.clip(jnp.floor(lr + 0.5), 0, 255)  # MATLAB's uint8 cast (values >= 0 here)
  return {"lr": lr / 127.5 - 1.0, "hr": hr / 127.5 - 1.0}


# --- held-out crops ---------------------------------------------------------------------------


def held_out_crops(photos: list[np.ndarray], crop: int, per_photo: int) -> np.ndarray:
  """Fixed HR crops of the held-out photos, uint8 (N, crop, crop, 3): `per_photo` of each,
  evenly spaced along the photo's diagonal (one crop: the centre)."""
  out = []
  for p in photos:
    h, w = p.shape[:2]
    if min(h, w) < crop:
      raise ValueError(f"a held-out photo of {h}x{w} is smaller than the {crop}-px crop")
    fractions = [0.5] if per_photo == 1 else np.linspace(0.1, 0.9, per_photo)
    for f in fractions:
      top, left = int(round(f * (h - crop))), int(round(f * (w - crop)))
      out.append(p[top : top + crop, left : left + crop])
  return np.stack(out)


@dataclasses.dataclass(frozen=True)
class SRData:
  """A resolved photo set: resident training arrays and the held-out evaluation crops.

  Attributes:
    photos: the resolved sr.photos ('packages' | 'packages+mate').
    train: training_arrays of the training photos.
    test_hr: uint8 (N, eval_crop, eval_crop, 3) held-out crops.
    test_lr: uint8 (N, eval_crop / 4, eval_crop / 4, 3): imresize(test_hr, 1/4).
    names: the training and held-out photo files (basenames), for the start row.
  """

  photos: str
  train: dict[str, np.ndarray]
  test_hr: np.ndarray
  test_lr: np.ndarray
  names: dict[str, list[str]]

  def info(self) -> dict[str, Any]:
    return {
      "dataset": "sr_photos",
      "dataset_source": self.photos,
      "dataset_train_photos": _listing(self.names["train"]),
      "dataset_test_photos": _listing(self.names["test"]),
      "dataset_test_crops": int(len(self.test_hr)),
    }


def _listing(names: list[str]) -> str:
  """The photos' names, or the first and last and their number for a long list (DIV2K)."""
  if len(names) <= 20:
    return ",".join(names)
  return f"{names[0]}..{names[-1]} ({len(names)} photos)"


def load_sr_data(photos: str, *, crop: int, eval_crop: int, eval_crops_per_photo: int) -> SRData:
  resolved = resolve_photos(photos)
  if resolved == "div2k":
    return _load_div2k(crop=crop, eval_crop=eval_crop, eval_crops_per_photo=eval_crops_per_photo)
  paths = {s: photo_paths(resolved, s) for s in ("train", "test")}
  train = training_arrays([load_photo(p) for p in paths["train"]], crop)
  test_hr = held_out_crops([load_photo(p) for p in paths["test"]], eval_crop, eval_crops_per_photo)
  names = {s: [os.path.basename(p) for p in v] for s, v in paths.items()}
  return SRData(resolved, train, test_hr, imresize.downsample(test_hr, FACTOR), names)


def _load_div2k(*, crop: int, eval_crop: int, eval_crops_per_photo: int) -> SRData:
  """DIV2K, read photo by photo: the training tiles and the held-out crops stay; the 2K
  photos do not (800 of them would take about 6.7 GB)."""
  tiles, names = [], {"train": [], "test": []}
  for name, photo in div2k_photos("train"):
    got = grid_tiles(photo, 2 * crop, DIV2K_TILES_PER_PHOTO)
    if got:
      tiles += got
      names["train"].append(name)
  test_hr = []
  for name, photo in div2k_photos("test"):
    test_hr.append(held_out_crops([photo], eval_crop, eval_crops_per_photo))
    names["test"].append(name)
  if not tiles or not test_hr:
    raise DataUnavailableError(f"TFDS {DIV2K!r} holds no photo of at least {2 * crop} px")
  test = np.concatenate(test_hr)
  return SRData(
    "div2k", training_arrays(tiles, crop), test, imresize.downsample(test, FACTOR), names
  )
