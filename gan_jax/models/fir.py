"""FIR up/downsampling of NHWC feature maps: StyleGAN2's `upfirdn2d` with separable filters.

`upfirdn2d(x, taps, up, down, padding)` does, along H and then along W:

    1. upsample: insert `up - 1` zeros after every sample,
    2. pad by `padding` zeros (negative entries crop),
    3. convolve with the 1-D filter `taps / sum(taps)` (times `up`, so that a constant
       input keeps its value after upsampling),
    4. downsample: keep every `down`-th sample.

With the default taps (1, 3, 3, 1), `upsample2d` is bilinear interpolation (pixel centers
at half-integers, i.e. `jax.image.resize(..., 'bilinear')` for a 2x upscale) everywhere but
the one-pixel border, where StyleGAN2's zero padding pulls the values towards 0;
`downsample2d` is the 2x2 box filter blurred by (1, 2, 1), a bilinear antialiased 2x
reduction. R3GAN's resamplers (filter (1, 2, 1) convolved with (1, 1)) are the same filter.

Steps 1-4 are computed as shifted slices and a weighted sum (a few multiply-adds per
element), which XLA fuses; there is no convolution call to dispatch.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax import ops

Array = jax.Array

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)  # StyleGAN2's resample_filter


def normalized_taps(taps: Sequence[float]) -> np.ndarray:
  f = np.asarray(taps, np.float64)
  if f.ndim != 1 or f.size == 0 or f.sum() == 0:
    raise ValueError(f"FIR taps must be a non-empty 1-D sequence with a nonzero sum, got {taps}")
  return f / f.sum()


def _upfirdn1d(
  x: Array, f: np.ndarray, axis: int, up: int, down: int, pad: tuple[int, int], gain: float
) -> Array:
  n = x.shape[axis]
  if up > 1:
    zeros = jnp.zeros_like(x)
    x = jnp.stack([x] + [zeros] * (up - 1), axis=axis + 1)
    x = x.reshape(*x.shape[:axis], n * up, *x.shape[axis + 2 :])
  pads = [(0, 0, 0)] * x.ndim
  pads[axis] = (pad[0], pad[1], 0)
  x = lax.pad(x, jnp.zeros((), x.dtype), pads)
  k = f.size
  out_len = (x.shape[axis] - k) // down + 1
  if out_len <= 0:
    raise ValueError(f"upfirdn2d: empty output along axis {axis} (length {n}, {up=}, {down=})")
  # A convolution (not a correlation): output o reads v[o * down + t] * f[k - 1 - t].
  out = None
  for t in range(k):
    tap = lax.slice_in_dim(x, t, t + (out_len - 1) * down + 1, stride=down, axis=axis)
    term = tap * jnp.asarray(f[k - 1 - t] * gain, x.dtype)
    out = term if out is None else out + term
  return out


def upfirdn2d(
  x: Array,
  taps: Sequence[float] = FIR_TAPS,
  *,
  up: int = 1,
  down: int = 1,
  padding: tuple[int, int] = (0, 0),
  gain: float = 1.0,
) -> Array:
  """Up-, filters and downsamples NHWC `x` along H and W (see the module docstring).

  `padding` = (before, after) on both spatial axes, after upsampling; `gain` multiplies
  the 2-D result (StyleGAN2's convention: upsampling passes `gain=up**2`).
  """
  if x.ndim != 4:
    raise ValueError(f"upfirdn2d needs NHWC input, got shape {x.shape}")
  f = normalized_taps(taps)
  g = float(np.sqrt(gain))
  for axis in (1, 2):
    x = _upfirdn1d(x, f, axis, up, down, padding, g)
  return x


def upsample2d(x: Array, taps: Sequence[float] = FIR_TAPS, *, extra_padding: int = 0) -> Array:
  """2x FIR upsampling; `extra_padding` more outputs on every side (StyleGAN2's `padding`).

  With extra_padding p the output is (2H + 2p, 2W + 2p): what a VALID (2p+1)-tap
  convolution needs to return 2H x 2W, as in StyleGAN2's upsampling convolution.
  """
  k = len(taps)
  pad = ((k + 1) // 2 + extra_padding, (k - 2) // 2 + extra_padding)
  return upfirdn2d(x, taps, up=2, padding=pad, gain=4.0)


def downsample2d(x: Array, taps: Sequence[float] = FIR_TAPS) -> Array:
  """2x FIR downsampling: (N, H, W, C) -> (N, H/2, W/2, C)."""
  k = len(taps)
  return upfirdn2d(x, taps, down=2, padding=((k - 1) // 2, (k - 2) // 2))


def blur_for_strided_conv(x: Array, kernel_size: int, taps: Sequence[float] = FIR_TAPS) -> Array:
  """The FIR filter before a stride-2 VALID `kernel_size` convolution (StyleGAN2's down=2).

  Pads so that the strided convolution returns (H/2, W/2): filter, then convolve with
  stride 2, as conv2d_resample's downsampling path.
  """
  k = len(taps)
  p = kernel_size // 2
  return upfirdn2d(x, taps, padding=(p + (k - 1) // 2, p + (k - 2) // 2))


def upsample_conv2d(x: Array, kernel: Array, taps: Sequence[float] = FIR_TAPS) -> Array:
  """2x FIR upsampling, then a VALID correlation with the odd (k, k) HWIO `kernel` that
  returns (2H, 2W): `correlate(upsample2d(x, extra_padding=k // 2), kernel)`.

  Computed the other way round (both are linear and shift-invariant, so they commute): a
  stride-2 transposed convolution with the kernel (`ops.conv_transpose_subpixel`, which
  skips the inserted zeros) and then the FIR filter alone; several times faster to
  differentiate on XLA:CPU than a k x k convolution at the upsampled resolution.
  """
  k, m = kernel.shape[0], len(taps)
  lo = (m + 1) // 2 + k // 2
  hi = (m - 2) // 2 + k // 2 + 1  # + 1: lax's dilated input has no trailing zero
  y = ops.conv_transpose_subpixel(x, kernel, strides=(2, 2), padding=[(lo, hi), (lo, hi)])
  return upfirdn2d(y, taps, gain=4.0)
