"""The networks of the published protocols: PacGAN's Stacked MNIST DCGAN (models/veegan.py)
and Lucic et al.'s InfoGAN-style pair (models/infogan.py), as their papers' code builds them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gan_jax import games, models, ops


def _build(name, **model):
  c = games.default_config()
  c.model.name, c.model.image_size = name, 28
  c.model.update(model)
  return models.make_models(c.model, channels=3 if name == "veegan" else 1)


def _shapes(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, train=False))
  flat = traverse_util.flatten_dict(variables["params"], sep="/")
  return {k: v.shape for k, v in flat.items()}


@pytest.mark.slow  # over 10 s
def test_veegan_networks_have_the_papers_shapes():
  g, d = _build("veegan", z_dim=100)
  z = jnp.zeros((2, 100))
  params = _shapes(g, z)
  # Dense to 2x2x512, then 5x5 transposed convs to 256, 128, 64, 3 channels.
  assert params["Dense_0/kernel"] == (100, 2 * 2 * 512)
  assert [params[f"ConvTranspose_{i}/kernel"] for i in range(4)] == [
    (5, 5, 512, 256),
    (5, 5, 256, 128),
    (5, 5, 128, 64),
    (5, 5, 64, 3),
  ]
  x = jax.eval_shape(lambda: g.apply(g.init(jax.random.PRNGKey(0), z, train=False), z, train=False))
  assert x.shape == (2, 28, 28, 3)
  d_params = _shapes(d, jnp.zeros(x.shape, x.dtype))
  assert [d_params[f"Conv_{i}/kernel"][-1] for i in range(4)] == [64, 128, 256, 512]
  assert d_params["Dense_0/kernel"] == (2 * 2 * 512, 1)  # 28 -> 14 -> 7 -> 4 -> 2
  # BatchNorm after every convolution but the first.
  assert sorted(k for k in d_params if k.startswith("BatchNorm")) == [
    f"BatchNorm_{i}/{p}" for i in range(3) for p in ("bias", "scale")
  ]
  packed = _build("veegan", z_dim=100, pack=2)[1]
  assert _shapes(packed, jnp.zeros((4, 28, 28, 3)))["Conv_0/kernel"] == (5, 5, 6, 64)


@pytest.mark.slow  # over 5 s
def test_infogan_networks_have_the_papers_shapes():
  g, d = _build("infogan", z_dim=64)
  z = jnp.zeros((2, 64))
  params = _shapes(g, z)
  assert params["Dense_0/kernel"] == (64, 1024) and params["Dense_1/kernel"] == (1024, 7 * 7 * 128)
  x = g.apply(g.init(jax.random.PRNGKey(0), z, train=False), z, train=False)
  assert x.shape == (2, 28, 28, 1)
  logits = d.apply(d.init(jax.random.PRNGKey(1), x, train=False), x, train=False)
  assert logits.shape == (2,)
  d_params = _shapes(d, x)
  assert d_params["Dense_0/kernel"] == (7 * 7 * 128, 1024)
  assert any(k.startswith("BatchNorm") for k in d_params)
  no_bn = _build("infogan", z_dim=64, infogan={"d_batch_norm": False})[1]
  assert not any(k.startswith("BatchNorm") for k in _shapes(no_bn, x))


def _veegan_outputs_and_grads(width):
  g, d = _build("veegan", z_dim=100, veegan={"width": width})
  z = jax.random.uniform(jax.random.PRNGKey(2), (4, 100), minval=-1.0, maxval=1.0)
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  x = g.apply(g_vars, z, train=False)
  d_vars = d.init(jax.random.PRNGKey(1), x, train=False)
  weights = jax.random.normal(jax.random.PRNGKey(3), (4,))

  def loss(g_params, d_params):
    images = g.apply({**g_vars, "params": g_params}, z, train=False)
    return jnp.sum(weights * d.apply({**d_vars, "params": d_params}, images, train=False))

  grads = jax.grad(loss, argnums=(0, 1))(g_vars["params"], d_vars["params"])
  return x, grads


@pytest.mark.slow  # over 20 s
def test_veegan_cpu_convolutions_compute_flaxs(monkeypatch):
  # models/veegan.py takes ops' CPU formulations (space-to-depth, Winograd) of its 5x5
  # stride-2 convolutions, explicit paddings (3, 2) and (2, 2) included: they must compute
  # what flax.linen's lax convolutions compute, forward and backward.
  # Each side one program (one compile) rather than op by op; a new function each time, as
  # the formulation is chosen when the program is traced.
  fast = jax.jit(lambda: _veegan_outputs_and_grads(width=8))()
  monkeypatch.setattr(ops, "AUTO_CONV", "lax")
  monkeypatch.setattr(ops, "AUTO_CONV_TRANSPOSE", "lax")
  lax = jax.jit(lambda: _veegan_outputs_and_grads(width=8))()
  for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(lax), strict=True):
    scale = float(jnp.abs(b).max())
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale)
