"""Augmentation for limited data: DiffAugment, ADA, and the regularizers beside them.

One idea over 600 lines: what limited-data training does to D's inputs and loss, as pure
functions (the GAN game wires them in: games/gan/augmentation.py).

Everything here is a pure function of arrays and explicit ``jax.random`` keys; images are
NHWC floats in [-1, 1] as elsewhere in gan_jax. The same key on a batch of the same shape
always gives the same draw, whatever the pixels: ``diff_augment(real, k, policy)`` and
``diff_augment(fake, k, policy)`` apply one transform to both. Both references draw
independently for every call of D instead (DiffAugment augments each D input with fresh
randomness; stylegan2-ada's ``run_D`` calls its pipe anew for reals and fakes), so the step
should split separate keys for the real and the fake batch, and another for G's update.

Sections:
  DiffAugment (Zhao et al. 2020)   ``diff_augment`` = ``diff_augment_apply(diff_augment_draw)``
  ADA (Karras et al. 2020)         ``ada_augment``, its ``AdaSpec``s, ``ada_update`` for p
  bCR (Zhao et al. 2021)           ``bcr_penalty``
  LeCam (Tseng et al. 2021)        ``lecam_update``, ``lecam_penalty``
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

# Per-transform draws and the 3x3 / 4x4 compositions are tiny; full precision keeps
# accelerators from rounding them through bf16 passes.
_HIGHEST = lax.Precision.HIGHEST

# --------------------------------------------------------------------------------------
# DiffAugment: mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py.
# --------------------------------------------------------------------------------------

DIFF_AUGMENT_POLICIES: dict[str, tuple[str, ...]] = {
  "color": ("brightness", "saturation", "contrast"),
  "translation": ("translation",),
  "cutout": ("cutout",),
}

DiffAugmentDraw = tuple[dict[str, jax.Array], ...]


def parse_policy(policy: str) -> tuple[str, ...]:
  """The transforms of a comma-joined policy, in the order they apply ('' gives none).

  Raises ValueError on an unknown policy name, listing the valid ones.
  """
  names = [name.strip() for name in policy.split(",") if name.strip()]
  unknown = [name for name in names if name not in DIFF_AUGMENT_POLICIES]
  if unknown:
    raise ValueError(
      f"unknown DiffAugment policy {unknown} in {policy!r}; valid: "
      f"{sorted(DIFF_AUGMENT_POLICIES)} (comma-joined, e.g. 'color,translation,cutout')"
    )
  return tuple(t for name in names for t in DIFF_AUGMENT_POLICIES[name])


def _draw_one(
  name: str, key: jax.Array, shape: tuple[int, ...], translation_ratio: float, cutout_ratio: float
) -> dict[str, jax.Array]:
  n, height, width = shape[0], shape[1], shape[2]
  if name == "brightness":  # x + (U[0, 1) - 0.5)
    return {"delta": jax.random.uniform(key, (n,)) - 0.5}
  if name == "saturation":  # around the per-pixel channel mean, times U[0, 2)
    return {"factor": jax.random.uniform(key, (n,)) * 2.0}
  if name == "contrast":  # around the per-image mean, times U[0.5, 1.5)
    return {"factor": jax.random.uniform(key, (n,)) + 0.5}
  if name == "translation":
    # int(size * ratio + 0.5) pixels at most, both signs and both ends included.
    max_shift = jnp.array(
      [int(height * translation_ratio + 0.5), int(width * translation_ratio + 0.5)]
    )
    shift = jax.random.randint(key, (n, 2), -max_shift, max_shift + 1)
    return {"shift": shift}
  if name == "cutout":
    size = jnp.array([int(height * cutout_ratio + 0.5), int(width * cutout_ratio + 0.5)])
    # The reference's offset in [0, size_img + (1 - size % 2)) is the square's centre; its
    # first row is offset - size // 2 (clipped to the image when it falls off an edge).
    offset = jax.random.randint(key, (n, 2), 0, jnp.array([height, width]) + 1 - size % 2)
    start = offset - size // 2
    return {"start": start, "stop": start + size}
  raise AssertionError(name)


def diff_augment_draw(
  key: jax.Array,
  shape: tuple[int, ...],
  policy: str,
  *,
  translation_ratio: float = 0.125,
  cutout_ratio: float = 0.5,
) -> DiffAugmentDraw:
  """The random parameters of ``policy`` for a batch of NHWC ``shape``, one dict per transform.

  Per image: brightness ``delta`` in [-0.5, 0.5); saturation ``factor`` in [0, 2); contrast
  ``factor`` in [0.5, 1.5); translation ``shift`` (rows, columns) integers in
  [-int(H * ratio + 0.5), +int(H * ratio + 0.5)] (likewise W); cutout ``start`` / ``stop``
  (rows, columns) of a square of int(H * ratio + 0.5) x int(W * ratio + 0.5) pixels, which
  may reach past the border (it is clipped there). Transform i of the flattened policy
  draws from ``fold_in(key, i)``, so the draw depends on the key, the shape and the policy
  only, never on the pixels.
  """
  transforms = parse_policy(policy)
  return tuple(
    _draw_one(name, jax.random.fold_in(key, i), tuple(shape), translation_ratio, cutout_ratio)
    for i, name in enumerate(transforms)
  )


def _per_image(v: jax.Array, x: jax.Array) -> jax.Array:
  return v.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))


def _apply_one(name: str, x: jax.Array, params: dict[str, jax.Array]) -> jax.Array:
  if name == "brightness":
    return x + _per_image(params["delta"], x)
  if name == "saturation":
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) * _per_image(params["factor"], x) + mean
  if name == "contrast":
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _per_image(params["factor"], x) + mean
  if name == "translation":
    # The reference's gather: a one-pixel zero border, source indices clamped into it, so
    # every pixel shifted in from outside reads zero, for any shift.
    n, height, width = x.shape[:3]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shift = params["shift"]
    rows = jnp.clip(jnp.arange(height)[None, :] + shift[:, :1] + 1, 0, height + 1)
    cols = jnp.clip(jnp.arange(width)[None, :] + shift[:, 1:] + 1, 0, width + 1)
    return padded[jnp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
  if name == "cutout":
    height, width = x.shape[1:3]
    start, stop = params["start"], params["stop"]
    rows, cols = jnp.arange(height)[None, :], jnp.arange(width)[None, :]
    in_rows = (rows >= start[:, :1]) & (rows < stop[:, :1])
    in_cols = (cols >= start[:, 1:]) & (cols < stop[:, 1:])
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[..., None].astype(x.dtype)
  raise AssertionError(name)


def diff_augment_apply(x: jax.Array, draw: DiffAugmentDraw, policy: str) -> jax.Array:
  """Applies a ``diff_augment_draw`` of ``policy`` to NHWC ``x``; linear (affine) in x."""
  transforms = parse_policy(policy)
  if len(draw) != len(transforms):
    raise ValueError(f"a draw of {len(draw)} transforms for policy {policy!r}")
  for name, params in zip(transforms, draw, strict=True):
    x = _apply_one(name, x, params)
  return x


def diff_augment(
  x: jax.Array,
  key: jax.Array,
  policy: str,
  *,
  translation_ratio: float = 0.125,
  cutout_ratio: float = 0.5,
) -> jax.Array:
  """DiffAugment (Zhao et al. 2020) of NHWC images ``x``: differentiable in x.

  ``policy`` is '' (returns x itself) or a comma-joined subset of 'color', 'translation',
  'cutout', applied in the order given. The maths follows ``DiffAugment_pytorch.py``
  exactly, moved from NCHW to NHWC, with one draw per image:
    brightness   x + (u - 0.5),                          u ~ U[0, 1)
    saturation   (x - m_c) * 2u + m_c,   m_c the per-pixel mean over channels
    contrast     (x - m) * (u + 0.5) + m,  m the per-image mean over H, W, C
    translation  out[i, j] = x[i + s_h, j + s_w], zero where that falls outside,
                 s integers in [-int(H/8 + 0.5), int(H/8 + 0.5)] (likewise W)
    cutout       zero a square of int(H/2 + 0.5) x int(W/2 + 0.5) pixels at a random
                 centre, the part past the border clipped
  Where this differs from the reference: the random numbers come from ``jax.random``
  (``fold_in(key, i)`` for the policy's i-th transform) rather than torch's global
  generator, so the distributions match but not the streams.
  """
  if not parse_policy(policy):
    return x
  draw = diff_augment_draw(
    key, x.shape, policy, translation_ratio=translation_ratio, cutout_ratio=cutout_ratio
  )
  return diff_augment_apply(x, draw, policy)


# --------------------------------------------------------------------------------------
# ADA: NVlabs/stylegan2-ada-pytorch, training/augment.py (AugmentPipe) and
# training/training_loop.py (the p heuristic).
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AdaSpec:
  """Probability multipliers (0 = off) and strengths of ADA's transforms.

  Names, defaults and meanings are ``AugmentPipe.__init__``'s; each enabled transform
  applies to an image with probability ``multiplier * p``. Not implemented: ``imgfilter``
  (the reference's wavelet filter bank). Frozen and hashable, so it can be a static
  argument of a jitted step.
  """

  # Pixel blitting.
  xflip: float = 0.0
  rotate90: float = 0.0
  xint: float = 0.0
  xint_max: float = 0.125  # range of integer translation, relative to the image size
  # General geometric transformations.
  scale: float = 0.0
  rotate: float = 0.0
  aniso: float = 0.0
  xfrac: float = 0.0
  scale_std: float = 0.2  # log2 standard deviation of isotropic scaling
  rotate_max: float = 1.0  # range of arbitrary rotation, 1 = full circle
  aniso_std: float = 0.2  # log2 standard deviation of anisotropic scaling
  xfrac_std: float = 0.125  # standard deviation of fractional translation, relative to size
  # Colour transformations.
  brightness: float = 0.0
  contrast: float = 0.0
  lumaflip: float = 0.0
  hue: float = 0.0
  saturation: float = 0.0
  brightness_std: float = 0.2
  contrast_std: float = 0.5  # log2 standard deviation
  hue_max: float = 1.0  # range of hue rotation, 1 = full circle
  saturation_std: float = 1.0  # log2 standard deviation
  # Image-space corruptions.
  noise: float = 0.0
  cutout: float = 0.0
  noise_std: float = 0.1
  cutout_size: float = 0.5  # side of the cutout rectangle, relative to the image size

  @property
  def geometric(self) -> bool:
    g = (self.xflip, self.rotate90, self.xint, self.scale, self.rotate, self.aniso, self.xfrac)
    return any(m > 0 for m in g)

  @property
  def color(self) -> bool:
    c = (self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation)
    return any(m > 0 for m in c)


_BLIT = dict(xflip=1.0, rotate90=1.0, xint=1.0)
_GEOM = dict(scale=1.0, rotate=1.0, aniso=1.0, xfrac=1.0)
_COLOR = dict(brightness=1.0, contrast=1.0, lumaflip=1.0, hue=1.0, saturation=1.0)

# train.py's augpipe_specs, less those that need imgfilter.
ADA_SPECS: dict[str, AdaSpec] = {
  "blit": AdaSpec(**_BLIT),
  "geom": AdaSpec(**_GEOM),
  "color": AdaSpec(**_COLOR),
  "noise": AdaSpec(noise=1.0),
  "cutout": AdaSpec(cutout=1.0),
  "bg": AdaSpec(**_BLIT, **_GEOM),
  "bgc": AdaSpec(**_BLIT, **_GEOM, **_COLOR),
}
ADA_BGC = ADA_SPECS["bgc"]

# fold_in indices: each transform its own stream, so enabling one leaves the others' draws.
_ADA_STREAMS = {
  name: i
  for i, name in enumerate(
    "xflip rotate90 xint scale rotate_pre aniso rotate_post xfrac "
    "brightness contrast lumaflip hue saturation noise cutout".split()
  )
}


def _streams(key: jax.Array, name: str) -> tuple[jax.Array, jax.Array]:
  """(value key, gate key) of one transform."""
  k = jax.random.split(jax.random.fold_in(key, _ADA_STREAMS[name]))
  return k[0], k[1]


def _gate(key: jax.Array, shape: tuple[int, ...], prob: jax.Array) -> jax.Array:
  """True where a transform applies: U[0, 1) < prob, as the reference (never at prob 0)."""
  return jax.random.uniform(key, shape) < prob


def _matrix(rows: list[list[jax.Array | float]], n: int) -> jax.Array:
  """A batch of (len(rows) x len(rows[0])) matrices from per-image scalars / constants."""
  full = lambda e: jnp.broadcast_to(jnp.asarray(e, jnp.float32), (n,))
  return jnp.stack([jnp.stack([full(e) for e in row], axis=-1) for row in rows], axis=-2)


def _translate2d(tx, ty, n):
  return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n)


def _scale2d(sx, sy, n):
  return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n)


def _rotate2d(cos, sin, n):
  return _matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], n)


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
  return jnp.matmul(a, b, precision=_HIGHEST)


def ada_geometric_matrix(
  key: jax.Array, p: jax.Array | float, spec: AdaSpec, shape: tuple[int, ...]
) -> jax.Array:
  """ADA's inverse geometric transforms, (N, 3, 3), for a batch of NHWC ``shape``.

  ``g_inv @ [x_out, y_out, 1] = [x_in, y_in, 1]`` in pixel units about the image centre
  ((W - 1) / 2, (H - 1) / 2), x along the width. Composed in the reference's order and
  with its draws: xflip, rotate90, xint (round(U(-1, 1) * xint_max * size) pixels), scale
  (2^N(0, scale_std)), rotation before and after aniso (each U(-pi, pi) * rotate_max with
  probability 1 - sqrt(1 - rotate * p), so that one of them happens with rotate * p),
  aniso (2^N(0, aniso_std) along x, its inverse along y), xfrac (N(0, xfrac_std) * size).
  The 90-degree rotations are built from exact 0 / +-1 entries, so blits stay exact.
  """
  n, height, width = shape[0], shape[1], shape[2]
  p = jnp.asarray(p, jnp.float32)
  g = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))
  if spec.xflip > 0:
    kv, kg = _streams(key, "xflip")
    i = jax.random.randint(kv, (n,), 0, 2).astype(jnp.float32)
    i = jnp.where(_gate(kg, (n,), spec.xflip * p), i, 0.0)
    g = _mm(g, _scale2d(1 - 2 * i, 1.0, n))  # its own inverse
  if spec.rotate90 > 0:
    kv, kg = _streams(key, "rotate90")
    i = jax.random.randint(kv, (n,), 0, 4)
    i = jnp.where(_gate(kg, (n,), spec.rotate90 * p), i, 0)
    # rotate2d_inv(-pi / 2 * i) = rotate2d(pi / 2 * i), with exact cosines and sines.
    cos, sin = jnp.array([1.0, 0.0, -1.0, 0.0])[i], jnp.array([0.0, 1.0, 0.0, -1.0])[i]
    g = _mm(g, _rotate2d(cos, sin, n))
  if spec.xint > 0:
    kv, kg = _streams(key, "xint")
    t = (jax.random.uniform(kv, (n, 2)) * 2 - 1) * spec.xint_max
    t = jnp.where(_gate(kg, (n, 1), spec.xint * p), t, 0.0)
    g = _mm(g, _translate2d(-jnp.round(t[:, 0] * width), -jnp.round(t[:, 1] * height), n))
  if spec.scale > 0:
    kv, kg = _streams(key, "scale")
    s = jnp.exp2(jax.random.normal(kv, (n,)) * spec.scale_std)
    s = jnp.where(_gate(kg, (n,), spec.scale * p), s, 1.0)
    g = _mm(g, _scale2d(1 / s, 1 / s, n))
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - spec.rotate * p, 0, 1))

  def rotation(stream: str) -> jax.Array:
    kv, kg = _streams(key, stream)
    theta = (jax.random.uniform(kv, (n,)) * 2 - 1) * math.pi * spec.rotate_max
    theta = jnp.where(_gate(kg, (n,), p_rot), theta, 0.0)
    return _rotate2d(jnp.cos(theta), jnp.sin(theta), n)  # rotate2d_inv(-theta)

  if spec.rotate > 0:
    g = _mm(g, rotation("rotate_pre"))
  if spec.aniso > 0:
    kv, kg = _streams(key, "aniso")
    s = jnp.exp2(jax.random.normal(kv, (n,)) * spec.aniso_std)
    s = jnp.where(_gate(kg, (n,), spec.aniso * p), s, 1.0)
    g = _mm(g, _scale2d(1 / s, s, n))
  if spec.rotate > 0:
    g = _mm(g, rotation("rotate_post"))
  if spec.xfrac > 0:
    kv, kg = _streams(key, "xfrac")
    t = jax.random.normal(kv, (n, 2)) * spec.xfrac_std
    t = jnp.where(_gate(kg, (n, 1), spec.xfrac * p), t, 0.0)
    g = _mm(g, _translate2d(-t[:, 0] * width, -t[:, 1] * height, n))
  return g


def _reflect(i: jax.Array, size: int) -> jax.Array:
  """Index into 0..size-1 of the image mirrored about its edge pixels (numpy / torch
  'reflect': ... 2 1 | 0 1 2 ... size-1 | size-2 ...), repeated periodically."""
  if size == 1:
    return jnp.zeros_like(i)
  period = 2 * (size - 1)
  i = jnp.mod(i, period)
  return jnp.where(i >= size, period - i, i)


def resample(x: jax.Array, g_inv: jax.Array) -> jax.Array:
  """Bilinear resampling of NHWC ``x`` through per-image inverse transforms (N, 3, 3).

  Output pixel (row y, column x) reads the input at ``g_inv @ [x - cx, y - cy, 1] + (cx,
  cy)``, cx = (W - 1) / 2, cy = (H - 1) / 2, interpolating its four neighbours linearly;
  neighbours outside the image read the image reflected about its edge pixels (torch's
  'reflect' padding), repeated as far as needed. Exact (bit for bit) wherever the source
  lands on pixel centres, as it does for flips, 90-degree rotations and integer shifts.
  Linear in x.
  """
  n, height, width = x.shape[:3]
  cx, cy = (width - 1) / 2, (height - 1) / 2
  px = jnp.arange(width, dtype=jnp.float32)[None, None, :] - cx
  py = jnp.arange(height, dtype=jnp.float32)[None, :, None] - cy
  g = g_inv[:, :2, :, None, None]  # (N, 2, 3, 1, 1) against (1, H, W) grids
  u = g[:, 0, 0] * px + g[:, 0, 1] * py + g[:, 0, 2] + cx  # (N, H, W) source columns
  v = g[:, 1, 0] * px + g[:, 1, 1] * py + g[:, 1, 2] + cy  # source rows
  u0, v0 = jnp.floor(u), jnp.floor(v)
  fu, fv = (u - u0).astype(x.dtype)[..., None], (v - v0).astype(x.dtype)[..., None]
  u0, v0 = u0.astype(jnp.int32), v0.astype(jnp.int32)
  c0, c1 = _reflect(u0, width), _reflect(u0 + 1, width)
  r0, r1 = _reflect(v0, height), _reflect(v0 + 1, height)
  b = jnp.arange(n)[:, None, None]
  top = x[b, r0, c0] * (1 - fu) + x[b, r0, c1] * fu
  bottom = x[b, r1, c0] * (1 - fu) + x[b, r1, c1] * fu
  return top * (1 - fv) + bottom * fv


def ada_color_matrix(
  key: jax.Array, p: jax.Array | float, spec: AdaSpec, shape: tuple[int, ...]
) -> jax.Array:
  """ADA's colour transforms, (N, 4, 4) homogeneous: ``c @ [r, g, b, 1] = [r', g', b', 1]``.

  Composed in the reference's order and with its draws: brightness (+N(0,
  brightness_std)), contrast (x 2^N(0, contrast_std)), luma flip (Householder reflection
  about the luma axis v = (1, 1, 1) / sqrt(3), half the time when chosen), hue (rotation
  about v by U(-pi, pi) * hue_max) and saturation (components off v times
  2^N(0, saturation_std)); hue and saturation only for more than one channel, as there.
  """
  n, channels = shape[0], shape[-1]
  p = jnp.asarray(p, jnp.float32)
  eye = jnp.eye(4)
  c = jnp.broadcast_to(eye, (n, 4, 4))
  v = jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
  vv = jnp.outer(v, v)
  rgb = jnp.diag(jnp.array([1.0, 1.0, 1.0, 0.0]))  # I on the colour block only
  if spec.brightness > 0:
    kv, kg = _streams(key, "brightness")
    b = jax.random.normal(kv, (n,)) * spec.brightness_std
    b = jnp.where(_gate(kg, (n,), spec.brightness * p), b, 0.0)
    c = _mm(_matrix([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]], n), c)
  if spec.contrast > 0:
    kv, kg = _streams(key, "contrast")
    s = jnp.exp2(jax.random.normal(kv, (n,)) * spec.contrast_std)
    s = jnp.where(_gate(kg, (n,), spec.contrast * p), s, 1.0)
    c = _mm(_matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], n), c)
  if spec.lumaflip > 0:
    kv, kg = _streams(key, "lumaflip")
    i = jax.random.randint(kv, (n,), 0, 2).astype(jnp.float32)
    i = jnp.where(_gate(kg, (n,), spec.lumaflip * p), i, 0.0)
    c = _mm(eye - 2 * vv * i[:, None, None], c)
  if spec.hue > 0 and channels > 1:
    kv, kg = _streams(key, "hue")
    theta = (jax.random.uniform(kv, (n,)) * 2 - 1) * math.pi * spec.hue_max
    theta = jnp.where(_gate(kg, (n,), spec.hue * p), theta, 0.0)
    s, co = jnp.sin(theta)[:, None, None], jnp.cos(theta)[:, None, None]
    # Rodrigues about v (the reference's rotate3d): cos I + sin [v]x + (1 - cos) v v^T,
    # on the RGB block only; the homogeneous row and column stay those of I.
    vx, vy, vz = v[0], v[1], v[2]
    cross = jnp.array([[0, -vz, vy, 0], [vz, 0, -vx, 0], [-vy, vx, 0, 0], [0, 0, 0, 0]])
    rot = co * rgb + s * cross + (1 - co) * vv + (eye - rgb)
    c = _mm(rot, c)
  if spec.saturation > 0 and channels > 1:
    kv, kg = _streams(key, "saturation")
    s = jnp.exp2(jax.random.normal(kv, (n,)) * spec.saturation_std)
    s = jnp.where(_gate(kg, (n,), spec.saturation * p), s, 1.0)
    # The reference's vv^T + s (I - vv^T) on the RGB block (its homogeneous corner becomes
    # s there, which nothing reads), written so that s = 1 gives I exactly (p = 0 exact).
    c = _mm(eye + (s - 1)[:, None, None] * (rgb - vv), c)
  return c


def apply_color_matrix(x: jax.Array, c: jax.Array) -> jax.Array:
  """Applies per-image homogeneous colour matrices (N, 4, 4) to NHWC ``x``; affine in x.

  RGB: ``c[:3, :3] @ rgb + c[:3, 3]`` per pixel. One channel, as the reference: the gain is
  the sum of ``c[:3, :3]`` over 3 and the offset the mean of ``c[:3, 3]`` (the matrix
  averaged over the three output channels, applied to a grey pixel).
  """
  channels = x.shape[-1]
  c = c.astype(x.dtype)
  if channels == 3:
    out = jnp.einsum("nij,nhwj->nhwi", c[:, :3, :3], x, precision=_HIGHEST)
    return out + c[:, None, None, :3, 3]
  if channels == 1:
    gain = jnp.sum(c[:, :3, :3], axis=(1, 2)) / 3
    offset = jnp.sum(c[:, :3, 3], axis=1) / 3
    return x * gain[:, None, None, None] + offset[:, None, None, None]
  raise ValueError(f"ADA's colour transforms need 1 or 3 channels, not {channels}")


def _corrupt(x: jax.Array, key: jax.Array, p: jax.Array, spec: AdaSpec) -> jax.Array:
  """Additive RGB noise and cutout, as the reference's image-space corruptions."""
  n, height, width = x.shape[:3]
  if spec.noise > 0:
    kv, kg = _streams(key, "noise")
    k_sigma, k_pixels = jax.random.split(kv)
    sigma = jnp.abs(jax.random.normal(k_sigma, (n,))) * spec.noise_std
    sigma = jnp.where(_gate(kg, (n,), spec.noise * p), sigma, 0.0)
    x = x + jax.random.normal(k_pixels, x.shape, x.dtype) * _per_image(sigma, x)
  if spec.cutout > 0:
    kv, kg = _streams(key, "cutout")
    size = jnp.where(_gate(kg, (n,), spec.cutout * p), spec.cutout_size, 0.0)[:, None, None]
    center = jax.random.uniform(kv, (n, 2))[:, :, None, None]  # (x, y) in [0, 1)
    cols = (jnp.arange(width)[None, None, :] + 0.5) / width
    rows = (jnp.arange(height)[None, :, None] + 0.5) / height
    keep = (jnp.abs(cols - center[:, 0]) >= size / 2) | (jnp.abs(rows - center[:, 1]) >= size / 2)
    x = x * keep[..., None].astype(x.dtype)
  return x


