"""StyleGAN2's training in the GAN game: the lazy regularizers' bookkeeping (R1 exactly on
the D updates with index % 16 == 0, as an update of its own weighted gamma / 2 * 16; path
length on the G updates with index % 4 == 0, on latents of its own, its running mean moved
there only), R1's weight against stylegan2-ada's on a linear D, the scaled Adam, style
mixing in G's training forward, the EMA with a half-life in images, and bf16 compute
against f32."""

import dataclasses
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from gan_jax import games, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.data import images as images_lib
from gan_jax.game import NetState
from gan_jax.games import gan as gan_game
from gan_jax.games.gan import build as gan_build
from gan_jax.games.gan import step as gan_step
from gan_jax.games.gan import stylegan2 as sg_train

BATCH = 8


def _dataset(size=8):
  images = (np.random.RandomState(0).rand(40, size, size, 1) * 255).astype(np.uint8)
  arrays = {"images": images, "labels": np.zeros(40, np.int32)}
  sample = images_lib.sample_images
  return data_lib.Dataset("mnist", "test", arrays, sample, (size, size, 1), 40, 10)


def tiny_config(**overrides):
  """The StyleGAN2 experiment's training at 8 px with a tiny network."""
  c = games.default_config()
  c.model.name, c.model.image_size, c.model.z_dim = "stylegan2", 8, 6
  s = c.model.stylegan2
  s.w_dim, s.mapping_layers, s.channel_base, s.channel_max = 8, 2, 32, 8
  c.batch_size = BATCH
  c.penalty, c.penalty_weight, c.penalty_interval = "r1", 0.5, 16
  c.style_mixing_prob = 0.9
  c.path_length_weight, c.path_length_interval = 2.0, 4
  c.ema_half_life_kimg, c.ema_rampup = 0.02, 0.05
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.learning_rate, opt.b1, opt.b2 = 0.002, 0.0, 0.99
  c.update_from_flattened_dict(overrides)
  games.validate(c)
  return c


@pytest.fixture(scope="module")
def tiny_init():
  """The tiny config, its game and its initial state (on the host), initialized once for
  the module: its initializers compile to one program that costs seconds."""
  c = tiny_config()
  game = gan_game.make(c, _dataset())
  return types.SimpleNamespace(
    config=c, game=game, state=jax.device_get(train.init_run_state(c, game))
  )


@pytest.fixture(scope="module")
def tiny_step(tiny_init):
  """The tiny config's train step, compiled once for the tests that run it (the
  bookkeeping, bfloat16's float32 side), and its initial state (on the host)."""
  mesh = parallel.make_mesh()
  return types.SimpleNamespace(
    config=tiny_init.config,
    mesh=mesh,
    step_fn=train.make_train_step(tiny_init.game, mesh),
    arrays=parallel.replicate(tiny_init.game.data, mesh),
    state=tiny_init.state,
  )


def _with_optimizer(state, net, tx):
  """The state with `net`'s optimizer state that of `tx` (from its parameters)."""
  n = state.nets[net]
  return state.replace(nets={**state.nets, net: n.replace(opt_state=tx.init(n.params))})


def _adam_count(opt_state) -> int:
  counts = [x for x in jax.tree.leaves(opt_state) if np.ndim(x) == 0 and x.dtype == np.int32]
  assert len(counts) == 1
  return int(counts[0])


