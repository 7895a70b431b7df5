r"""Training-like step throughput of each model family at its CPU-sized default.

One step = a D update (non-saturating loss on a real and a generated batch) and a G update
(non-saturating), each a forward and backward pass and an Adam(2e-4, b1=0.5) update, jitted
as one program, on a fixed batch of random "real" images. StyleGAN2 draws its noise inputs
and updates its W average; no lazy regularization, EMA or style mixing (the game adds
those). The nets are built by each family's build() from its CONFIG defaults.

  python benchmarks/family_throughput.py                      # all families, batch 32, 32x32x3
  python benchmarks/family_throughput.py --families stylegan2 --steps 5 --size 64
  python benchmarks/family_throughput.py --families veegan --batch 64 --size 28 --z_dim 100
  python benchmarks/family_throughput.py --families veegan --batch 64 --size 28 --lax  # A/B

Prints one JSON line per family: images_per_s (generated images per second, = batch *
steps/s), ms_per_step, compile_s, params (G, D), and two FLOP counts from XLA's cost
analysis of the lowered (backend-independent) program:
  flops_per_step: the program as run (CPU formulations: ops' space-to-depth / Winograd
    strided and transposed convolutions, R3GAN's block-diagonal grouped convolution).
  model_flops_per_step: the model as written, lowered with plain lax convolutions
    (ops.AUTO_CONV / AUTO_CONV_TRANSPOSE = 'lax', R3GAN's grouped convolution as lax's
    grouped convolution); model_flops_per_s = model_flops_per_step * steps/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import host, ops
from gan_jax.models import dcgan, infogan, r3gan, resnet, stylegan2, veegan

FAMILIES = {
  "dcgan": (dcgan.build, None),
  "stylegan2": (stylegan2.build, stylegan2.CONFIG),
  "resnet": (resnet.build, resnet.CONFIG),
  "r3gan": (r3gan.build, r3gan.CONFIG),
  "veegan": (veegan.build, veegan.CONFIG),  # PacGAN's Stacked MNIST pair: --size 28
  "infogan": (infogan.build, infogan.CONFIG),  # Lucic et al.'s pair: --size 28 --channels 1
}


def model_config(family: str, size: int) -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  m.name, m.image_size = family, size
  m.base_filters, m.d_norm, m.fast_conv_transpose = 64, "batch", True  # dcgan
  m.d_spectral_norm, m.d_minibatch, m.pack = False, "none", 1
  m.g_conditioning, m.d_conditioning, m.class_embed_dim = "concat", "projection", 50
  sub = FAMILIES[family][1]
  if sub is not None:
    m[sub.key] = dict(sub.defaults)
  return m


def _apply(module, params, stats, x, rng):
  out, updates = module.apply(
    {"params": params, "batch_stats": stats},
    x,
    train=True,
    rngs={"noise": rng},
    mutable=["batch_stats"],
  )
  return out, updates.get("batch_stats", {})


def make_step(g, d, g_tx, d_tx, z_dim: int):
  def step(state, real, rng):
    (gp, gs, go), (dp, ds, do) = state
    k_z, k_n, k_z2, k_n2 = jax.random.split(rng, 4)
    batch = real.shape[0]
    fake, gs = _apply(g, gp, gs, jax.random.normal(k_z, (batch, z_dim)), k_n)
    fake = jax.lax.stop_gradient(fake)

    def d_loss(p):
      real_logits, s = _apply(d, p, ds, real, k_n)
      fake_logits, s = _apply(d, p, s, fake, k_n)
      loss = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
      return loss, s

    (dl, ds), grads = jax.value_and_grad(d_loss, has_aux=True)(dp)
    updates, do = d_tx.update(grads, do, dp)
    dp = optax.apply_updates(dp, updates)

    def g_loss(p):
      x, s = _apply(g, p, gs, jax.random.normal(k_z2, (batch, z_dim)), k_n2)
      logits, _ = _apply(d, dp, ds, x, k_n2)
      return jnp.mean(jax.nn.softplus(-logits)), s

    (gl, gs), grads = jax.value_and_grad(g_loss, has_aux=True)(gp)
    updates, go = g_tx.update(grads, go, gp)
    gp = optax.apply_updates(gp, updates)
    return ((gp, gs, go), (dp, ds, do)), {"d_loss": dl, "g_loss": gl}

  return step


def setup(family: str, batch: int, size: int, channels: int, z_dim: int):
  build, _ = FAMILIES[family]
  g, d = build(model_config(family, size), channels, None, 0)
  k_g, k_d, k_x = jax.random.split(jax.random.PRNGKey(0), 3)
  z = jnp.zeros((batch, z_dim))
  real = jax.random.uniform(k_x, (batch, size, size, channels), minval=-1.0, maxval=1.0)
  init = lambda m, k, x: jax.jit(
    lambda k: m.init(k, x, train=False), compiler_options=host.run_once_compiler_options()
  )(k)
  g_vars, d_vars = init(g, k_g, z), init(d, k_d, real)
  g_tx, d_tx = optax.adam(2e-4, b1=0.5), optax.adam(2e-4, b1=0.5)
  state = tuple(
    (v["params"], v.get("batch_stats", {}), tx.init(v["params"]))
    for v, tx in ((g_vars, g_tx), (d_vars, d_tx))
  )
  count = lambda v: sum(int(np.prod(a.shape)) for a in jax.tree.leaves(v["params"]))
  return make_step(g, d, g_tx, d_tx, z_dim), state, real, (count(g_vars), count(d_vars))


def _flops(lowered) -> float:
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


@contextlib.contextmanager
def plain_lax_convolutions():
  saved = ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE, r3gan.CPU_GROUPED_CONV
  ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE, r3gan.CPU_GROUPED_CONV = "lax", "lax", "lax"
  try:
    yield
  finally:
    ops.AUTO_CONV, ops.AUTO_CONV_TRANSPOSE, r3gan.CPU_GROUPED_CONV = saved


def measure(
  family: str, *, batch: int, size: int, channels: int, z_dim: int, steps: int, lax: bool = False
):
  rng = jax.random.PRNGKey(1)
  # lax: the model as written, timed (flax.linen's own convolutions) for an A/B.
  with plain_lax_convolutions() if lax else contextlib.nullcontext():
    step, state, real, params = setup(family, batch, size, channels, z_dim)
    lowered = jax.jit(step, donate_argnums=0).lower(state, real, rng)
  with plain_lax_convolutions():
    # A step function of its own: jit's trace cache does not see the switches above.
    model_step = setup(family, batch, size, channels, z_dim)[0]
    model_flops = _flops(jax.jit(model_step).lower(state, real, rng))
  t = time.perf_counter()
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t
  state, metrics = compiled(state, real, rng)  # warm-up
  jax.block_until_ready(metrics)
  t = time.perf_counter()
  for i in range(steps):
    state, metrics = compiled(state, real, jax.random.fold_in(rng, i))
  jax.block_until_ready((state, metrics))
  seconds = (time.perf_counter() - t) / steps
  return {
    "family": family,
    "convolutions": "lax" if lax else "auto",
    "batch": batch,
    "image_size": size,
    "channels": channels,
    "steps": steps,
    "images_per_s": round(batch / seconds, 2),
    "ms_per_step": round(seconds * 1e3, 1),
    "compile_s": round(compile_s, 1),
    "g_params": params[0],
    "d_params": params[1],
    "flops_per_step": _flops(lowered),
    "model_flops_per_step": model_flops,
    "model_flops_per_s": round(model_flops / seconds),
    "backend": jax.default_backend(),
    "d_loss": float(metrics["d_loss"]),
  }


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--families", default=",".join(FAMILIES))
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=3)
  p.add_argument("--z_dim", type=int, default=128)
  p.add_argument("--lax", action="store_true", help="time flax's lax convolutions instead")
  args = p.parse_args()
  for family in args.families.split(","):
    row = measure(
      family,
      batch=args.batch,
      size=args.size,
      channels=args.channels,
      z_dim=args.z_dim,
      steps=args.steps,
      lax=args.lax,
    )
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
