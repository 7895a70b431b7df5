"""PSNR and SSIM on the Y channel: hand-computed values and their known properties."""

import math

import numpy as np
import pytest

from gan_jax.evaluation import sr_metrics


def gray(value: int, size: int = 24) -> np.ndarray:
  return np.full((size, size, 3), value, np.uint8)


def test_y_of_gray_and_of_primaries():
  # Gray v: Y = 16 + v (65.481 + 128.553 + 24.966) / 255 = 16 + 219 v / 255.
  assert sr_metrics.to_y(gray(0))[0, 0] == pytest.approx(16.0)
  assert sr_metrics.to_y(gray(255))[0, 0] == pytest.approx(235.0)
  red = np.zeros((1, 1, 3), np.uint8)
  red[..., 0] = 255
  assert sr_metrics.to_y(red)[0, 0] == pytest.approx(16 + 65.481)


def test_identical_images_have_infinite_psnr_and_ssim_one():
  x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  assert np.all(np.isinf(sr_metrics.psnr(x, x)))
  np.testing.assert_allclose(sr_metrics.ssim(x, x), 1.0, atol=1e-12)


def test_psnr_of_two_grays_by_hand():
  # Y differs by 10 * 219 / 255 everywhere: PSNR = 20 log10(255 / (2190 / 255)).
  expected = 20 * math.log10(255 / (2190 / 255))
  assert sr_metrics.psnr(gray(100), gray(110)) == pytest.approx(expected, rel=1e-12)


def test_the_border_is_shaved_before_psnr():
  x, y = gray(50), gray(50)
  y[:4] = 200  # inside the 4-px border: not seen
  assert np.isinf(sr_metrics.psnr(x, y))
  # Without the border: 4 of 24 rows off by Y 150 * 219 / 255, so MSE is that squared / 6.
  expected = 10 * math.log10(255**2 / ((150 * 219 / 255) ** 2 / 6))
  assert sr_metrics.psnr(x, y, border=0) == pytest.approx(expected, rel=1e-12)
  y[4, 4] = 51  # one pixel of the 16 x 16 inside, Y off by 219 / 255
  expected = 10 * math.log10(255**2 / ((219 / 255) ** 2 / 256))
  assert sr_metrics.psnr(x, y) == pytest.approx(expected, rel=1e-12)


def test_ssim_of_two_constants_by_hand():
  """Constant images: the variances and covariance are 0, so SSIM is the luminance term
  (2 a b + C1) / (a^2 + b^2 + C1) of their lumas a and b."""
  a, b = 16 + 219 * 100 / 255, 16 + 219 * 160 / 255
  c1 = (0.01 * 255) ** 2
  expected = (2 * a * b + c1) / (a * a + b * b + c1)
  assert sr_metrics.ssim(gray(100), gray(160)) == pytest.approx(expected, rel=1e-9)


def test_ssim_of_a_contrast_change_by_hand():
  """y = mean + k (x - mean) with the same local means: SSIM per window is
  (2 k s^2 + C2) / ((1 + k^2) s^2 + C2) for x's local variance s^2, here a checkerboard's."""
  checker = (np.indices((40, 40)).sum(axis=0) % 2).astype(np.float64)  # 0/1 checkerboard
  x = 16 + 219 * (100 + 40 * checker) / 255  # luma directly, through ssim_map_y
  k = 0.5
  y = x.mean() + k * (x - x.mean())
  m = sr_metrics.ssim_map_y(x, y)
  # Local variance of the checkerboard in a Gaussian window: mean of x^2 minus squared mean.
  g = sr_metrics.gaussian_window()
  w = np.outer(g, g)
  patch = x[:11, :11]
  s2 = (w * patch**2).sum() - (w * patch).sum() ** 2
  mu = (w * patch).sum()
  mu_y = (w * y[:11, :11]).sum()
  c1, c2 = sr_metrics.C1, sr_metrics.C2
  lum = (2 * mu * mu_y + c1) / (mu**2 + mu_y**2 + c1)
  expected = lum * (2 * k * s2 + c2) / ((1 + k * k) * s2 + c2)
  assert m[0, 0] == pytest.approx(expected, rel=1e-9)
  assert 0 < m.mean() < 1


def test_ssim_refuses_images_smaller_than_its_window():
  with pytest.raises(ValueError, match="11x11"):
    sr_metrics.ssim(gray(1, 16), gray(2, 16))


def test_to_uint8_rounds_and_clips():
  x = np.array([-1.5, -1.0, 0.0, 1.0, 2.0])
  np.testing.assert_array_equal(sr_metrics.to_uint8(x), [0, 0, 128, 255, 255])


def test_ssim_agrees_with_scikit_image():
  """skimage's Gaussian SSIM (sigma 1.5, population covariances) crops the padded border,
  i.e. it averages the same 'valid' windows."""
  from skimage.metrics import structural_similarity  # noqa: PLC0415

  rng = np.random.default_rng(3)
  x = rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)
  y = np.clip(x.astype(int) + rng.integers(-30, 30, x.shape), 0, 255).astype(np.uint8)
  a, b = sr_metrics.to_y(x), sr_metrics.to_y(y)
  theirs = structural_similarity(
    a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
  )
  assert sr_metrics.ssim(x, y, border=0) == pytest.approx(theirs, rel=1e-9)
