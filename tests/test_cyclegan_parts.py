"""CycleGAN's networks and pure pieces: the losses, the image pool, instance norm, reflection
padding, the generator and PatchGAN geometry, the schedule."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import ops
from gan_jax.games.cyclegan import cycle
from gan_jax.models import cyclegan as cg


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _random_variables(module, x, seed: int = 0):
  """Variables of `module` with N(0, 0.1^2) values drawn by NumPy: compiling a jitted init
  (its random number generation) costs XLA:CPU far more than the network's forward pass."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x))
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.1, s.shape), s.dtype), shapes)


# --- losses ---------------------------------------------------------------------------------


def test_cycle_and_identity_losses_by_hand():
  x = jnp.array([[[[1.0], [-1.0]], [[0.5], [0.0]]]])  # (1, 2, 2, 1)
  x_rec = jnp.array([[[[0.5], [-1.0]], [[-0.5], [0.25]]]])
  # |1 - 0.5| + |-1 + 1| + |0.5 + 0.5| + |0 - 0.25| = 0.5 + 0 + 1 + 0.25 over 4 pixels
  assert float(cycle.cycle_loss(x, x_rec)) == pytest.approx(1.75 / 4)
  assert float(cycle.identity_loss(x, x_rec)) == pytest.approx(1.75 / 4)
  # Mean over batch and channels too: a (2, 1, 1, 3) batch.
  a = jnp.zeros((2, 1, 1, 3))
  b = jnp.array([[[[1.0, 2.0, 3.0]]], [[[0.0, 0.0, -6.0]]]])
  assert float(cycle.cycle_loss(a, b)) == pytest.approx(12.0 / 6)
  assert cycle.LAMBDA_CYCLE == 10.0 and cycle.IDENTITY_WEIGHT == 0.5 and cycle.POOL_SIZE == 50


# --- the image pool -------------------------------------------------------------------------


class ReferencePool:
  """util/image_pool.py of the reference, in NumPy, reading its random numbers from lists."""

  def __init__(self, pool_size: int):
    self.pool_size, self.num_imgs, self.images = pool_size, 0, []

  def query(self, images, uniforms, slots):
    if self.pool_size == 0:
      return images
    out = []
    for image, p, random_id in zip(images, uniforms, slots, strict=True):
      if self.num_imgs < self.pool_size:
        self.num_imgs += 1
        self.images.append(image)
        out.append(image)
      elif p > 0.5:
        tmp = self.images[random_id].copy()
        self.images[random_id] = image
        out.append(tmp)
      else:
        out.append(image)
    return np.stack(out)


def _batches(num: int, batch: int, shape=(2, 2, 1)) -> list[np.ndarray]:
  # Image j of the stream is filled with the value j, so every image is recognizable.
  values = np.arange(num * batch, dtype=np.float32)
  return [
    np.broadcast_to(values[i * batch : (i + 1) * batch, None, None, None], (batch, *shape)).copy()
    for i in range(num)
  ]


@pytest.mark.parametrize("capacity", [4, 5])
def test_pool_matches_the_reference_rule(capacity):
  # Batches of 3 into a pool of 4 (or 5): the pool fills in the middle of a batch.
  query = jax.jit(cycle.pool_query)
  pool = cycle.pool_init(capacity, (2, 2, 1))
  ref = ReferencePool(capacity)
  key = jax.random.PRNGKey(0)
  swaps = 0
  for step, images in enumerate(_batches(8, 3)):
    rng = jax.random.fold_in(key, step)
    u, slots = cycle.pool_draws(rng, 3, capacity)
    expected = ref.query(list(images), np.asarray(u), np.asarray(slots))
    pool, returned = query(pool, jnp.asarray(images), rng)
    np.testing.assert_array_equal(np.asarray(returned), expected)
    stored = int(pool["count"])
    assert stored == min(capacity, 3 * (step + 1)) == ref.num_imgs
    np.testing.assert_array_equal(np.asarray(pool["images"])[:stored], np.stack(ref.images))
    swaps += int((np.asarray(returned)[:, 0, 0, 0] != images[:, 0, 0, 0]).sum())
  assert swaps > 0  # the full-pool branch was exercised


