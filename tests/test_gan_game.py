"""The GAN game's own defects, each with a test: the EMA generator's BatchNorm statistics,
the layer norm of the critic, objectives that read real data in the G step, and G's batch
(g_batch_size)."""

import copy
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_stabilizers  # a sibling test module (pytest puts tests/ on the path)
from jax.sharding import PartitionSpec as P

from gan_jax import errors, games, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.game import NetState, apply_train
from gan_jax.games import gan as gan_game
from gan_jax.games.gan import build as gan_build
from gan_jax.games.gan import config as gan_config
from gan_jax.games.gan import sampling as gan_sampling


def _ema_run():
  c = test_stabilizers.ring_config({"ema_decay": 0.5})
  c.model.g_batch_norm = True
  game = gan_game.make(c)
  gan = gan_build.build_gan(c, data_lib.load_dataset(c))
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  copy = jax.tree.map(jnp.copy, state0)
  state1, _ = train.make_train_step(game, mesh)(parallel.replicate(copy, mesh), game.data)
  return c, game, gan, mesh, state0, jax.device_get(state1)


@pytest.mark.slow  # over 5 s
def test_the_ema_generator_keeps_batchnorm_statistics_of_its_own():
  """After a step, the EMA statistics are G-with-the-EMA-weights' running statistics on
  the step's latents (one BatchNorm update from the initial ones), not G's."""
  c, game, gan, mesh, state0, state1 = _ema_run()
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  ema1 = state1.extra["ema"]

  def ema_stats(params, stats, z, y):
    stats = apply_train(gan.generator, NetState(params, stats, None), params, z, y)[1]
    return parallel.invariant(stats)  # alike on every device, typed varying (parallel.mean)

  expected = jax.shard_map(
    ema_stats, mesh=mesh, in_specs=(P(), P(), P(parallel.AXIS), P(parallel.AXIS)), out_specs=P()
  )(ema1["params"], state0.extra["ema"]["batch_stats"], batch["z_g"], batch["y_g"])
  for a, b in zip(jax.tree.leaves(ema1["batch_stats"]), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  g_stats = jax.tree.leaves(state1.nets["g"].batch_stats)
  assert not all(
    np.allclose(a, b) for a, b in zip(jax.tree.leaves(ema1["batch_stats"]), g_stats, strict=True)
  )


def test_samples_from_the_ema_use_its_statistics():
  c, game, gan, mesh, state0, state1 = _ema_run()
  ema = state1.extra["ema"]
  z, y = gan_sampling._inputs(gan, gan_sampling.EVAL_SEED, 0, 16)
  sample = gan_sampling.make_sample_fn(gan, mesh, batch_size=16, seed=gan_sampling.EVAL_SEED)
  got = sample(state1, 16)
  own = gan.generator.apply(dict(ema), z, y, train=False)
  borrowed = gan.generator.apply(
    {"params": ema["params"], "batch_stats": state1.nets["g"].batch_stats}, z, y, train=False
  )
  np.testing.assert_allclose(got, own, rtol=1e-6, atol=1e-6)
  assert not np.allclose(got, borrowed, atol=1e-4)


@pytest.mark.parametrize("loss", ["relativistic", "relativistic_average"])
def test_relativistic_g_step_draws_a_real_batch_and_others_do_not(loss):
  c = test_stabilizers.ring_config({"loss": loss})
  game = gan_game.make(c)
  batch = game.draw(game.data, jax.random.PRNGKey(0))
  assert batch["x_real_g"].shape == (c.batch_size, 2)
  plain = gan_game.make(test_stabilizers.ring_config({}))
  assert "x_real_g" not in plain.draw(plain.data, jax.random.PRNGKey(0))
  # The draws the other objectives make are untouched by the extra real batch.
  for key in plain.draw(plain.data, jax.random.PRNGKey(0)):
    np.testing.assert_array_equal(batch[key], plain.draw(plain.data, jax.random.PRNGKey(0))[key])


# --- the update schedules of the published protocols (PacGAN's) --------------------------------


def _one_step(overrides):
  c = test_stabilizers.ring_config(overrides)
  game = gan_game.make(c)
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  step = train.make_train_step(game, mesh)
  state1, _ = step(parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), game.data)
  return game, state0, jax.device_get(state1)


