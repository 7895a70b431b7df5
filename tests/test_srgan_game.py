"""The SRGAN game on the generic loop, beyond the contract every game keeps
(tests/test_game_contract.py, whose tiny config is the SRResNet phase): the two-phase
hand-over, the step's losses against their definitions, exact resume and data-parallel
equivalence of the SRGAN phase, and both phases from launch.py."""

import json

import _tiny  # a sibling test module (pytest puts tests/ on the path)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import errors, games, parallel, train
from gan_jax.games import srgan as srgan_game
from gan_jax.models import srresnet as srresnet_models

pytestmark = pytest.mark.slow  # SRResNet runs and SRGAN-phase steps: each over 10 s

# The tiny networks and crops of the registry's tiny config, for the command lines.
TINY = {
  k: v for k, v in games.REGISTRY["srgan"].config.tiny.items() if k.startswith(("model.", "sr."))
}


def tiny_config(phase="srresnet", pretrained=""):
  """The tiny config in `phase`: the SRGAN phase starts from the SRResNet run `pretrained`.
  Its SRGAN phase is experiments/srgan.py's (VGG loss at relu1_2, G's learning rate), so
  the launch of that experiment below runs the compiled programs of test_resume_is_exact."""
  c = _tiny.tiny_config("srgan", **{"sr.phase": phase, "sr.pretrained_workdir": pretrained})
  if phase == "srgan":
    c.sr.content_loss, c.sr.vgg_layer = "vgg", "relu1_2"
    c.g_optimizer.learning_rate = 1e-5
  return c


def sgd_config(pretrained):
  """The SRGAN phase's tiny config with SGD, batch 8: the config of the 4-device check
  (tests/_parallel_srgan.py) and of the losses' check, which share its compiled step. SGD:
  Adam's first step divides each gradient by its own size, turning rounding differences of
  near-zero gradients into differences of a learning-rate size."""
  c = tiny_config("srgan", pretrained)
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name, opt.learning_rate = "sgd", 0.01
  c.batch_size = 8
  return c


@pytest.fixture(scope="module")
def srresnet_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("srresnet"))
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def _g(state):
  return jax.device_get({"params": state.nets["g"].params, "stats": state.nets["g"].batch_stats})


def test_the_hand_over_restores_exactly_the_srresnet_weights(srresnet_run):
  *_, trained, _, step = train.setup(tiny_config(), srresnet_run, for_training=False)
  assert step == 4
  c = tiny_config("srgan", srresnet_run)
  game = train.make_game(c)
  assert game.info["srresnet_step"] == 4
  state = jax.device_get(train.init_run_state(c, game))
  assert set(state.nets) == {"g", "d"}
  expected, got = _g(trained), _g(state)
  assert jax.tree.structure(expected) == jax.tree.structure(got)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
    np.testing.assert_array_equal(a, b)
  # The stats moved in training (so the test is not of two initializations).
  fresh = _g(jax.device_get(train.init_run_state(tiny_config(), train.make_game(tiny_config()))))
  assert any(
    not np.array_equal(a, b)
    for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(expected), strict=True)
  )


def test_the_srgan_phase_refuses_a_workdir_that_is_no_srresnet_run(tmp_path, srresnet_run):
  with pytest.raises(errors.WorkdirError, match="no config.json"):
    train.make_game(tiny_config("srgan", str(tmp_path)))
  c = tiny_config("srgan", srresnet_run)
  c.model.srresnet.width = 16
  with pytest.raises(errors.WorkdirError, match="same networks") as e:
    train.make_game(c)
  assert "\n" not in str(e.value)
  c = tiny_config("srgan", "")
  with pytest.raises(errors.ConfigError, match="pretrained_workdir"):
    games.validate(c)


def _first_step(c):
  game = train.make_game(c)
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  _, metrics = train.make_train_step(game, mesh)(
    parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), parallel.replicate(game.data, mesh)
  )
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  return game, state0, batch, jax.device_get(metrics)


def test_the_srresnet_loss_is_the_pixel_mse():
  c = tiny_config()
  _, state0, batch, metrics = _first_step(c)
  net = state0.nets["g"]
  g, _ = srresnet_models.build(c.model.srresnet, None)  # outside the mapping: no named axis
  sr, _ = g.apply(
    {"params": net.params, "batch_stats": net.batch_stats},
    batch["lr"],
    train=True,
    mutable=["batch_stats"],
  )
  mse = jnp.mean((sr - batch["hr"]) ** 2)
  np.testing.assert_allclose(metrics["g_loss"], mse, rtol=1e-5)
  np.testing.assert_allclose(metrics["content_loss"], mse, rtol=1e-5)
  assert "d_loss" not in metrics


