"""PSNR and SSIM of super-resolved images, by the protocol of the SR literature.

Both are measured on the luma Y of ITU-R BT.601 in its studio range [16, 235] (MATLAB's
`rgb2ycbcr`, what SRCNN, SRGAN and EDSR report), after shaving `border` pixels (the
upscaling factor, 4) off every side, on images quantized to uint8 as they would be saved:

  Y    = 16 + (65.481 R + 128.553 G + 24.966 B) / 255          R, G, B in [0, 255]
  PSNR = 10 log10(255^2 / mean((Y_x - Y_y)^2))                  (inf for identical images)
  SSIM = mean over 11x11 Gaussian windows (sigma 1.5, 'valid': no padding) of
         (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
         C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2               (Wang et al. 2004)

in float64, per image; a set's number is the mean over its images.
"""

from __future__ import annotations

import numpy as np

BORDER = 4  # pixels shaved off each side: the upscaling factor
# RGB in [0, 255] -> Y in [16, 235] (MATLAB's rgb2ycbcr, ITU-R BT.601).
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
Y_OFFSET = 16.0
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def to_y(images: np.ndarray) -> np.ndarray:
  """uint8 RGB (..., H, W, 3) -> float64 luma (..., H, W) in [16, 235]."""
  x = np.asarray(images)
  if x.dtype != np.uint8 or x.shape[-1] != 3:
    raise ValueError(f"expected uint8 RGB images (..., H, W, 3), got {x.dtype} {x.shape}")
  return x.astype(np.float64) @ Y_WEIGHTS + Y_OFFSET


def shave(y: np.ndarray, border: int = BORDER) -> np.ndarray:
  """y (..., H, W) without `border` pixels on each side."""
  return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border] if border else y


def psnr(x: np.ndarray, y: np.ndarray, border: int = BORDER) -> np.ndarray:
  """PSNR in dB of each pair of uint8 RGB images (..., H, W, 3) on shaved Y."""
  diff = shave(to_y(x), border) - shave(to_y(y), border)
  mse = np.mean(diff**2, axis=(-2, -1))
  with np.errstate(divide="ignore"):
    return 10 * np.log10(255.0**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
  """The normalized 1-D Gaussian of SSIM (its 2-D window is the outer product)."""
  t = np.arange(size) - (size - 1) / 2
  g = np.exp(-(t**2) / (2 * sigma**2))
  return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
  """The separable 2-D correlation of x (..., H, W) with g g^T, 'valid' (no padding)."""
  k = len(g)
  rows = np.lib.stride_tricks.sliding_window_view(x, k, axis=-2) @ g
  return np.lib.stride_tricks.sliding_window_view(rows, k, axis=-1) @ g


def ssim_map_y(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """The SSIM map of two float luma arrays (..., H, W) (values in [0, 255])."""
  g = gaussian_window()
  mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
  var_a = _filter_valid(a * a, g) - mu_a**2
  var_b = _filter_valid(b * b, g) - mu_b**2
  cov = _filter_valid(a * b, g) - mu_a * mu_b
  return ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / (
    (mu_a**2 + mu_b**2 + C1) * (var_a + var_b + C2)
  )


def ssim(x: np.ndarray, y: np.ndarray, border: int = BORDER) -> np.ndarray:
  """SSIM of each pair of uint8 RGB images (..., H, W, 3) on shaved Y."""
  a, b = shave(to_y(x), border), shave(to_y(y), border)
  if min(a.shape[-2:]) < SSIM_WINDOW:
    raise ValueError(
      f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the shave, got "
      f"{a.shape[-2]}x{a.shape[-1]}"
    )
  return ssim_map_y(a, b).mean(axis=(-2, -1))


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] float images -> uint8, rounded and clipped (as a saved picture)."""
  return np.clip(np.round((np.asarray(images, np.float64) + 1) * 127.5), 0, 255).astype(np.uint8)
