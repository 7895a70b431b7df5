"""A together-sweep of experiments/gan2d.py's shape, objectives x D learning rates x seeds,
ends with every member equal bit for bit to its run alone (README, "Sweeps and seeds")."""

import importlib.util
import json
import os

import pytest

from gan_jax import sweep, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 50
# The sweep of issue 32 item 9. A per-run D learning rate once ended the member
# (non_saturating, 1e-4, seed 1) at another d_loss: its 1-element output bias was updated
# with two roundings where the run alone fuses them into one multiply-add.
MEMBERS = [
  {"loss": loss, "d_optimizer.learning_rate": lr, "seed": seed}
  for loss in ("non_saturating", "hinge")
  for lr in (1e-4, 2e-4)
  for seed in (0, 1)
]


def gan2d(**overrides):
  path = os.path.join(ROOT, "experiments", "gan2d.py")
  spec = importlib.util.spec_from_file_location("_exp_gan2d_sweep8", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  # Rows every 5 steps compare the runs along the way, not only at the end; no evaluation.
  c.total_steps, c.log_every, c.eval_every = STEPS, 5, -1
  c.sample_every = c.checkpoint_every = STEPS
  for key, value in overrides.items():
    setattr(c, key, value)
  return c


def rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [
      {k: v for k, v in r.items() if k != "steps_per_s"}  # wall-clock rates
      for r in map(json.loads, f)
      if "d_loss" in r
    ]


@pytest.mark.slow  # 8 runs of 50 steps, twice: about a minute and a half on 2 CPU cores
def test_an_8_member_sweep_trained_together_equals_the_sequential_sweep_bit_for_bit(
  tmp_path, compiled_as_for_users
):
  # Compiled as for users (conftest.py): at the suite's -O0 the two programs' bits differ.
  together = sweep.run_sweep_together(
    gan2d(), MEMBERS, str(tmp_path / "together"), train_fn=train.train_together
  )
  configs = [sweep.member_config(gan2d(), m) for m in MEMBERS]
  assert len(sweep.together_groups(configs)) == 1  # one program of 8 runs
  alone = sweep.run_sweep(
    gan2d(), MEMBERS, str(tmp_path / "alone"), train_fn=train.train_and_evaluate
  )
  assert [r["status"] for r in together] == ["done"] * 8
  assert [r["status"] for r in alone] == ["done"] * 8
  for a, b in zip(together, alone, strict=True):
    ra, rb = rows(a["workdir"]), rows(b["workdir"])
    assert [r["step"] for r in ra] == list(range(5, STEPS + 1, 5)), a["name"]
    # Bit for bit: JSON floats are the float32 values' exact repr; NaN norms compare alike.
    assert json.dumps(ra[-1]) == json.dumps(rb[-1]), a["name"]  # the final metrics
    assert json.dumps(ra) == json.dumps(rb), a["name"]
