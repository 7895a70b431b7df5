"""The contract every game keeps, run on every registered game with its tiny config.

  - a step is finite, and counts one step;
  - a step on 4 fake devices equals the step on 1 (subprocesses: the device count is fixed
    when jax starts);
  - a run killed after a checkpoint and resumed ends with the uninterrupted run's bits;
  - `--mode=sample` and `--mode=eval` work on its workdir;
  - a bad value of one of its own keys is one line and exit 2, before anything is written.

The toy 1-D game of tests/toy_game.py is registered from here alone and passes the same
contract: a new game is its package plus one registry line, with no edit to the loop.
"""

from __future__ import annotations

import json
import math
import os
import shutil

import jax
import numpy as np
import pytest
import toy_game
from _tiers import slow_except

from gan_jax import games, parallel, train

toy_game.register()
GAMES = sorted(games.REGISTRY)
assert toy_game.NAME in GAMES


def config_file(tmp_path, game: str) -> str:
  """An experiment file of the game's tiny config (registering the toy game first)."""
  path = tmp_path / f"tiny_{game}.py"
  register = "import toy_game\ntoy_game.register()\n" if game == toy_game.NAME else ""
  tiny = dict(games.REGISTRY[game].config.tiny)
  path.write_text(
    f"from gan_jax import games\n{register}\n\ndef get_config():\n"
    f"  c = games.default_config({game!r})\n  c.update_from_flattened_dict({tiny!r})\n"
    "  return c\n"
  )
  return str(path)


def leaves(state) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


# The quick tier: every game but CycleGAN, whose step (two generators, two discriminators)
# compiles for about 15 s.
@pytest.mark.parametrize("game", slow_except(GAMES, set(GAMES) - {"cyclegan"}))
def test_a_step_is_finite(game, tiny_config):
  c = tiny_config(game)
  built = games.make_game(c)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(c, built), mesh)
  state, metrics = train.make_train_step(built, mesh)(state, parallel.replicate(built.data, mesh))
  assert int(state.step) == 1
  values = {k: float(v) for k, v in jax.device_get(metrics).items()}
  assert all(k in values for k in built.console), (built.console, values)
  assert all(math.isfinite(v) for v in values.values()), values
  assert all(np.isfinite(x).all() for x in leaves(state.nets))


@pytest.mark.slow
def test_four_devices_equal_one(states_on, tmp_path):
  """Every game at once: one process runs each game's step on 4 devices (a process's start
  and imports cost about 8 s on 2 cores), this one each game's step on 1."""
  (listed,) = states_on("_parallel_game.py", counts=(4,), args=tuple(GAMES))
  assert list(listed["games"]) == GAMES
  for game in GAMES:
    (one,) = states_on("_parallel_game.py", counts=(1,), args=(game,))
    four = np.load(tmp_path / f"state4_{game}.npz")
    assert len(one.files) == len(four.files) > 4, game
    for key in one.files:
      np.testing.assert_allclose(
        one[key], four[key], rtol=1e-4, atol=1e-6, err_msg=f"{game}: {key}"
      )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config):
  """game -> (the workdir of an uninterrupted tiny run, that of a run killed after its
  checkpoint halfway and resumed).

  The killed run is the uninterrupted one's workdir as a kill after that checkpoint leaves
  it: a copy without the later checkpoints, its later rows still in metrics.jsonl. Resuming
  it with the same config reuses the compiled programs; a run ended halfway by its own
  total_steps would compile them again for another total_steps (a learning rate that decays
  over the run, as CycleGAN's does, is part of the step)."""
  out = {}

  def get(game):
    if game not in out:
      base = tmp_path_factory.mktemp(game)
      straight, resumed = str(base / "straight"), str(base / "resumed")
      c = tiny_config(game)
      assert c.total_steps == 2 * c.checkpoint_every, "the tiny configs checkpoint halfway"
      train.train_and_evaluate(c, straight)
      shutil.copytree(straight, resumed, symlinks=True)
      shutil.rmtree(os.path.join(resumed, "checkpoints", str(c.total_steps)))
      train.train_and_evaluate(c, resumed)
      out[game] = straight, resumed
    return out[game]

  return get


