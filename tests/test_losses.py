"""The objectives against theory: closed forms, gradients, the optimal discriminator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from gan_jax import losses

R = jnp.array([2.0, -1.0, 0.5])
F = jnp.array([-3.0, 0.0, 1.5])


def softplus(x):
  return np.log1p(np.exp(x))


def test_closed_forms_at_chosen_logits():
  r, f = np.asarray(R, np.float64), np.asarray(F, np.float64)
  sig = lambda x: 1 / (1 + np.exp(-x))
  expected = {
    # name: (d_loss, g_loss)
    "minimax": (
      -np.mean(np.log(sig(r))) - np.mean(np.log(1 - sig(f))),
      np.mean(np.log(1 - sig(f))),
    ),
    "non_saturating": (
      -np.mean(np.log(sig(r))) - np.mean(np.log(1 - sig(f))),
      -np.mean(np.log(sig(f))),
    ),
    "wasserstein": (np.mean(f) - np.mean(r), -np.mean(f)),
    "hinge": (np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)), -np.mean(f)),
    "least_squares": (
      0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2),
      0.5 * np.mean((f - 1) ** 2),
    ),
    # RpGAN: D wants each real logit above its paired fake one, G the reverse.
    "relativistic": (-np.mean(np.log(sig(r - f))), -np.mean(np.log(sig(f - r)))),
    # RaGAN: each side against the mean of the other, both losses halved as the reference's
    # errD and errG (AlexiaJM/RelativisticGAN, GAN_losses_iter.py, loss_D 6).
    "relativistic_average": (
      (-np.mean(np.log(sig(r - f.mean()))) - np.mean(np.log(1 - sig(f - r.mean())))) / 2,
      (-np.mean(np.log(sig(f - r.mean()))) - np.mean(np.log(1 - sig(r - f.mean())))) / 2,
    ),
  }
  assert set(expected) == set(losses.OBJECTIVES)
  for name, (d_expected, g_expected) in expected.items():
    obj = losses.get_objective(name)
    np.testing.assert_allclose(obj.d_loss(R, F), d_expected, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(obj.g_loss(R, F), g_expected, rtol=1e-6, err_msg=name)
    if not obj.g_uses_real:  # the G step draws no real batch for these: r is not read
      np.testing.assert_allclose(obj.g_loss(None, F), g_expected, rtol=1e-6, err_msg=name)


def test_relativistic_losses_are_functions_of_the_differences():
  """RpGAN sees only r - f: shifting both sides changes nothing, swapping them swaps the
  players' losses, and at r = f both are log 2 (D cannot tell which is real)."""
  obj = losses.get_objective("relativistic")
  for shift in (-3.0, 5.0):
    np.testing.assert_allclose(obj.d_loss(R + shift, F + shift), obj.d_loss(R, F), rtol=1e-6)
    np.testing.assert_allclose(obj.g_loss(R + shift, F + shift), obj.g_loss(R, F), rtol=1e-6)
  np.testing.assert_allclose(obj.d_loss(F, R), obj.g_loss(R, F), rtol=1e-6)
  np.testing.assert_allclose(obj.d_loss(R, R), np.log(2), rtol=1e-6)
  ra = losses.get_objective("relativistic_average")
  # RaGAN with constant logits on each side: both terms are softplus of the gap, and the
  # reference's 1/2 makes each loss one of them; with one logit on both sides both are
  # log 2, as RpGAN's at r = f.
  r, f = jnp.full(4, 2.0), jnp.full(4, -1.0)
  np.testing.assert_allclose(ra.d_loss(r, f), softplus(-3.0), rtol=1e-6)
  np.testing.assert_allclose(ra.g_loss(r, f), softplus(3.0), rtol=1e-6)
  np.testing.assert_allclose(ra.d_loss(r, r), np.log(2), rtol=1e-6)
  np.testing.assert_allclose(ra.g_loss(f, f), np.log(2), rtol=1e-6)


def test_relativistic_average_is_the_references_ragan():
  """AlexiaJM/RelativisticGAN (GAN_losses_iter.py, loss_D 6), written with its BCE: errD =
  (BCE(y_pred - mean(y_pred_fake), 1) + BCE(y_pred_fake - mean(y_pred), 0)) / 2 and errG =
  (BCE(y_pred - mean(y_pred_fake), 0) + BCE(y_pred_fake - mean(y_pred), 1)) / 2."""
  r, f = np.asarray(R, np.float64), np.asarray(F, np.float64)

  def bce(logits, target):  # torch's BCEWithLogitsLoss, mean over the batch
    return np.mean(target * softplus(-logits) + (1 - target) * softplus(logits))

  err_d = (bce(r - f.mean(), 1.0) + bce(f - r.mean(), 0.0)) / 2
  err_g = (bce(r - f.mean(), 0.0) + bce(f - r.mean(), 1.0)) / 2
  ra = losses.get_objective("relativistic_average")
  np.testing.assert_allclose(ra.d_loss(R, F), err_d, rtol=1e-6)
  np.testing.assert_allclose(ra.g_loss(R, F), err_g, rtol=1e-6)