def test_pool_of_capacity_zero_passes_through():
  pool = cycle.pool_init(0, (2, 2, 1))
  images = _batches(1, 3)[0]
  new_pool, returned = cycle.pool_query(pool, jnp.asarray(images), jax.random.PRNGKey(0))
  np.testing.assert_array_equal(np.asarray(returned), images)
  assert new_pool["images"].shape == (0, 2, 2, 1)
  np.testing.assert_array_equal(ReferencePool(0).query(images, [], []), images)


def test_full_pool_returns_a_stored_image_about_half_the_time():
  capacity, batch = 10, 50
  query = jax.jit(cycle.pool_query)
  pool = cycle.pool_init(capacity, (1, 1, 1))
  batches = _batches(5, batch, (1, 1, 1))
  pool, _ = query(pool, jnp.asarray(batches[0][:capacity]), jax.random.PRNGKey(1))
  from_pool = 0
  for i, images in enumerate(batches[1:]):
    pool, returned = query(pool, jnp.asarray(images), jax.random.PRNGKey(2 + i))
    from_pool += int((np.asarray(returned) != images).sum())
  assert 0.4 < from_pool / (4 * batch) < 0.6  # fixed keys: a deterministic check


def test_pool_state_alone_determines_the_future(tmp_path):
  """What resume needs: the pool pytree, written to disk and read back, continues exactly."""
  key = jax.random.PRNGKey(3)
  batches = [jnp.asarray(b) for b in _batches(6, 4)]
  query = jax.jit(cycle.pool_query)

  def run(pool, steps):
    outs = []
    for step in steps:
      pool, out = query(pool, batches[step], jax.random.fold_in(key, step))
      outs.append(np.asarray(out))
    return pool, outs

  _, uninterrupted = run(cycle.pool_init(5, (2, 2, 1)), range(6))
  pool, first = run(cycle.pool_init(5, (2, 2, 1)), range(3))
  np.savez(tmp_path / "pool.npz", **jax.device_get(pool))
  with np.load(tmp_path / "pool.npz") as z:
    restored = {k: jnp.asarray(z[k]) for k in z.files}
  assert restored["count"].dtype == jnp.int32
  _, second = run(restored, range(3, 6))
  for a, b in zip(uninterrupted, first + second, strict=True):
    np.testing.assert_array_equal(a, b)


# --- instance norm and reflection padding ---------------------------------------------------


