"""GAN objectives: pure functions of discriminator logits.

Each objective is a pair of functions, one for the discriminator (critic) and
one for the generator, both taking raw discriminator outputs ("logits") and
returning a scalar to *minimize*. They never call a model, so they can be
tested against closed forms. Notation: r = D's logits on real data, f = D's
logits on generated data, sigma = logistic sigmoid, so D(x) = sigma(r) for the
probabilistic objectives. log sigma(x) = -softplus(-x) and
log(1 - sigma(x)) = -softplus(x) keep every log finite.

`real_label` implements one-sided label smoothing (Salimans et al. 2016): the
real target becomes e.g. 0.9 instead of 1; the fake target stays 0.

Relativistic objectives judge real against fake: their generator loss needs D's
logits on real data too, so every objective's G loss takes (r, f) and says whether it
reads r (`Objective.g_uses_real`: the G step draws a real batch only then). `batch_mean`
is how a loss averages over the batch where it needs the mean of the other side
(RaGAN): inside the data-parallel step it is the mean over the global batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


def _bce_real(logits: Array, label: float) -> Array:
  """Mean binary cross-entropy against a (possibly smoothed) real label."""
  return jnp.mean(label * jax.nn.softplus(-logits) + (1.0 - label) * jax.nn.softplus(logits))


# --- minimax (vanilla, Goodfellow et al. 2014) -----------------------------


def minimax_d_loss(real_logits: Array, fake_logits: Array, *, real_label: float = 1.0) -> Array:
  """-E_x log D(x) - E_z log(1 - D(G(z))) = E softplus(-r) + E softplus(f)."""
  return _bce_real(real_logits, real_label) + jnp.mean(jax.nn.softplus(fake_logits))


def minimax_g_loss(fake_logits: Array) -> Array:
  """E_z log(1 - D(G(z))) = -E softplus(f): the saturating generator loss.

  Its gradient with respect to f is -sigma(f), which vanishes as D(G(z)) -> 0,
  i.e. exactly when the discriminator confidently rejects the samples.
  """
  return -jnp.mean(jax.nn.softplus(fake_logits))


# --- non-saturating (Goodfellow et al. 2014, the practical variant) ---------


def non_saturating_g_loss(fake_logits: Array) -> Array:
  """-E_z log D(G(z)) = E softplus(-f); gradient -sigma(-f) -> -1 as D(G(z)) -> 0."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


# --- Wasserstein (Arjovsky et al. 2017) ---------------------------------------


def wasserstein_d_loss(real_logits: Array, fake_logits: Array, *, real_label: float = 1.0) -> Array:
  """Critic loss E f - E r (the negated Kantorovich-Rubinstein estimate).

  `real_label` is accepted for a uniform signature; smoothing has no meaning here.
  """
  del real_label
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_g_loss(fake_logits: Array) -> Array:
  """-E f."""
  return -jnp.mean(fake_logits)


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) -------------------------------


def hinge_d_loss(real_logits: Array, fake_logits: Array, *, real_label: float = 1.0) -> Array:
  """E max(0, 1 - r) + E max(0, 1 + f). The margin is fixed; `real_label` is unused."""
  del real_label
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits: Array) -> Array:
  """-E f."""
  return -jnp.mean(fake_logits)


# --- least squares (Mao et al. 2017, the a=0, b=c=1 coding) -------------------


def least_squares_d_loss(
  real_logits: Array, fake_logits: Array, *, real_label: float = 1.0
) -> Array:
  """1/2 E (r - b)^2 + 1/2 E f^2 with b = real_label (1 unless smoothed)."""
  return 0.5 * jnp.mean((real_logits - real_label) ** 2) + 0.5 * jnp.mean(fake_logits**2)


def least_squares_g_loss(fake_logits: Array) -> Array:
  """1/2 E (f - 1)^2."""
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


# --- relativistic (Jolicoeur-Martineau 2018; the RpGAN of Huang et al. 2024) -------------


def relativistic_d_loss(
  real_logits: Array, fake_logits: Array, *, real_label: float = 1.0
) -> Array:
  """RpGAN: E softplus(-(r - f)) = -E log sigma(r - f) over paired real/fake logits.

  D is asked that each real sample look more real than its paired fake one. `real_label`
  is unused (smoothing has no meaning for a comparison).
  """
  del real_label
  return jnp.mean(jax.nn.softplus(-(real_logits - fake_logits)))


def relativistic_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """RpGAN: E softplus(-(f - r)); the same game with the roles swapped."""
  return jnp.mean(jax.nn.softplus(-(fake_logits - real_logits)))


