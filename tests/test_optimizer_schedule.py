"""Learning-rate schedules of the optimizer sub-configs (game.make_optimizer): the rates of a
linear decay against hand values, per training step whatever the updates per step, across a
checkpoint, and the defaults equal to the constant rate of configs that predate them."""

import copy
import fractions
import importlib.util
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import serialization

from gan_jax import config as config_lib
from gan_jax import games
from gan_jax.errors import ConfigError
from gan_jax.game import learning_rate_schedule, make_optimizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(name="sgd", learning_rate=2e-4, **kw) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(config_lib.optimizer_config(name, learning_rate, **kw))


def _rates(tx, n: int) -> list[float]:
  """The learning rate of each of n updates: SGD without momentum moves a parameter of
  gradient 1 by -lr."""
  params = jnp.zeros(())
  state = tx.init(params)
  out = []
  for _ in range(n):
    updates, state = tx.update(jnp.ones(()), state, params)
    out.append(-float(updates))
  return out


# total_steps 10, decay from step 4, lr 2e-4, by hand: lr (10 - t) / (10 - 4) from step 4 on,
# chainer's LinearShift((2e-4, 0), (4, 10)) evaluated at iteration t.
HAND = [2e-4] * 5 + [2e-4 * 5 / 6, 2e-4 * 4 / 6, 2e-4 * 3 / 6, 2e-4 * 2 / 6, 2e-4 / 6, 0.0]


def test_linear_schedule_matches_hand_values():
  cfg = _cfg(schedule="linear", decay_start=4)
  np.testing.assert_allclose(_rates(make_optimizer(cfg, total_steps=10), 11), HAND, rtol=1e-6)
  # The schedule alone, at steps past the end too: 0 stays 0.
  lr = learning_rate_schedule(cfg, total_steps=10)
  np.testing.assert_allclose([float(lr(t)) for t in range(13)], HAND + [0.0, 0.0], rtol=1e-6)


def test_decay_from_the_first_step_as_the_sngan_cifar_configs():
  # iteration_decay_start 0: the first update at the full rate, the last at lr / total.
  cfg = _cfg(schedule="linear", decay_start=0)
  rates = _rates(make_optimizer(cfg, total_steps=4), 5)
  np.testing.assert_allclose(rates, [2e-4, 1.5e-4, 1e-4, 0.5e-4, 0.0], rtol=1e-6)


def test_updates_per_step_keep_the_rate_of_the_training_step():
  # D with d_steps 5: its 5 updates of training step t all run at G's rate of step t.
  cfg = _cfg(schedule="linear", decay_start=4)
  rates = _rates(make_optimizer(cfg, total_steps=10, updates_per_step=5), 55)
  np.testing.assert_allclose(rates, np.repeat(HAND, 5), rtol=1e-6)


@pytest.mark.parametrize("main,interval", [(1, 4), (5, 4), (3, 16), (2, 3)])
def test_a_lazy_regularizer_s_extra_updates_keep_the_step_rate(main, interval):
  """With a lazy regularizer, update i of the main ones (i = step * main + j) is followed by
  the regularizer's own where i % interval == 0 (games/gan/lazy.py): the optimizer takes
  main * (interval + 1) / interval updates per step on average, and count * interval //
  (main * (interval + 1)) is still the step of every one of them."""
  total = 12
  steps = []  # the training step of each optimizer update, in order
  for t in range(total):
    for j in range(main):
      steps.append(t)
      if (t * main + j) % interval == 0:
        steps.append(t)
  cfg = _cfg(schedule="linear", decay_start=3)
  per = fractions.Fraction(main * (interval + 1), interval)
  rates = _rates(make_optimizer(cfg, total_steps=total, updates_per_step=per), len(steps))
  by_step = learning_rate_schedule(cfg, total_steps=total)
  np.testing.assert_allclose(rates, [float(by_step(t)) for t in steps], rtol=1e-6)


def test_a_resumed_run_has_the_rates_of_the_uninterrupted_one():
  """The schedule reads optax's count, which the optimizer state (and so a checkpoint) holds:
  a state saved at step k and restored into a freshly built optimizer continues with the
  rates and the parameters of the run that was never stopped."""
  cfg = _cfg("adam", schedule="linear", decay_start=3, b1=0.0, b2=0.9)
  grads = [jax.random.normal(jax.random.PRNGKey(i), (4,)) for i in range(10)]

  def run(tx, params, state, gs):
    for g in gs:
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
    return params, state

  tx = make_optimizer(cfg, total_steps=10, updates_per_step=1)
  p0 = jnp.ones((4,))
  whole, whole_state = run(tx, p0, tx.init(p0), grads)
  k = 6
  part, part_state = run(tx, p0, tx.init(p0), grads[:k])
  saved = serialization.to_bytes((part, part_state))
  fresh = make_optimizer(copy.deepcopy(cfg), total_steps=10, updates_per_step=1)
  part, part_state = serialization.from_bytes((p0, fresh.init(p0)), saved)
  resumed, resumed_state = run(fresh, part, part_state, grads[k:])
  np.testing.assert_array_equal(resumed, whole)
  for a, b in zip(jax.tree.leaves(resumed_state), jax.tree.leaves(whole_state), strict=True):
    np.testing.assert_array_equal(a, b)
  # The rate of step k itself, read off an SGD state restored at k (SGD's update is -lr).
  sgd_cfg = _cfg(schedule="linear", decay_start=3)
  sgd = make_optimizer(sgd_cfg, total_steps=10)
  zero = jnp.zeros(())
  state = sgd.init(zero)
  for _ in range(k):
    _, state = sgd.update(jnp.ones(()), state, zero)
  fresh = make_optimizer(copy.deepcopy(sgd_cfg), total_steps=10)
  state = serialization.from_bytes(fresh.init(zero), serialization.to_bytes(state))
  updates, _ = fresh.update(jnp.ones(()), state, zero)
  assert -float(updates) == _rates(sgd, k + 1)[k] == pytest.approx(HAND_FROM_3[k], rel=1e-6)