@pytest.mark.slow  # a StyleGAN2 train step: over 10 s
def test_lazy_r1_path_length_and_ema_bookkeeping(tiny_step):
  """Steps run by the loop's train step from chosen step counters (d_steps = 1, so D
  update t is step t): D's Adam takes a second update exactly where step % 16 == 0, G's
  where step % 4 == 0; path length's mean and the logged regularizer values change only
  there; the EMA moves by StyleGAN2's beta of the images seen."""
  gan = gan_build.build_gan(tiny_step.config, _dataset())
  mesh, step_fn, arrays = tiny_step.mesh, tiny_step.step_fn, tiny_step.arrays
  state = tiny_step.state  # the tiny config's initial state, on the host
  for t in (0, 1, 3, 4, 15, 16, 17, 32):
    before = state.replace(step=jnp.asarray(t, jnp.int32))
    after, metrics = step_fn(parallel.replicate(jax.tree.map(np.copy, before), mesh), arrays)
    after, metrics = jax.device_get((after, metrics))
    d_extra = _adam_count(after.nets["d"].opt_state) - _adam_count(before.nets["d"].opt_state)
    g_extra = _adam_count(after.nets["g"].opt_state) - _adam_count(before.nets["g"].opt_state)
    assert d_extra == 1 + (t % 16 == 0), t
    assert g_extra == 1 + (t % 4 == 0), t
    moved = float(after.extra["pl_mean"]) != float(before.extra["pl_mean"])
    assert moved == (t % 4 == 0), t
    for name, interval in (("d_penalty", 16), ("g_path_length", 4)):
      changed = float(after.extra["lazy"][name]) != float(before.extra["lazy"][name])
      assert changed == (t % interval == 0), (t, name)
      assert float(metrics[name]) == float(after.extra["lazy"][name])
    assert float(metrics["pl_mean"]) == float(after.extra["pl_mean"])
    # EMA: beta = 0.5 ** (batch / min(half-life, rampup * images seen before the step)).
    beta = 0.5 ** (BATCH / max(min(20.0, 0.05 * t * BATCH), 1e-8))
    for e1, e0, p in zip(
      jax.tree.leaves(after.extra["ema"]["params"]),
      jax.tree.leaves(before.extra["ema"]["params"]),
      jax.tree.leaves(after.nets["g"].params),
      strict=True,
    ):
      np.testing.assert_allclose(e1, beta * e0 + (1 - beta) * p, rtol=1e-5, atol=1e-6)
    # The EMA generator's w_avg is G's (stylegan2-ada copies G's buffers).
    np.testing.assert_array_equal(
      after.extra["ema"]["batch_stats"]["w_avg"], after.nets["g"].batch_stats["w_avg"]
    )
    state = after
  # penalty_weight is gamma: the config and StyleGAN2's own schedule give one regularizer.
  assert gan.lazy == sg_train.lazy_regularization(r1_gamma=0.5, pl_weight=2.0)


@pytest.mark.slow  # over 20 s
def test_lazy_penalty_update_is_its_weight_times_the_interval(tiny_init):
  """D's regularization update on its own, with plain SGD(1) to read the gradient off:
  params' = params - 16 * (gamma / 2) * grad mean_n ||grad_x D(x_n)||^2."""
  gan = gan_build.build_gan(tiny_init.config, _dataset())
  gan = dataclasses.replace(gan, d_tx=optax.sgd(1.0))
  state = _with_optimizer(tiny_init.state, "d", gan.d_tx)  # the tiny config's initial state
  d = state.nets["d"]
  real = jax.random.normal(jax.random.PRNGKey(1), (BATCH, 8, 8, 1))
  y = jnp.zeros((BATCH,), jnp.int32)
  (reg,) = [r for r in gan.lazy if r.net == "d"]
  assert (reg.interval, reg.weight, reg.scaled_weight) == (16, 0.5, 8.0)
  update = jax.shard_map(
    lambda *args: parallel.invariant(gan_step.d_regularize(gan, reg, *args)),
    mesh=parallel.make_mesh(),
    in_specs=(P(), P(parallel.AXIS), P(parallel.AXIS), P(parallel.AXIS), P(parallel.AXIS), P()),
    out_specs=(P(), P()),
  )
  new, penalty = jax.jit(update)(state, real, y, real, y, jax.random.PRNGKey(2))

  def r1(params):  # StyleGAN2's R1: the gradient of sum_n D(x_n) (ada's r1_grads)
    d_sum = lambda x: jnp.sum(gan.discriminator.apply({"params": params}, x, train=True))
    grad_x = jax.grad(d_sum)(real)
    return 0.5 * jnp.mean(jnp.sum(jnp.square(grad_x), axis=(1, 2, 3)))

  expected_penalty, grads = jax.jit(jax.value_and_grad(r1))(d.params)
  np.testing.assert_allclose(penalty, expected_penalty, rtol=1e-5)
  for p1, p0, g in zip(
    jax.tree.leaves(new.nets["d"].params),
    jax.tree.leaves(d.params),
    jax.tree.leaves(grads),
    strict=True,
  ):
    np.testing.assert_allclose(p1, p0 - 16 * 0.5 * g, rtol=1e-4, atol=1e-6)


