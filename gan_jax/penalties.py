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

PacGAN (``pack = m > 1``): D's actual input is a packed example, m consecutive samples
concatenated on the channels (``layers.pack``), and it returns one logit per pack. A
penalty is a constraint on that function, so it is defined on packed examples: one
interpolation coefficient per pack, and the gradient norm over all m samples of a pack
(``||g_k||^2 = sum_{j in pack k} ||g_j||^2``, since packing only rearranges the input).
Taken per sample instead, WGAN-GP would constrain D to be sqrt(m)-Lipschitz and R1 would
be scaled by 1/m. ``pack = 1`` is the unpacked case.

Conditional critics: ``d_fn`` scores inputs with the labels of the real batch (the
points of WGAN-GP, R1 and DRAGAN are real or near it); R2 scores generated samples, so it
takes ``d_fake_fn``, the critic with the labels of the fake batch (``d_fn`` when omitted).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

DiscriminatorFn = Callable[[jax.Array], jax.Array]
PenaltyFn = Callable[..., jax.Array]  # (d_fn, real, fake, rng, *, pack, d_fake_fn) -> scalar


def _input_gradients(d_fn: DiscriminatorFn, x: jax.Array) -> jax.Array:
  """Returns ``grad_x sum_i D(x)_i``, i.e. per-example input gradients (see module doc)."""
  return jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)


def _squared_norms(grads: jax.Array, pack: int = 1) -> jax.Array:
  """Squared L2 norm per (packed) example over all its elements, shape (N / pack,)."""
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0] // pack, -1)), axis=-1)


