"""Training-time schedules: instance-noise annealing and generator weight EMA.

All functions are jit-safe: ``step`` (and the scalar hyper-parameters) may be traced.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def instance_noise_std(
  step: jax.Array | int, *, initial_std: float, anneal_steps: jax.Array | int
) -> jax.Array:
  """Linearly annealed instance-noise standard deviation (Sønderby et al., 2017).

      std(t) = initial_std * max(0, 1 - t / anneal_steps)    if anneal_steps > 0,
      std(t) = initial_std                                    if anneal_steps <= 0,

  i.e. ``initial_std`` at step 0 falling linearly to 0 at ``t >= anneal_steps``;
  ``anneal_steps <= 0`` means "no annealing" (constant noise), so setting it to 0
  never silently disables noise that was asked for. Negative steps clip to
  ``initial_std``.

  Returns:
    float32 scalar.
  """
  t = jnp.asarray(step, jnp.float32)
  total = jnp.asarray(anneal_steps, jnp.float32)
  # Clamp the divisor so the discarded branch of the where never divides by zero.
  frac = jnp.clip(1.0 - t / jnp.maximum(total, 1.0), 0.0, 1.0)
  scale = jnp.where(total > 0, frac, 1.0)
  return jnp.asarray(initial_std, jnp.float32) * scale


def add_instance_noise(rng: jax.Array, x: jax.Array, std: jax.Array | float) -> jax.Array:
  """Returns ``x + std * n`` with ``n ~ N(0, I)`` of ``x``'s shape and dtype.

  Apply it to both the real and the generated batch before the discriminator, with
  independent keys.
  """
  noise = jax.random.normal(rng, x.shape, dtype=x.dtype)
  return x + jnp.asarray(std, x.dtype) * noise


def ema_update(
  ema_params: PyTree,
  params: PyTree,
  *,
  decay: jax.Array | float,
  step: jax.Array | int,
  start_step: jax.Array | int = 0,
) -> PyTree:
  """Exponential moving average of parameters, leaf by leaf.

      ema <- decay * ema + (1 - decay) * params    if step >= start_step,
      ema <- params                                otherwise.

  Copying before ``start_step`` means the average starts from the weights reached
  at ``start_step`` rather than from the (useless) random initialisation. With
  constant ``params = p`` and k averaging updates from ``ema_0``:
  ``ema_k = decay^k ema_0 + (1 - decay^k) p``.

  Args:
    ema_params: current averaged parameters.
    params: current online parameters (same tree structure).
    decay: averaging coefficient in [0, 1].
    step: the current step (may be traced).
    start_step: first step at which averaging (rather than copying) happens.

  Returns:
    New EMA tree with the leaf dtypes of ``ema_params``.
  """
  averaging = jnp.asarray(step) >= jnp.asarray(start_step)

  def leaf(e: jax.Array, p: jax.Array) -> jax.Array:
    d = jnp.asarray(decay, jnp.result_type(e, jnp.float32))
    averaged = d * e + (1.0 - d) * p
    return jnp.where(averaging, averaged, p).astype(e.dtype)

  return jax.tree_util.tree_map(leaf, ema_params, params)
