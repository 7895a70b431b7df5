"""StyleGAN2: each piece against an independent computation (explicit per-sample kernels,
plain Flax layers with scaled weights, finite differences in float64, hand counts)."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import traverse_util
from jax import lax

from gan_jax import host
from gan_jax.games.gan import stylegan2 as sg_train
from gan_jax.models import fir
from gan_jax.models import stylegan2 as sg

DN = ("NHWC", "HWIO", "NHWC")
# The tiny generator of most tests: 8 px (num_ws = 4), 8 channels at 4 px, 4 at 8 px.
TINY = dict(image_size=8, channels=3, w_dim=8, mapping_layers=2, channel_base=32, channel_max=8)


def _normal(seed, shape, dtype=jnp.float32):
  return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype)


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _with_noise_strength(params, value):
  flat = traverse_util.flatten_dict(params)
  flat = {k: (jnp.full_like(v, value) if k[-1] == "noise_strength" else v) for k, v in flat.items()}
  return traverse_util.unflatten_dict(flat)


@functools.cache  # one initialization per generator for the module (callers copy, not mutate)
def _tiny_generator(num_classes=0, **kw):
  g = sg.Generator(**{**TINY, **kw}, num_classes=num_classes)
  y = jnp.zeros((4,), jnp.int32) if num_classes else None
  return g, _init(g, jnp.zeros((4, 6)), y)


def _init(module, x, y=None):
  # Initializers run once: compiled as the loop's initial state (host.run_once_compiler_options).
  init = jax.jit(
    lambda k: module.init(k, x, y, train=False), compiler_options=host.run_once_compiler_options()
  )
  return init(jax.random.PRNGKey(0))


def _correlate(x, w, padding):
  return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)


# --- FIR resampling ---------------------------------------------------------------------------


def _upfirdn_reference(x, up, down, pad, gain):
  """Zero insertion, zero padding, a true 2-D convolution with the 4x4 filter, decimation."""
  f = np.array(fir.FIR_TAPS)
  f2 = np.outer(f, f) / np.outer(f, f).sum() * gain
  n, h, w, c = x.shape
  u = np.zeros((n, h * up, w * up, c))
  u[:, ::up, ::up] = x
  u = np.pad(u, ((0, 0), pad, pad, (0, 0)))
  kernel = np.tile(f2[::-1, ::-1, None, None], (1, 1, 1, c))  # flipped: convolution
  y = lax.conv_general_dilated(
    jnp.asarray(u),
    jnp.asarray(kernel),
    (1, 1),
    "VALID",
    dimension_numbers=DN,
    feature_group_count=c,
  )
  return np.asarray(y)[:, ::down, ::down]


def test_fir_resampling_is_upfirdn2d_and_bilinear_inside():
  x = np.asarray(_normal(0, (2, 6, 6, 3)))
  up = np.asarray(jax.jit(fir.upsample2d)(x))
  np.testing.assert_allclose(up, _upfirdn_reference(x, 2, 1, (2, 1), 4.0), atol=1e-5)
  down = np.asarray(jax.jit(fir.downsample2d)(x))
  np.testing.assert_allclose(down, _upfirdn_reference(x, 1, 2, (1, 1), 1.0), atol=1e-5)
  # (1, 3, 3, 1) upsampling is bilinear interpolation away from the zero-padded border.
  bilinear = np.asarray(jax.jit(lambda x: jax.image.resize(x, (2, 12, 12, 3), "bilinear"))(x))
  np.testing.assert_allclose(up[:, 1:-1, 1:-1], bilinear[:, 1:-1, 1:-1], atol=1e-5)
  assert up.shape == (2, 12, 12, 3) and down.shape == (2, 3, 3, 3)


def test_upsample_conv_equals_upsampling_then_correlation():
  x, w = _normal(0, (2, 5, 5, 4)), _normal(1, (3, 3, 4, 6))
  expected = _correlate(fir.upsample2d(x, extra_padding=1), w, "VALID")
  got = jax.jit(fir.upsample_conv2d)(x, w)
  assert got.shape == (2, 10, 10, 6)
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)


# --- equalized learning rate ------------------------------------------------------------------


@pytest.mark.parametrize("lr_mul,bias_init", [(1.0, 0.0), (0.01, 0.5), (1.0, 1.0)])
def test_equalized_dense_is_a_plain_dense_with_scaled_weights(lr_mul, bias_init):
  x = _normal(0, (3, 5))
  layer = sg.EqualDense(7, lr_mul=lr_mul, bias_init=bias_init)
  p = layer.init(jax.random.PRNGKey(1), x)["params"]
  # Stored ~ N(0, 1 / lr_mul^2): the effective weight is N(0, 1 / fan_in) at any lr_mul.
  np.testing.assert_allclose(p["bias"], bias_init)
  scale = lr_mul / math.sqrt(5)
  plain = {"kernel": p["kernel"] * scale, "bias": p["bias"] * lr_mul}
  np.testing.assert_allclose(
    layer.apply({"params": p}, x), nn.Dense(7).apply({"params": plain}, x), rtol=1e-5, atol=1e-6
  )
  # Equalized: the gradient of the stored weight is the effective weight's times the scale.
  loss = lambda y: jnp.sum(jnp.sin(y))
  g_raw = jax.grad(lambda k: loss(layer.apply({"params": {**p, "kernel": k}}, x)))(p["kernel"])
  g_eff = jax.grad(lambda k: loss(nn.Dense(7).apply({"params": {**plain, "kernel": k}}, x)))(
    plain["kernel"]
  )
  np.testing.assert_allclose(g_raw, g_eff * scale, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [1, 3])
def test_equalized_conv_is_a_plain_conv_with_scaled_weights(k):
  x = _normal(0, (2, 6, 6, 4))
  layer = sg.EqualConv(5, k, activation=True, gain=0.5)
  p = layer.init(jax.random.PRNGKey(1), x)["params"]
  p = {**p, "bias": _normal(2, (5,))}
  plain = {"kernel": p["kernel"] / math.sqrt(4 * k * k), "bias": p["bias"]}
  ref = nn.Conv(5, (k, k), padding="SAME").apply({"params": plain}, x)
  ref = nn.leaky_relu(ref, 0.2) * math.sqrt(2) * 0.5
  np.testing.assert_allclose(jax.jit(layer.apply)({"params": p}, x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_downsampling_conv_is_conv_then_fir_downsampling(k):
  """StyleGAN2's down=2 reference path: pad, convolve, then FIR-filter and decimate."""
  x = _normal(0, (2, 8, 8, 3))
  layer = sg.EqualConv(4, k, down=True, use_bias=False)
  init = jax.jit(layer.init, compiler_options=host.run_once_compiler_options())
  p = init(jax.random.PRNGKey(1), x)["params"]

  @jax.jit
  def reference(x, kernel):
    w = kernel / math.sqrt(3 * k * k)
    if k == 1:
      return _correlate(fir.downsample2d(x), w, "VALID")
    conv = _correlate(jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), w, "VALID")
    return fir.upfirdn2d(conv, down=2)

  expected = reference(x, p["kernel"])
  got = jax.jit(layer.apply)({"params": p}, x)
  assert got.shape == (2, 4, 4, 4)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# --- modulated convolution --------------------------------------------------------------------