def _safe_norms(grads: jax.Array, pack: int = 1) -> jax.Array:
  """Per-example L2 norm ``||g_i||_2`` with a finite (zero) derivative at ``g_i = 0``.

  d sqrt(s)/ds is infinite at s = 0, which would put NaNs into the parameter
  gradient of the penalty whenever an input gradient vanishes exactly (e.g. a dead
  ReLU critic). The double ``where`` keeps the value exact and the derivative zero.
  """
  sq = _squared_norms(grads, pack)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _per_example_uniform(rng: jax.Array, x: jax.Array, pack: int = 1) -> jax.Array:
  """One ``U[0, 1]`` draw per (packed) example, shaped ``(N, 1, ..., 1)`` to broadcast
  against x: the m samples of a pack share theirs."""
  shape = (x.shape[0] // pack,) + (1,) * (x.ndim - 1)
  u = jax.random.uniform(rng, shape, dtype=x.dtype)
  return u if pack == 1 else jnp.repeat(u, pack, axis=0)


def _check_pack(x: jax.Array, pack: int) -> None:
  if pack < 1 or x.shape[0] % pack:
    raise ValueError(f"pack={pack} must divide the batch of {x.shape[0]} examples")


def _unit_gradient_penalty(d_fn: DiscriminatorFn, x: jax.Array, pack: int = 1) -> jax.Array:
  """``mean_k (||grad_x D(x_k)||_2 - 1)^2`` over (packed) examples k: WGAN-GP's / DRAGAN's."""
  norms = _safe_norms(_input_gradients(d_fn, x), pack)
  return jnp.mean(jnp.square(norms - 1.0))


def gradient_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array,
  rng: jax.Array,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
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
    pack: samples per packed example (one eps and one norm per pack; see module doc).
    d_fake_fn: unused (one signature for all penalties).

  Returns:
    Scalar unweighted penalty.
  """
  del d_fake_fn
  if real.shape != fake.shape:
    raise ValueError(f"real and fake shapes differ: {real.shape} vs {fake.shape}")
  _check_pack(real, pack)
  eps = _per_example_uniform(rng, real, pack)
  x_hat = eps * real + (1.0 - eps) * fake
  return _unit_gradient_penalty(d_fn, x_hat, pack)


def _zero_centred(d_fn: DiscriminatorFn, x: jax.Array, pack: int) -> jax.Array:
  """``0.5 * mean_k ||grad_x D(x_k)||_2^2`` over (packed) examples k."""
  _check_pack(x, pack)
  return 0.5 * jnp.mean(_squared_norms(_input_gradients(d_fn, x), pack))


def r1_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
) -> jax.Array:
  """R1 regulariser (Mescheder et al., 2018): zero-centred, on real data.

      penalty = 0.5 * mean_k ||grad_x D(real_k)||_2^2.

  Convention: the factor 1/2 is included here, so ``penalty_weight * r1_penalty``
  equals the paper's ``gamma/2 * E ||grad D||^2`` with ``gamma = penalty_weight``
  (StyleGAN's ``r1_gamma`` has the same meaning). ``fake``, ``rng`` and ``d_fake_fn``
  are ignored; they exist so all penalties share one signature.

  Returns:
    Scalar unweighted penalty.
  """
  del fake, rng, d_fake_fn
  return _zero_centred(d_fn, real, pack)


def r2_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array | None,
  fake: jax.Array,
  rng: jax.Array | None = None,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
) -> jax.Array:
  """R2 regulariser (Mescheder et al., 2018): zero-centred, on generated data.

      penalty = 0.5 * mean_k ||grad_x D(fake_k)||_2^2,

  with D given the fake batch's labels (``d_fake_fn``, else ``d_fn``). Same convention
  as ``r1_penalty``.
  """
  del real, rng
  return _zero_centred(d_fake_fn or d_fn, fake, pack)


def r1_r2_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array,
  rng: jax.Array | None = None,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
) -> jax.Array:
  """R1 + R2 with one weight, as in R3GAN (Huang et al. 2024): both sides zero-centred."""
  return r1_penalty(d_fn, real, pack=pack) + r2_penalty(
    d_fn, real, fake, pack=pack, d_fake_fn=d_fake_fn
  )


def dragan_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
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

  With ``pack`` > 1 alpha is drawn per packed example and the norm is a pack's.
  ``fake`` and ``d_fake_fn`` are ignored (kept for the common signature); ``rng`` is
  required.

  Returns:
    Scalar unweighted penalty.
  """
  del fake, d_fake_fn
  if rng is None:
    raise ValueError("dragan_penalty needs a PRNG key")
  _check_pack(real, pack)
  u_rng, alpha_rng = jax.random.split(rng)
  std = jax.lax.stop_gradient(jnp.std(real))
  u = jax.random.uniform(u_rng, real.shape, dtype=real.dtype)
  x_p = real + 0.5 * std * u
  if interpolate:
    alpha = _per_example_uniform(alpha_rng, real, pack)
    x_p = real + alpha * (x_p - real)
  return _unit_gradient_penalty(d_fn, x_p, pack)


def no_penalty(
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array | None = None,
  rng: jax.Array | None = None,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
) -> jax.Array:
  """The zero penalty (scalar 0.0 in ``real``'s dtype); never calls ``d_fn``."""
  del d_fn, fake, rng, pack, d_fake_fn
  return jnp.zeros((), dtype=real.dtype)


PENALTIES: dict[str, PenaltyFn] = {
  "none": no_penalty,
  "gradient_penalty": gradient_penalty,
  "r1": r1_penalty,
  "r2": r2_penalty,
  "r1_r2": r1_r2_penalty,
  "dragan": dragan_penalty,
}


def compute_penalty(
  name: str,
  d_fn: DiscriminatorFn,
  real: jax.Array,
  fake: jax.Array,
  rng: jax.Array,
  *,
  pack: int = 1,
  d_fake_fn: DiscriminatorFn | None = None,
) -> jax.Array:
  """Dispatches to ``PENALTIES[name](d_fn, real, fake, rng, pack=, d_fake_fn=)``; unweighted.

  Raises:
    ValueError: if ``name`` is not a key of ``PENALTIES``.
  """
  try:
    penalty_fn = PENALTIES[name]
  except KeyError:
    raise ValueError(
      f"Unknown penalty {name!r}; valid names: {', '.join(sorted(PENALTIES))}"
    ) from None
  return penalty_fn(d_fn, real, fake, rng, pack=pack, d_fake_fn=d_fake_fn)
