"""Bicubic resizing as MATLAB's `imresize(x, scale, 'bicubic')`, antialiased, in numpy.

The super-resolution literature (SRCNN, SRGAN, EDSR, ...) makes its low-resolution inputs and
its bicubic baseline with MATLAB's imresize, and PSNR numbers move by tenths of a dB with
the resampler, so this is a port of its algorithm (MATLAB's `imresize.m`, `contributions`):

  cubic kernel (Keys, a = -0.5)
    k(x) = 1.5|x|^3 - 2.5|x|^2 + 1              |x| <= 1
         = -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2      1 < |x| <= 2,   else 0
  output pixel j (1-based) sits at input coordinate u = j / s + (1 - 1 / s) / 2
  downsampling (s < 1, antialiased): the kernel is widened by 1 / s, h(x) = s k(s x), so its
    support is 4 / s input pixels; upsampling: h = k, support 4
  weights of the ceil(support) + 2 nearest input pixels, normalized to sum to 1
  borders: symmetric reflection, the edge pixel repeated (numpy's 'symmetric')
  the axes are resized one after the other, rows first (MATLAB's order for equal scales)
  uint8 in -> uint8 out, rounded half away from zero and clipped (MATLAB's cast); floats are
    returned as float64, unclipped

PIL's BICUBIC (also a = -0.5, also widened when downsampling) agrees with it away from the
borders, where PIL renormalizes a truncated kernel instead of reflecting (tested).
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
  """Keys' cubic convolution kernel with a = -0.5."""
  ax = np.abs(x)
  ax2, ax3 = ax**2, ax**3
  inner = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
  outer = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
  return inner + outer


def weight_matrix(in_size: int, out_size: int, scale: float, antialias: bool = True) -> np.ndarray:
  """The (out_size, in_size) matrix M with resized = M @ x along one axis."""
  width = 4.0 / scale if (scale < 1 and antialias) else 4.0
  j = np.arange(1, out_size + 1, dtype=np.float64)
  u = j / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(u - width / 2)
  taps = int(math.ceil(width)) + 2
  idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
  dist = u[:, None] - idx
  w = scale * cubic(scale * dist) if (scale < 1 and antialias) else cubic(dist)
  w = w / w.sum(axis=1, keepdims=True)
  # Symmetric reflection: ..., 2, 1 | 1, 2, ..., n | n, n - 1, ...
  mirror = np.concatenate([np.arange(in_size), np.arange(in_size)[::-1]])
  src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_size)]
  m = np.zeros((out_size, in_size), np.float64)
  np.add.at(m, (np.repeat(np.arange(out_size), taps), src.ravel()), w.ravel())
  return m


def imresize(
  image: np.ndarray,
  scale: float | None = None,
  output_shape: tuple[int, int] | None = None,
  antialias: bool = True,
) -> np.ndarray:
  """Resizes the first two axes of `image` ((H, W) or (H, W, C); a leading batch axis is
  allowed as (N, H, W, C)) by `scale`, or to `output_shape` (H', W'), as MATLAB does."""
  x = np.asarray(image)
  batched = x.ndim == 4
  h_axis = 1 if batched else 0
  in_h, in_w = x.shape[h_axis], x.shape[h_axis + 1]
  if output_shape is None:
    if scale is None:
      raise ValueError("give scale or output_shape")
    output_shape = (int(math.ceil(in_h * scale)), int(math.ceil(in_w * scale)))
    scales = (scale, scale)
  else:
    scales = (output_shape[0] / in_h, output_shape[1] / in_w)
  out = x.astype(np.float64)
  for axis, (n_in, n_out, s) in enumerate(zip((in_h, in_w), output_shape, scales, strict=True)):
    m = weight_matrix(n_in, n_out, s, antialias)
    out = np.moveaxis(np.tensordot(m, np.moveaxis(out, h_axis + axis, 0), axes=1), 0, h_axis + axis)
  if x.dtype == np.uint8:
    return np.clip(np.sign(out) * np.floor(np.abs(out) + 0.5), 0, 255).astype(np.uint8)
  return out


def downsample(hr: np.ndarray, factor: int) -> np.ndarray:
  """The low-resolution input of an SR pair: HR (.., H, W, C) with H, W divisible by `factor`,
  bicubic-downsampled by 1 / factor (antialiased)."""
  h_axis = 1 if hr.ndim == 4 else 0
  h, w = hr.shape[h_axis], hr.shape[h_axis + 1]
  if h % factor or w % factor:
    raise ValueError(f"an HR image of {h}x{w} does not divide by the factor {factor}")
  return imresize(hr, output_shape=(h // factor, w // factor))


def upsample(lr: np.ndarray, factor: int) -> np.ndarray:
  """The bicubic baseline of an SR pair: LR upsampled by `factor`."""
  h_axis = 1 if lr.ndim == 4 else 0
  return imresize(lr, output_shape=(lr.shape[h_axis] * factor, lr.shape[h_axis + 1] * factor))