def test_relativistic_average_uses_the_given_batch_mean():
  """Inside the data-parallel step the means are over the global batch: the mean of the
  shards' losses computed with the global means (a pmean over the axis) is the loss of
  the whole batch."""
  r, f = jnp.arange(8.0) / 4 - 1, jnp.arange(8.0)[::-1] / 3 - 1
  mean = lambda x: jax.lax.pmean(jnp.mean(x), "batch")
  for name in ("d", "g"):
    loss = getattr(losses, f"relativistic_average_{name}_loss")
    shards = jax.vmap(lambda a, b, fn=loss: fn(a, b, batch_mean=mean), axis_name="batch")(
      r.reshape(2, 4), f.reshape(2, 4)
    )
    np.testing.assert_allclose(np.mean(shards), loss(r, f), rtol=1e-6, err_msg=name)


def test_one_sided_label_smoothing_is_cross_entropy_with_soft_target():
  t = 0.9
  r = np.asarray(R, np.float64)
  sig = 1 / (1 + np.exp(-r))
  expected = np.mean(-t * np.log(sig) - (1 - t) * np.log(1 - sig)) + np.mean(
    softplus(np.asarray(F))
  )
  np.testing.assert_allclose(losses.minimax_d_loss(R, F, real_label=t), expected, rtol=1e-6)
  # least squares: the real target moves to t
  np.testing.assert_allclose(
    losses.least_squares_d_loss(R, F, real_label=t),
    0.5 * np.mean((r - t) ** 2) + 0.5 * np.mean(np.asarray(F) ** 2),
    rtol=1e-6,
  )


def test_stable_at_extreme_logits():
  big = jnp.array([-1e4, 1e4])
  for obj in losses.OBJECTIVES.values():
    assert np.isfinite(obj.d_loss(big, big))
    assert np.isfinite(obj.g_loss(big, big))
    assert np.all(np.isfinite(jax.grad(lambda f, o=obj: o.g_loss(big[::-1], f))(big)))


def test_minimax_generator_gradient_vanishes_non_saturating_does_not():
  # D(G(z)) = sigmoid(f) -> 0 as f -> -inf: the discriminator rejects the fakes.
  for f in (-5.0, -10.0, -20.0):
    x = jnp.array([f])
    g_minimax = float(jax.grad(losses.minimax_g_loss)(x)[0])
    g_ns = float(jax.grad(losses.non_saturating_g_loss)(x)[0])
    np.testing.assert_allclose(g_minimax, -1 / (1 + np.exp(-f)), rtol=1e-5)  # -sigmoid(f)
    np.testing.assert_allclose(g_ns, -1 / (1 + np.exp(f)), rtol=1e-5)  # -sigmoid(-f)
  assert abs(float(jax.grad(losses.minimax_g_loss)(jnp.array([-20.0]))[0])) < 1e-8
  assert abs(float(jax.grad(losses.non_saturating_g_loss)(jnp.array([-20.0]))[0]) + 1) < 1e-8


def _jsd(p, q):
  m = lambda x: 0.5 * (p.pdf(x) + q.pdf(x))
  kl = lambda a: integrate.quad(lambda x: a.pdf(x) * np.log(a.pdf(x) / m(x)), -30, 30, limit=200)[0]
  return 0.5 * kl(p) + 0.5 * kl(q)


def test_optimal_discriminator_value_is_minus_log4_plus_2jsd():
  """V(D*, G) = E_p log D* + E_q log(1 - D*) = -log 4 + 2 JSD(p, q), D* = p / (p + q)."""
  p, q = stats.norm(0.0, 1.0), stats.norm(1.0, 1.5)
  n = 200_000
  u = (np.arange(n) + 0.5) / n  # quantile grid: a mean over it integrates against p (or q)
  x_p, x_q = p.ppf(u), q.ppf(u)
  logit = lambda x: p.logpdf(x) - q.logpdf(x)  # D* = p/(p+q) = sigmoid(log p - log q)
  real, fake = jnp.asarray(logit(x_p), jnp.float32), jnp.asarray(logit(x_q), jnp.float32)
  value = -float(losses.minimax_d_loss(real, fake))  # d_loss = -V
  np.testing.assert_allclose(value, -np.log(4) + 2 * _jsd(p, q), atol=2e-4)
  # D* is optimal: shifting its logits anywhere lowers V.
  for shift in (-0.3, 0.3):
    assert -float(losses.minimax_d_loss(real + shift, fake + shift)) < value
  # Equal densities: D* = 1/2 everywhere and V = -log 4.
  zero = jnp.zeros(10)
  np.testing.assert_allclose(-float(losses.minimax_d_loss(zero, zero)), -np.log(4), rtol=1e-6)


def test_unknown_loss_lists_valid_names():
  with pytest.raises(
    ValueError, match="minimax, non_saturating, wasserstein, hinge, least_squares"
  ):
    losses.get_objective("bogus")
