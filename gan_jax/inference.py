"""Using a trained workdir: `--mode=eval` and `--mode=sample` on its latest checkpoint.

Both read the config the run saved (config.json), rebuild its game and restore the
newest readable checkpoint; what is evaluated or sampled is the game's own.
"""

from __future__ import annotations

import os

from absl import logging

from gan_jax import games, train, writers
from gan_jax.errors import WorkdirError


def _restore(workdir: str):
  if not os.path.isdir(workdir):
    raise WorkdirError(f"workdir {workdir} does not exist: train into it first")
  config = games.load_workdir_config(workdir)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir) or not any(name.isdigit() for name in os.listdir(ckpt_dir)):
    raise WorkdirError(f"{workdir} has no checkpoint: train into it first")
  game, mesh, _, state, _, step = train.setup(config, workdir, for_training=False)
  if step is None:
    raise WorkdirError(f"no checkpoint in {workdir} could be read")
  return config, game, mesh, state, step


def evaluate_workdir(workdir: str) -> dict:
  """Evaluates the latest checkpoint; appends an eval row to metrics.jsonl and TensorBoard."""
  config, game, mesh, state, step = _restore(workdir)
  evaluation = game.make_evaluation(mesh)
  if evaluation is None:
    raise WorkdirError(
      f"{workdir}: this run's data set has no metrics here (e.g. Inception weights are not "
      "prepared): nothing to evaluate"
    )
  writer = writers.Writer(workdir)
  metrics = {}
  try:
    for seed, seed_state in train.per_seed(config, state):
      metrics = evaluation.evaluate(seed_state)
      writer.write_scalars(step, metrics, seed=seed)
      print(train.summary_line(step, metrics, seed))
  finally:
    writer.close()
  return metrics  # the last seed's


def sample_workdir(workdir: str) -> dict[str, str]:
  """Writes the game's pictures and samples of the latest checkpoint under samples/."""
  config, game, mesh, state, step = _restore(workdir)
  if config.num_seeds > 1:
    logging.info("%d seeds in %s: sampling seed %d", config.num_seeds, workdir, config.seed)
    state = train.seed_slice(state, 0)
  out_dir = os.path.join(workdir, "samples")
  os.makedirs(out_dir, exist_ok=True)
  paths = game.sample(state, mesh, out_dir, step)
  print(f"sampled step {step}: " + ", ".join(paths.values()))
  return paths