def _explicit_kernels(weight, styles, demodulate):
  w = np.asarray(weight, np.float64)[None] * np.asarray(styles, np.float64)[:, None, None, :, None]
  if demodulate:
    w = w / np.sqrt(np.sum(w**2, axis=(1, 2, 3), keepdims=True) + 1e-8)
  return w


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_is_each_sample_convolved_with_its_own_kernel(fused, up, demodulate):
  x, weight, styles = _normal(0, (3, 5, 5, 4)), _normal(1, (3, 3, 4, 6)), _normal(2, (3, 4))
  got = jax.jit(
    lambda x, w, s: sg.modulated_conv2d(x, w, s, demodulate=demodulate, up=up, fused=fused)
  )(x, weight, styles)
  kernels = _explicit_kernels(weight, styles, demodulate)
  for n in range(3):
    xn = x[n : n + 1]
    xn, padding = (fir.upsample2d(xn, extra_padding=1), "VALID") if up else (xn, "SAME")
    expected = _correlate(xn, jnp.asarray(kernels[n], jnp.float32), padding)
    np.testing.assert_allclose(got[n : n + 1], expected, rtol=1e-4, atol=1e-4)


def test_demodulated_output_has_unit_variance():
  """Unit-variance i.i.d. input: each output is a unit-norm combination of inputs, whatever
  the weight's scale and the styles."""
  weight = 3.0 * _normal(1, (3, 3, 16, 8))
  styles = jnp.exp(_normal(2, (64, 16)))  # far from 1
  f = jax.jit(lambda x: sg.modulated_conv2d(x, weight, styles)[:, 1:-1, 1:-1])  # no border
  y = np.concatenate([np.asarray(f(_normal(10 + i, (64, 12, 12, 16)))) for i in range(4)])
  assert y.size == 4 * 64 * 10 * 10 * 8
  assert abs(np.mean(y)) < 0.02
  assert abs(np.var(y) - 1.0) < 0.03, np.var(y)
  undemodulated = jax.jit(lambda x: sg.modulated_conv2d(x, weight, styles, demodulate=False))
  assert np.var(undemodulated(_normal(20, (64, 12, 12, 16)))) > 10


