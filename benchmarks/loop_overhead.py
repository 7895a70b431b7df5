r"""How much slower XLA:CPU runs convolutions inside a (rolled) while loop.

Times one jitted discriminator forward + backward (gan_jax.models.dcgan.DCGANDiscriminator,
batch 64, 32x32x1, training mode, grads w.r.t. params) done
  plain:       straight-line code, once
  scan1:       inside a rolled lax.scan of length 1 (a while loop)
  scan2:       inside a rolled lax.scan of length 2 (ms per iteration)
  unrolled2:   the same scan of length 2 with unroll=True (ms per iteration)
round-robin, and prints one JSON line per formulation of the discriminator's strided convs
(gan_jax.ops.AUTO_CONV): "lax" (XLA convolutions, what flax.linen.Conv runs) and the default
("fast": space-to-depth matmuls / Winograd, no conv ops), with the median ms of each and the
slowdowns. The convolutions are why the GAN game's step (gan_jax/games/gan/step.py) runs d_steps
and the loop (gan_jax/train.py) runs steps_per_dispatch as straight-line code.

  python benchmarks/loop_overhead.py [--repeats 9]
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from gan_jax import ops
from gan_jax.models.dcgan import DCGANDiscriminator


def measure(a, conv):
  default, ops.AUTO_CONV = ops.AUTO_CONV, conv  # read while tracing
  d = DCGANDiscriminator(image_size=32)
  x = jax.random.normal(jax.random.key(0), (a.batch, 32, 32, 1))
  variables = d.init(jax.random.key(1), x, train=False)

  def fwd_bwd(params, x):
    def loss(params):
      logits, _ = d.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
      return jnp.mean(logits**2)

    return jax.grad(loss)(params)

  def scanned(n, unroll):
    def f(params, x):
      def body(carry, _):
        g = fwd_bwd(carry, x)
        return jax.tree.map(lambda p, g: p - 1e-3 * g, carry, g), None

      return jax.lax.scan(body, params, None, length=n, unroll=unroll)[0]

    return jax.jit(f)

  fns = {
    "plain": (jax.jit(fwd_bwd), 1),
    "scan1": (scanned(1, False), 1),
    "scan2": (scanned(2, False), 2),
    "unrolled2": (scanned(2, True), 2),
  }
  params = variables["params"]
  for f, _ in fns.values():
    jax.block_until_ready(f(params, x))
  ops.AUTO_CONV = default
  times = {k: [] for k in fns}
  for _ in range(a.repeats):
    for k, (f, n) in fns.items():
      t = time.perf_counter()
      jax.block_until_ready(f(params, x))
      times[k].append((time.perf_counter() - t) / n)
  ms = {k: round(1e3 * statistics.median(v), 2) for k, v in times.items()}
  print(
    json.dumps(
      {
        "backend": jax.default_backend(),
        "conv": conv,
        "batch": a.batch,
        "ms_per_fwd_bwd": ms,
        "slowdown_scan1": round(ms["scan1"] / ms["plain"], 1),
        "slowdown_scan2": round(ms["scan2"] / ms["plain"], 1),
        "slowdown_unrolled2": round(ms["unrolled2"] / ms["plain"], 1),
      }
    )
  )


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--repeats", type=int, default=9)
  p.add_argument("--batch", type=int, default=64)
  a = p.parse_args()
  for conv in ("lax", ops.AUTO_CONV):
    measure(a, conv)


if __name__ == "__main__":
  main()
