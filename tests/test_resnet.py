"""The ResNet GAN (SNGAN's networks) and R3GAN's normalization-free ResNet: exact
rewrites against their plain forms, shapes, hand parameter counts, the 64-px networks'
widths against the reference's, spectral norm of the projection embedding, BatchNorm across
a named axis, initialization."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from _tiers import slow_except
from flax import traverse_util
from jax import lax

from gan_jax import host
from gan_jax.models import common, r3gan, resnet

DN = ("NHWC", "HWIO", "NHWC")


def _normal(seed, shape):
  return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _eval_shapes(module, x, **kw):
  return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False, **kw))


def _init(module, x, y=None):
  # Initializers run once: compiled as the loop's initial state (host.run_once_compiler_options).
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

  # D at 32 px: optimized block 32 -> 16, a block 16 -> 8, two blocks at 8, Dense(1) without
  # bias (w weights; it had w + 1 before the head followed snresnet_32.py's nobias=True).
  d_count = (
    conv(3, c, w) + conv(3, w, w) + conv(1, c, w)
    + conv(3, w, w) + conv(3, w, w) + conv(1, w, w)
    + 2 * (conv(3, w, w) + conv(3, w, w))
    + w
  )  # fmt: skip
  d = resnet.ResNetDiscriminator(32, width=w)
  assert _count(_eval_shapes(d, jnp.zeros((2, 32, 32, c)))["params"]) == d_count
  # D at 64 px: snresnet_64.py's five blocks widening 1, 2, 4, 8, 16 x w (it was the 32-px D
  # with one more block; test_sngan_64_networks_have_the_reference_widths has the shapes),
  # Dense(1) with its bias, the projection embedding of the last width.
  d64 = resnet.ResNetDiscriminator(64, width=w, num_classes=k)
  dv = _eval_shapes(d64, jnp.zeros((2, 64, 64, c)), y=jnp.zeros((2,), jnp.int32))
  down_block = lambda a, b: conv(3, a * w, a * w) + conv(3, a * w, b * w) + conv(1, a * w, b * w)
  d64_count = (
    conv(3, c, w) + conv(3, w, w) + conv(1, c, w)
    + down_block(1, 2) + down_block(2, 4) + down_block(4, 8) + down_block(8, 16)
    + (16 * w + 1) + k * 16 * w
  )  # fmt: skip
  assert _count(dv["params"]) == d64_count
  # Spectral norm: a power-iteration vector u and a sigma per weight (11 at 32 px: 3 + 3
  # in the downsampling blocks, 2 + 2 in the others, the dense layer).
  d_sn = resnet.ResNetDiscriminator(32, width=w, spectral_norm=True)
  dsn = _eval_shapes(d_sn, jnp.zeros((2, 32, 32, c)))
  assert _count(dsn["params"]) == d_count
  names = jax.tree_util.tree_flatten_with_path(dsn["batch_stats"])[0]
  assert sum(str(path[-1]).endswith("/u']") for path, _ in names) == 11


# pfnet-research/sngan_projection's 64-px networks with ch = w, layer by layer as
# (reference layer, gan_jax parameter, shape): gen_models/resnet_64.py and
# dis_models/snresnet_64.py, whose resblocks.py give G's Block c1: in -> out, c2: out -> out
# and D's Block c1: in -> in (hidden_channels = in_channels), c2: in -> out; every learnable
# shortcut c_sc: in -> out (1x1). Chainer's (out, in, kh, kw) written as Flax's (kh, kw, in, out).
def _reference_64(w, z, c, k):
  g = [("l1", "Dense_0/kernel", (z, 4 * 4 * 16 * w))]  # (bottom_width ** 2) * ch * 16
  for i, (a, b) in enumerate(((16, 8), (8, 4), (4, 2), (2, 1))):
    blk, n = f"block{i + 2}", f"GBlock_{i}"
    g += [
      (f"{blk}.b1", f"{n}/BatchNorm_0/scale", (a * w,)),
      (f"{blk}.c1", f"{n}/UpConv_0/kernel", (3, 3, a * w, b * w)),
      (f"{blk}.b2", f"{n}/BatchNorm_1/scale", (b * w,)),
      (f"{blk}.c2", f"{n}/Conv_0/kernel", (3, 3, b * w, b * w)),
      (f"{blk}.c_sc", f"{n}/shortcut/kernel", (1, 1, a * w, b * w)),
    ]
  g += [("b6", "BatchNorm_0/scale", (w,)), ("l6", "Conv_0/kernel", (3, 3, w, c))]
  d = [  # block1 = OptimizedBlock(3, ch): c1 in -> out, c2 out -> out
    ("block1.c1", "DBlock_0/Conv_0/kernel", (3, 3, c, w)),
    ("block1.c2", "DBlock_0/ConvPool_0/kernel", (3, 3, w, w)),
    ("block1.c_sc", "DBlock_0/shortcut/kernel", (1, 1, c, w)),
  ]
  for i, (a, b) in enumerate(((1, 2), (2, 4), (4, 8), (8, 16))):
    blk, n = f"block{i + 2}", f"DBlock_{i + 1}"
    d += [
      (f"{blk}.c1", f"{n}/Conv_0/kernel", (3, 3, a * w, a * w)),
      (f"{blk}.c2", f"{n}/ConvPool_0/kernel", (3, 3, a * w, b * w)),
      (f"{blk}.c_sc", f"{n}/shortcut/kernel", (1, 1, a * w, b * w)),
    ]
  d += [
    ("l6.W", "Dense_0/kernel", (16 * w, 1)),
    ("l6.b", "Dense_0/bias", (1,)),  # SNLinear(ch * 16, 1): nobias defaults to False
    ("l_y", "projection_embedding/embedding", (k, 16 * w)),  # SNEmbedID(n_classes, ch * 16)
  ]
  return g, d


def _flat_shapes(tree):
  return {"/".join(k): v.shape for k, v in traverse_util.flatten_dict(tree).items()}


def test_sngan_64_networks_have_the_reference_widths():
  w, z, c, k = 4, 16, 3, 5
  g_ref, d_ref = _reference_64(w, z, c, k)
  y = jnp.zeros((2,), jnp.int32)
  g = resnet.ResNetGenerator(64, c, width=w, num_classes=0)
  g_shapes = _flat_shapes(_eval_shapes(g, jnp.zeros((2, z)))["params"])
  for layer, name, shape in g_ref:
    assert g_shapes.get(name) == shape, (layer, name, g_shapes.get(name), shape)
  # Nothing beyond the reference's layers (biases aside: every conv and l1 has one).
  named = {name for _, name, _ in g_ref}
  assert {n for n in g_shapes if not n.endswith("bias")} == named
  d = resnet.ResNetDiscriminator(64, width=w, spectral_norm=True, num_classes=k)
  d_shapes = _flat_shapes(_eval_shapes(d, jnp.zeros((2, 64, 64, c)), y=y)["params"])
  for layer, name, shape in d_ref:
    assert d_shapes.get(name) == shape, (layer, name, d_shapes.get(name), shape)
  named = {name for _, name, _ in d_ref}
  assert {n for n in d_shapes if not n.endswith("bias")} | {"Dense_0/bias"} == named


@pytest.mark.parametrize("size,bias", [(32, False), (64, True)])
def test_discriminator_head_bias_is_the_references(size, bias):
  """snresnet_32.py's l5 = SNLinear(ch, 1, nobias=True); snresnet_64.py's l6 keeps its bias."""
  d = resnet.ResNetDiscriminator(size, width=4, spectral_norm=True)
  shapes = _flat_shapes(_eval_shapes(d, jnp.zeros((2, size, size, 3)))["params"])
  assert shapes["Dense_0/kernel"] == (4 * resnet.ARCHS[size].d_widths[-1], 1)
  assert ("Dense_0/bias" in shapes) == bias


class _Projection(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, h, y, *, train):
    return common.projection(h, y, self.num_classes, spectral_norm=True, train=train)


def _l2n(v):
  return v / (np.sqrt(np.sum(v * v)) + 1e-12)


def test_projection_embedding_is_spectrally_normalized():
  """SNEmbedID (source/links/sn_embed_id.py): the embedding over its largest singular value,
  estimated by one power iteration from the stored u per call (max_sv.py), as a dense
  layer's; once the iteration has converged, sigma is the largest singular value."""
  k, w = 5, 7
  h, y = _normal(0, (6, w)), jnp.array([0, 3, 4, 3, 1, 2])
  proj = _Projection(k)
  v = proj.init(jax.random.PRNGKey(1), h, y, train=False)
  e = np.asarray(v["params"]["projection_embedding"]["embedding"], np.float64)  # (k, w)
  (u_key,) = [p for p in traverse_util.flatten_dict(v["batch_stats"]) if p[-1].endswith("/u")]
  u = np.asarray(traverse_util.flatten_dict(v["batch_stats"])[u_key], np.float64)  # (1, w)
  # One power iteration from u on the (k, w) matrix, as max_sv.py on W (u over the columns
  # here, Flax's layout): the class term with W / sigma.
  v0 = _l2n(u @ e.T)
  u1 = _l2n(v0 @ e)
  sigma = (v0 @ e @ u1.T).item()
  expected = np.sum((e / sigma)[np.asarray(y)] * np.asarray(h, np.float64), axis=-1)
  got = jax.jit(lambda v: proj.apply(v, h, y, train=False))(v)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  # The same as a spectrally normalized dense layer with that kernel on one-hot labels.
  dense = nn.SpectralNorm(nn.Dense(w, use_bias=False))
  dense_vars = {
    "params": {"layer_instance": {"kernel": e.astype(np.float32)}},
    "batch_stats": {
      "layer_instance/kernel/u": u.astype(np.float32),
      "layer_instance/kernel/sigma": 1.0,
    },
  }
  onehot = jax.nn.one_hot(y, k)
  rows = dense.apply(dense_vars, onehot, update_stats=False)
  np.testing.assert_allclose(got, jnp.sum(rows * h, axis=-1), rtol=1e-5, atol=1e-6)
  # Training-mode calls update u: after enough of them sigma is the largest singular value,
  # so the normalized embedding has spectral norm 1, and scaling the embedding changes nothing.
  train = jax.jit(lambda v: proj.apply(v, h, y, train=True, mutable=["batch_stats"]))
  for _ in range(50):
    _, stats = train(v)
    v = {**v, **stats}
  top = np.linalg.svd(e, compute_uv=False)[0]
  (s_key,) = [p for p in traverse_util.flatten_dict(v["batch_stats"]) if p[-1].endswith("/sigma")]
  np.testing.assert_allclose(traverse_util.flatten_dict(v["batch_stats"])[s_key], top, rtol=1e-5)
  scaled = {**v, "params": {"projection_embedding": {"embedding": 7.0 * e}}}
  np.testing.assert_allclose(
    proj.apply(scaled, h, y, train=False), proj.apply(v, h, y, train=False), rtol=1e-5
  )
  np.testing.assert_allclose(
    proj.apply(v, h, y, train=False),
    np.sum((e / top)[np.asarray(y)] * np.asarray(h, np.float64), axis=-1),
    rtol=1e-4,
    atol=1e-6,
  )