# total_steps 10, decay from step 3: lr (10 - t) / 7 from step 3 on.
HAND_FROM_3 = [2e-4] * 4 + [2e-4 * (10 - t) / 7 for t in range(4, 11)]


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_the_defaults_are_today_s_constant_rate_bit_for_bit(name):
  """A sub-config without a schedule (an old config.json: restore_saved fills the defaults)
  builds the optimizer of a plain float rate: the same state structure, the same updates."""
  cfg = _cfg(name, 3e-4, grad_clip_norm=1.0)
  assert (cfg.schedule, cfg.decay_start) == ("constant", 0)
  plain = {
    "adam": optax.adam(3e-4, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps),
    "rmsprop": optax.rmsprop(3e-4, decay=cfg.decay, eps=cfg.eps, eps_in_sqrt=False),
    "sgd": optax.sgd(3e-4),
  }[name]
  plain = optax.chain(optax.clip_by_global_norm(1.0), plain)
  tx = make_optimizer(cfg, total_steps=10, updates_per_step=5)
  params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones((3,))}
  s_tx, s_plain = tx.init(params), plain.init(params)
  assert jax.tree.structure(s_tx) == jax.tree.structure(s_plain)
  for i in range(4):
    g = jax.tree.map(lambda p, i=i: jnp.sin(p * (i + 1)), params)
    u_tx, s_tx = tx.update(g, s_tx, params)
    u_plain, s_plain = plain.update(g, s_plain, params)
    for a, b in zip(jax.tree.leaves(u_tx), jax.tree.leaves(u_plain), strict=True):
      np.testing.assert_array_equal(a, b)


def test_an_old_config_json_restores_the_constant_schedule():
  config = games.default_config("gan")
  saved = config.to_dict()
  for opt in ("g_optimizer", "d_optimizer"):
    del saved[opt]["schedule"], saved[opt]["decay_start"]
  spec = games.spec_of("gan")
  restored = config_lib.restore_saved(saved, spec.config, "config.json")
  for opt in (restored.g_optimizer, restored.d_optimizer):
    assert (opt.schedule, opt.decay_start) == ("constant", 0)
  assert config_lib.config_changes(saved, restored.to_dict(), spec.config) == ([], [])


def test_resume_across_schedules_and_run_lengths():
  spec = games.spec_of("gan")
  old = games.default_config("gan")
  new = copy.deepcopy(old)
  new.g_optimizer.schedule = "linear"
  structural, _ = config_lib.config_changes(old.to_dict(), new.to_dict(), spec.config)
  assert structural == ["g_optimizer.schedule ('constant' -> 'linear')"]  # a count in the state
  # total_steps is free, but not under a linear decay: there it moves the rates still to come.
  longer = copy.deepcopy(old)
  longer.total_steps *= 2
  assert config_lib.config_changes(old.to_dict(), longer.to_dict(), spec.config) == ([], [])
  decaying, longer_decaying = copy.deepcopy(new), copy.deepcopy(new)
  longer_decaying.total_steps *= 2
  _, other = config_lib.config_changes(decaying.to_dict(), longer_decaying.to_dict(), spec.config)
  assert [o.split(" ")[0] for o in other] == ["total_steps"]


def test_schedule_errors():
  linear = _cfg(schedule="linear", decay_start=2)
  with pytest.raises(ValueError, match="total_steps"):
    make_optimizer(linear)
  with pytest.raises(ValueError, match="schedule of its own|'constant'"):
    make_optimizer(linear, optax.constant_schedule(1e-3), total_steps=10)
  config = games.default_config("gan")
  config.total_steps, config.d_optimizer.schedule, config.d_optimizer.decay_start = 8, "linear", 8
  with pytest.raises(ConfigError, match="never decay"):
    games.validate(config)


def test_sngan_resnet_decays_both_rates_linearly_from_the_first_step():
  path = os.path.join(ROOT, "experiments", "sngan_resnet.py")
  spec = importlib.util.spec_from_file_location("_exp_sngan_resnet", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  games.validate(config)
  for opt in (config.g_optimizer, config.d_optimizer):
    assert (opt.schedule, opt.decay_start, opt.learning_rate) == ("linear", 0, 2e-4)
    assert (opt.b1, opt.b2) == (0.0, 0.9)
  assert config.d_steps == 5 and config.loss == "hinge"
