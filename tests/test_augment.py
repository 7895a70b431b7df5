"""Augmentation (DiffAugment, ADA) against explicit formulas; ADA's p, bCR, LeCam by hand."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment as A

KEY = jax.random.key(7)


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


X = _images((16, 8, 6, 3))  # non-square, so rows and columns cannot be confused
W = _images((16, 8, 6, 3), seed=1)  # cotangent weights for the gradient checks


def _grad(fn, x, w):
  return np.asarray(jax.grad(lambda v: jnp.sum(fn(v) * w))(x))


# --------------------------------------------------------------------------------------
# DiffAugment
# --------------------------------------------------------------------------------------


def test_policies_parse_and_the_empty_policy_is_the_identity():
  assert A.parse_policy("") == ()
  assert A.parse_policy("color, translation,cutout") == (
    "brightness",
    "saturation",
    "contrast",
    "translation",
    "cutout",
  )
  with pytest.raises(ValueError, match="'color', 'cutout', 'translation'"):
    A.parse_policy("color,flip")
  assert A.diff_augment(X, KEY, "") is X


def _neutral_color(n):
  """A 'color' draw that changes nothing: brightness 0, saturation and contrast 1."""
  return [{"delta": jnp.zeros(n)}, {"factor": jnp.ones(n)}, {"factor": jnp.ones(n)}]


def test_color_transforms_follow_their_formulas():
  draw = A.diff_augment_draw(KEY, X.shape, "color")
  delta, sat, con = (np.asarray(next(iter(d.values()))) for d in draw)
  # Reference ranges: U(-0.5, 0.5), U(0, 2), U(0.5, 1.5).
  assert (np.abs(delta) <= 0.5).all() and ((0 <= sat) & (sat < 2)).all()
  assert ((0.5 <= con) & (con < 1.5)).all()
  x, n = np.asarray(X, np.float64), X.shape[0]
  for i, expected in enumerate(
    [
      x + delta[:, None, None, None],  # brightness adds one constant per image
      (x - x.mean(-1, keepdims=True)) * sat[:, None, None, None] + x.mean(-1, keepdims=True),
      (x - x.mean((1, 2, 3), keepdims=True)) * con[:, None, None, None]
      + x.mean((1, 2, 3), keepdims=True),
    ]
  ):
    only = _neutral_color(n)
    only[i] = draw[i]
    out = A.diff_augment_apply(X, tuple(only), "color")
    np.testing.assert_allclose(out, expected, atol=2e-6)
  # All three in the reference's order: brightness, then saturation, then contrast.
  b = x + delta[:, None, None, None]
  s = (b - b.mean(-1, keepdims=True)) * sat[:, None, None, None] + b.mean(-1, keepdims=True)
  c = (s - s.mean((1, 2, 3), keepdims=True)) * con[:, None, None, None]
  c += s.mean((1, 2, 3), keepdims=True)
  np.testing.assert_allclose(A.diff_augment(X, KEY, "color"), c, atol=3e-6)


def test_translation_is_zero_pad_and_crop_within_an_eighth():
  out = np.asarray(A.diff_augment(X, KEY, "translation"))
  (draw,) = A.diff_augment_draw(KEY, X.shape, "translation")
  shift = np.asarray(draw["shift"])
  # int(8 / 8 + 0.5) = 1 row and int(6 / 8 + 0.5) = 1 column at most, both ends reached.
  assert set(shift[:, 0]) == {-1, 0, 1} and set(shift[:, 1]) == {-1, 0, 1}
  pad = ((2, 2), (2, 2), (0, 0))
  for img, o, (dh, dw) in zip(np.asarray(X), out, shift, strict=True):
    padded = np.pad(img, pad)  # zeros
    np.testing.assert_array_equal(o, padded[2 + dh : 2 + dh + 8, 2 + dw : 2 + dw + 6])
  # A larger ratio reaches further: int(8 * 0.25 + 0.5) = 2.
  (wide,) = A.diff_augment_draw(KEY, (64, 8, 8, 1), "translation", translation_ratio=0.25)
  assert np.abs(np.asarray(wide["shift"])).max() == 2


def test_cutout_zeroes_one_square_of_half_the_size():
  ones = jnp.ones((32, 8, 6, 1))
  out = np.asarray(A.diff_augment(ones, KEY, "cutout"))[..., 0]
  (draw,) = A.diff_augment_draw(KEY, ones.shape, "cutout")
  start, stop = np.asarray(draw["start"]), np.asarray(draw["stop"])
  np.testing.assert_array_equal(stop - start, np.broadcast_to([4, 3], start.shape))
  inside = 0
  for o, (r0, c0), (r1, c1) in zip(out, start, stop, strict=True):
    expected = np.ones((8, 6))
    expected[max(r0, 0) : r1, max(c0, 0) : c1] = 0  # clipped at the border
    np.testing.assert_array_equal(o, expected)
    if r0 >= 0 and c0 >= 0 and r1 <= 8 and c1 <= 6:
      inside += 1
      assert (o == 0).sum() == 4 * 3  # int(8 / 2 + 0.5) x int(6 / 2 + 0.5)
  assert 0 < inside < len(out)  # both the whole and the clipped case were drawn


@pytest.mark.slow  # over 10 s
def test_translation_and_cutout_match_a_port_of_the_reference_indexing():
  # DiffAugment_pytorch.py's index code, moved to numpy (NCHW), on odd sizes where its
  # clamps and its cutout-offset range (size + 1 - cutout % 2) matter.
  x = np.asarray(_images((32, 7, 5, 2), seed=5))
  n, h, w = x.shape[:3]
  b, i, j = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
  (draw,) = A.diff_augment_draw(KEY, x.shape, "translation")
  tx, ty = np.asarray(draw["shift"]).T
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = np.clip(i + tx[:, None, None] + 1, 0, h + 1)
  cols = np.clip(j + ty[:, None, None] + 1, 0, w + 1)
  out = A.diff_augment(jnp.asarray(x), KEY, "translation")
  np.testing.assert_array_equal(out, padded[b, rows, cols])

  (draw,) = A.diff_augment_draw(KEY, x.shape, "cutout")
  size = np.array([int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)])  # (4, 3)
  offset = np.asarray(draw["start"]) + size // 2
  assert offset.min() >= 0 and (offset.max(0) <= [h - size[0] % 2, w - size[1] % 2]).all()
  b, i, j = np.meshgrid(np.arange(n), np.arange(size[0]), np.arange(size[1]), indexing="ij")
  mask = np.ones((n, h, w), np.float32)
  rows = np.clip(i + offset[:, 0, None, None] - size[0] // 2, 0, h - 1)
  cols = np.clip(j + offset[:, 1, None, None] - size[1] // 2, 0, w - 1)
  mask[b, rows, cols] = 0
  out = A.diff_augment(jnp.asarray(x), KEY, "cutout")
  np.testing.assert_array_equal(out, x * mask[..., None])


@pytest.mark.slow  # over 10 s
def test_diff_augment_gradients_equal_the_analytic_ones():
  n = X.shape[0]
  wd = np.asarray(W, np.float64)
  for i, name in enumerate(("brightness", "saturation", "contrast")):
    draw = A.diff_augment_draw(KEY, X.shape, "color")
    only = _neutral_color(n)
    only[i] = draw[i]
    g = _grad(lambda v, only=only: A.diff_augment_apply(v, tuple(only), "color"), X, W)
    f = np.asarray(next(iter(draw[i].values())))[:, None, None, None]
    expected = {
      "brightness": wd,  # affine with slope 1
      "saturation": f * wd + (1 - f) * wd.mean(-1, keepdims=True),
      "contrast": f * wd + (1 - f) * wd.mean((1, 2, 3), keepdims=True),
    }[name]
    np.testing.assert_allclose(g, expected, atol=1e-6, err_msg=name)

  g = _grad(lambda v: A.diff_augment(v, KEY, "translation"), X, W)
  (draw,) = A.diff_augment_draw(KEY, X.shape, "translation")
  expected = np.zeros_like(wd)  # out[i, j] = x[i + dh, j + dw]: x[k, l] gets w[k - dh, l - dw]
  for b, (dh, dw) in enumerate(np.asarray(draw["shift"])):
    padded = np.pad(wd[b], ((2, 2), (2, 2), (0, 0)))
    expected[b] = padded[2 - dh : 2 - dh + 8, 2 - dw : 2 - dw + 6]
  np.testing.assert_array_equal(g, expected)

  g = _grad(lambda v: A.diff_augment(v, KEY, "cutout"), X, W)
  mask = np.asarray(A.diff_augment(jnp.ones_like(X), KEY, "cutout"))
  np.testing.assert_array_equal(g, wd * mask)

  g = _grad(lambda v: A.diff_augment(v, KEY, "color,translation,cutout"), X, W)
  assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_one_key_one_draw_for_the_real_and_the_fake_batch():
  # The draw depends on the key and the shape only: a fake batch augmented with the real
  # batch's key gets the real one's transforms, drawn once.
  policy = "color,translation,cutout"
  draw = A.diff_augment_draw(KEY, X.shape, policy)
  for x in (X, _images(X.shape, seed=3)):
    np.testing.assert_array_equal(
      A.diff_augment(x, KEY, policy), A.diff_augment_apply(x, draw, policy)
    )
  other = A.diff_augment(X, jax.random.key(8), policy)
  assert not np.array_equal(other, A.diff_augment(X, KEY, policy))


# --------------------------------------------------------------------------------------
# ADA
# --------------------------------------------------------------------------------------

SQUARE = _images((16, 6, 6, 3), seed=4)
ADA_ALL = A.AdaSpec(**{**A.ADA_BGC.__dict__, "noise": 1.0, "cutout": 1.0})


@functools.partial(jax.jit, static_argnames="spec")
def _ada(x, key, p, spec):
  return A.ada_augment(x, key, p, spec)


def test_bgc_spec_has_the_reference_ranges():
  s = A.ADA_BGC
  on = "xflip rotate90 xint scale rotate aniso xfrac brightness contrast lumaflip hue saturation"
  assert all(getattr(s, name) == 1.0 for name in on.split())
  assert (s.noise, s.cutout) == (0.0, 0.0)
  assert (s.xint_max, s.scale_std, s.rotate_max, s.aniso_std, s.xfrac_std) == (
    0.125,
    0.2,
    1.0,
    0.2,
    0.125,
  )
  assert (s.brightness_std, s.contrast_std, s.hue_max, s.saturation_std) == (0.2, 0.5, 1.0, 1.0)


@pytest.mark.slow  # over 10 s
def test_p_zero_returns_x_bit_for_bit():
  for x in (SQUARE, SQUARE[..., :1]):
    out = _ada(x, KEY, jnp.float32(0.0), ADA_ALL)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(x))
    assert out.dtype == x.dtype


@pytest.mark.slow  # over 10 s
def test_p_gates_each_transform_with_its_probability():
  n, p = 4000, 0.3
  g = np.asarray(A.ada_geometric_matrix(KEY, p, A.AdaSpec(scale=1.0), (n, 6, 6, 3)))
  assert abs((g[:, 0, 0] != 1).mean() - p) < 0.03
  g = np.asarray(A.ada_geometric_matrix(KEY, p, A.AdaSpec(xflip=1.0), (n, 6, 6, 3)))
  assert abs((g[:, 0, 0] == -1).mean() - p / 2) < 0.03  # chosen, then a fair coin
  # Rotation: pre OR post with probability rotate * p, each with 1 - sqrt(1 - p).
  g = np.asarray(A.ada_geometric_matrix(KEY, p, A.AdaSpec(rotate=1.0), (n, 6, 6, 3)))
  assert abs((np.abs(g[:, 0, 1]) > 0).mean() - p) < 0.03
  c = np.asarray(A.ada_color_matrix(KEY, p, A.AdaSpec(brightness=0.5), (n, 6, 6, 3)))
  assert abs((c[:, 0, 3] != 0).mean() - 0.5 * p) < 0.03
  assert abs(np.std(c[c[:, 0, 3] != 0, 0, 3]) - 0.2) < 0.03


@pytest.mark.slow  # over 5 s
def test_xflip_and_rotate90_are_exact_blits():
  x = np.asarray(SQUARE)
  flipped = np.asarray(_ada(SQUARE, KEY, 1.0, A.AdaSpec(xflip=1.0)))
  which = [np.array_equal(o, img[:, ::-1]) for o, img in zip(flipped, x, strict=True)]
  same = [np.array_equal(o, img) for o, img in zip(flipped, x, strict=True)]
  assert all(a != b for a, b in zip(which, same, strict=True)) and 0 < sum(which) < len(x)
  np.testing.assert_array_equal(
    A.resample(SQUARE, jnp.broadcast_to(jnp.diag(jnp.array([-1.0, 1, 1])), (16, 3, 3))),
    x[:, :, ::-1],
  )

  rotated = np.asarray(_ada(SQUARE, KEY, 1.0, A.AdaSpec(rotate90=1.0)))
  ks = []
  for o, img in zip(rotated, x, strict=True):
    k = [k for k in range(4) if np.array_equal(o, np.rot90(img, k, axes=(0, 1)))]
    assert len(k) == 1
    ks += k
  assert set(ks) == {0, 1, 2, 3}
  # The general rotation path turns the same way: theta = pi / 2 is one np.rot90.
  cos, sin = jnp.cos(jnp.pi / 2), jnp.sin(jnp.pi / 2)  # not exactly 0 and 1 in float32
  g = jnp.broadcast_to(jnp.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]), (16, 3, 3))
  np.testing.assert_allclose(A.resample(SQUARE, g), np.rot90(x, 1, axes=(1, 2)), atol=1e-5)


def test_xint_is_reflect_pad_and_crop():
  out = np.asarray(_ada(X, KEY, 1.0, A.AdaSpec(xint=1.0)))
  g = np.asarray(
    A.ada_geometric_matrix(jax.random.fold_in(KEY, 0), 1.0, A.AdaSpec(xint=1.0), X.shape)
  )
  tx, ty = -g[:, 0, 2], -g[:, 1, 2]  # content moves right by tx columns, down by ty rows
  assert np.abs(tx).max() <= round(0.125 * 6) and np.abs(ty).max() <= round(0.125 * 8)
  assert (tx != 0).any() and (ty != 0).any()
  for img, o, dx, dy in zip(np.asarray(X), out, tx.astype(int), ty.astype(int), strict=True):
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="reflect")  # torch's 'reflect'
    np.testing.assert_array_equal(o, padded[2 - dy : 2 - dy + 8, 2 - dx : 2 - dx + 6])


@pytest.mark.slow  # over 10 s
def test_fractional_resampling_is_bilinear():
  # A linear ramp is reproduced exactly by bilinear sampling away from the border.
  rows, cols = np.meshgrid(np.arange(8.0), np.arange(6.0), indexing="ij")
  ramp = jnp.asarray((0.1 * rows - 0.2 * cols)[None, :, :, None])
  shift = jnp.array([[[1.0, 0, 0.3], [0, 1, -0.25], [0, 0, 1]]])  # read x + 0.3, y - 0.25
  out = np.asarray(A.resample(ramp, shift))[0, 1:-1, 1:-1, 0]
  expected = 0.1 * (rows - 0.25) - 0.2 * (cols + 0.3)
  np.testing.assert_allclose(out, expected[1:-1, 1:-1], atol=1e-6)


@pytest.mark.slow  # over 10 s
def test_ada_color_transforms_follow_their_formulas():
  x = np.asarray(SQUARE, np.float64)
  luma = x.mean(-1, keepdims=True)
  key_color = jax.random.fold_in(KEY, 1)
  for name in ("brightness", "contrast", "lumaflip", "hue", "saturation"):
    spec = A.AdaSpec(**{name: 1.0})
    out = np.asarray(_ada(SQUARE, KEY, 1.0, spec), np.float64)
    c = np.asarray(A.ada_color_matrix(key_color, 1.0, spec, SQUARE.shape), np.float64)
    np.testing.assert_allclose(
      out, np.einsum("nij,nhwj->nhwi", c[:, :3, :3], x) + c[:, None, None, :3, 3], atol=2e-6
    )
    if name == "brightness":  # adds one constant per image
      b = c[:, 0, 3][:, None, None, None]
      np.testing.assert_allclose(out, x + b, atol=2e-6)
    elif name == "contrast":
      np.testing.assert_allclose(out, x * c[:, 0, 0][:, None, None, None], atol=2e-6)
    elif name == "lumaflip":  # reflect about the luma axis, or not
      flipped = [
        np.allclose(o, img - 2 * lu, atol=2e-6) for o, img, lu in zip(out, x, luma, strict=True)
      ]
      kept = [np.array_equal(o, img) for o, img in zip(out, x, strict=True)]
      assert all(a != b for a, b in zip(flipped, kept, strict=True)) and any(flipped)
    elif name == "hue":  # a rotation about the luma axis keeps luma and chroma's length
      np.testing.assert_allclose(out.mean(-1, keepdims=True), luma, atol=2e-6)
      np.testing.assert_allclose(
        np.linalg.norm(out - luma, axis=-1), np.linalg.norm(x - luma, axis=-1), atol=2e-6
      )
    else:  # saturation scales the chroma
      s = ((c[:, 0, 0] - 1 / 3) * 3 / 2)[:, None, None, None]
      np.testing.assert_allclose(out, luma + s * (x - luma), atol=2e-6)
  # One channel, as the reference: a luma flip negates (the gain sum(I - 2 v v^T) / 3 = -1).
  grey = np.asarray(SQUARE[..., :1])
  out = np.asarray(_ada(jnp.asarray(grey), KEY, 1.0, A.AdaSpec(lumaflip=1.0)))
  negated = [np.allclose(o, -g, atol=1e-6) for o, g in zip(out, grey, strict=True)]
  kept = [np.array_equal(o, g) for o, g in zip(out, grey, strict=True)]
  assert all(a != b for a, b in zip(negated, kept, strict=True)) and any(negated)


@pytest.mark.slow  # over 20 s
def test_ada_gradients_pass_through_every_stage():
  # x enters ADA only through resample (every geometric transform), apply_color_matrix
  # (every colour transform) and the corruptions; the draws never depend on x.
  for spec in (A.ADA_SPECS["geom"], A.ADA_SPECS["bg"], A.ADA_SPECS["color"], ADA_ALL):
    g = _grad(lambda v, spec=spec: A.ada_augment(v, KEY, 1.0, spec), SQUARE, W[:, :6])
    assert np.isfinite(g).all() and np.abs(g).sum() > 0, spec


@pytest.mark.slow  # over 5 s
def test_ada_gradients_of_linear_transforms_equal_the_analytic_ones():
  w = np.asarray(W[:, :6], np.float64)
  x = np.asarray(SQUARE)
  # Blits: the adjoint of a permutation is its inverse.
  out = np.asarray(_ada(SQUARE, KEY, 1.0, A.AdaSpec(xflip=1.0, rotate90=1.0)))
  g = _grad(lambda v: A.ada_augment(v, KEY, 1.0, A.AdaSpec(xflip=1.0, rotate90=1.0)), SQUARE, w)
  for o, img, wi, gi in zip(out, x, w, g, strict=True):
    ops = [
      (lambda a, k=k, f=f: np.rot90(a[:, ::-1] if f else a, k, axes=(0, 1)), k, f)
      for k in range(4)
      for f in (0, 1)
    ]
    (k, f) = next((k, f) for op, k, f in ops if np.array_equal(op(img), o))
    inv = np.rot90(wi, -k, axes=(0, 1))
    np.testing.assert_array_equal(gi, inv[:, ::-1] if f else inv)
  # Colour: affine per pixel, so the gradient is c[:3, :3]^T w.
  spec = A.AdaSpec(brightness=1.0, contrast=1.0, lumaflip=1.0, hue=1.0, saturation=1.0)
  c = np.asarray(A.ada_color_matrix(jax.random.fold_in(KEY, 1), 1.0, spec, SQUARE.shape))
  g = _grad(lambda v: A.ada_augment(v, KEY, 1.0, spec), SQUARE, w)
  np.testing.assert_allclose(g, np.einsum("nji,nhwj->nhwi", c[:, :3, :3], w), atol=1e-5)


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_ada_one_key_one_draw_for_the_real_and_the_fake_batch():
  # At p = 1 every image is moved and recoloured (continuous draws: never the identity):
  # resampled with the geometric matrices of fold_in(key, 0), then the colour matrices of
  # fold_in(key, 1), both drawn from the key and the shape alone, whatever the pixels.
  p = jnp.float32(1.0)

  @jax.jit
  def explicit(x):
    g = A.ada_geometric_matrix(jax.random.fold_in(KEY, 0), p, A.ADA_BGC, SQUARE.shape)
    c = A.ada_color_matrix(jax.random.fold_in(KEY, 1), p, A.ADA_BGC, SQUARE.shape)
    return A.apply_color_matrix(A.resample(x, g), c)

  for x in (SQUARE, _images(SQUARE.shape, seed=5)):
    np.testing.assert_allclose(_ada(x, KEY, p, A.ADA_BGC), explicit(x), rtol=0, atol=1e-5)
  a = _ada(SQUARE, KEY, p, A.ADA_BGC)
  assert not np.array_equal(a, _ada(SQUARE, jax.random.key(8), p, A.ADA_BGC))


def test_ada_update_over_two_intervals_by_hand():
  # batch 64, interval 4, 500 kimg: each adjustment moves p by 64 * 4 / 500000 = 0.000512.
  kw = dict(batch_images=64, interval=4, target=0.6, speed_kimg=500)
  # Interval 1: 256 real logits, signs summing to 200: r_t = 0.78125 > 0.6, so p rises.
  sign_sum, count = A.real_sign_stats(jnp.array([1.0] * 228 + [-1.0] * 28))
  assert (float(sign_sum), float(count)) == (200.0, 256.0)
  p1 = A.ada_update(0.25, sign_sum, count, **kw)
  assert float(p1) == pytest.approx(0.250512, abs=1e-7)
  # Interval 2: signs summing to 64: r_t = 0.25 < 0.6, so p falls back.
  p2 = A.ada_update(p1, 64.0, 256.0, **kw)
  assert float(p2) == pytest.approx(0.25, abs=1e-7)
  # Clamped to [0, 1]; r_t exactly on target or no logits leave p where it is.
  assert float(A.ada_update(0.0002, -256.0, 256.0, **kw)) == 0.0
  assert float(A.ada_update(0.9998, 256.0, 256.0, **kw)) == 1.0
  assert float(A.ada_update(0.5, 0.6 * 256, 256.0, **kw)) == 0.5
  assert float(A.ada_update(0.5, 0.0, 0.0, **kw)) == 0.5
  # Traceable: the step holds p, the sum and the count in its state.
  jitted = jax.jit(functools.partial(A.ada_update, **kw))
  assert float(jitted(jnp.float32(0.25), 200.0, 256.0)) == float(p1)


# --------------------------------------------------------------------------------------
# bCR and LeCam
# --------------------------------------------------------------------------------------


@pytest.mark.slow  # over 5 s
def test_bcr_penalty_by_hand():
  d_real, d_real_aug = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.0, -1.0, 2.5])
  d_fake, d_fake_aug = jnp.array([[3.0], [-1.0]]), jnp.array([[1.0], [-1.0]])
  # Real: (1 + 1 + 4) / 3 = 2; fake: (4 + 0) / 2 = 2.
  out = A.bcr_penalty(d_real, d_real_aug, d_fake, d_fake_aug, real_weight=10.0, fake_weight=0.5)
  assert float(out) == pytest.approx(10.0 * 2 + 0.5 * 2)
  # Gradient through both sides: d/d d_real_aug of 10 * mean((a - b)^2) = -20 (a - b) / 3.
  g = jax.grad(
    lambda b: A.bcr_penalty(d_real, b, d_fake, d_fake_aug, real_weight=10.0, fake_weight=0.5)
  )(d_real_aug)
  np.testing.assert_allclose(g, -20 / 3 * np.array([1.0, -1.0, -2.0]), rtol=1e-6)


def test_lecam_anchors_and_penalty_by_hand():
  anchors = A.lecam_init()
  anchors = A.lecam_update(anchors, 2.0, -1.0, decay=0.99)
  # Debiased: the first update is the first mean.
  assert (float(anchors.real), float(anchors.fake)) == pytest.approx((2.0, -1.0))
  anchors = A.lecam_update(anchors, 4.0, 1.0, decay=0.99)
  # TF's zero-debiased EMA: b = 0.99 * 0.02 + 0.01 * 4 = 0.0598 over 1 - 0.99^2 = 0.0199.
  assert float(anchors.real) == pytest.approx(0.0598 / 0.0199, rel=1e-5)
  assert float(anchors.fake) == pytest.approx((0.99 * -0.01 + 0.01 * 1.0) / 0.0199, abs=1e-5)
  assert float(anchors.weight) == pytest.approx(0.0199, rel=1e-5)

  d_real, d_fake = jnp.array([1.0, 0.5, -2.0]), jnp.array([0.0, 3.0])
  # relu(d_real - (-0.5))^2 = (2.25, 1, 0), mean 3.25 / 3; relu(1.5 - d_fake)^2 = (2.25, 0).
  out = A.lecam_penalty(d_real, d_fake, anchor_real=1.5, anchor_fake=-0.5)
  assert float(out) == pytest.approx(3.25 / 3 + 2.25 / 2)
  grads = jax.grad(A.lecam_penalty, argnums=(0, 2))(d_real, d_fake, 1.5, -0.5)
  np.testing.assert_allclose(grads[0], [2 * 1.5 / 3, 2 * 1.0 / 3, 0.0], rtol=1e-6)
  assert float(grads[1]) == 0.0  # anchors carry no gradient