def relativistic_average_d_loss(
  real_logits: Array,
  fake_logits: Array,
  *,
  real_label: float = 1.0,
  batch_mean: Callable[[Array], Array] = jnp.mean,
) -> Array:
  """RaGAN: (E softplus(-(r - mean f)) + E softplus(f - mean r)) / 2.

  Each side against the batch mean of the other: (-E log sigma(r - E f) -
  E log(1 - sigma(f - E r))) / 2. The 1/2 is the reference's (AlexiaJM/RelativisticGAN,
  GAN_losses_iter.py, loss_D 6: errD = (BCE(y_pred - mean(y_pred_fake), 1) +
  BCE(y_pred_fake - mean(y_pred), 0)) / 2); it sets the loss's scale against a penalty's
  weight. `real_label` is unused.
  """
  del real_label
  mean_r, mean_f = batch_mean(real_logits), batch_mean(fake_logits)
  real_side = jnp.mean(jax.nn.softplus(-(real_logits - mean_f)))
  return 0.5 * (real_side + jnp.mean(jax.nn.softplus(fake_logits - mean_r)))


def relativistic_average_g_loss(
  real_logits: Array, fake_logits: Array, *, batch_mean: Callable[[Array], Array] = jnp.mean
) -> Array:
  """RaGAN: (E softplus(-(f - mean r)) + E softplus(r - mean f)) / 2, the reference's errG
  (halved as its errD; see relativistic_average_d_loss)."""
  mean_r, mean_f = batch_mean(real_logits), batch_mean(fake_logits)
  fake_side = jnp.mean(jax.nn.softplus(-(fake_logits - mean_r)))
  return 0.5 * (fake_side + jnp.mean(jax.nn.softplus(real_logits - mean_f)))


class Objective(NamedTuple):
  """A GAN objective: what D and G minimize, and how to read D's output.

  `d_loss(r, f, *, real_label, batch_mean)` and `g_loss(r, f, *, batch_mean)` for every
  objective; `r` is None in the G step of the objectives that do not read it.
  """

  d_loss: Callable[..., Array]
  g_loss: Callable[..., Array]
  # Maps logits to the quantity logged as d_real / d_fake: a probability for
  # the objectives whose D is a classifier, the raw score for the others.
  d_output: Callable[[Array], Array]
  # Whether the real target can move (label smoothing, config real_label): the objectives
  # whose D classifies (or regresses onto a target); for the others it has no meaning.
  takes_real_label: bool
  # Whether the generator's loss reads D's logits on real data (the relativistic ones).
  g_uses_real: bool = False


def _of_fake(g_loss: Callable[[Array], Array]) -> Callable[..., Array]:
  """A generator loss of f alone, in the (r, f) signature of every objective."""
  return lambda real_logits, fake_logits, *, batch_mean=jnp.mean: g_loss(fake_logits)


def _mean_free(d_loss: Callable[..., Array]) -> Callable[..., Array]:
  """A discriminator loss that needs no batch mean of the other side."""
  return lambda r, f, *, real_label=1.0, batch_mean=jnp.mean: d_loss(r, f, real_label=real_label)


_identity = lambda x: x

OBJECTIVES: dict[str, Objective] = {
  "minimax": Objective(_mean_free(minimax_d_loss), _of_fake(minimax_g_loss), jax.nn.sigmoid, True),
  "non_saturating": Objective(
    _mean_free(minimax_d_loss), _of_fake(non_saturating_g_loss), jax.nn.sigmoid, True
  ),
  "wasserstein": Objective(
    _mean_free(wasserstein_d_loss), _of_fake(wasserstein_g_loss), _identity, False
  ),
  "hinge": Objective(_mean_free(hinge_d_loss), _of_fake(hinge_g_loss), _identity, False),
  "least_squares": Objective(
    _mean_free(least_squares_d_loss), _of_fake(least_squares_g_loss), _identity, True
  ),
  "relativistic": Objective(
    _mean_free(relativistic_d_loss),
    lambda r, f, *, batch_mean=jnp.mean: relativistic_g_loss(r, f),
    _identity,
    False,
    g_uses_real=True,
  ),
  "relativistic_average": Objective(
    relativistic_average_d_loss, relativistic_average_g_loss, _identity, False, g_uses_real=True
  ),
}


def get_objective(name: str) -> Objective:
  """Looks an objective up by its config name."""
  if name not in OBJECTIVES:
    raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(OBJECTIVES)}")
  return OBJECTIVES[name]
