"""Exact checks of the instance-noise schedule and the parameter EMA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import schedules


@pytest.mark.parametrize(
  "step,expected", [(0, 0.2), (50, 0.1), (75, 0.05), (100, 0.0), (250, 0.0), (-5, 0.2)]
)
def test_instance_noise_std_linear(step, expected):
  got = schedules.instance_noise_std(step, initial_std=0.2, anneal_steps=100)
  np.testing.assert_allclose(float(got), expected, atol=1e-7)


def test_instance_noise_std_traced_step_and_no_anneal():
  f = jax.jit(lambda s: schedules.instance_noise_std(s, initial_std=0.4, anneal_steps=10))
  np.testing.assert_allclose(
    [float(f(jnp.int32(s))) for s in (0, 5, 10, 11)], [0.4, 0.2, 0.0, 0.0], atol=1e-7
  )
  for anneal in (0, -1):
    g = jax.jit(
      lambda s, a=anneal: schedules.instance_noise_std(s, initial_std=0.3, anneal_steps=a)
    )
    for s in (0, 10**6):
      np.testing.assert_allclose(float(g(jnp.int32(s))), 0.3, atol=1e-7)


def test_add_instance_noise():
  x = jnp.ones((1000, 4))
  rng = jax.random.PRNGKey(0)
  y, noise = jax.jit(
    lambda rng: (schedules.add_instance_noise(rng, x, 0.5), jax.random.normal(rng, x.shape))
  )(rng)
  np.testing.assert_allclose(y, x + 0.5 * noise, atol=1e-6)
  assert 0.45 < float(jnp.std(y)) < 0.55
  assert y.dtype == x.dtype


def _tree(a, b):
  return {"dense": {"kernel": jnp.full((2, 3), a)}, "bias": jnp.full((3,), b)}


def test_ema_constant_params_closed_form():
  decay, k = 0.9, 7
  ema0, p = _tree(1.0, -2.0), _tree(3.0, 5.0)
  update = jax.jit(lambda e, p, s: schedules.ema_update(e, p, decay=decay, step=s, start_step=0))
  ema = ema0
  for step in range(k):
    ema = update(ema, p, jnp.int32(step))
  expected = jax.tree_util.tree_map(lambda e, q: decay**k * e + (1 - decay**k) * q, ema0, p)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), ema, expected)


def test_ema_explicit_sequence_and_copy_before_start():
  decay = 0.5
  update = jax.jit(lambda e, p, s: schedules.ema_update(e, p, decay=decay, step=s, start_step=2))
  ema = jnp.array([100.0])
  params = [1.0, 2.0, 4.0, 8.0, 0.0]
  # steps 0, 1: copy; steps 2, 3, 4: average.
  expected = [1.0, 2.0, 0.5 * 2 + 0.5 * 4, 0.5 * 3 + 0.5 * 8, 0.5 * 5.5 + 0.5 * 0]
  for step, (p, e) in enumerate(zip(params, expected, strict=True)):
    ema = update(ema, jnp.array([p]), jnp.int32(step))
    np.testing.assert_allclose(ema, [e], rtol=1e-7)


def test_ema_preserves_dtype():
  ema = {"w": jnp.zeros((2,), jnp.bfloat16)}
  out = schedules.ema_update(ema, {"w": jnp.ones((2,), jnp.float32)}, decay=0.99, step=5)
  assert out["w"].dtype == jnp.bfloat16
