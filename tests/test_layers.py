"""Tests of the discriminator building blocks against numpy references."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import layers

# ---------------------------------------------------------------- minibatch std-dev


def _np_minibatch_stddev(x, group_size, num_features, eps=1e-8):
  """Loop-based reference: example i is in group i % M (StyleGAN2 grouping)."""
  x = np.asarray(x, np.float64)
  n, f = x.shape[0], x.shape[-1]
  g = min(group_size, n)
  m = n // g
  c = f // num_features
  out_feat = np.zeros((n, num_features))
  for i in range(n):
    members = x[[j for j in range(n) if j % m == i % m]]
    assert len(members) == g
    for k in range(num_features):
      block = members[..., k * c : (k + 1) * c]
      out_feat[i, k] = np.mean(np.sqrt(np.var(block, axis=0) + eps))
  extra = np.broadcast_to(
    out_feat.reshape((n,) + (1,) * (x.ndim - 2) + (num_features,)), x.shape[:-1] + (num_features,)
  )
  return np.concatenate([x, extra], axis=-1)


@pytest.mark.parametrize(
  "shape,group_size,num_features",
  [((8, 4, 4, 3), 4, 1), ((8, 4, 4, 6), 2, 3), ((3, 5, 5, 2), 4, 1), ((12, 10), 4, 2)],
)
def test_minibatch_stddev_matches_numpy(shape, group_size, num_features):
  x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
  mod = layers.MinibatchStdDev(group_size=group_size, num_features=num_features)
  y = jax.jit(lambda x: mod.apply({}, x))(x)
  assert y.shape == shape[:-1] + (shape[-1] + num_features,)
  np.testing.assert_allclose(
    y, _np_minibatch_stddev(x, group_size, num_features), rtol=1e-5, atol=1e-6
  )


def test_minibatch_stddev_identical_samples():
  x = jnp.broadcast_to(np.random.default_rng(1).standard_normal((1, 4, 4, 3)), (8, 4, 4, 3))
  y = layers.minibatch_stddev(x, group_size=4)
  np.testing.assert_allclose(y[..., -1], np.sqrt(1e-8), atol=1e-7)
  np.testing.assert_array_equal(y[..., :3], x)


def test_minibatch_stddev_bad_batch():
  with pytest.raises(ValueError, match="not divisible by group size 4"):
    layers.minibatch_stddev(jnp.zeros((6, 2, 2, 1)), group_size=4)
  with pytest.raises(ValueError, match="num_features"):
    layers.minibatch_stddev(jnp.zeros((4, 2, 2, 3)), num_features=2)


# --------------------------------------------------------- minibatch discrimination


def test_minibatch_discrimination_matches_numpy():
  n, d, b, c = 6, 7, 5, 3
  gen = np.random.default_rng(0)
  x = jnp.asarray(gen.standard_normal((n, d)), jnp.float32)
  t = gen.standard_normal((d, b * c)) * 0.3
  mod = layers.MinibatchDiscrimination(num_kernels=b, kernel_dim=c)
  shapes = jax.eval_shape(mod.init, jax.random.PRNGKey(1), x)
  assert shapes["params"]["kernel"].shape == (d, b * c)
  y = jax.jit(mod.apply)({"params": {"kernel": jnp.asarray(t, jnp.float32)}}, x)
  assert y.shape == (n, d + b)
  mm = (np.asarray(x, np.float64) @ t).reshape(n, b, c)
  o = np.zeros((n, b))
  for i in range(n):
    for j in range(n):
      if j != i:
        o[i] += np.exp(-np.abs(mm[i] - mm[j]).sum(-1))
  np.testing.assert_allclose(y[:, d:], o, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(y[:, :d], x)


def test_minibatch_discrimination_identical_samples():
  n = 5
  x = jnp.broadcast_to(jnp.arange(4.0), (n, 4))
  mod = layers.MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
  t = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
  y = mod.apply({"params": {"kernel": t}}, x)
  np.testing.assert_array_equal(y[:, 4:], np.full((n, 3), n - 1.0))


# --------------------------------------------------------------------------- pack


def test_pack_images_and_features():
  x = jnp.arange(6 * 2 * 3 * 4, dtype=jnp.float32).reshape(6, 2, 3, 4)
  p = layers.pack(x, 3)
  assert p.shape == (2, 2, 3, 12)
  for k in range(2):
    for j in range(3):
      np.testing.assert_array_equal(p[k, ..., j * 4 : (j + 1) * 4], x[k * 3 + j])
  np.testing.assert_array_equal(p[1], jnp.concatenate([x[3], x[4], x[5]], axis=-1))
  np.testing.assert_array_equal(layers.pack(x, 1), x)

  f = jnp.arange(8 * 5).reshape(8, 5)
  pf = layers.pack(f, 2)
  assert pf.shape == (4, 10)
  np.testing.assert_array_equal(pf[3], jnp.concatenate([f[6], f[7]]))
  np.testing.assert_array_equal(jax.jit(layers.pack, static_argnums=1)(f, 4), f.reshape(2, 20))


def test_pack_bad_batch():
  with pytest.raises(ValueError, match="not divisible by pack size m=4"):
    layers.pack(jnp.zeros((6, 3)), 4)


# ------------------------------------------------------------- spectral normalisation


def _sigma_max(w):
  w = np.asarray(w, np.float64)
  return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("shape", [(16, 8), (3, 3, 4, 6)])
def test_spectral_normalize_pure(shape):
  gen = np.random.default_rng(0)
  kernel = jnp.asarray(gen.standard_normal(shape) * 3.0, jnp.float32)
  u = jnp.asarray(gen.standard_normal((1, shape[-1])), jnp.float32)
  w_sn, new_u, sigma = jax.jit(layers.spectral_normalize, static_argnums=2)(kernel, u, 50)
  assert w_sn.shape == kernel.shape and new_u.shape == u.shape
  np.testing.assert_allclose(float(sigma), _sigma_max(kernel), rtol=1e-3)
  np.testing.assert_allclose(_sigma_max(w_sn), 1.0, atol=1e-3)
  # Carrying u: 50 single steps equal one 50-step call.
  one_step = jax.jit(lambda uu: layers.spectral_normalize(kernel, uu, 1)[1:])
  uu = u
  for _ in range(50):
    uu, s1 = one_step(uu)
  np.testing.assert_allclose(float(s1), float(sigma), rtol=1e-4)


def test_spectral_normalize_gradient_flows_through_w_only():
  """u and v are stop-gradient'ed: f(W) = sum((W / sigma)^2) = ||W||^2 / sigma^2 with
  sigma = v^T W u has df/dW = 2 W / sigma^2 - 2 ||W||^2 / sigma^3 v u^T."""
  w = np.random.default_rng(0).standard_normal((5, 4))
  f = lambda k: jnp.sum(layers.spectral_normalize(k, jnp.ones((4,)), 3)[0] ** 2)
  g = jax.jit(jax.grad(f))(jnp.asarray(w, jnp.float32))
  u = np.ones(4)
  for _ in range(3):  # the power iterations, in float64
    v = w @ u / np.linalg.norm(w @ u)
    u = w.T @ v / np.linalg.norm(w.T @ v)
  sigma = v @ w @ u
  expected = 2 * w / sigma**2 - 2 * np.sum(w**2) / sigma**3 * np.outer(v, u)
  np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)


def _random_like(shapes, seed=0):
  """Concrete variables with the init's structure, drawn with numpy.

  Cheaper than ``init`` here: each jax.random shape costs an XLA compile on CPU.
  """
  gen = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
    lambda a: jnp.asarray(gen.standard_normal(a.shape), a.dtype), shapes
  )


class _SNNet(nn.Module):
  @nn.compact
  def __call__(self, x, update_stats: bool):
    x = nn.SpectralNorm(nn.Conv(6, (3, 3)), n_steps=1)(x, update_stats=update_stats)
    x = x.reshape(x.shape[0], -1)
    return nn.SpectralNorm(nn.Dense(5), n_steps=1)(x, update_stats=update_stats)


@pytest.mark.slow  # over 5 s
def test_flax_spectral_norm_wiring():
  """nn.SpectralNorm keeps u and sigma in 'batch_stats'; carried state converges."""
  x = jnp.ones((2, 4, 4, 3))
  net = _SNNet()
  shapes = jax.eval_shape(lambda k: net.init(k, x, update_stats=False), jax.random.PRNGKey(0))
  stat_shapes = jax.tree_util.tree_map(lambda a: a.shape, shapes["batch_stats"])
  assert stat_shapes == {
    "SpectralNorm_0": {"Conv_0/kernel/u": (1, 6), "Conv_0/kernel/sigma": ()},
    "SpectralNorm_1": {"Dense_0/kernel/u": (1, 5), "Dense_0/kernel/sigma": ()},
  }
  assert set(shapes["params"]) == {"Conv_0", "Dense_0"}  # wrapped params stay in place
  variables = _random_like(shapes)
  params, stats = variables["params"], variables["batch_stats"]

  @jax.jit
  def step(stats):
    _, updates = net.apply(
      {"params": params, "batch_stats": stats}, x, update_stats=True, mutable=["batch_stats"]
    )
    return updates["batch_stats"]

  for _ in range(60):
    stats = step(stats)
  conv_k = params["Conv_0"]["kernel"]
  dense_k = params["Dense_0"]["kernel"]
  conv_sigma = stats["SpectralNorm_0"]["Conv_0/kernel/sigma"]
  dense_sigma = stats["SpectralNorm_1"]["Dense_0/kernel/sigma"]
  np.testing.assert_allclose(_sigma_max(conv_k / conv_sigma), 1.0, atol=1e-3)
  np.testing.assert_allclose(_sigma_max(dense_k / dense_sigma), 1.0, atol=1e-3)

  # Eval mode (update_stats=False) needs no mutable collection.
  out = net.apply({"params": params, "batch_stats": stats}, x, update_stats=False)
  assert out.shape == (2, 5)


def test_flax_spectral_norm_matches_pure_helper():
  """The layer's output equals x @ spectral_normalize(kernel, stored u) + bias."""
  x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 7)), jnp.float32)
  sn = nn.SpectralNorm(nn.Dense(4), n_steps=2)
  variables = _random_like(
    jax.eval_shape(lambda k: sn.init(k, x, update_stats=False), jax.random.PRNGKey(1))
  )
  out, updates = sn.apply(variables, x, update_stats=True, mutable=["batch_stats"])
  (dense_name,) = variables["params"]
  dense = variables["params"][dense_name]
  u = variables["batch_stats"][f"{dense_name}/kernel/u"]
  w_sn, new_u, sigma = layers.spectral_normalize(dense["kernel"], u, 2)
  np.testing.assert_allclose(out, x @ w_sn + dense["bias"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(updates["batch_stats"][f"{dense_name}/kernel/u"], new_u, rtol=1e-5)
  np.testing.assert_allclose(updates["batch_stats"][f"{dense_name}/kernel/sigma"], sigma, rtol=1e-5)