# --- mapping, W average, truncation, style mixing ---------------------------------------------


def test_mapping_normalizes_z():
  g, v = _tiny_generator()
  z = _normal(0, (4, 6))
  f = jax.jit(lambda z: g.apply(v, z, train=False, method="map"))
  np.testing.assert_allclose(f(z), f(5.0 * z), rtol=1e-5, atol=1e-6)
  assert f(z).shape == (4, sg.num_ws(8), 8)


def test_w_avg_is_updated_in_training_only():
  g, v = _tiny_generator(w_avg_beta=0.9)
  assert set(v["batch_stats"]) == {"w_avg"}
  np.testing.assert_array_equal(v["batch_stats"]["w_avg"], 0.0)  # init leaves it at zero
  v = {**v, "batch_stats": {"w_avg": _normal(1, (8,))}}
  z = _normal(0, (4, 6))
  w = g.apply(v, z, train=False, method="map")[:, 0]

  @jax.jit
  def train_map(v, z):
    return g.apply(v, z, train=True, method="map", mutable=["batch_stats"])[1]

  new = train_map(v, z)["batch_stats"]["w_avg"]
  expected = 0.9 * v["batch_stats"]["w_avg"] + 0.1 * jnp.mean(w, axis=0)
  np.testing.assert_allclose(new, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(sg.update_w_avg(v["batch_stats"]["w_avg"], w, 0.9), expected, 1e-6)
  _, same = g.apply(v, z, train=True, method="map", skip_w_avg_update=True, mutable=["batch_stats"])
  np.testing.assert_array_equal(same["batch_stats"]["w_avg"], v["batch_stats"]["w_avg"])


def test_w_avg_update_averages_the_batch_mean_over_the_named_axis():
  w_avg, w = _normal(0, (5,)), _normal(1, (8, 5))
  shards = jax.vmap(lambda ws: sg.update_w_avg(w_avg, ws, 0.99, "batch"), axis_name="batch")(
    w.reshape(2, 4, 5)
  )
  whole = sg.update_w_avg(w_avg, w, 0.99)
  np.testing.assert_allclose(shards, jnp.stack([whole, whole]), rtol=1e-6)


def test_truncation_psi_zero_returns_the_w_average():
  g, v = _tiny_generator()
  w_avg = _normal(1, (8,))
  v = {**v, "params": _with_noise_strength(v["params"], 1.0), "batch_stats": {"w_avg": w_avg}}
  z = _normal(0, (4, 6))
  mapping = jax.jit(
    lambda psi, cutoff=None: g.apply(
      v, z, train=False, truncation_psi=psi, truncation_cutoff=cutoff, method="map"
    ),
    static_argnums=(0, 1),
  )
  ws = mapping(0.0)
  np.testing.assert_allclose(ws, jnp.broadcast_to(w_avg, ws.shape), atol=1e-6)
  images = jax.jit(lambda: g.apply(v, z, train=False, truncation_psi=0.0, noise_mode="const"))()
  np.testing.assert_allclose(images, jnp.broadcast_to(images[:1], images.shape), atol=1e-5)
  mean_image = jax.jit(lambda ws: g.apply(v, ws, noise_mode="const", method="synthesize"))(ws)
  np.testing.assert_allclose(images, mean_image, atol=1e-5)
  # psi = 1/2 halves the distance to the average; a cutoff keeps the later layers.
  free, half = mapping(1.0), mapping(0.5, 2)
  np.testing.assert_allclose(half[:, :2], (free[:, :2] + w_avg) / 2, atol=1e-6)
  np.testing.assert_array_equal(half[:, 2:], free[:, 2:])


def test_mix_styles_switches_w_at_the_crossover_layer():
  ws1, ws2 = _normal(0, (3, 6, 4)), _normal(1, (3, 6, 4))
  mixed = sg.mix_styles(ws1, ws2, jnp.array([0, 2, 6]))
  np.testing.assert_array_equal(mixed[0], ws2[0])  # crossover 0: all from ws2
  np.testing.assert_array_equal(mixed[1, :2], ws1[1, :2])
  np.testing.assert_array_equal(mixed[1, 2:], ws2[1, 2:])
  np.testing.assert_array_equal(mixed[2], ws1[2])  # num_ws: no mixing
  scalar = sg.mix_styles(ws1, ws2, 3)  # one crossover for the batch, as StyleGAN2
  np.testing.assert_array_equal(scalar[:, :3], ws1[:, :3])
  np.testing.assert_array_equal(scalar[:, 3:], ws2[:, 3:])


def test_style_mixing_feeds_each_synthesis_layer_from_its_own_side():
  """The images depend on ws1 only through layers < crossover and on ws2 only after."""
  g, v = _tiny_generator()
  ws1, ws2 = _normal(0, (2, 4, 8)), _normal(1, (2, 4, 8))
  crossover = 2

  def image_sum(a, b):
    ws = sg.mix_styles(a, b, crossover)
    return jnp.sum(g.apply(v, ws, noise_mode="none", method="synthesize") ** 2)

  d1, d2 = jax.jit(jax.grad(image_sum, argnums=(0, 1)))(ws1, ws2)
  assert np.all(np.abs(d1[:, :crossover]).sum(-1) > 0)
  np.testing.assert_array_equal(d1[:, crossover:], 0.0)
  np.testing.assert_array_equal(d2[:, :crossover], 0.0)
  assert np.all(np.abs(d2[:, crossover:]).sum(-1) > 0)


def test_draw_crossover_mixes_with_the_given_probability():
  c = np.asarray(sg.draw_crossover(jax.random.PRNGKey(0), 8, 0.9, shape=(20000,)))
  mixed = c < 8
  assert abs(mixed.mean() - 0.9) < 0.01
  assert c[mixed].min() == 1 and c[mixed].max() == 7
  assert int(sg.draw_crossover(jax.random.PRNGKey(1), 8, 0.0)) == 8


# --- path length ------------------------------------------------------------------------------


@pytest.mark.slow  # over 5 s
def test_path_length_penalty_equals_finite_differences_in_float64():
  g, v = _tiny_generator(w_dim=4)
  with jax.enable_x64(True):
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), v["params"])  # exact casts
    synth = lambda ws: g.apply({"params": params}, ws, noise_mode="none", method="synthesize")
    ws = _normal(0, (2, 4, 4), jnp.float64)
    rng, mean, decay = jax.random.PRNGKey(3), jnp.float64(0.7), 0.01
    penalty, new_mean = jax.jit(
      lambda ws, mean: sg_train.path_length_penalty(synth, ws, rng, mean, decay)
    )(ws, mean)

    shape = jax.eval_shape(synth, ws).shape
    y = jax.random.normal(rng, shape, jnp.float64) / math.sqrt(8 * 8)
    per_sample = lambda ws: jnp.sum(synth(ws) * y, axis=(1, 2, 3))  # (N,): sample n's <x, y>
    h = 1e-5
    eye = np.eye(4 * 4, dtype=np.float64).reshape(16, 4, 4)
    diffs = jax.jit(
      jax.vmap(lambda e: (per_sample(ws + h * e) - per_sample(ws - h * e)) / (2 * h))
    )(eye)
    grads = np.asarray(diffs).T.reshape(2, 4, 4)  # d <x_n, y_n> / d ws[n, l, k]
    lengths = np.sqrt(np.mean(np.sum(grads**2, axis=2), axis=1))
    expected_mean = 0.7 + decay * (lengths.mean() - 0.7)
    np.testing.assert_allclose(new_mean, expected_mean, rtol=1e-8)
    np.testing.assert_allclose(penalty, np.mean((lengths - expected_mean) ** 2), rtol=1e-6)
    assert penalty.dtype == jnp.float64 and float(penalty) > 0


