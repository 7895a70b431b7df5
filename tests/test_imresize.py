"""MATLAB-style bicubic resizing against values computed by hand, and against PIL inside."""

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import imresize


def test_the_cubic_kernel_at_hand_computed_points():
  # 1.5|x|^3 - 2.5|x|^2 + 1 and -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2, evaluated by hand.
  x = np.array([0.0, 0.25, 0.375, 0.625, 0.75, 1.0, 1.25, 1.375, 1.625, 1.75, 2.0, 2.5])
  expected = [
    1.0,
    0.8671875,
    0.7275390625,
    0.3896484375,
    0.2265625,
    0.0,
    -0.0703125,
    -0.0732421875,
    -0.0439453125,
    -0.0234375,
    0.0,
    0.0,
  ]
  np.testing.assert_allclose(imresize.cubic(x), expected, atol=1e-15)
  np.testing.assert_allclose(imresize.cubic(-x), expected, atol=1e-15)


def test_downsampling_by_two_widens_the_kernel():
  """Output 1 of 8 -> 4 sits at u = 1.5; taps at distances +-0.5, 1.5, 2.5, 3.5 weigh
  0.5 k(d / 2): 0.43359375, 0.11328125, -0.03515625, -0.01171875 (summing to 1)."""
  m = imresize.weight_matrix(8, 4, 0.5)
  # Input indices -3..6 reflect to 4 3 2 1 | 1 2 3 4 5 6 (1-based).
  w = {0.5: 0.43359375, 1.5: 0.11328125, 2.5: -0.03515625, 3.5: -0.01171875}
  expected_row0 = np.zeros(8)
  for index, d in zip(
    [4, 3, 2, 1, 1, 2, 3, 4, 5, 6],
    [4.5, 3.5, 2.5, 1.5, 0.5] + [0.5, 1.5, 2.5, 3.5, 4.5],
    strict=True,
  ):
    expected_row0[index - 1] += w.get(d, 0.0)
  np.testing.assert_allclose(m[0], expected_row0, atol=1e-15)
  assert m[0, 0] == pytest.approx(0.546875)  # the impulse at pixel 1, read by output 1
  np.testing.assert_allclose(m.sum(axis=1), 1.0)


def test_upsampling_by_four_uses_the_plain_kernel():
  """Output 1 of 2 -> 8 sits at u = 0.625: distances 2.625, 1.625, 0.625, -0.375, -1.375,
  -2.375 to input pixels -2..3, i.e. weights 0, -0.0439..., 0.3896..., 0.7275..., -0.0732..., 0."""
  m = imresize.weight_matrix(2, 8, 4.0)
  # pixels -2, -1, 0, 1, 2, 3 reflect to 2, 2, 1, 1, 2, 2 for a 2-pixel input (2 1 | 1 2 | 2 1)
  p1 = 0.3896484375 + 0.7275390625
  p2 = -0.0439453125 - 0.0732421875
  np.testing.assert_allclose(m[0], [p1, p2], atol=1e-15)
  np.testing.assert_allclose(m.sum(axis=1), 1.0)  # every output row, p1 + p2 the first


def test_constants_and_ramps_are_kept_inside():
  const = np.full((16, 12, 3), 7.0)
  np.testing.assert_allclose(imresize.imresize(const, 0.25), 7.0)
  np.testing.assert_allclose(imresize.imresize(const, 4.0), 7.0)
  # The cubic kernel reproduces linear functions (weights symmetric about u, summing to 1).
  ramp = np.tile(np.arange(32.0)[:, None], (1, 4))
  out = imresize.imresize(ramp, output_shape=(8, 4))
  u = np.arange(1, 9) * 4 - 1.5  # 1-based centres of the outputs, in input pixels
  np.testing.assert_allclose(out[2:-2, 0], u[2:-2] - 1, atol=1e-12)


def test_uint8_in_uint8_out_rounded_and_clipped():
  x = np.zeros((8, 8), np.uint8)
  x[:, 4:] = 255
  out = imresize.imresize(x, 4.0)
  assert out.dtype == np.uint8 and out.shape == (32, 32)
  ref = imresize.imresize(x.astype(np.float64), 4.0)
  assert ref.min() < 0 and ref.max() > 255  # the cubic overshoots at the edge...
  np.testing.assert_array_equal(out, np.clip(np.round(ref), 0, 255))  # ...and is clipped


def test_matches_pil_bicubic_away_from_the_borders():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 255, (64, 48)).astype(np.float32)
  for size in ((16, 12), (256, 192)):
    ours = imresize.imresize(x, output_shape=size)
    pil = np.asarray(Image.fromarray(x, mode="F").resize(size[::-1], Image.BICUBIC))
    b = 4 if size[0] < 64 else 16  # the outputs whose taps all fall inside the image
    np.testing.assert_allclose(ours[b:-b, b:-b], pil[b:-b, b:-b], atol=1e-3)


def test_downsample_and_upsample_by_the_sr_factor():
  hr = np.random.default_rng(1).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
  lr = imresize.downsample(hr, 4)
  assert lr.shape == (2, 4, 6, 3) and lr.dtype == np.uint8
  np.testing.assert_array_equal(lr[1], imresize.downsample(hr[1], 4))
  assert imresize.upsample(lr, 4).shape == hr.shape
  with pytest.raises(ValueError, match="divide"):
    imresize.downsample(hr[:, :15], 4)
