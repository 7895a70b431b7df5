"""Gradient penalties on a discriminator given as a function of its input.

Every penalty here takes ``d_fn: Callable[[jax.Array], jax.Array]`` mapping a batch
``x`` of shape ``(N, ...)`` to logits of shape ``(N,)`` or ``(N, 1)``; the caller closes
over the discriminator parameters, so ``jax.grad`` of the penalty with respect to
those parameters (double backprop) works through the closure.

Per-example input gradients are computed as ``jax.grad(lambda x: d_fn(x).sum())(x)``.
Row ``i`` of that gradient is ``d D(x)_i / d x_i`` only when examples do not interact
inside ``d_fn``: with batch-statistics coupling (BatchNorm in training mode,
minibatch standard deviation, minibatch discrimination) it also contains the
cross terms ``sum_{j != i} d D(x)_j / d x_i``. Use a critic without batch coupling
(the WGAN-GP paper recommends layer norm or no normalisation in the critic), or
accept the approximation knowingly.

All penalties are returned *unweighted*; the caller multiplies by its
``penalty_weight``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

DiscriminatorFn = Callable[[jax.Array], jax.Array]
PenaltyFn = Callable[[DiscriminatorFn, jax.Array, jax.Array, jax.Array], jax.Array]


def _input_gradients(d_fn: DiscriminatorFn, x: jax.Array) -> jax.Array:
  """Returns ``grad_x sum_i D(x)_i``, i.e. per-example input gradients (see module doc)."""
  return jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)


def _squared_norms(grads: jax.Array) -> jax.Array:
  """Per-example squared L2 norm over all non-batch axes: ``||g_i||_2^2``, shape (N,)."""
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)


def _safe_norms(grads: jax.Array) -> jax.Array:
  """Per-example L2 norm ``||g_i||_2`` with a finite (zero) derivative at ``g_i = 0``.

  d sqrt(s)/ds is infinite at s = 0, which would put NaNs into the parameter
  gradient of the penalty whenever an input gradient vanishes exactly (e.g. a dead
  ReLU critic). The double ``where`` keeps the value exact and the derivative zero.
  """
  sq = _squared_norms(grads)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _per_example_uniform(rng: jax.Array, x: jax.Array) -> jax.Array:
  """One ``U[0, 1]`` draw per example, shaped ``(N, 1, ..., 1)`` to broadcast against x."""
  shape = (x.shape[0],) + (1,) * (x.ndim - 1)
  return jax.random.uniform(rng, shape, dtype=x.dtype)


def _unit_gradient_penalty(d_fn: DiscriminatorFn, x: jax.Array) -> jax.Array:
  """``mean_i (||grad_x D(x_i)||_2 - 1)^2``: the two-sided penalty of WGAN-GP / DRAGAN."""
  norms = _safe_norms(_input_gradients(d_fn, x))
  return jnp.mean(jnp.square(norms - 1.0))


def gradient_penalty(
  d_fn: DiscriminatorFn, real: jax.Array, fake: jax.Array, rng: jax.Array
) -> jax.Array:
  """WGAN-GP gradient penalty (Gulrajani et al., 2017).

  ``x_hat_i = eps_i * real_i + (1 - eps_i) * fake_i`` with ``eps_i ~ U[0, 1]`` per
  example, and

      penalty = mean_i (||grad_x D(x_hat_i)||_2 - 1)^2.

  The paper's loss term is ``lambda * penalty`` (lambda = 10 there).

  Args:
    d_fn: discriminator, ``(N, ...) -> (N,)`` or ``(N, 1)`` logits.
    real: real batch, shape ``(N, ...)``.
    fake: generated batch, same shape as ``real``.
    rng: PRNG key for the interpolation coefficients.

  Returns:
    Scalar unweighted penalty.
  """
  if real.shape != fake.shape:
    raise ValueError(f"real and fake shapes differ: {real.shape} vs {fake.shape}")
  eps = _per_example_uniform(rng, real)
  x_hat = eps * real + (1.0 - eps) * fake
  return _unit_gradient_penalty(d_fn, x_hat)


def r1_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
) -> jax.Array:
  """R1 regulariser (Mescheder et al., 2018) on real data.

      penalty = 0.5 * mean_i ||grad_x D(real_i)||_2^2.

  Convention: the factor 1/2 is included here, so ``penalty_weight * r1_penalty``
  equals the paper's ``gamma/2 * E ||grad D||^2`` with ``gamma = penalty_weight``
  (StyleGAN's ``r1_gamma`` has the same meaning). ``fake`` and ``rng`` are ignored;
  they exist so all penalties share one signature.

  Returns:
    Scalar unweighted penalty.
  """
  del fake, rng
  return 0.5 * jnp.mean(_squared_norms(_input_gradients(d_fn, real)))


def dragan_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
  *,
  interpolate: bool = True,
) -> jax.Array:
  """DRAGAN gradient penalty (Kodali et al., 2017) around the real data.

  Perturbation as in the authors' reference code:

      x_p = real + 0.5 * std(real) * u,    u ~ U[0, 1] elementwise,

  where ``std(real)`` is a single scalar: the (population, ddof=0) standard deviation
  of the whole real batch over all its elements, treated as a constant (the
  reference computes it in numpy). Note that u is one-sided, U[0, 1], not N(0, 1).

  With ``interpolate=True`` (default, also as in the reference code) the penalty is
  taken at ``x_hat_i = real_i + alpha_i * (x_p_i - real_i)``, ``alpha_i ~ U[0, 1]``
  per example; with ``interpolate=False`` it is taken at ``x_p`` itself. Either way

      penalty = mean_i (||grad_x D(x_hat_i)||_2 - 1)^2.

  ``fake`` is ignored (kept for the common signature); ``rng`` is required.

  Returns:
    Scalar unweighted penalty.
  """
  del fake
  if rng is None:
    raise ValueError("dragan_penalty needs a PRNG key")
  u_rng, alpha_rng = jax.random.split(rng)
  std = jax.lax.stop_gradient(jnp.std(real))
  u = jax.random.uniform(u_rng, real.shape, dtype=real.dtype)
  x_p = real + 0.5 * std * u
  if interpolate:
    alpha = _per_example_uniform(alpha_rng, real)
    x_p = real + alpha * (x_p - real)
  return _unit_gradient_penalty(d_fn, x_p)


def no_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
) -> jax.Array:
  """The zero penalty (scalar 0.0 in ``real``'s dtype); never calls ``d_fn``."""
  del d_fn, fake, rng
  return jnp.zeros((), dtype=real.dtype)


PENALTIES: dict[str, PenaltyFn] = {
  "none": no_penalty,
  "gradient_penalty": gradient_penalty,
  "r1": r1_penalty,
  "dragan": dragan_penalty,
}


def compute_penalty(
  name: str, d_fn: DiscriminatorFn, real: jax.Array, fake: jax.Array, rng: jax.Array
) -> jax.Array:
  """Dispatches to ``PENALTIES[name](d_fn, real, fake, rng)``; unweighted scalar.

  Raises:
    ValueError: if ``name`` is not a key of ``PENALTIES``.
  """
  try:
    penalty_fn = PENALTIES[name]
  except KeyError:
    raise ValueError(
      f"Unknown penalty {name!r}; valid names: {', '.join(sorted(PENALTIES))}"
    ) from None
  return penalty_fn(d_fn, real, fake, rng)