def test_path_length_penalty_has_gradients_for_the_synthesis():
  g, v = _tiny_generator()
  ws = _normal(0, (2, 4, 8))

  def loss(params):
    synth = lambda w: g.apply({"params": params}, w, noise_mode="const", method="synthesize")
    return sg_train.path_length_penalty(synth, ws, jax.random.PRNGKey(1), jnp.float32(0.0))[0]

  grads = jax.jit(jax.grad(loss))(v["params"])
  assert float(np.abs(grads["synthesis"]["b8_conv1"]["weight"]).sum()) > 0


# --- lazy regularization and EMA --------------------------------------------------------------


def test_lazy_regularization_schedule_is_stylegan2s():
  # R1's weight is gamma: penalties.r1_penalty holds the 1/2 of ada's r1_gamma / 2, so the
  # term is 16 * gamma / 2 * mean ||grad||^2 (the closed form on a linear D:
  # tests/test_stylegan2_game.py).
  r1, pl = sg_train.lazy_regularization(r1_gamma=10.0, pl_weight=2.0)
  assert (r1.name, r1.net, r1.interval, r1.weight) == ("r1", "d", 16, 10.0)
  assert (pl.name, pl.net, pl.interval, pl.weight) == ("path_length", "g", 4, 2.0)
  assert r1.scaled_weight == 160.0 and pl.scaled_weight == 8.0
  lr, b1, b2 = r1.adam(0.0025, 0.0, 0.99)
  np.testing.assert_allclose([lr, b1, b2], [0.0025 * 16 / 17, 0.0, 0.99 ** (16 / 17)])
  np.testing.assert_allclose(pl.adam(0.0025, 0.5, 0.99), [0.002, 0.5**0.8, 0.99**0.8])
  assert [pl.due(s) for s in range(6)] == [True, False, False, False, True, False]
  assert bool(r1.due(jnp.int32(32)))