def test_spectrally_normalized_discriminator_normalizes_its_embedding():
  # One u per weight: 11 in the unconditional 32-px D (test above), one more for the
  # projection embedding; none for a D without spectral norm.
  x, y = jnp.zeros((2, 32, 32, 3)), jnp.zeros((2,), jnp.int32)
  for sn, count in ((True, 12), (False, 0)):
    d = resnet.ResNetDiscriminator(32, width=4, spectral_norm=sn, num_classes=3)
    names = _flat_shapes(_eval_shapes(d, x, y=y).get("batch_stats", {}))
    assert sum(n.endswith("/u") for n in names) == count
    assert any("projection_embedding" in n for n in names) == sn


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


@pytest.mark.parametrize("conditional", slow_except([False, True], [True]))
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


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_resnet_reads_labels_and_runs_its_power_iteration():
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
  assert float(jnp.abs(x - gen(z, y[::-1])).max()) > 0
  dv = _init(d, x, y)
  disc = jax.jit(lambda v, x, y: d.apply(v, x, y, train=True, mutable=["batch_stats"]))
  logits, updates = disc(dv, x, y)
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


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_r3gan_reads_labels():
  g, d = r3gan.build(_model_config(), 3, None, num_classes=4)
  z, y = _normal(0, (4, 16)), jnp.array([0, 1, 2, 3])
  gv = _init(g, z, y)
  gen = jax.jit(lambda y: g.apply(gv, z, y, train=False))
  x = gen(y)
  assert float(jnp.abs(x - gen(y[::-1])).max()) > 0
  dv = _init(d, x, y)
  disc = jax.jit(lambda y: d.apply(dv, x, y, train=False))
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
