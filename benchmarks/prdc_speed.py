r"""Time of precision / recall / density / coverage (gan_jax/evaluation/prdc.py) on random features.

Real and fake sets of --num rows with --dim standard-normal features (the fake ones shifted by
0.1, so that the comparisons are not degenerate). Prints one JSON line:
  manifold_first_s   real_manifold (the real k = 3, 5 radii: once per reference set),
                     including its compilation
  manifold_s         the same again, compiled (median of --repeats)
  prdc_first_s       prdc with that manifold (the fake k = 3 radii + the real-fake pass: what
                     one evaluation costs), including compilation
  prdc_s             the same again, compiled (median of --repeats)
and the metrics, devices and block size.

  python benchmarks/prdc_speed.py                      # 10,000 x 10,000, 2,048-d (Inception)
  python benchmarks/prdc_speed.py --dim 64             # classifier-like features
  python benchmarks/prdc_speed.py --block-size 2048
"""

import argparse
import json
import statistics
import time

import jax
import numpy as np

from gan_jax.evaluation import prdc


def timed(fn):
  t0 = time.perf_counter()
  out = fn()
  return time.perf_counter() - t0, out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num", type=int, default=10_000)
  parser.add_argument("--dim", type=int, default=2048)
  parser.add_argument("--block-size", type=int, default=prdc.BLOCK_SIZE)
  parser.add_argument("--repeats", type=int, default=1)
  a = parser.parse_args()
  rng = np.random.default_rng(0)
  real = rng.standard_normal((a.num, a.dim), np.float32)
  fake = rng.standard_normal((a.num, a.dim), np.float32) + np.float32(0.1)

  def manifold():
    return prdc.real_manifold(real, block_size=a.block_size)

  manifold_first, m = timed(manifold)
  manifold_times = [timed(manifold)[0] for _ in range(a.repeats)]
  prdc_first, metrics = timed(lambda: prdc.prdc(m, fake))
  prdc_times = [timed(lambda: prdc.prdc(m, fake))[0] for _ in range(a.repeats)]
  print(
    json.dumps(
      {
        "num": a.num,
        "dim": a.dim,
        "block_size": m.block_size,
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
        "manifold_first_s": round(manifold_first, 2),
        "manifold_s": round(statistics.median(manifold_times), 2),
        "prdc_first_s": round(prdc_first, 2),
        "prdc_s": round(statistics.median(prdc_times), 2),
        **{k: round(v, 4) for k, v in metrics.items()},
      }
    )
  )


if __name__ == "__main__":
  main()