def test_lazy_intervals_scale_adams_learning_rate_and_betas():
  gan = gan_build.build_gan(tiny_config(), _dataset())
  grads = [{"w": jnp.array([0.3, -2.0, 1e-3])}, {"w": jnp.array([-0.1, 0.5, 2.0])}]
  for tx, interval in ((gan.d_tx, 16), (gan.g_tx, 4)):
    c = interval / (interval + 1)
    reference = optax.adam(0.002 * c, b1=0.0**c, b2=0.99**c, eps=1e-8)
    params = {"w": jnp.ones(3)}
    s, r = tx.init(params), reference.init(params)
    for g in grads:
      u, s = tx.update(g, s, params)
      v, r = reference.update(g, r, params)
      np.testing.assert_allclose(u["w"], v["w"], rtol=1e-6)


# --- R1's weight: stylegan2-ada's loss_Dr1 = r1_grads_square_sum * (r1_gamma / 2), x interval --


class _LinearD(nn.Module):
  """D(x) = w . x: grad_x D = w for every sample, so the per-sample sum of squared input
  gradients (ada's r1_grads.square().sum()) is ||w||^2 and R1's term gamma / 2 * ||w||^2,
  whose gradient in w is gamma * w."""

  @nn.compact
  def __call__(self, x, y=None, train=False):
    del y, train
    x = x.reshape(x.shape[0], -1)
    return x @ self.param("w", nn.initializers.normal(1.0), (x.shape[1],))


GAMMA, LR = 0.3, 0.1


def _linear_d(**overrides):
  """A 2-D GAN (ring, tiny MLP G) with D(x) = w . x, the Wasserstein loss, R1 of weight
  GAMMA, and SGD(LR) for D, so each update reads its gradient off; its batch and state."""
  c = games.default_config()
  c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 8
  c.model.g_hidden_dim = c.model.d_hidden_dim = 8
  c.loss, c.penalty, c.penalty_weight = "wasserstein", "r1", GAMMA
  c.update_from_flattened_dict(overrides)
  games.validate(c)
  dataset = data_lib.load_dataset(c)
  gan = gan_build.build_gan(c, dataset)
  gan = dataclasses.replace(gan, discriminator=_LinearD(), d_tx=optax.sgd(LR))
  state = gan_build.init_state(gan, jax.random.PRNGKey(0))
  batch = gan_step.draw(gan, dataset.sample, dataset.arrays, jax.random.PRNGKey(1))
  return gan, state, batch


def _d_update(gan, state, batch, d_index):
  spec = P(parallel.AXIS)

  def update(s, x, y, z, y_fake, key):
    return parallel.invariant(gan_step.d_update(gan, s, x, y, z, y_fake, key, False, d_index))

  update = jax.shard_map(
    update,
    mesh=parallel.make_mesh(),
    in_specs=(P(), spec, spec, spec, spec, P()),
    out_specs=(P(), P()),
  )
  args = (batch["x_real"][0], batch["y_real"][0], batch["z_d"][0], batch["y_d"][0], batch["key"])
  state, metrics = jax.jit(update)(state, *args)
  return np.asarray(state.nets["d"].params["w"], np.float64), metrics