def _is_identity(m: jax.Array) -> jax.Array:
  return jnp.all(m == jnp.eye(m.shape[-1]), axis=(-2, -1))


def ada_augment(
  x: jax.Array, key: jax.Array, p: jax.Array | float, spec: AdaSpec = ADA_BGC
) -> jax.Array:
  """StyleGAN2-ADA's augmentation pipeline (Karras et al. 2020) on NHWC images in [-1, 1].

  Each transform enabled in ``spec`` applies to each image independently with probability
  ``multiplier * p`` (rotation: see ``ada_geometric_matrix``); ``p`` may be traced (the
  step holds it in its state). Stages, in the reference's order: the geometric
  transforms composed into one matrix per image and resampled once (``resample``), the
  colour transforms composed into one 4x4 matrix per image (``apply_color_matrix``), then
  noise and cutout if enabled. Differentiable in x (linear per stage for a fixed draw).
  An image whose composed matrix is the identity passes the stage untouched, so p = 0
  returns x bit for bit.

  Simplification of the geometric resampling, and why: the reference pads the batch by
  reflection (at most W - 1 / H - 1 pixels a side, zeros beyond), upsamples 2x with the
  sym6 wavelet low-pass, samples bilinearly with ``grid_sample`` and downsamples 2x with
  the same filter, so that fractional transforms neither alias nor blur much. Here the
  image is sampled bilinearly once at its own resolution, with reflection padding (torch
  'reflect', repeated periodically rather than turning to zeros): blits (flip, rot90,
  integer shifts) are exact in both, but our scaling down and rotation alias somewhat and
  our fractional shifts blur a little (bilinear is a low-pass of its own). That costs the
  leak-free property only in degree, needs no filter kernels, and stays a few gathers on
  small images. ``imgfilter`` is not implemented.
  """
  p = jnp.asarray(p, jnp.float32)
  shape = x.shape
  if spec.geometric:
    g_inv = ada_geometric_matrix(jax.random.fold_in(key, 0), p, spec, shape)
    moved = _is_identity(g_inv)[:, None, None, None]
    x = jnp.where(moved, x, resample(x, g_inv))
  if spec.color:
    c = ada_color_matrix(jax.random.fold_in(key, 1), p, spec, shape)
    x = jnp.where(_is_identity(c)[:, None, None, None], x, apply_color_matrix(x, c))
  if spec.noise > 0 or spec.cutout > 0:
    x = _corrupt(x, jax.random.fold_in(key, 2), p, spec)
  return x