def test_ema_beta_has_a_half_life_in_images():
  beta = sg_train.ema_beta(32, 10.0)
  np.testing.assert_allclose(beta ** (10_000 / 32), 0.5, rtol=1e-5)
  # Ramp-up: the half-life is rampup * images seen while that is shorter.
  np.testing.assert_allclose(sg_train.ema_beta(32, 10.0, rampup=0.05, images_seen=3200), 0.5**0.2)
  late = sg_train.ema_beta(32, 10.0, rampup=0.05, images_seen=10**7)
  np.testing.assert_allclose(late, beta, rtol=1e-6)


# --- the networks -----------------------------------------------------------------------------


def _eval_shapes(module, x, **kw):
  return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False, **kw))


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes(size, channels, num_classes):
  g = sg.Generator(
    image_size=size,
    channels=channels,
    w_dim=16,
    channel_base=256,
    channel_max=16,
    num_classes=num_classes,
  )
  d = sg.Discriminator(image_size=size, channel_base=256, channel_max=16, num_classes=num_classes)
  z, y = jnp.zeros((4, 12)), (jnp.zeros((4,), jnp.int32) if num_classes else None)
  gv = _eval_shapes(g, z, y=y)
  images = jax.eval_shape(lambda v: g.apply(v, z, y, train=False, noise_mode="none"), gv)
  assert images.shape == (4, size, size, channels)
  ws = jax.eval_shape(lambda v: g.apply(v, z, y, train=False, method="map"), gv)
  assert ws.shape == (4, 2 * int(math.log2(size)) - 2, 16) and g.num_ws == ws.shape[1]
  dv = _eval_shapes(d, jnp.zeros(images.shape), y=y)
  logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros(images.shape), y, train=False), dv)
  assert logits.shape == (4,)


def _mapping_count(fan_in, w_dim, layers):
  return (fan_in * w_dim + w_dim) + (layers - 1) * (w_dim * w_dim + w_dim)