def test_instance_norm_is_the_formula():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 5, 4, 2)) * np.array([1.0, 20.0]) + np.array([0.0, 5.0])
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)  # biased, as torch's
  expected = (x - mean) / np.sqrt(var + 1e-5)
  got = cg.instance_norm(jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
  # Per sample: another sample in the batch changes nothing.
  np.testing.assert_allclose(
    np.asarray(cg.instance_norm(jnp.asarray(x[:1], jnp.float32))), expected[:1], atol=1e-5
  )
  # The module: no parameters unless affine.
  x32 = jnp.asarray(x, jnp.float32)
  assert cg.InstanceNorm().init(jax.random.PRNGKey(0), x32) == {}
  variables = cg.InstanceNorm(affine=True).init(jax.random.PRNGKey(0), x32)
  assert _count(variables) == 4
  np.testing.assert_allclose(
    np.asarray(cg.InstanceNorm(affine=True).apply(variables, x32)), expected, atol=1e-5
  )


@pytest.mark.parametrize("pad", [0, 1, 3])
def test_reflection_padding_is_numpy_reflect(pad):
  x = np.arange(2 * 5 * 4 * 3, dtype=np.float32).reshape(2, 5, 4, 3)
  expected = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  got = np.asarray(cg.reflect_pad(jnp.asarray(x), pad))
  np.testing.assert_array_equal(got, expected)
  if pad == 1:  # torch's ReflectionPad2d: the edge is not repeated (row -1 is row 1)
    np.testing.assert_array_equal(got[:, 0, 1:-1], x[:, 1])
    np.testing.assert_array_equal(got[:, 1:-1, 0], x[:, :, 1])


# --- the networks ---------------------------------------------------------------------------


def _apply_shape(module, x):
  return jax.eval_shape(lambda: module.apply(module.init(jax.random.PRNGKey(0), x), x))


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels_in,channels_out", [(3, 3), (1, 3), (3, 1)])
def test_generator_shapes(size, channels_in, channels_out):
  g = cg.ResnetGenerator(channels=channels_out, ngf=8, n_blocks=2)
  y = _apply_shape(g, jnp.zeros((2, size, size, channels_in)))
  assert y.shape == (2, size, size, channels_out)


@pytest.mark.parametrize("upsample", cg.UPSAMPLE)
def test_generator_upsampling_variants_and_state(upsample):
  g = cg.ResnetGenerator(channels=3, ngf=4, n_blocks=1, upsample=upsample)
  x = jnp.zeros((2, 32, 32, 3))
  variables = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(1), x))
  assert set(variables) == {"params"}  # no batch statistics: one function in training and eval
  assert _apply_shape(g, x).shape == (2, 32, 32, 3)
  with pytest.raises(ValueError, match="divisible by 4"):
    _apply_shape(g, jnp.zeros((1, 30, 30, 3)))


