r"""A/B timing of the real DCGAN train step under different conv formulations, in one process.

Each variant sets `gan_jax.ops.AUTO_CONV` (the discriminator's strided convs) and
`gan_jax.ops.AUTO_CONV_TRANSPOSE` (the generator's transposed convs) while its step is
traced; all variants compute the same function. They are then timed round-robin (one step
of each per round), so load from other processes on a shared machine hits all alike.

  python benchmarks/step_variants.py --rounds 15 --variants im2col/col2im,lax/dots

Prints one JSON line: median and min ms per step for each variant "CONV/CONV_TRANSPOSE".
"""

import argparse
import json
import statistics
import time

import jax
from step_throughput import setup  # benchmarks/ is the script's directory

from gan_jax import ops, train


def build(variant: str, batch: int, size: int, channels: int):
  conv, conv_t = variant.split("/")
  ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE = conv, conv_t
  game, mesh, state, arrays = setup(batch, size, channels)
  step = train.make_train_step(game, mesh)
  return step.lower(state, arrays).compile(), state, arrays


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--rounds", type=int, default=15)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--variants", default="im2col/col2im,lax/col2im,lax/dots")
  a = p.parse_args()
  defaults = ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE
  runs = {}
  for v in a.variants.split(","):
    runs[v] = list(build(v, a.batch, a.size, a.channels))
  ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE = defaults
  times = {v: [] for v in runs}
  for r in range(a.rounds + 2):
    for v, run in runs.items():
      compiled, state, arrays = run
      t = time.perf_counter()
      state, metrics = compiled(state, arrays)
      jax.block_until_ready((state, metrics))
      if r >= 2:  # warm-up rounds
        times[v].append(time.perf_counter() - t)
      run[1] = state
  print(
    json.dumps(
      {
        "batch": a.batch,
        "ms_median_min": {
          v: [round(1e3 * statistics.median(ts), 1), round(1e3 * min(ts), 1)]
          for v, ts in times.items()
        },
      }
    )
  )


if __name__ == "__main__":
  main()
