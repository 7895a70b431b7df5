"""Closed-form checks of the gradient penalties on a linear discriminator.

For D(x) = <w, x> + b the input gradient is w at every x, so whatever the sampling:
gradient_penalty = dragan = (||w|| - 1)^2 and r1 = r2 = 0.5 * ||w||^2.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import layers, penalties


def _linear(w, b=0.3):
  def d_fn(x):
    return jnp.sum(x.reshape(x.shape[0], -1) * w.reshape(-1), axis=-1) + b

  return d_fn


def _linear_n1(w, b=0.3):
  """Same discriminator returning (N, 1) logits."""
  return lambda x: _linear(w, b)(x)[:, None]


def _data(shape, seed=0):
  # numpy draws: every new jax.random shape costs an XLA compile, which dominates here.
  gen = np.random.default_rng(seed)
  w = gen.standard_normal(shape[1:]).astype(np.float32)
  real = gen.standard_normal(shape).astype(np.float32)
  fake = (gen.standard_normal(shape) * 2.0 + 1.0).astype(np.float32)
  return jnp.asarray(w), jnp.asarray(real), jnp.asarray(fake)


def _closed_form(name, w):
  norm = float(np.linalg.norm(np.asarray(w)))
  return {
    "none": 0.0,
    "gradient_penalty": (norm - 1.0) ** 2,
    "r1": 0.5 * norm**2,
    "r2": 0.5 * norm**2,
    "r1_r2": norm**2,
    "dragan": (norm - 1.0) ** 2,
  }[name]


@pytest.mark.parametrize("name", sorted(penalties.PENALTIES))
@pytest.mark.parametrize(
  "shape,logit_shape", [((16, 5), "n"), ((8, 8, 8, 1), "n"), ((8, 8, 8, 1), "n1")]
)
def test_linear_closed_form_jitted(shape, name, logit_shape):
  w, real, fake = _data(shape)
  make = _linear if logit_shape == "n" else _linear_n1

  @jax.jit
  def f(w, real, fake, rng):
    return penalties.compute_penalty(name, make(w), real, fake, rng)

  got = f(w, real, fake, jax.random.PRNGKey(1))
  assert got.shape == ()
  np.testing.assert_allclose(float(got), _closed_form(name, w), rtol=1e-5, atol=1e-6)


def _quadratic(x):
  """D(x) = 0.5 ||x||^2 per example, so grad_x D(x) = x: the penalty reveals the x used."""
  return 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=-1)


def test_direct_functions_match_closed_form():
  w, real, fake = _data((8, 8, 8, 1), seed=3)
  w = w * 0.1  # ||w|| < 1, so the (||w|| - 1) sign differs from the default case
  norm = float(jnp.linalg.norm(w))

  # One jit for all calls: each separately compiled random draw costs seconds on CPU.
  @jax.jit
  def all_penalties(w, real, fake, rng):
    d = _linear(w)
    return (
      penalties.gradient_penalty(d, real, fake, rng),
      penalties.r1_penalty(d, real),
      penalties.dragan_penalty(d, real, None, rng, interpolate=True),
      penalties.dragan_penalty(d, real, None, rng, interpolate=False),
    )

  gp, r1, dr_interp, dr_point = all_penalties(w, real, fake, jax.random.PRNGKey(2))
  np.testing.assert_allclose(
    [gp, r1, dr_interp, dr_point],
    [(norm - 1) ** 2, 0.5 * norm**2] + [(norm - 1) ** 2] * 2,
    rtol=1e-5,
  )


def test_parameter_gradient_double_backprop():
  """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||; d/dw 0.5 ||w||^2 = w."""
  w, real, fake = _data((16, 5), seed=4)
  rng = jax.random.PRNGKey(0)
  norm = jnp.linalg.norm(w)

  @jax.jit
  def grads(w):
    g_gp = jax.grad(lambda w: penalties.gradient_penalty(_linear(w), real, fake, rng))(w)
    g_r1 = jax.grad(lambda w: penalties.r1_penalty(_linear(w), real))(w)
    return g_gp, g_r1

  g_gp, g_r1 = grads(w)
  np.testing.assert_allclose(g_gp, 2 * (norm - 1) * w / norm, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g_r1, w, rtol=1e-5, atol=1e-6)


def test_zero_input_gradient_has_finite_parameter_gradient():
  real = jnp.ones((4, 3))
  f = lambda w: penalties.gradient_penalty(_linear(w), real, real, jax.random.PRNGKey(0))
  value, g = jax.jit(jax.value_and_grad(f))(jnp.zeros(3))
  np.testing.assert_allclose(value, 1.0)
  np.testing.assert_array_equal(g, np.zeros(3))


def test_sampling_of_interpolates():
  """Reproduces the documented sampling of x_hat with the documented key usage."""
  gen = np.random.default_rng(0)
  real = jnp.asarray(gen.standard_normal((32, 2, 2)) * 3.0, jnp.float32)
  fake = jnp.asarray(gen.standard_normal((32, 2, 2)), jnp.float32)

  def unit_penalty(x):
    return jnp.mean((jnp.linalg.norm(x.reshape(x.shape[0], -1), axis=-1) - 1) ** 2)

  @jax.jit
  def run(rng):
    got = (
      penalties.gradient_penalty(_quadratic, real, fake, rng),
      penalties.dragan_penalty(_quadratic, real, None, rng, interpolate=False),
      penalties.dragan_penalty(_quadratic, real, None, rng, interpolate=True),
    )
    eps = jax.random.uniform(rng, (32, 1, 1))
    u_rng, alpha_rng = jax.random.split(rng)
    # std over the whole batch (all elements, ddof=0), as in the DRAGAN reference code.
    x_p = real + 0.5 * jnp.std(real) * jax.random.uniform(u_rng, real.shape)
    alpha = jax.random.uniform(alpha_rng, (32, 1, 1))
    expected = (
      unit_penalty(eps * real + (1 - eps) * fake),
      unit_penalty(x_p),
      unit_penalty(real + alpha * (x_p - real)),
    )
    return got, expected

  got, expected = run(jax.random.PRNGKey(7))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # The three sample points genuinely differ (guards against a vacuous test).
  assert len({round(float(e), 3) for e in expected}) == 3


def test_none_and_unknown_name():
  w, real, fake = _data((4, 2))
  calls = []

  def d_fn(x):
    calls.append(1)
    return _linear(w)(x)

  assert float(penalties.compute_penalty("none", d_fn, real, fake, jax.random.PRNGKey(0))) == 0.0
  assert not calls
  with pytest.raises(
    ValueError, match="valid names: dragan, gradient_penalty, none, r1, r1_r2, r2"
  ):
    penalties.compute_penalty("wgan-gp", d_fn, real, fake, jax.random.PRNGKey(0))


# --- PacGAN: penalties on D's packed input ----------------------------------------------------


def _packed_critic(m: int, dim: int, seed: int = 0):
  """A nonlinear D of packed examples, D(x_p) = v . tanh(x_p W), as a function of the
  unpacked batch (layers.pack inside, as the discriminators do) and of the packed one."""
  gen = np.random.default_rng(seed)
  w = jnp.asarray(gen.standard_normal((m * dim, 7)) * 0.5, jnp.float32)
  v = jnp.asarray(gen.standard_normal(7), jnp.float32)
  on_packed = lambda xp: jnp.tanh(xp @ w) @ v
  return (lambda x: on_packed(layers.pack(x, m))), on_packed


@pytest.mark.parametrize("m", [1, 2, 4])
def test_penalties_are_defined_on_the_packed_input(m):
  """Each penalty equals its definition computed by hand on D's actual input: packed
  examples, one interpolation coefficient and one gradient norm per pack."""
  n, dim = 8, 3
  d_fn, on_packed = _packed_critic(m, dim)
  gen = np.random.default_rng(1)
  real = jnp.asarray(gen.standard_normal((n, dim)), jnp.float32)
  fake = jnp.asarray(gen.standard_normal((n, dim)) + 1.0, jnp.float32)
  rng = jax.random.PRNGKey(5)
  pack = lambda x: layers.pack(x, m)

  def norms(x_packed):  # per packed example: ||grad of D at x_k||
    g = jax.grad(lambda xp: jnp.sum(on_packed(xp)))(x_packed)
    return jnp.sqrt(jnp.sum(g**2, axis=-1))

  eps = jax.random.uniform(rng, (n // m, 1))
  x_hat = eps * pack(real) + (1 - eps) * pack(fake)
  u_rng, alpha_rng = jax.random.split(rng)
  x_p = real + 0.5 * jnp.std(real) * jax.random.uniform(u_rng, real.shape)
  alpha = jax.random.uniform(alpha_rng, (n // m, 1))
  x_drag = pack(real) + alpha * (pack(x_p) - pack(real))
  expected = {
    "gradient_penalty": jnp.mean((norms(x_hat) - 1) ** 2),
    "r1": 0.5 * jnp.mean(norms(pack(real)) ** 2),
    "r2": 0.5 * jnp.mean(norms(pack(fake)) ** 2),
    "r1_r2": 0.5 * jnp.mean(norms(pack(real)) ** 2) + 0.5 * jnp.mean(norms(pack(fake)) ** 2),
    "dragan": jnp.mean((norms(x_drag) - 1) ** 2),
  }
  for name, value in expected.items():
    got = penalties.compute_penalty(name, d_fn, real, fake, rng, pack=m)
    np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=f"{name}, pack {m}")


def test_packed_r1_of_a_linear_critic_is_its_closed_form():
  """D(x_p) = <W, x_p>: the packed R1 is 0.5 ||W||^2 whatever the pack. Per sample (the old
  definition) it was 0.5 ||W||^2 / m, and WGAN-GP's norm sqrt(m) times too small."""
  m, dim = 4, 3
  gen = np.random.default_rng(2)
  w = jnp.asarray(gen.standard_normal(m * dim), jnp.float32)
  d_fn = lambda x: layers.pack(x, m) @ w
  real = jnp.asarray(gen.standard_normal((8, dim)), jnp.float32)
  norm = float(jnp.linalg.norm(w))
  r1 = penalties.compute_penalty("r1", d_fn, real, real, jax.random.PRNGKey(0), pack=m)
  gp = penalties.compute_penalty(
    "gradient_penalty", d_fn, real, real, jax.random.PRNGKey(0), pack=m
  )
  np.testing.assert_allclose([r1, gp], [0.5 * norm**2, (norm - 1) ** 2], rtol=1e-5)


def test_r2_scores_generated_samples_with_their_own_labels():
  """A conditional critic: R2 differentiates D(fake, y_fake), not D(fake, y_real)."""
  real = jnp.ones((4, 2))
  fake = jnp.full((4, 2), 2.0)
  scale_real, scale_fake = 1.0, 3.0  # the label changes D's slope
  d_real = lambda x: scale_real * jnp.sum(x, -1)
  d_fake = lambda x: scale_fake * jnp.sum(x, -1)
  got = penalties.compute_penalty("r2", d_real, real, fake, None, d_fake_fn=d_fake)
  np.testing.assert_allclose(got, 0.5 * 2 * scale_fake**2, rtol=1e-6)  # ||(3, 3)||^2 / 2
  r1 = penalties.compute_penalty("r1", d_real, real, fake, None, d_fake_fn=d_fake)
  np.testing.assert_allclose(r1, 0.5 * 2 * scale_real**2, rtol=1e-6)