def test_parameter_counts_match_a_hand_count():
  w_dim, z_dim, ch, c = 16, 12, {4: 16, 8: 16, 16: 8, 32: 4}, 3
  g = sg.Generator(
    image_size=32, channels=c, w_dim=w_dim, mapping_layers=3, channel_base=128, channel_max=16
  )
  affine = lambda cin: w_dim * cin + cin
  layer = lambda cin, cout: affine(cin) + 9 * cin * cout + cout + 1  # + noise strength
  torgb = lambda cin: affine(cin) + cin * c + c
  synthesis = 4 * 4 * ch[4] + layer(ch[4], ch[4]) + torgb(ch[4])
  for res in (8, 16, 32):
    synthesis += layer(ch[res // 2], ch[res]) + layer(ch[res], ch[res]) + torgb(ch[res])
  gv = _eval_shapes(g, jnp.zeros((2, z_dim)))
  assert _count(gv["params"]["mapping"]) == _mapping_count(z_dim, w_dim, 3)
  assert _count(gv["params"]["synthesis"]) == synthesis
  assert _count(gv["batch_stats"]) == w_dim

  d = sg.Discriminator(image_size=32, channel_base=128, channel_max=16)
  conv = lambda k, cin, cout, bias=True: k * k * cin * cout + (cout if bias else 0)
  blocks = sum(
    conv(1, ch[r], ch[r // 2], bias=False) + conv(3, ch[r], ch[r]) + conv(3, ch[r], ch[r // 2])
    for r in (32, 16, 8)
  )
  epilogue = conv(3, ch[4] + 1, ch[4]) + (16 * ch[4] * ch[4] + ch[4]) + (ch[4] + 1)
  dv = _eval_shapes(d, jnp.zeros((4, 32, 32, c)))
  assert _count(dv["params"]) == conv(1, c, ch[32]) + blocks + epilogue
  # Conditional: an embedding of the one-hot label in G's mapping; in D a projection onto
  # the mapped embedding (cmap, of the 4x4 width) instead of one logit.
  gc = sg.Generator(
    image_size=32,
    channels=c,
    w_dim=w_dim,
    mapping_layers=3,
    channel_base=128,
    channel_max=16,
    num_classes=10,
  )
  gcv = _eval_shapes(gc, jnp.zeros((2, z_dim)), y=jnp.zeros((2,), jnp.int32))
  embed = 10 * w_dim + w_dim
  assert _count(gcv["params"]["mapping"]) == embed + _mapping_count(z_dim + w_dim, w_dim, 3)
  dc = sg.Discriminator(
    image_size=32, channel_base=128, channel_max=16, num_classes=10, mapping_layers=2
  )
  dcv = _eval_shapes(dc, jnp.zeros((4, 32, 32, c)), y=jnp.zeros((4,), jnp.int32))
  cmap = (10 * ch[4] + ch[4]) + _mapping_count(ch[4], ch[4], 2)
  out_extra = (ch[4] * ch[4] + ch[4]) - (ch[4] + 1)
  assert _count(dcv["params"]) == _count(dv["params"]) + out_extra + cmap


def test_noise_inputs():
  g, v = _tiny_generator()
  params = _with_noise_strength(v["params"], 0.5)
  ws = _normal(0, (2, 4, 8))

  k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
  synth = jax.jit(
    lambda p, ws, k, mode: g.apply(
      {"params": p}, ws, noise_mode=mode, method="synthesize", rngs={"noise": k}
    ),
    static_argnums=3,
  )
  a, c = np.asarray(synth(params, ws, k1, "random")), np.asarray(synth(params, ws, k2, "random"))
  assert float(np.abs(a - c).max()) > 1e-3  # the key's noise matters
  const1, const2 = synth(params, ws, k1, "const"), synth(params, ws, k2, "const")
  np.testing.assert_array_equal(const1, const2)  # 'const' ignores the key
  assert float(np.abs(np.asarray(const1) - a).max()) > 1e-3
  none = synth(params, ws, k1, "none")
  zero_strength = synth(_with_noise_strength(params, 0.0), ws, k2, "random")
  np.testing.assert_allclose(none, zero_strength, atol=1e-6)
  with pytest.raises(ValueError, match="rngs=\\{'noise': key\\}"):
    g.apply({"params": params}, ws, method="synthesize")
  with pytest.raises(ValueError, match="unknown noise_mode"):
    g.apply({"params": params}, ws, noise_mode="off", method="synthesize")


def test_fused_generator_equals_the_unfused_one():
  g, v = _tiny_generator()
  fused = sg.Generator(**{**TINY, "fused_modconv": True})
  z = _normal(0, (3, 6))
  run = lambda m: jax.jit(lambda v, z: m.apply(v, z, train=False, noise_mode="const"))(v, z)
  np.testing.assert_allclose(run(fused), run(g), rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_conditional_models_read_the_labels():
  g, v = _tiny_generator(num_classes=5)
  z = _normal(0, (4, 6))
  y0, y1 = jnp.zeros((4,), jnp.int32), jnp.array([0, 1, 2, 3])
  gen = jax.jit(lambda y: g.apply(v, z, y, train=False, noise_mode="const"))
  x0, x1 = np.asarray(gen(y0)), np.asarray(gen(y1))
  np.testing.assert_array_equal(x0[0], x1[0])
  assert float(np.abs(x0[1:] - x1[1:]).max()) > 1e-4
  d = sg.Discriminator(
    image_size=8, channel_base=32, channel_max=8, num_classes=5, mapping_layers=2
  )
  dv = _init(d, x0, y0)
  disc = jax.jit(lambda y: d.apply(dv, x0, y, train=False))
  d0, d1 = np.asarray(disc(y0)), np.asarray(disc(y1))
  assert float(np.abs(d0[1:] - d1[1:]).min()) > 0
  with pytest.raises(ValueError, match="needs labels"):
    g.apply(v, z, train=False)


def _model_config(size=32):
  m = ml_collections.ConfigDict()
  m.image_size = size
  m.stylegan2 = dict(sg.CONFIG.defaults)
  return m


def test_build_reads_the_declared_keys():
  defaults = sg.CONFIG.defaults
  assert set(sg.CONFIG.specs) == {f"model.stylegan2.{k}" for k in defaults}
  for key, spec in sg.CONFIG.specs.items():
    assert spec.problem(key, defaults[key.rsplit(".", 1)[1]]) is None
  g, d = sg.build(_model_config(), 3, "batch", 0)
  assert (g.w_dim, g.mapping_layers, g.channel_base, g.axis_name) == (256, 8, 1024, "batch")
  assert (d.mbstd_group_size, d.channel_max) == (4, 128)
  with pytest.raises(ValueError, match="power of two"):
    sg.build(_model_config(48), 3, None, 0)
  with pytest.raises(ValueError, match="model.stylegan2 is missing"):
    m = _model_config()
    del m["stylegan2"]
    sg.build(m, 3, None, 0)


@pytest.mark.slow  # over 5 s
def test_the_pieces_compose_in_a_generator_update():
  """What a game's G step does: map (updating w_avg), mix with a second latent (not
  updating it), synthesize with random noise, judge (the path length penalty's gradients:
  test_path_length_penalty_has_gradients_for_the_synthesis)."""
  g, v = _tiny_generator()
  d = sg.Discriminator(image_size=8, channel_base=32, channel_max=8)
  dv = _init(d, jnp.zeros((4, 8, 8, 3)))
  z1, z2 = _normal(0, (4, 6)), _normal(1, (4, 6))

  @jax.jit
  def g_loss(params, stats, rng):
    k_mix, k_noise = jax.random.split(rng)
    variables = {"params": params, "batch_stats": stats}
    ws, updates = g.apply(variables, z1, train=True, method="map", mutable=["batch_stats"])
    ws2 = g.apply(variables, z2, train=True, method="map", skip_w_avg_update=True)
    ws = sg.mix_styles(ws, ws2, sg.draw_crossover(k_mix, g.num_ws))
    images = g.apply({"params": params}, ws, method="synthesize", rngs={"noise": k_noise})
    logits = d.apply(dv, images, train=True)
    return jnp.mean(jax.nn.softplus(-logits)), updates["batch_stats"]

  grads, stats = jax.jit(jax.grad(g_loss, has_aux=True))(
    v["params"], v["batch_stats"], jax.random.PRNGKey(2)
  )
  assert float(np.abs(stats["w_avg"]).max()) > 0
  norms = jax.tree.map(lambda a: float(np.abs(a).max()), grads)
  assert norms["mapping"]["fc0"]["kernel"] > 0 and norms["synthesis"]["const"] > 0