def test_the_srgan_loss_is_content_plus_a_thousandth_of_adversarial(srresnet_run):
  c = sgd_config(srresnet_run)  # the first step's losses do not depend on the optimizer
  _, state0, batch, metrics = _first_step(c)
  sg, weights = srgan_game.build(c, srgan_game.restore_pretrained(srresnet_run, c)[0])
  g_net, d_net = srresnet_models.build(c.model.srresnet, None)
  g, d = state0.nets["g"], state0.nets["d"]
  sr, _ = g_net.apply(
    {"params": g.params, "batch_stats": g.batch_stats},
    batch["lr"],
    train=True,
    mutable=["batch_stats"],
  )
  fake, _ = d_net.apply(
    {"params": d.params, "batch_stats": d.batch_stats}, sr, train=True, mutable=["batch_stats"]
  )
  adversarial = jnp.mean(jax.nn.softplus(-fake))  # non-saturating: -log sigmoid(D(G(lr)))
  content = sg.content_loss(weights, sr, batch["hr"])
  np.testing.assert_allclose(metrics["g_adversarial"], adversarial, rtol=1e-5)
  np.testing.assert_allclose(metrics["content_loss"], content, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_loss"], content + 1e-3 * adversarial, rtol=1e-5)
  # D's loss on the same super-resolved batch (G's, before its update) and the real HR batch.
  real, _ = d_net.apply(
    {"params": d.params, "batch_stats": d.batch_stats},
    batch["hr"],
    train=True,
    mutable=["batch_stats"],
  )
  d_loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  np.testing.assert_allclose(metrics["d_loss"], d_loss, rtol=1e-5)


def test_resume_is_exact(tmp_path, srresnet_run):
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  train.train_and_evaluate(tiny_config("srgan", srresnet_run), straight)
  half = tiny_config("srgan", srresnet_run)
  half.total_steps = 2
  train.train_and_evaluate(half, resumed)
  train.train_and_evaluate(tiny_config("srgan", srresnet_run), resumed)
  states = []
  for workdir in (straight, resumed):
    *_, state, _, step = train.setup(
      tiny_config("srgan", srresnet_run), workdir, for_training=False
    )
    assert step == 4
    states.append(jax.device_get(state))
  for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1]), strict=True):
    np.testing.assert_array_equal(a, b)


def test_four_devices_equal_one_device_in_the_srgan_phase(states_on, srresnet_run):
  # Both from the module's SRResNet run (its step on 4 devices against 1: the contract's
  # test_four_devices_equal_one[srgan], whose tiny config is the SRResNet phase).
  one, four = states_on("_parallel_srgan.py", args=(srresnet_run,))
  assert len(one.files) == len(four.files) > 20
  for key in one.files:
    np.testing.assert_allclose(one[key], four[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_launch_trains_both_phases_evaluates_resumes_and_draws(tmp_path, run_launch):
  tiny = [f"--config.{k}={v}" for k, v in TINY.items()]
  common = [*tiny, "--config.batch_size=4", "--config.log_every=1", "--config.eval_every=0"]
  srresnet, srgan = tmp_path / "srresnet", tmp_path / "srgan"
  for steps in (2, 3):  # the second run resumes at step 2
    run_launch(
      "--config=experiments/srresnet.py",
      *common,
      f"--config.total_steps={steps}",
      "--config.checkpoint_every=2",
      f"--workdir={srresnet}",
    )
  rows = [json.loads(line) for line in open(srresnet / "metrics.jsonl")]
  assert [r["step"] for r in rows if "g_loss" in r] == [1, 2, 3]
  final = [r for r in rows if "psnr" in r][-1]
  for key in ("psnr", "ssim", "lpips", "psnr_bicubic", "ssim_bicubic", "lpips_bicubic"):
    assert np.isfinite(final[key]), key
  assert final["psnr_bicubic"] > 20 and 0 < final["ssim_bicubic"] < 1
  assert (srresnet / "samples" / "step_3.png").exists()

  run_launch(
    "--config=experiments/srgan.py",
    *common,
    "--config.total_steps=1",
    "--config.sr.vgg_layer=relu1_2",
    f"--config.sr.pretrained_workdir={srresnet}",
    f"--workdir={srgan}",
  )
  rows = [json.loads(line) for line in open(srgan / "metrics.jsonl")]
  final = [r for r in rows if "psnr" in r][-1]
  for key in ("psnr", "ssim", "lpips"):
    assert {key, f"{key}_bicubic", f"{key}_srresnet"} <= set(final), key
  start = [r for r in rows if r.get("event") == "start"][0]
  assert start["srresnet_step"] == 3 and start["sr_phase"] == "srgan"
  train_rows = [r for r in rows if "g_loss" in r]
  assert {"d_loss", "d_real", "d_fake", "g_adversarial", "content_loss"} <= set(train_rows[-1])
  run_launch("--mode=sample", f"--workdir={srgan}")
  with np.load(srgan / "samples" / "super_resolution_1.npz") as npz:
    assert npz["sr"].shape == npz["hr"].shape == (3, 32, 32, 3)