@pytest.mark.slow  # over 5 s
def test_r1_weight_on_a_linear_d_is_stylegan2_adas_through_every_path():
  """R1 of weight gamma (penalty_weight) on D(x) = w . x is ada's gamma / 2 * ||w||^2
  (times the interval where lazy) through every path: in D's loss (penalty_interval 1), as
  D's lazy update of the config (penalty_interval 16), and StyleGAN2's own schedule
  (stylegan2.lazy_regularization), which is the same regularizer."""
  # In D's loss: the run with R1 minus the run without it is the R1 term's step alone.
  gan, state, batch = _linear_d()
  w0 = np.asarray(state.nets["d"].params["w"], np.float64)
  with_r1, metrics = _d_update(gan, state, batch, 0)
  without, _ = _d_update(dataclasses.replace(gan, penalty="none"), state, batch, 0)
  np.testing.assert_allclose(with_r1 - without, -LR * GAMMA * w0, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(GAMMA * metrics["d_penalty"], GAMMA / 2 * w0 @ w0, rtol=1e-5)

  # Lazily, every 16 D updates: on a due update R1's own update follows the main one.
  gan, state, batch = _linear_d(penalty_interval=16)
  reg = gan.lazy_for("d")
  assert reg == sg_train.lazy_regularization(r1_gamma=GAMMA, r1_interval=16)[0]
  assert (reg.weight, reg.scaled_weight) == (GAMMA, 16 * GAMMA)
  main_only, _ = _d_update(gan, state, batch, 1)  # index 1: not due
  due, metrics = _d_update(gan, state, batch, 0)
  np.testing.assert_allclose(due, (1 - LR * 16 * GAMMA) * main_only, rtol=1e-5, atol=1e-7)
  term = reg.scaled_weight * metrics["d_penalty"]
  np.testing.assert_allclose(term, 16 * GAMMA / 2 * main_only @ main_only, rtol=1e-5)


# --- path length: latents of its own, on the G updates that are due -----------------------------


@pytest.mark.slow  # StyleGAN2 train steps: over 10 s
def test_path_length_draws_latents_of_its_own(tiny_init):
  """draw gives path length latents apart from G's main ones, and its update reads them
  alone: with G's learning rate 0 (the main update leaves G as it is), pl_mean after a G
  update is the same for any main latents and moves with path length's."""
  dataset = _dataset()
  gan = gan_build.build_gan(tiny_init.config, dataset)
  gan = dataclasses.replace(gan, g_tx=optax.sgd(0.0))
  state = _with_optimizer(tiny_init.state, "g", gan.g_tx)  # the tiny config's initial state
  batch = gan_step.draw(gan, dataset.sample, dataset.arrays, jax.random.PRNGKey(1))
  assert batch["z_pl"].shape == batch["z_g"].shape == (BATCH, 6)
  assert not np.array_equal(batch["z_pl"], batch["z_g"])
  plain = gan_build.build_gan(tiny_config(path_length_weight=0.0), dataset)
  assert "z_pl" not in gan_step.draw(plain, dataset.sample, dataset.arrays, jax.random.PRNGKey(1))
  spec = P(parallel.AXIS)

  def update(s, z, y, z_pl, y_pl, key):
    s, _ = gan_step.g_update(gan, s, z, y, key, False, None, 0, (z_pl, y_pl))
    return parallel.invariant(s.extra["pl_mean"])

  # One program for the three updates below (the latents are its arguments).
  update = jax.jit(
    jax.shard_map(
      update, mesh=parallel.make_mesh(), in_specs=(P(), spec, spec, spec, spec, P()), out_specs=P()
    )
  )

  def pl_mean(z, z_pl):
    y = batch["y_g"]
    return float(update(state, z, y, z_pl, y, jax.random.PRNGKey(2)))

  other = jax.random.normal(jax.random.PRNGKey(3), batch["z_g"].shape)
  reference = pl_mean(batch["z_g"], batch["z_pl"])
  assert reference > 0
  assert pl_mean(other, batch["z_pl"]) == reference
  assert pl_mean(batch["z_g"], other) != reference


@pytest.mark.slow  # StyleGAN2 train steps: over 10 s
def test_path_length_counts_g_updates():
  """With g_steps = 3, G update j of step t is 3 t + j, and path length runs after those
  with index % 4 == 0 (one of them at t = 0, 1, 2, none at t = 3): G's Adam takes that
  many extra updates; D's lazy R1 still counts D updates (step t with d_steps = 1)."""
  c = tiny_config(g_steps=3)
  game = gan_game.make(c, _dataset())
  mesh = parallel.make_mesh()
  step_fn = train.make_train_step(game, mesh)
  arrays = parallel.replicate(game.data, mesh)
  state = jax.device_get(train.init_run_state(c, game))
  for t in (0, 1, 2, 3, 4, 16):
    before = state.replace(step=jnp.asarray(t, jnp.int32))
    after, _ = step_fn(parallel.replicate(jax.tree.map(np.copy, before), mesh), arrays)
    after = jax.device_get(after)
    g_extra = _adam_count(after.nets["g"].opt_state) - _adam_count(before.nets["g"].opt_state)
    d_extra = _adam_count(after.nets["d"].opt_state) - _adam_count(before.nets["d"].opt_state)
    due = sum((3 * t + j) % 4 == 0 for j in range(3))
    assert g_extra == 3 + due, (t, g_extra)
    assert d_extra == 1 + (t % 16 == 0), (t, d_extra)
    moved = float(after.extra["pl_mean"]) != float(before.extra["pl_mean"])
    assert moved == (due > 0), t


@pytest.mark.slow  # StyleGAN2 forwards: over 10 s
@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_style_mixing_in_the_training_forward(prob, tiny_init):
  """With probability 1 every batch switches to a second latent's W at a layer in
  [1, num_ws - 1]; with 0 every layer reads the W of z."""
  c = tiny_config(style_mixing_prob=prob)
  gan = gan_build.build_gan(c, _dataset())
  g = tiny_init.state.nets["g"]  # the tiny config's initial G (the same networks)
  z = jax.random.normal(jax.random.PRNGKey(1), (BATCH, 6))
  y = jnp.zeros((BATCH,), jnp.int32)

  def ws_of(params, stats, z, y, rng):
    ws, stats = sg_train.style_ws(gan, NetState(params, stats, None), params, z, y, rng)
    return ws, parallel.invariant(stats)  # w_avg: alike on every device (parallel.mean)

  spec = P(parallel.AXIS)
  ws_fn = jax.jit(
    jax.shard_map(
      ws_of,
      mesh=parallel.make_mesh(),
      in_specs=(P(), P(), spec, spec, P()),
      out_specs=(spec, P()),
    )
  )
  plain = jax.jit(lambda v: gan.generator.apply(v, z, y, train=False, method="map"))(
    {"params": g.params, "batch_stats": g.batch_stats}
  )
  for seed in range(4):
    ws, _ = ws_fn(g.params, g.batch_stats, z, y, jax.random.PRNGKey(seed))
    same = np.all(np.isclose(ws, plain, atol=1e-6), axis=(0, 2))  # per layer
    if prob == 0:
      assert same.all()
    else:
      crossover = int(np.argmin(same))
      assert 1 <= crossover <= gan.generator.num_ws - 1
      assert same[:crossover].all() and not same[crossover:].any()


@pytest.mark.slow  # over 20 s
@pytest.mark.parametrize("family", ["stylegan2", "dcgan"])
def test_bfloat16_compute_is_finite_and_close_to_float32(family, request):
  """Two train steps from one initial state, in float32 and in bfloat16 compute (float32
  master weights): every logged loss finite, and within 3% (relative, + 0.02 absolute)
  of float32's; the state keeps float32 dtypes. StyleGAN2's float32 side is the tiny
  config's step of `tiny_step` (compiled once for this and the bookkeeping)."""
  if family == "dcgan":
    c = games.default_config()
    # 28 px: DCGAN's smallest geometry (two upsamplings), for a program that compiles faster.
    c.model.base_filters, c.batch_size, c.model.image_size = 16, BATCH, 28
    dataset = _dataset(28)
  else:
    c, dataset = tiny_config(), _dataset()
  results = {}
  for dtype in ("float32", "bfloat16"):
    c.model.compute_dtype = dtype
    if family == "stylegan2" and dtype == "float32":
      tiny = request.getfixturevalue("tiny_step")
      assert tiny.config == c  # the same float32 run
      mesh, step, arrays = tiny.mesh, tiny.step_fn, tiny.arrays
      state = parallel.replicate(jax.tree.map(np.copy, tiny.state), mesh)  # the step donates it
    else:
      game = gan_game.make(c, dataset)
      mesh = parallel.make_mesh()
      state = parallel.replicate(train.init_run_state(c, game), mesh)
      step = train.make_train_step(game, mesh)
      arrays = parallel.replicate(game.data, mesh)
    losses = []
    for _ in range(2):
      state, metrics = step(state, arrays)
      losses.append(jax.device_get(metrics))
    results[dtype] = losses
    assert {x.dtype for x in jax.tree.leaves(state.nets) if x.dtype.kind == "f"} == {
      np.dtype(np.float32)
    }, dtype
  for m32, m16 in zip(results["float32"], results["bfloat16"], strict=True):
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
      assert np.isfinite(m16[key]), key
      np.testing.assert_allclose(m16[key], m32[key], rtol=0.03, atol=0.02, err_msg=key)
