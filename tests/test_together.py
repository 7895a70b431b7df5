"""Several runs in one program: sweep members trained together, a diverging run frozen while
the others go on, exact resume, and the same outputs as the members trained one by one."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_stabilizers  # a sibling test module (pytest puts tests/ on the path)

from gan_jax import parallel, report, sweep, train
from gan_jax.games import gan as gan_game
from gan_jax.games.gan import settings as gan_settings

HERE = os.path.dirname(os.path.abspath(__file__))
# Members that differ in the objective and D's learning rate: one program, runs read their
# settings from the state.
SETTINGS_SWEEP = [
  {"loss": "non_saturating", "d_optimizer.learning_rate": 1e-4},
  {"loss": "hinge", "d_optimizer.learning_rate": 2e-4},
]


def ring(evaluate: bool = True, **overrides):
  """The runs of this module; without `evaluate`, none of their evaluation programs compile
  (for the checks of the loss rows alone)."""
  c = test_stabilizers.ring_config(overrides)
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 6, 2, 6, 2
  c.eval_every, c.eval.num_samples = 0 if evaluate else -1, 500
  return c


def rows(workdir, key="d_loss"):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if key in r]


@pytest.mark.slow  # training runs: over 10 s
def test_members_trained_together_write_what_their_own_runs_write(tmp_path):
  members = [{"seed": 0}, {"seed": 1}, {"seed": 5}]
  together = sweep.run_sweep_together(
    ring(), members, str(tmp_path / "together"), train_fn=train.train_together
  )
  alone = sweep.run_sweep(
    ring(), members, str(tmp_path / "alone"), train_fn=train.train_and_evaluate
  )
  assert [r["status"] for r in together] == ["done"] * 3
  assert len(sweep.together_groups([ring(seed=s["seed"]) for s in members])) == 1
  for a, b in zip(together, alone, strict=True):
    for key in ("d_loss", "modes"):
      ra, rb = rows(a["workdir"], key), rows(b["workdir"], key)
      assert [r["step"] for r in ra] == [r["step"] for r in rb]
      for x, y in zip(ra, rb, strict=True):
        np.testing.assert_allclose(x[key], y[key], rtol=2e-5, atol=2e-6, err_msg=key)
    files = set(os.listdir(a["workdir"]))
    assert {"config.json", "metrics.jsonl", "samples", "DONE"} <= files
    pictures = [set(os.listdir(os.path.join(r["workdir"], "samples"))) for r in (a, b)]
    assert pictures[0] == pictures[1] and pictures[0]
  # A finished together-sweep trains nothing when run again.
  again = sweep.run_sweep_together(
    ring(), members, str(tmp_path / "together"), train_fn=train.train_together
  )
  assert [r["status"] for r in again] == ["skipped"] * 3


@pytest.mark.slow  # training runs: over 10 s
def test_together_resume_is_exact(tmp_path):
  configs = [ring(False, seed=0), ring(False, seed=1)]
  dirs = [str(tmp_path / "straight" / n) for n in ("a", "b")]
  train.train_together(configs, dirs, str(tmp_path / "straight" / "program"))
  half = [ring(False, seed=0), ring(False, seed=1)]
  for c in half:
    c.total_steps = 2
  dirs2 = [str(tmp_path / "resumed" / n) for n in ("a", "b")]
  train.train_together(half, dirs2, str(tmp_path / "resumed" / "program"))
  train.train_together(
    [ring(False, seed=0), ring(False, seed=1)], dirs2, str(tmp_path / "resumed" / "program")
  )
  for a, b in zip(dirs, dirs2, strict=True):
    assert rows(a) == [
      {**r, "steps_per_s": rows(a)[i]["steps_per_s"]} for i, r in enumerate(rows(b))
    ]


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_a_diverged_run_stays_bitwise_frozen_while_the_others_train():
  c = ring(seed=0)
  c.num_seeds = 2
  game = gan_game.make(c)
  mesh = train.run_mesh(2, c)
  state = jax.device_get(train.init_run_state(c, game))
  # Run 1 starts with a NaN weight: its first step is non-finite, so it keeps this state.
  params = state.nets["d"].params
  leaf_path = jax.tree_util.tree_leaves_with_path(params)[0][0]
  poisoned = jax.tree_util.tree_map_with_path(
    lambda p, x: jnp.asarray(x).at[1].set(jnp.nan) if p == leaf_path else x, params
  )
  state = state.replace(nets={**state.nets, "d": state.nets["d"].replace(params=poisoned)})
  frozen_before = jax.tree.map(lambda x: np.asarray(x[1]), state)
  carry = train.initial_carry(parallel.replicate(state, mesh), mesh)
  step = train.make_train_step(game, mesh, num_seeds=2)
  data = parallel.replicate(game.data, mesh)
  for _ in range(3):
    carry, metrics = step(carry, data)
  (new, diverged_at) = jax.device_get(carry)
  assert list(diverged_at) == [-1, 1]
  for a, b in zip(
    jax.tree.leaves(frozen_before), jax.tree.leaves(train.seed_slice(new, 1)), strict=True
  ):
    np.testing.assert_array_equal(a, b)
  assert int(new.step[0]) == 3 and int(new.step[1]) == 0
  # Run 0 is the single run of its seed.
  single = ring(seed=0)
  g1 = gan_game.make(single)
  s1 = parallel.replicate(train.init_run_state(single, g1), train.run_mesh(1, single))
  step1 = train.make_train_step(g1, train.run_mesh(1, single))
  for _ in range(3):
    s1, _ = step1(s1, parallel.replicate(g1.data, train.run_mesh(1, single)))
  for a, b in zip(
    jax.tree.leaves(jax.device_get(s1)), jax.tree.leaves(train.seed_slice(new, 0)), strict=True
  ):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def assert_rows_match(together, alone, rtol=1e-5):
  assert len(together) == len(alone)
  for a, b in zip(together, alone, strict=True):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)


@pytest.mark.slow  # a training run: over 5 s
def test_a_diverging_member_is_frozen_and_reported_while_the_others_finish(tmp_path):
  # Its D's learning rate absurd, the second member's weights overflow at once.
  members = [SETTINGS_SWEEP[0], {"loss": "hinge", "d_optimizer.learning_rate": 1e30}]
  configs = [
    sweep.member_config(ring(False), m["overrides"]) for m in sweep.resolve_members(members)
  ]
  assert len(sweep.together_groups(configs)) == 1
  assert gan_settings.varying_keys(configs) == ("loss", "d_optimizer.learning_rate")
  together = sweep.run_sweep_together(
    ring(False), members, str(tmp_path / "together"), train_fn=train.train_together
  )
  assert [r["status"] for r in together] == ["done", "done"]
  losses = [r["d_loss"] for r in rows(together[0]["workdir"])]
  assert len(losses) == 3 and np.all(np.isfinite(losses))
  events = [r for r in rows(together[1]["workdir"], "event") if r["event"] == "diverged"]
  assert events == [{"step": 1, "event": "diverged"}]
  out = report.write_report(str(tmp_path / "together"), members, plots=False)
  md = open(out["md"]).read()
  assert "1 diverged (left out of the statistics)" in md and "diverged at step 1" in md
  names = [r["name"] for r in out["summary"]["members"] if r["diverged_at"] is not None]
  assert names == [together[1]["name"]]
  assert all(v["stats"]["d_loss"]["n"] == 1 for v in out["summary"]["variants"][:1])


@pytest.mark.slow  # a process of fake devices
def test_a_sweep_of_objectives_learning_rates_and_seeds_on_a_2_x_2_mesh_equals_the_sequential_one(
  tmp_path,
):
  # Together: 4 runs (2 members x 2 seeds) over 'runs' 2 x 'batch' 2; one after another:
  # each member's 2 seeds over 'batch' 4.
  result = subprocess.run(
    [sys.executable, os.path.join(HERE, "_parallel_together.py"), str(tmp_path)],
    capture_output=True,
    text=True,
    cwd=HERE,
    timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  together, alone = json.loads(result.stdout.strip().splitlines()[-1])
  assert len(together) == 2 * len(SETTINGS_SWEEP) and all(len(r) == 3 for r in together)
  for a, b in zip(together, alone, strict=True):
    assert_rows_match(a, b)