@pytest.mark.slow  # over 3 s with a cold compilation cache
@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_a_simultaneous_g_update_does_not_see_this_step_s_d_update(update):
  # G's new weights do not depend on D's learning rate exactly when G's gradient is taken at
  # D's weights from before the step; D's new weights depend on it in both schedules. SGD:
  # Adam would turn the rounding differences of two programs into steps of its full size.
  def run(d_lr):
    sgd = {"g_optimizer.name": "sgd", "d_optimizer.name": "sgd", "g_optimizer.learning_rate": 0.1}
    return _one_step({**sgd, "update_rule": update, "d_optimizer.learning_rate": d_lr})[2]

  a, b = run(0.01), run(1.0)
  diff = lambda net: max(
    float(np.abs(x - y).max())
    for x, y in zip(*(jax.tree.leaves(s.nets[net].params) for s in (a, b)), strict=True)
  )
  assert diff("d") > 1e-3
  assert (diff("g") < 1e-7) == (update == "simultaneous"), diff("g")


@pytest.mark.slow  # over 10 s
def test_simultaneous_g_loss_is_taken_on_the_fakes_d_judged():
  overrides = {"update_rule": "simultaneous", "loss": "wasserstein"}
  game, state0, _ = _one_step(overrides)
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  c = test_stabilizers.ring_config(overrides)
  gan = gan_build.build_gan(c, data_lib.load_dataset(c))
  mesh = parallel.make_mesh()

  def d_on_fakes(g, d, z, y):  # G and D of the initial state, both in training mode
    fake, _ = apply_train(gan.generator, g, g.params, z, y)
    return apply_train(gan.discriminator, d, d.params, fake, y)[0]

  logits = jax.shard_map(
    d_on_fakes,
    mesh=mesh,
    in_specs=(P(), P(), P(parallel.AXIS), P(parallel.AXIS)),
    out_specs=P(parallel.AXIS),
  )(state0.nets["g"], state0.nets["d"], batch["z_d"][0], batch["y_d"][0])
  step = train.make_train_step(game, mesh)
  _, metrics = step(parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), game.data)
  np.testing.assert_allclose(metrics["g_loss"], -np.mean(logits), rtol=1e-6)


def test_g_steps_updates_g_that_many_times_per_step_on_latents_of_their_own():
  game, state0, state1 = _one_step({"g_steps": 2})
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  assert batch["z_g"].shape == (2, 16, 2) and not np.array_equal(batch["z_g"][0], batch["z_g"][1])
  count = lambda net: int(jax.tree.leaves(state1.nets[net].opt_state)[0])  # Adam's step count
  assert (count("g"), count("d")) == (2, 1) and int(state1.step) == 1


def test_a_uniform_prior_draws_latents_in_the_cube():
  c = test_stabilizers.ring_config({"model.z_prior": "uniform"})
  c.model.z_dim = 64
  game = gan_game.make(c)
  batch = game.draw(game.data, jax.random.PRNGKey(0))
  z = np.asarray(batch["z_d"])
  assert z.min() >= -1.0 and z.max() <= 1.0 and abs(z.std() - 1 / np.sqrt(3)) < 0.05


# --- G's batch (g_batch_size): SNGAN's G trains on twice D's batch ------------------------------