def test_upsampling_is_torch_conv_transpose_geometry():
  """ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1) by its definition:
  y[2 i - 1 + t] += x[i] w[t] (t < 3) with torch's kernel w = ours flipped."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 3, 4, 2)).astype(np.float32)
  layer = ops.ConvTranspose(5, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)), use_bias=False)
  params = _random_variables(layer, jnp.asarray(x))
  ours = np.asarray(layer.apply(params, jnp.asarray(x)))
  flax_twin = nn.ConvTranspose(5, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)), use_bias=False)
  np.testing.assert_allclose(
    np.asarray(flax_twin.apply(params, jnp.asarray(x))), ours, rtol=1e-5, atol=1e-5
  )
  w = np.asarray(params["params"]["kernel"])[::-1, ::-1]  # (3, 3, in, out), torch's orientation
  expected = np.zeros((1, 6, 8, 5), np.float32)
  for i in range(3):
    for j in range(4):
      for ti in range(3):
        for tj in range(3):
          oi, oj = 2 * i - 1 + ti, 2 * j - 1 + tj
          if 0 <= oi < 6 and 0 <= oj < 8:
            expected[0, oi, oj] += x[0, i, j] @ w[ti, tj]
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_patchgan_receptive_fields():
  assert [cg.receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
  assert {s: cg.patch_layers(s) for s in (32, 64, 128, 256, 512)} == {
    32: 1,
    64: 1,
    128: 2,
    256: 3,
    512: 4,
  }


@pytest.mark.parametrize("n_layers", [1, 3])
def test_receptive_field_measured_on_the_conv_chain(n_layers):
  """The support of one output of the PatchGAN's conv geometry (all-ones 4x4 kernels, the
  same strides and zero padding 1, no norm: instance norm itself couples every pixel)."""
  size = 96 if n_layers == 1 else 160

  def chain(x):
    for kernel, stride in cg.patch_kernels(n_layers):
      w = jnp.ones((kernel, kernel, 1, 1))
      x = jax.lax.conv_general_dilated(
        x, w, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
    return x

  x = jnp.zeros((1, size, size, 1))
  out = chain(x)
  centre = out.shape[1] // 2
  grad = jax.grad(lambda x: chain(x)[0, centre, centre, 0])(x)[0, :, :, 0]
  rows, cols = np.nonzero(np.asarray(grad))
  assert rows.min() > 0 and rows.max() < size - 1  # the window lies inside the image
  assert rows.max() - rows.min() + 1 == cg.receptive_field(n_layers)
  assert cols.max() - cols.min() + 1 == cg.receptive_field(n_layers)
  # The module has that geometry: same output shape as the chain.
  d = cg.PatchDiscriminator(ndf=4, n_layers=n_layers)
  assert _apply_shape(d, jnp.zeros((1, size, size, 3))).shape == out.shape[:3]


@pytest.mark.parametrize("size,n_layers,patches", [(32, 1, 14), (64, 1, 30), (256, 3, 30)])
def test_patchgan_output_shapes(size, n_layers, patches):
  assert cg.patch_layers(size) == n_layers
  d = cg.PatchDiscriminator(ndf=4, n_layers=n_layers)
  assert _apply_shape(d, jnp.zeros((2, size, size, 3))).shape == (2, patches, patches)


def test_reference_parameter_counts():
  """The reference prints 11.378 M for resnet_9blocks (ngf 64) and 2.765 M for the basic
  PatchGAN (ndf 64) on RGB: counted by hand below, layer by layer (weights + biases), less
  the biases of the convs before an instance norm, which it cancels (gan_jax has none)."""
  g = cg.ResnetGenerator(channels=3, ngf=64, n_blocks=9)
  d = cg.PatchDiscriminator(ndf=64, n_layers=3)
  x = jnp.zeros((1, 256, 256, 3))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), x))
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), x))
  conv = lambda cin, cout, k: cin * cout * k * k + cout
  g_ref = (
    conv(3, 64, 7)
    + conv(64, 128, 3)
    + conv(128, 256, 3)
    + 9 * 2 * conv(256, 256, 3)
    + conv(256, 128, 3)
    + conv(128, 64, 3)
    + conv(64, 3, 7)
  )
  d_ref = conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4)
  d_ref += conv(512, 1, 4)
  assert g_ref == 11_378_179 and d_ref == 2_764_737
  cancelled_g = 64 + 128 + 256 + 9 * 2 * 256 + 128 + 64
  cancelled_d = 128 + 256 + 512
  assert _count(g_vars) == g_ref - cancelled_g
  assert _count(d_vars) == d_ref - cancelled_d


def test_build_from_config():
  cfg = cg.default_config()
  for key, spec in cg.config_specs().items():
    assert spec.problem(key, cfg[key.removeprefix("model.cyclegan.")]) is None
  assert "model.cyclegan.ngf" in cg.config_specs()
  model = ml_collections.ConfigDict({"image_size": 32, "cyclegan": cfg})
  nets = cg.build(model, channels_a=1, channels_b=3)
  assert nets.g.channels == 3 and nets.f.channels == 1
  assert nets.d_a.n_layers == nets.d_b.n_layers == 1
  model.cyclegan.d_layers = 2
  assert cg.build(model, 3, 3).d_b.n_layers == 2
  model.cyclegan.upsample = "bilinear"
  with pytest.raises(ValueError, match="upsample"):
    cg.build(model, 3, 3)
  assert cg.config_specs()["model.cyclegan.upsample"].problem("u", "bilinear") is not None


# --- the schedule ---------------------------------------------------------------------------


def test_constant_then_linear_decay_schedule():
  lr = cycle.linear_decay_schedule(2e-4, constant_steps=100, decay_steps=50)
  values = {t: float(lr(t)) for t in (0, 99, 100, 125, 150, 200)}
  assert values[0] == values[99] == values[100] == pytest.approx(2e-4)
  assert values[125] == pytest.approx(1e-4)
  assert values[150] == values[200] == 0.0
  assert float(cycle.linear_decay_schedule(1.0, constant_steps=5, decay_steps=0)(10**6)) == 1.0
