r"""The 2-D protocol step (shared/bench/README.md, "The 2-D protocol step") in gan_jax.

  python benchmarks/step_2d.py --steps 300 --seeds 1 --pack 1
  python benchmarks/step_2d.py --steps 300 --seeds 10 --steps_per_dispatch 10
  python benchmarks/step_2d.py --compare --torch_python=/path/to/torch-venv/bin/python --rounds 5

The model and step of experiments/ring2d.py (G 2 -> 4 x 400 BN ReLU -> 2, maxout D, Adam
1e-4 b1 0.8, batch 100 packed examples) on a fixed set of 100,000 ring points, through the
loop's own train step (`train.make_train_step`) with K seeds vmapped in one program.
Prints one JSON line with steps_per_s and seed_steps_per_s, the fields of the PyTorch peer
(shared/bench/torch_pacgan_mlp_reference.py); `--compare` alternates the two in fresh
processes and prints the median ratio of seed-steps/s.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "..", "shared", "bench", "torch_pacgan_mlp_reference.py")


def measure(a) -> dict:
  import jax  # noqa: PLC0415 - not needed to --compare
  import numpy as np  # noqa: PLC0415

  sys.path.insert(0, ROOT)
  from gan_jax import host, parallel, train  # noqa: PLC0415

  host.reuse_host_memory()
  c = importlib.import_module("experiments.ring2d").get_config()
  c.model.pack, c.batch_size, c.num_seeds = a.pack, 100 * a.pack, a.seeds
  c.data.fixed_examples = 100_000
  game = train.make_game(c)
  mesh = train.run_mesh(a.seeds, c)
  state = train.init_run_state(c, game, mesh)
  if a.seeds > 1:
    state = train.initial_carry(state, mesh)
  data = parallel.replicate(game.data, mesh)
  k = a.steps_per_dispatch
  step = train.make_train_step(game, mesh, steps_per_dispatch=k, num_seeds=a.seeds)
  flags = parallel.replicate(np.asarray(False), mesh)  # as the loop between logged steps
  for _ in range(max(a.warmup // k, 1)):
    state, metrics = step(state, data, flags)
  jax.block_until_ready(metrics)
  dispatches = max(a.steps // k, 1)
  t = time.perf_counter()
  for _ in range(dispatches):
    state, metrics = step(state, data, flags)
  jax.block_until_ready(metrics)
  dt = time.perf_counter() - t
  steps = dispatches * k
  return {
    "impl": "gan_jax",
    "seeds": a.seeds,
    "pack": a.pack,
    "steps_per_dispatch": k,
    "steps_per_s": steps / dt,
    "seed_steps_per_s": a.seeds * steps / dt,
  }


def _run(cmd: list[str]) -> dict:
  out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def compare(a) -> None:
  mine = [
    sys.executable,
    os.path.abspath(__file__),
    "--steps",
    str(a.steps),
    "--seeds",
    str(a.seeds),
    "--pack",
    str(a.pack),
    "--steps_per_dispatch",
    str(a.steps_per_dispatch),
  ]
  peer = [
    a.torch_python,
    PEER,
    "--steps",
    str(a.steps),
    "--seeds",
    str(a.seeds),
    "--pack",
    str(a.pack),
  ]
  ours, theirs = [], []
  for r in range(a.rounds):
    t, j = _run(peer), _run(mine)
    theirs.append(t["seed_steps_per_s"])
    ours.append(j["seed_steps_per_s"])
    print(json.dumps({"round": r, "torch": t, "gan_jax": j}), flush=True)
  print(
    json.dumps(
      {
        "torch_median_seed_steps_per_s": statistics.median(theirs),
        "gan_jax_median_seed_steps_per_s": statistics.median(ours),
        "ratio": statistics.median(ours) / statistics.median(theirs),
        "rounds": a.rounds,
        "seeds": a.seeds,
        "pack": a.pack,
      }
    )
  )


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--warmup", type=int, default=20)
  p.add_argument("--seeds", type=int, default=1)
  p.add_argument("--pack", type=int, default=1)
  p.add_argument("--steps_per_dispatch", type=int, default=1)
  p.add_argument("--compare", action="store_true")
  p.add_argument("--torch_python", default="")
  p.add_argument("--rounds", type=int, default=5)
  a = p.parse_args()
  if a.compare:
    compare(a)
  else:
    print(json.dumps(measure(a)))


if __name__ == "__main__":
  main()