def test_g_batch_size_sizes_g_s_latents_labels_and_real_batch_only():
  """G's arrays hold g_batch_size rows, D's batch_size; g_batch_size = batch_size draws
  exactly what 0 (the default) draws."""
  plain = gan_game.make(test_stabilizers.ring_config({}))
  same = gan_game.make(test_stabilizers.ring_config({"g_batch_size": 16}))
  a, b = (g.draw(g.data, jax.random.PRNGKey(0)) for g in (plain, same))
  assert set(a) == set(b)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  for overrides, g_shape in (({}, (32,)), ({"g_steps": 2}, (2, 32))):
    for loss in ("hinge", "relativistic"):
      c = test_stabilizers.ring_config({"g_batch_size": 32, "loss": loss, **overrides})
      games.validate(c)
      game = gan_game.make(c)
      batch = game.draw(game.data, jax.random.PRNGKey(0))
      assert batch["z_g"].shape == (*g_shape, 2) and batch["y_g"].shape == g_shape
      assert batch["z_d"].shape == (1, 16, 2) and batch["x_real"].shape == (1, 16, 2)
      if loss == "relativistic":  # G's loss compares with a real batch of its own size
        assert batch["x_real_g"].shape == (*g_shape, 2)


@pytest.mark.slow  # over 5 s
def test_g_s_loss_is_taken_on_g_batch_size_latents():
  """One step with g_batch_size 32 over D's 16: G's logged loss is the Wasserstein G loss
  -mean D(G(z_g)) over the 32 latents, with G before the step and D after its update."""
  overrides = {"loss": "wasserstein", "g_batch_size": 32}
  game, state0, state1 = _one_step(overrides)
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  c = test_stabilizers.ring_config(overrides)
  gan = gan_build.build_gan(c, data_lib.load_dataset(c))
  mesh = parallel.make_mesh()

  def d_on_fakes(g, d, z, y):  # G in training mode (batch statistics over its 32 latents)
    fake, _ = apply_train(gan.generator, g, g.params, z, y)
    return apply_train(gan.discriminator, d, d.params, fake, y)[0]

  logits = jax.shard_map(
    d_on_fakes,
    mesh=mesh,
    in_specs=(P(), P(), P(parallel.AXIS), P(parallel.AXIS)),
    out_specs=P(parallel.AXIS),
  )(state0.nets["g"], state1.nets["d"], batch["z_g"], batch["y_g"])
  assert logits.shape == (32,)
  step = train.make_train_step(game, mesh)
  _, metrics = step(parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), game.data)
  np.testing.assert_allclose(metrics["g_loss"], -np.mean(logits), rtol=1e-5)


@pytest.mark.parametrize(
  "overrides,devices,message",
  [
    ({"batch_size": 16, "g_batch_size": 6}, 4, "g_batch_size 6 does not divide over 4 devices"),
    ({"g_batch_size": 24, "model.pack": 8}, 2, "model.pack 8 must divide G's per-device batch 12"),
    ({"g_batch_size": 32, "update_rule": "simultaneous"}, 1, "simultaneous takes G's loss"),
  ],
)
def test_a_g_batch_that_cannot_work_is_one_line(overrides, devices, message):
  c = test_stabilizers.ring_config(overrides)
  with pytest.raises(errors.ConfigError, match=message) as e:
    games.validate(c, num_devices=devices)
  assert "\n" not in str(e.value)


def test_a_streamed_g_batch_of_its_own_size_is_refused_where_g_reads_real_data():
  c = games.default_config()
  c.data.stream, c.g_batch_size = True, 128
  assert gan_config._g_batch_fits(c, 1) is None  # the default loss: G reads no real data
  for key, value in (("loss", "relativistic"), ("fake_labels", "real")):
    c2 = copy.deepcopy(c)
    c2[key] = value
    problem = gan_config._g_batch_fits(c2, 1)
    assert problem.startswith("g_batch_size: a stream brings D's batches only"), problem


def test_sngan_resnet_trains_g_on_twice_d_s_batch():
  config = _experiment("sngan_resnet").get_config()
  assert (config.batch_size, config.g_batch_size, config.d_steps) == (64, 128, 5)
  assert config.fake_labels == "uniform"


def _experiment(name):
  path = os.path.join(os.path.dirname(__file__), os.pardir, "experiments", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_exp_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
