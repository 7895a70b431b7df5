r"""DCGAN training-step throughput of gan_jax's real train step.

The model and step of shared/bench/README.md: the 32x32x1 DCGAN (z 100), a
non-saturating D update and a G update per step, Adam(2e-4, b1=0.5), batch 64,
real images drawn at random from a 4,096-image in-memory set.

  python benchmarks/step_throughput.py --steps 30 --batch 64

As in the train loop, the metrics' gradient/update/parameter norms are computed on
the logged steps only (every --log_every-th, the config default).

Prints one JSON line with the peer's fields (steps_per_s, images_per_s) plus
compile_s, ms_per_step and two FLOP counts (XLA cost analysis):
  flops_per_step: the compiled program's own count. On GPU it leaves out the
    convolutions that XLA hands to cuDNN (library calls count zero), so it is far
    below the work done there.
  model_flops_per_step: the model as written (flax.linen.ConvTranspose, lax convs),
    counted on the lowered, backend-independent program: the same on every backend
    and for every formulation, so model_flops_per_s compares machines and peers.
"""

import argparse
import json
import time

import jax
import numpy as np

from gan_jax import games, host, ops, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.data import images as images_lib
from gan_jax.games import gan as gan_game


def setup(batch: int, size: int, channels: int, *, fast_conv_transpose: bool = True):
  """The benchmark GAN on 4,096 random images: (game, mesh, replicated state, arrays)."""
  c = games.default_config()
  c.batch_size, c.model.image_size = batch, size
  c.model.fast_conv_transpose = fast_conv_transpose
  shape = (size, size, channels)
  images = np.random.RandomState(0).randint(0, 256, (4096, *shape)).astype(np.uint8)
  dataset = data_lib.Dataset(
    "bench",
    "random",
    {"images": images, "labels": np.zeros(4096, np.int32)},
    images_lib.sample_images,
    shape,
    4096,
    0,
  )
  game = gan_game.make(c, dataset)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(c, game), mesh)
  return game, mesh, state, parallel.replicate(game.data, mesh)


def _flops(cost) -> float:
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def model_flops(batch: int, size: int, channels: int) -> float:
  """FLOPs of one step of the model as written, counted before backend compilation."""
  saved = ops.AUTO_CONV
  ops.AUTO_CONV = "lax"  # read while tracing: D's strided convs as lax.conv_general_dilated
  try:
    game, mesh, state, arrays = setup(batch, size, channels, fast_conv_transpose=False)
    lowered = train.make_train_step(game, mesh).lower(state, arrays)
  finally:
    ops.AUTO_CONV = saved
  return _flops(lowered.cost_analysis())


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--steps_per_dispatch", type=int, default=1)
  p.add_argument(
    "--slow_conv_transpose",
    action="store_true",
    help="use flax.linen.ConvTranspose instead of the sub-pixel formulation",
  )
  p.add_argument(
    "--log_every",
    type=int,
    default=games.default_config().log_every,
    help="as the train loop: the metrics' norms are computed on every log_every-th step only",
  )
  p.add_argument(
    "--no_reuse_host_memory",
    action="store_true",
    help="skip gan_jax.host.reuse_host_memory() (which launch.py applies by default)",
  )
  a = p.parse_args()
  if not a.no_reuse_host_memory:
    host.reuse_host_memory()

  game, mesh, state, arrays = setup(
    a.batch, a.size, a.channels, fast_conv_transpose=not a.slow_conv_transpose
  )
  k = a.steps_per_dispatch
  step = train.make_train_step(game, mesh, steps_per_dispatch=k)

  # The train loop's `with_norms`: true on the dispatches whose metrics it logs.
  norm_flags = [parallel.replicate(np.asarray(b), mesh) for b in (False, True)]

  def logged(i: int) -> bool:  # dispatch i covers steps [i k, (i + 1) k)
    return train.crossed(a.log_every, i * k, (i + 1) * k)

  t = time.perf_counter()
  compiled = step.lower(state, arrays, norm_flags[1]).compile()
  compile_s = time.perf_counter() - t
  flops = _flops(compiled.cost_analysis()) / k
  reference_flops = model_flops(a.batch, a.size, a.channels)

  dispatches = max(a.steps // k, 1)
  warmup = max(a.warmup // k, 1)
  for i in range(warmup):
    state, metrics = compiled(state, arrays, norm_flags[logged(i)])
  jax.block_until_ready(metrics)
  t = time.perf_counter()
  for i in range(warmup, warmup + dispatches):
    state, metrics = compiled(state, arrays, norm_flags[logged(i)])
  jax.block_until_ready(metrics)
  dt = time.perf_counter() - t
  n = dispatches * k
  print(
    json.dumps(
      {
        "impl": "gan_jax",
        "device": jax.devices()[0].platform,
        "devices": jax.device_count(),
        "batch": a.batch,
        "fast_conv_transpose": not a.slow_conv_transpose,
        "steps_per_dispatch": k,
        "reuse_host_memory": not a.no_reuse_host_memory,
        "log_every": a.log_every,
        "steps_per_s": n / dt,
        "images_per_s": n * a.batch / dt,
        "ms_per_step": 1000 * dt / n,
        "compile_s": compile_s,
        "flops_per_step": flops,
        "flops_per_s": flops * n / dt,
        "model_flops_per_step": reference_flops,
        "model_flops_per_s": reference_flops * n / dt,
      }
    )
  )


if __name__ == "__main__":
  main()
