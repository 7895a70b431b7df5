"""Model shapes, and the benchmark DCGAN's exact size."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import games, models
from gan_jax.models import dcgan, mlp


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _shapes(module, x, **kw):
  return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False, **kw))


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
  g = dcgan.DCGANGenerator(image_size=size, channels=channels, base_filters=8)
  d = dcgan.DCGANDiscriminator(image_size=size, base_filters=8)
  z = jnp.zeros((3, 100))
  x = jax.eval_shape(lambda: g.apply(g.init(jax.random.PRNGKey(0), z, train=False), z, train=False))
  assert x.shape == (3, size, size, channels)
  logits = jax.eval_shape(
    lambda: d.apply(
      d.init(jax.random.PRNGKey(0), jnp.zeros(x.shape), train=False),
      jnp.zeros(x.shape),
      train=False,
    )
  )
  assert logits.shape == (3,)


def test_benchmark_model_has_the_reference_parameter_count():
  """The 32x32x1 default is the model of shared/bench/README.md (torch counts, by hand)."""
  g = dcgan.DCGANGenerator(image_size=32, channels=1, base_filters=64)
  d = dcgan.DCGANDiscriminator(image_size=32, base_filters=64, norm="batch")
  g_vars = _shapes(g, jnp.zeros((2, 100)))
  d_vars = _shapes(d, jnp.zeros((2, 32, 32, 1)))
  # Linear 100->4096 (no bias) + BN(4096) + ConvT 256->128 + BN(128) + ConvT 128->64 + BN(64)
  # + ConvT 64->1 with bias
  g_torch = 100 * 4096 + 2 * 4096 + 256 * 128 * 16 + 2 * 128 + 128 * 64 * 16 + 2 * 64 + 64 * 16 + 1
  # Conv 1->64 (+bias) + Conv 64->128 + BN(128) + Conv 128->256 + BN(256) + Linear 4096->1
  d_torch = 16 * 64 + 64 + 64 * 128 * 16 + 2 * 128 + 128 * 256 * 16 + 2 * 256 + 4096 + 1
  assert _count(g_vars["params"]) == g_torch
  assert _count(d_vars["params"]) == d_torch
  # BatchNorm layers where the reference has them: 3 in G, 2 in D.
  assert len(g_vars["batch_stats"]) == 3 and len(d_vars["batch_stats"]) == 2


@pytest.mark.slow  # over 5 s
@pytest.mark.parametrize("norm", dcgan.D_NORMS)
def test_discriminator_norms(norm):
  d = dcgan.DCGANDiscriminator(image_size=32, base_filters=8, norm=norm)
  variables = d.init(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 1)), train=False)
  assert ("batch_stats" in variables) == (norm == "batch")
  has_layer_norm = any("LayerNorm" in k for k in variables["params"])
  assert has_layer_norm == (norm == "layer")


@pytest.mark.slow  # over 10 s
def test_layer_norm_normalizes_each_sample_over_height_width_and_channels():
  """WGAN-GP's critic layer norm: every sample's (H, W, C) activations come out with mean 0
  and variance 1 (at the initial scale 1 and offset 0), samples independent of each other;
  scale and offset are per channel."""
  d = dcgan.DCGANDiscriminator(image_size=32, base_filters=8, norm="layer")
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 32, 32, 1)) * 2.0 + 0.5
  variables = d.init(jax.random.PRNGKey(0), x, train=False)
  _, inter = d.apply(variables, x, train=False, capture_intermediates=True)
  outs = [v["__call__"][0] for k, v in inter["intermediates"].items() if k.startswith("LayerNorm")]
  assert len(outs) == 2
  for out in outs:
    flat = np.asarray(out).reshape(out.shape[0], -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(flat.var(axis=1), 1.0, rtol=1e-3)
    # Not per pixel: over channels alone a pixel's activations would have unit variance.
    assert np.abs(np.asarray(out).var(axis=-1) - 1.0).max() > 0.1
  for name, params in variables["params"].items():
    if name.startswith("LayerNorm"):
      assert params["scale"].shape == params["bias"].shape and params["scale"].ndim == 1
  # One sample's output does not depend on the others'.
  alone = d.apply(variables, x[:1], train=False)
  np.testing.assert_allclose(alone, d.apply(variables, x, train=False)[:1], rtol=1e-5, atol=1e-6)


def test_mlp_models_and_maxout():
  c = games.default_config()
  c.model.name = "mlp"
  g, d = models.make_models(c.model, channels=0)
  z = jnp.ones((5, 2))
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  assert g.apply(g_vars, z, train=False).shape == (5, 2)
  d_vars = d.init(jax.random.PRNGKey(1), z, train=False)
  assert d.apply(d_vars, z, train=False).shape == (5,)
  # Maxout: the max over `pieces` affine maps.
  m = mlp.Maxout(features=3, pieces=5)
  mv = m.init(jax.random.PRNGKey(2), z)
  w, b = mv["params"]["Dense_0"]["kernel"], mv["params"]["Dense_0"]["bias"]
  expected = (z @ w + b).reshape(5, 3, 5).max(-1)
  np.testing.assert_allclose(m.apply(mv, z), expected, rtol=1e-6)


def test_unknown_model_name():
  with pytest.raises(ValueError, match="valid models: dcgan, mlp"):
    models.make_models(ml_collections.ConfigDict({"name": "bogus"}), channels=1)


@pytest.mark.slow  # over 5 s
def test_fast_and_flax_conv_transpose_generators_agree():
  """fast_conv_transpose changes the formulation, not the function or its parameters."""
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 100))
  fast = dcgan.DCGANGenerator(image_size=32, base_filters=8, fast_conv_transpose=True)
  slow = dcgan.DCGANGenerator(image_size=32, base_filters=8, fast_conv_transpose=False)
  v_fast = fast.init(jax.random.PRNGKey(1), z, train=False)
  v_slow = slow.init(jax.random.PRNGKey(1), z, train=False)
  assert jax.tree.structure(v_fast) == jax.tree.structure(v_slow)
  for a, b in zip(jax.tree.leaves(v_fast), jax.tree.leaves(v_slow), strict=True):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(
    fast.apply(v_fast, z, train=False), slow.apply(v_fast, z, train=False), atol=1e-5
  )