def _final_state(config, workdir: str):
  *_, state, _, step = train.setup(config, workdir, for_training=False)
  return step, leaves(state)


@pytest.mark.slow  # two runs of each game
@pytest.mark.parametrize("game", GAMES)
def test_a_killed_and_resumed_run_ends_with_the_same_bits(game, trained, tiny_config):
  straight, resumed = trained(game)
  c = tiny_config(game)
  (step_a, a), (step_b, b) = _final_state(c, straight), _final_state(c, resumed)
  total = tiny_config(game).total_steps
  assert step_a == step_b == total
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x, y)
  rows = [json.loads(line) for line in open(os.path.join(resumed, "metrics.jsonl"))]
  assert [r["step"] for r in rows if r.get("event") == "start"] == [0, total // 2]
  # The killed run's rows after its checkpoint were dropped and written again by the resumed
  # run: each step's row once, as the uninterrupted run's.
  straight_rows = [json.loads(line) for line in open(os.path.join(straight, "metrics.jsonl"))]
  assert logged_steps(rows) == logged_steps(straight_rows) == list(range(1, total + 1))


def logged_steps(rows: list[dict]) -> list[int]:
  return [r["step"] for r in rows if "event" not in r and ("d_loss" in r or "g_loss" in r)]


def _eval_rows(workdir: str) -> list[dict]:
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  return [r for r in rows if "event" not in r and "d_loss" not in r and "g_loss" not in r]


@pytest.mark.slow
@pytest.mark.parametrize("game", GAMES)
@pytest.mark.usefixtures("quick_classifiers")  # the modes' claim, not the classifiers' accuracy
def test_sample_and_eval_modes_work_on_its_workdir(
  game, trained, run_launch, tiny_config, tmp_path
):
  # A copy: the module's runs stay as training left them for the other tests.
  workdir = str(tmp_path / "run")
  shutil.copytree(trained(game)[0], workdir, symlinks=True)
  final = tiny_config(game).total_steps
  samples = os.path.join(workdir, "samples")
  before = set(os.listdir(samples)) if os.path.isdir(samples) else set()
  run_launch("--mode=sample", f"--workdir={workdir}")
  written = set(os.listdir(samples)) - before
  assert written and all(f"_{final}." in name for name in written), written
  rows = _eval_rows(workdir)
  run_launch("--mode=eval", f"--workdir={workdir}")
  # One row more, of the final checkpoint (the tiny configs evaluate only here, except the
  # toy game's, whose evaluation at the end of training is repeated).
  *same, new = _eval_rows(workdir)
  assert same == rows and new["step"] == final and set(new) > {"step"}, new
  assert all(math.isfinite(v) for v in new.values() if isinstance(v, float)), new
  if rows:
    assert new == rows[-1]


def _bad_value(spec):
  """A value of the key's type outside its declaration."""
  if spec.choices is not None:
    return "bogus_name"
  if spec.low is not None:
    return spec.kind(spec.low - 1)
  return {int: "abc", float: "abc", bool: "yes", str: None}[spec.kind]


def _own_key(game: str) -> str:
  """The first key of the game's own block that a command line can set to a bad value."""
  own = games.REGISTRY[game].config.specs
  return next(k for k, s in sorted(own.items()) if _bad_value(s) is not None)


@pytest.mark.parametrize("game", GAMES)
def test_a_bad_value_of_its_own_key_is_one_line_before_anything_is_written(
  game, tmp_path, run_launch
):
  key = _own_key(game)
  workdir = tmp_path / "run"
  spec = games.REGISTRY[game].config.specs[key]
  launched = run_launch(
    f"--config={config_file(tmp_path, game)}",
    f"--workdir={workdir}",
    f"--config.{key}={_bad_value(spec)}",
    expect=2,
  )
  lines = [line for line in launched.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0], lines
  assert not workdir.exists()
