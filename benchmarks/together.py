r"""K sweep members trained as one program against the same K runs one after another.

  python benchmarks/together.py --family ring --runs 8 --steps 200
  python benchmarks/together.py --family dcgan --runs 4 --steps 20
  python benchmarks/together.py --family dcgan --runs 16 --steps 200   # on a GPU

The members differ in D's learning rate (K values, log-spaced from 1e-4 to 4e-4), so the
program reads a per-run setting from its state as a real sweep's does (RUN_KEYS in
gan_jax/games/gan/settings.py). 'ring' is experiments/ring2d.py (the 2-D protocol MLPs, batch
100); 'dcgan' is experiments/dcgan.py. Both programs go through the loop's own train step
(`train.make_train_step`); rounds alternate between them so that a change in the machine's
load hits both. Prints one JSON line per round and a summary line: run-steps/s together
(K x steps/s of the K-run program), sequentially (steps/s of one run: K runs one after
another train at that rate), and their ratio.
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = {"ring": "experiments.ring2d", "dcgan": "experiments.dcgan"}


def _programs(a):
  import numpy as np  # noqa: PLC0415

  sys.path.insert(0, ROOT)
  from gan_jax import host, parallel, train  # noqa: PLC0415

  host.reuse_host_memory()
  base = importlib.import_module(EXPERIMENTS[a.family]).get_config()
  if a.batch_size:
    base.batch_size = a.batch_size
  configs = []
  for lr in np.geomspace(1e-4, 4e-4, a.runs):
    c = base.copy_and_resolve_references()
    c.d_optimizer.learning_rate = float(lr)
    configs.append(c)

  def together():
    game = train.make_game(configs[0], configs)
    mesh = train.run_mesh(a.runs, configs[0])
    settings = [game.run_settings(c) for c in configs]
    state = train.init_states(game, [c.seed for c in configs], mesh, settings)
    return (
      train.make_train_step(game, mesh, num_seeds=a.runs),
      train.initial_carry(state, mesh),
      parallel.replicate(game.data, mesh),
      parallel.replicate(np.asarray(False), mesh),
    )

  def alone():
    game = train.make_game(configs[0])
    mesh = train.run_mesh(1, configs[0])
    state = train.init_states(game, [configs[0].seed], mesh)
    return (
      train.make_train_step(game, mesh),
      state,
      parallel.replicate(game.data, mesh),
      parallel.replicate(np.asarray(False), mesh),
    )

  return {"together": together(), "alone": alone()}


def _time(program, steps: int):
  import jax  # noqa: PLC0415

  step, state, data, flags = program
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, data, flags)
  jax.block_until_ready(metrics)
  return (step, state, data, flags), steps / (time.perf_counter() - t)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--family", choices=sorted(EXPERIMENTS), default="ring")
  p.add_argument("--runs", type=int, default=8)
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--warmup", type=int, default=5)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--batch_size", type=int, default=0, help="0: the experiment's")
  a = p.parse_args()
  import jax  # noqa: PLC0415

  programs = _programs(a)
  for name in programs:  # compile and warm up
    programs[name], _ = _time(programs[name], a.warmup)
  rates = {"together": [], "alone": []}
  for r in range(a.rounds):
    for name in ("together", "alone"):
      programs[name], rate = _time(programs[name], a.steps)
      rates[name].append(rate)
    print(json.dumps({"round": r, **{k: v[-1] for k, v in rates.items()}}), flush=True)
  together = a.runs * statistics.median(rates["together"])
  sequential = statistics.median(rates["alone"])
  print(
    json.dumps(
      {
        "family": a.family,
        "runs": a.runs,
        "devices": jax.device_count(),
        "platform": jax.devices()[0].platform,
        "steps": a.steps,
        "rounds": a.rounds,
        "together_run_steps_per_s": together,
        "sequential_run_steps_per_s": sequential,
        "ratio": together / sequential,
      }
    )
  )


if __name__ == "__main__":
  main()