def real_sign_stats(d_real: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(sum of sign(D(real)), how many) for ADA's r_t; sum both over devices and D steps.

  ``d_real``: D's logits on the augmented real batch of D's update, as the reference's
  ``Loss/signs/real``.
  """
  return jnp.sum(jnp.sign(d_real)), jnp.asarray(d_real.size, jnp.float32)


def ada_update(
  p: jax.Array | float,
  sign_sum: jax.Array | float,
  count: jax.Array | float,
  *,
  batch_images: int,
  interval: int,
  target: float = 0.6,
  speed_kimg: float = 500.0,
) -> jax.Array:
  """ADA's p after one interval: the reference's heuristic (training_loop.py), clamped.

  r_t = sign_sum / count = E[sign(D(real))] over the interval's real logits;
  p' = clip(p + sign(r_t - target) * batch_images * interval / (speed_kimg * 1000), 0, 1).
  ``batch_images``: real images per D update (the global batch); ``interval``: D updates
  per adjustment (the reference's ada_interval = 4 batches); ``speed_kimg``: thousands of
  images for p to move by one (ada_kimg = 500). The reference clamps at 0 only; the upper
  clamp keeps p a probability. With count = 0 p stays.
  """
  p = jnp.asarray(p, jnp.float32)
  count = jnp.asarray(count, jnp.float32)
  r_t = jnp.asarray(sign_sum, jnp.float32) / jnp.maximum(count, 1.0)
  step = batch_images * interval / (speed_kimg * 1000.0)
  adjust = jnp.where(count > 0, jnp.sign(r_t - target) * step, 0.0)
  return jnp.clip(p + adjust, 0.0, 1.0)


# --------------------------------------------------------------------------------------
# bCR (Zhao et al. 2021, "Improved consistency regularization for GANs").
# --------------------------------------------------------------------------------------


def consistency_term(d: jax.Array, d_aug: jax.Array) -> jax.Array:
  """``mean_i ||D(x)_i - D(T(x))_i||^2``: squared norm over each example's outputs."""
  diff = (d - d_aug).reshape(d.shape[0], -1)
  return jnp.mean(jnp.sum(jnp.square(diff), axis=-1))


def bcr_penalty(
  d_real: jax.Array,
  d_real_aug: jax.Array,
  d_fake: jax.Array,
  d_fake_aug: jax.Array,
  *,
  real_weight: float,
  fake_weight: float,
) -> jax.Array:
  """Balanced consistency regularization, for D's loss only:
  ``real_weight * mean ||D(x) - D(T(x))||^2 + fake_weight * mean ||D(G(z)) - D(T(G(z)))||^2``.

  Gradients flow through both D(x) and D(T(x)), as in the paper's algorithm and in
  DiffAugment's BigGAN ``D_loss_CR = mean((D_real_aug - D_real) ** 2) * CR``. The fake
  images are G's samples held fixed (stop their gradient into G in D's step). For logits of
  shape (N,) or (N, 1) each term is ``mean((a - b) ** 2)``.
  """
  return real_weight * consistency_term(d_real, d_real_aug) + fake_weight * consistency_term(
    d_fake, d_fake_aug
  )


# --------------------------------------------------------------------------------------
# LeCam (Tseng et al. 2021): google/lecam-gan, stylegan2/lecam_loss.py (decay 0.99,
# zero-debiased TF moving averages) and biggan_cifar/losses.py (the same penalty).
# --------------------------------------------------------------------------------------


class LecamAnchors(NamedTuple):
  """D's mean outputs on real and fake, as debiased exponential moving averages.

  ``real`` and ``fake`` are the anchors to pass to ``lecam_penalty``; ``weight`` is
  1 - decay^t after t updates, the debiasing of TF's ``assign_moving_average(...,
  zero_debias=True)`` that the reference uses. Start from ``lecam_init()``.
  """

  real: jax.Array
  fake: jax.Array
  weight: jax.Array


def lecam_init() -> LecamAnchors:
  """No history: the first update sets each anchor to that step's mean."""
  zero = jnp.zeros((), jnp.float32)
  return LecamAnchors(zero, zero, zero)


def lecam_update(
  anchors: LecamAnchors,
  d_real_mean: jax.Array | float,
  d_fake_mean: jax.Array | float,
  decay: float = 0.99,
) -> LecamAnchors:
  """Moves the anchors toward this step's mean D outputs (gradients stopped, as there).

  With w_t = decay * w_{t-1} + (1 - decay) (w_0 = 0):
  ``a_t = (decay * w_{t-1} * a_{t-1} + (1 - decay) * m_t) / w_t``, which is TF's
  zero-debiased EMA ``b_t / (1 - decay^t)``, ``b_t = decay * b_{t-1} + (1 - decay) * m_t``.
  The reference updates before computing the penalty, so this step's batch is in the
  anchors the penalty sees; call it first.
  """
  w = decay * anchors.weight + (1 - decay)

  def ema(old: jax.Array, m: jax.Array | float) -> jax.Array:
    m = lax.stop_gradient(jnp.asarray(m, jnp.float32))
    return (decay * anchors.weight * old + (1 - decay) * m) / w

  return LecamAnchors(ema(anchors.real, d_real_mean), ema(anchors.fake, d_fake_mean), w)


def lecam_penalty(
  d_real: jax.Array,
  d_fake: jax.Array,
  anchor_real: jax.Array | float,
  anchor_fake: jax.Array | float,
) -> jax.Array:
  """LeCam regularization, unweighted (the caller multiplies by its weight):
  ``mean(relu(D(x_real) - anchor_fake)^2) + mean(relu(anchor_real - D(x_fake))^2)``,
  exactly the reference's ``lecam_reg`` / ``lecamreg``; the anchors carry no gradient.
  """
  anchor_real = lax.stop_gradient(jnp.asarray(anchor_real, d_real.dtype))
  anchor_fake = lax.stop_gradient(jnp.asarray(anchor_fake, d_fake.dtype))
  return jnp.mean(jnp.square(jax.nn.relu(d_real - anchor_fake))) + jnp.mean(
    jnp.square(jax.nn.relu(anchor_real - d_fake))
  )
