"""The ResNet GAN (SNGAN/BigGAN blocks) and R3GAN's normalization-free ResNet: exact
rewrites against their plain forms, shapes, hand parameter counts, BatchNorm across a named
axis, initialization, determinism."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import traverse_util
from jax import lax

from gan_jax import host
from gan_jax.models import r3gan, resnet

DN = ("NHWC", "HWIO", "NHWC")


def _normal(seed, shape):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _eval_shapes(module, x, **kw):
  return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False, **kw))


def _init(module, x, y=None):
  # Initializers run once: LLVM -O1 compiles them several times faster, to the same values.
  init = jax.jit(
    lambda k: module.init(k, x, y, train=False), compiler_options=host.run_once_compiler_options()
  )
  return init(jax.random.PRNGKey(0))


# --- exact rewrites ---------------------------------------------------------------------------


def test_upconv_is_nearest_upsampling_then_a_3x3_convolution():
  x = _normal(0, (2, 5, 5, 3))
  layer = resnet.UpConv(4)
  p = layer.init(jax.random.PRNGKey(1), x)["params"]
  p = {**p, "bias": _normal(2, (4,))}
  up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  expected = lax.conv_general_dilated(up, p["kernel"], (1, 1), "SAME", dimension_numbers=DN)
  got = jax.jit(layer.apply)({"params": p}, x)
  np.testing.assert_allclose(got, expected + p["bias"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_convpool_is_a_convolution_then_average_pooling(k):
  x = _normal(0, (2, 6, 6, 3))
  layer = resnet.ConvPool(4, k)
  p = layer.init(jax.random.PRNGKey(1), x)["params"]
  conv = lax.conv_general_dilated(x, p["kernel"], (1, 1), "SAME", dimension_numbers=DN)
  expected = conv.reshape(2, 3, 2, 3, 2, 4).mean(axis=(2, 4)) + p["bias"]
  np.testing.assert_allclose(jax.jit(layer.apply)({"params": p}, x), expected, atol=1e-5)


# --- ResNet (SNGAN) ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_residual_blocks_keep_shapes(size):
  x = jnp.zeros((2, size // 2, size // 2, 8))
  g_block = resnet.GBlock(8, train=False)
  up = jax.eval_shape(lambda: g_block.init_with_output(jax.random.PRNGKey(0), x)[0])
  assert up.shape == (2, size, size, 8)
  for down, out in ((True, size // 4), (False, size // 2)):
    d_block = resnet.DBlock(8, down=down)
    y = jax.eval_shape(
      lambda b=d_block: b.init_with_output(jax.random.PRNGKey(0), x, train=False)[0]
    )
    assert y.shape == (2, out, out, 8)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
  "g_cond,d_cond", [(None, None), ("cbn", "projection"), ("concat", "concat")]
)
def test_resnet_shapes(size, channels, g_cond, d_cond):
  cond = dict(num_classes=10) if g_cond else {}
  g = resnet.ResNetGenerator(
    size, channels, width=8, **cond, **({"conditioning": g_cond} if g_cond else {})
  )
  d = resnet.ResNetDiscriminator(
    size, width=8, spectral_norm=True, **cond, **({"conditioning": d_cond} if d_cond else {})
  )
  z, y = jnp.zeros((4, 16)), (jnp.zeros((4,), jnp.int32) if g_cond else None)
  gv = _eval_shapes(g, z, y=y)
  images = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), gv)
  assert images.shape == (4, size, size, channels)
  dv = _eval_shapes(d, jnp.zeros(images.shape), y=y)
  logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros(images.shape), y, train=False), dv)
  assert logits.shape == (4,)


def test_resnet_parameter_counts_match_a_hand_count():
  w, z, c, k = 8, 16, 3, 10
  conv = lambda ks, cin, cout: ks * ks * cin * cout + cout
  bn = 2 * w
  blocks = 3  # 4 -> 8 -> 16 -> 32
  g_block = bn + conv(3, w, w) + bn + conv(3, w, w) + conv(1, w, w)
  g_count = (z * 16 * w + 16 * w) + blocks * g_block + bn + conv(3, w, c)
  gv = _eval_shapes(resnet.ResNetGenerator(32, c, width=w), jnp.zeros((2, z)))
  assert _count(gv["params"]) == g_count
  assert _count(gv["batch_stats"]) == (2 * blocks + 1) * 2 * w  # mean and var per BatchNorm
  # Conditional BatchNorm: per-class scale and offset instead of the blocks' BN params.
  cbn = resnet.ResNetGenerator(32, c, width=w, num_classes=k, conditioning="cbn")
  cv = _eval_shapes(cbn, jnp.zeros((2, z)), y=jnp.zeros((2,), jnp.int32))
  assert _count(cv["params"]) == g_count + blocks * 2 * (2 * k * w - bn)

  # D at 32 px: optimized block 32 -> 16, a block 16 -> 8, two blocks at 8, Dense(1).
  d_count = (
    conv(3, c, w) + conv(3, w, w) + conv(1, c, w)
    + conv(3, w, w) + conv(3, w, w) + conv(1, w, w)
    + 2 * (conv(3, w, w) + conv(3, w, w))
    + (w + 1)
  )  # fmt: skip
  d = resnet.ResNetDiscriminator(32, width=w)
  assert _count(_eval_shapes(d, jnp.zeros((2, 32, 32, c)))["params"]) == d_count
  d64 = resnet.ResNetDiscriminator(64, width=w, num_classes=k)
  dv = _eval_shapes(d64, jnp.zeros((2, 64, 64, c)), y=jnp.zeros((2,), jnp.int32))
  down_block = conv(3, w, w) + conv(3, w, w) + conv(1, w, w)
  assert _count(dv["params"]) == d_count + down_block + k * w  # + one block, projection
  # Spectral norm: a power-iteration vector u and a sigma per weight (11 at 32 px: 3 + 3
  # in the downsampling blocks, 2 + 2 in the others, the dense layer).
  d_sn = resnet.ResNetDiscriminator(32, width=w, spectral_norm=True)
  dsn = _eval_shapes(d_sn, jnp.zeros((2, 32, 32, c)))
  assert _count(dsn["params"]) == d_count
  names = jax.tree_util.tree_flatten_with_path(dsn["batch_stats"])[0]
  assert sum(str(path[-1]).endswith("/u']") for path, _ in names) == 11


def _model_config(tiny=True, **kw):
  m = ml_collections.ConfigDict()
  m.image_size, m.d_spectral_norm = 32, False
  m.g_conditioning, m.d_conditioning, m.class_embed_dim = "cbn", "projection", 50
  m.resnet, m.r3gan = dict(resnet.CONFIG.defaults), dict(r3gan.CONFIG.defaults)
  if tiny:
    m.resnet.update(g_width=8, d_width=8)
    m.r3gan.update(width=8, cardinality=2)
  m.update(kw)
  return m


@pytest.mark.parametrize("conditional", [False, True])
def test_generator_batchnorm_is_averaged_over_the_named_axis(conditional):
  """Two shards of 2 under a named axis normalize exactly as the batch of 4."""
  cond = dict(num_classes=3, conditioning="cbn") if conditional else {}
  g = resnet.ResNetGenerator(32, 3, width=8, axis_name="batch", **cond)
  z = _normal(0, (4, 16))
  y = jnp.array([0, 1, 2, 1]) if conditional else None
  v = _init(g, z, y)

  def train(z, y):
    return g.apply(v, z, y, train=True, mutable=["batch_stats"])

  whole, whole_stats = jax.jit(
    jax.vmap(train, axis_name="batch", in_axes=(0, 0 if conditional else None))
  )(z[None], None if y is None else y[None])
  shards, shard_stats = jax.jit(
    jax.vmap(train, axis_name="batch", in_axes=(0, 0 if conditional else None))
  )(z.reshape(2, 2, 16), None if y is None else y.reshape(2, 2))
  np.testing.assert_allclose(shards.reshape(whole[0].shape), whole[0], rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree.leaves(shard_stats), jax.tree.leaves(whole_stats), strict=True):
    np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a[1], b[0], rtol=1e-4, atol=1e-6)


def test_resnet_is_deterministic_and_reads_labels():
  g, d = resnet.build(_model_config(d_spectral_norm=True), 3, None, num_classes=4)
  z, y = _normal(0, (4, 16)), jnp.array([0, 1, 2, 3])
  gv = _init(g, z, y)
  # Conditional BatchNorm starts as plain BatchNorm (scale 1, offset 0 for every class).
  flat = traverse_util.flatten_dict(gv["params"])
  assert any("ConditionalBatchNorm_0" in k for k in flat)
  flat = {
    k: v + 0.1 * _normal(i, v.shape) if "ConditionalBatchNorm_0" in k else v
    for i, (k, v) in enumerate(flat.items())
  }
  gv = {**gv, "params": traverse_util.unflatten_dict(flat)}
  gen = jax.jit(lambda z, y: g.apply(gv, z, y, train=False))
  x = gen(z, y)
  np.testing.assert_array_equal(x, gen(z, y))
  assert float(jnp.abs(x - gen(z, y[::-1])).max()) > 0
  assert float(jnp.abs(x).max()) <= 1.0  # tanh
  dv = _init(d, x, y)
  disc = jax.jit(lambda v, x, y: d.apply(v, x, y, train=True, mutable=["batch_stats"]))
  logits, updates = disc(dv, x, y)
  np.testing.assert_array_equal(logits, disc(dv, x, y)[0])
  assert logits.shape == (4,)
  moved = jax.tree.map(
    lambda a, b: float(jnp.abs(a - b).max()), updates, {"batch_stats": dv["batch_stats"]}
  )
  assert max(jax.tree.leaves(moved)) > 0  # training mode runs the power iteration
  with pytest.raises(ValueError, match="supports image_size"):
    resnet.build(_model_config(image_size=28), 3, None)


# --- R3GAN ------------------------------------------------------------------------------------


def test_grouped_convolution_on_cpu_is_the_block_diagonal_dense_one():
  x, w = _normal(0, (2, 6, 6, 8)), _normal(1, (3, 3, 2, 8))
  expected = lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=DN, feature_group_count=4
  )
  np.testing.assert_allclose(
    jax.jit(r3gan.grouped_conv, static_argnums=2)(x, w, 4), expected, atol=1e-5
  )


def test_r3gan_blocks_start_as_the_identity_with_msr_gains():
  x = _normal(0, (2, 8, 8, 32))
  block = r3gan.ResidualBlock(expansion=2, cardinality=4, num_blocks=16)
  v = block.init(jax.random.PRNGKey(1), x)
  np.testing.assert_array_equal(jax.jit(block.apply)(v, x), x)  # conv3 starts at zero
  p = v["params"]
  np.testing.assert_array_equal(p["conv3"]["kernel"], 0.0)
  gain = math.sqrt(2 / 1.04) * 16 ** (-1 / 4)
  for name, fan_in in (("conv1", 32), ("conv2", 9 * 64 // 4)):
    std = float(jnp.std(p[name]["kernel"]))
    assert abs(std / (gain / math.sqrt(fan_in)) - 1) < 0.05, (name, std)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_r3gan_shapes(size, channels, num_classes):
  arch = dict(image_size=size, width=8, cardinality=2, num_classes=num_classes)
  g, d = r3gan.R3GANGenerator(channels=channels, **arch), r3gan.R3GANDiscriminator(**arch)
  z, y = jnp.zeros((4, 16)), (jnp.zeros((4,), jnp.int32) if num_classes else None)
  gv = _eval_shapes(g, z, y=y)
  images = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), gv)
  assert images.shape == (4, size, size, channels)
  dv = _eval_shapes(d, jnp.zeros(images.shape), y=y)
  logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros(images.shape), y, train=False), dv)
  assert logits.shape == (4,)


def test_r3gan_parameter_counts_match_a_hand_count():
  w, e, card, z, c, k, stages, b = 8, 16, 4, 16, 3, 10, 4, 2  # 32 px: 4 stages
  block = w * e + e + 9 * (e // card) * e + e + e * w
  arch = dict(image_size=32, width=w, blocks_per_stage=b, cardinality=card, expansion=2)
  gv = _eval_shapes(r3gan.R3GANGenerator(channels=c, **arch), jnp.zeros((2, z)))
  assert _count(gv["params"]) == 16 * w + z * w + stages * b * block + w * c
  dv = _eval_shapes(r3gan.R3GANDiscriminator(**arch), jnp.zeros((2, 32, 32, c)))
  assert _count(dv["params"]) == c * w + stages * b * block + 16 * w + w
  y = jnp.zeros((2,), jnp.int32)
  gcv = _eval_shapes(
    r3gan.R3GANGenerator(channels=c, num_classes=k, **arch), jnp.zeros((2, z)), y=y
  )
  assert _count(gcv["params"]) == _count(gv["params"]) + k * z + z * w
  dcv = _eval_shapes(
    r3gan.R3GANDiscriminator(num_classes=k, **arch), jnp.zeros((2, 32, 32, c)), y=y
  )
  assert _count(dcv["params"]) == _count(dv["params"]) - w + w * w + k * w


def test_r3gan_is_deterministic_and_reads_labels():
  g, d = r3gan.build(_model_config(), 3, None, num_classes=4)
  z, y = _normal(0, (4, 16)), jnp.array([0, 1, 2, 3])
  gv = _init(g, z, y)
  gen = jax.jit(lambda y: g.apply(gv, z, y, train=False))
  x = gen(y)
  np.testing.assert_array_equal(x, gen(y))
  assert float(jnp.abs(x - gen(y[::-1])).max()) > 0
  dv = _init(d, x, y)
  disc = jax.jit(lambda y: d.apply(dv, x, y, train=False))
  np.testing.assert_array_equal(disc(y), disc(y))
  assert float(jnp.abs(disc(y) - disc(y[::-1])).max()) > 0
  with pytest.raises(ValueError, match="cardinality 3 must divide"):
    m = _model_config()
    m.r3gan.cardinality = 3
    r3gan.build(m, 3, None)


@pytest.mark.parametrize("family", [resnet, r3gan])
def test_config_declarations(family):
  sub = family.CONFIG
  assert set(sub.specs) == {f"model.{sub.key}.{k}" for k in sub.defaults}
  for key, spec in sub.specs.items():
    assert spec.problem(key, sub.defaults[key.rsplit(".", 1)[1]]) is None
  g, d = family.build(_model_config(tiny=False), 1, "batch", 0)
  assert g.axis_name == "batch" and g.channels == 1
