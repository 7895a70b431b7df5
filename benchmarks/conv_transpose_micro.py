"""Micro-benchmark: nn.ConvTranspose vs exact re-formulations, jitted forward + backward.

Prints one JSON line per layer (kernel 4x4, stride 2, 'SAME') with the median and minimum
milliseconds of one jitted value_and_grad step (grads w.r.t. params AND input of
sum(output * random projection)) for each variant:
  flax       flax.linen.ConvTranspose (lax.conv_transpose: an lhs-dilated conv)
  auto       gan_jax.ops.ConvTranspose default (method="auto": ops.AUTO_CONV_TRANSPOSE on CPU)
  dots       sub-pixel: 2x2 phase kernel with 4*C_out channels, one matmul per tap
  conv       sub-pixel: same, as one stride-1 lax.conv_general_dilated
  lax        conv_transpose_subpixel(method="lax"): lax.conv_transpose + separate bias add
  col2im     one matmul x @ kernel for all 16 taps, then strided scatter-add
  union3x3   sub-pixel conv with one 3x3 window shared by all phases (zero taps)
  phases4    four separate 2x2 convs, one per output phase
  im2col     2x2 patches concatenated on channels, then one matmul
The variants are timed round-robin (one call each per round) so load spikes from other
processes on a shared machine hit all of them alike; the minimum is the least noisy number.

Usage: python benchmarks/conv_transpose_micro.py [--batch 64] [--repeats 21] [--only a,b]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

from gan_jax import ops

# (H, C_in, C_out): DCGAN 32-px generator, the 28-px (MNIST) generator, a 3-channel output.
SHAPES = [(4, 256, 128), (8, 128, 64), (16, 64, 1), (7, 128, 64), (14, 64, 1), (16, 64, 3)]
_DN = ("NHWC", "HWIO", "NHWC")


def _plans(x: jax.Array, kernel: jax.Array, shifted: bool = True) -> list:
  return [ops._plan_dim(x.shape[1 + d], kernel.shape[d], 2, "SAME", shifted) for d in range(2)]


def union3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return ops._subpixel(x, kernel, _plans(x, kernel, shifted=False), None, dots=False)


def phases4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """One stride-1 VALID conv per output phase, each on its own window of the padded input."""
  plans = _plans(x, kernel)
  co = kernel.shape[-1]
  p0, p1 = plans
  w = ops._subkernel(kernel, plans).reshape(p0.taps, p1.taps, -1, 2, 2, co)
  xp = ops._pad(x, [(0, 0, 0), (*p0.input_pad, 0), (*p1.input_pad, 0), (0, 0, 0)])
  rows = []
  for r0 in range(2):
    cols = []
    for r1 in range(2):
      o0, o1 = p0.offsets[r0], p1.offsets[r1]
      window = xp[:, o0 : o0 + p0.q_len + p0.taps - 1, o1 : o1 + p1.q_len + p1.taps - 1]
      cols.append(
        lax.conv_general_dilated(window, w[:, :, :, r0, r1], (1, 1), "VALID", dimension_numbers=_DN)
      )
    rows.append(jnp.stack(cols, axis=3))
  z = jnp.stack(rows, axis=3)  # (n, Q0, Q1, 2, 2, co)
  n, q0, q1 = z.shape[:3]
  return z.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * q0, 2 * q1, co)


def im2col(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Patch extraction by shifted slices + a single matmul."""
  plans = _plans(x, kernel)
  w = ops._subkernel(kernel, plans)  # (T0, T1, Ci, 4 Co)
  xp = ops._pad(x, [(0, 0, 0), *((*p.input_pad, 0) for p in plans), (0, 0, 0)])
  c0, c1 = plans[0].conv_len, plans[1].conv_len
  patches = jnp.concatenate(
    [xp[:, j0 : j0 + c0, j1 : j1 + c1] for j0 in range(w.shape[0]) for j1 in range(w.shape[1])],
    axis=-1,
  )
  z = patches @ w.reshape(-1, w.shape[-1])
  return ops._interleave(z, plans, kernel.shape[-1])


def _col2im(
  x: jax.Array,
  kernel: jax.Array,
  strides: Sequence[int],
  pads: Sequence[tuple[int, int]],
  precision: lax.PrecisionLike,
) -> jax.Array:
  """GEMM + col2im: one matmul x @ kernel for all taps, then scatter-add every tap's output.

  From y[o] = sum_t d[o + t - pad_lo] w[t] with d[s i] = x[i]: tap t of input i lands on
  o = s i + pad_lo - t, i.e. tap t's product, dilated by s and shifted by pad_lo - t. That
  is an interior (+ possibly negative edge) `lax.pad`, whose transpose is a strided slice.
  """
  n, h, w_in, ci = x.shape
  k0, k1, _, co = kernel.shape
  u = jnp.einsum("nhwc,abco->nhwabo", x, kernel, precision=precision)
  in_lens, out_lens = (h, w_in), []
  for d in range(2):
    dilated = strides[d] * (in_lens[d] - 1) + 1
    out_lens.append(dilated + pads[d][0] + pads[d][1] - kernel.shape[d] + 1)
  y = None
  for t0 in range(k0):
    for t1 in range(k1):
      edge = []
      for d, t in enumerate((t0, t1)):
        lo = pads[d][0] - t
        edge.append((lo, out_lens[d] - lo - (strides[d] * (in_lens[d] - 1) + 1), strides[d] - 1))
      part = ops._pad(u[:, :, :, t0, t1], [(0, 0, 0), *edge, (0, 0, 0)])
      y = part if y is None else y + part
  assert y is not None and y.shape == (n, *out_lens, co)
  return y


def col2im(x: jax.Array, kernel: jax.Array) -> jax.Array:
  pads = [ops._transpose_padding(kernel.shape[d], 2, "SAME") for d in range(2)]
  return _col2im(x, kernel, (2, 2), pads, None)


def _time_round_robin(fns: dict[str, Callable], args: tuple, repeats: int) -> dict[str, list]:
  """[median ms, min ms] per function; one call of each per round."""
  for fn in fns.values():
    for _ in range(3):  # compile + warm-up
      jax.block_until_ready(fn(*args))
  times: dict[str, list[float]] = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      t = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t)
  return {
    name: [round(1e3 * statistics.median(ts), 2), round(1e3 * min(ts), 2)]
    for name, ts in times.items()
  }


def _variants(co: int) -> dict[str, Callable]:
  flax_mod = nn.ConvTranspose(co, (4, 4), strides=(2, 2), padding="SAME")
  ours = ops.ConvTranspose(co, (4, 4), strides=(2, 2), padding="SAME")

  def method(name: str) -> Callable:
    return lambda p, x: ops.conv_transpose_subpixel(x, p["kernel"], method=name) + p["bias"]

  return {
    "flax": lambda p, x: flax_mod.apply({"params": p}, x),
    "auto": lambda p, x: ours.apply({"params": p}, x),
    "dots": method("dots"),
    "conv": method("conv"),
    "col2im": lambda p, x: col2im(x, p["kernel"]) + p["bias"],
    "lax": method("lax"),
    "union3x3": lambda p, x: union3x3(x, p["kernel"]) + p["bias"],
    "phases4": lambda p, x: phases4(x, p["kernel"]) + p["bias"],
    "im2col": lambda p, x: im2col(x, p["kernel"]) + p["bias"],
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=21)
  parser.add_argument("--only", default="", help="comma-separated variant names")
  args = parser.parse_args()

  for h, ci, co in SHAPES:
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (args.batch, h, h, ci))
    params = nn.ConvTranspose(co, (4, 4), strides=(2, 2)).init(keys[1], x)["params"]
    proj = jax.random.normal(keys[2], (args.batch, 2 * h, 2 * h, co))
    variants = _variants(co)
    if args.only:
      variants = {k: v for k, v in variants.items() if k in args.only.split(",")}
    steps = {}
    for name, f in variants.items():
      # Random projection: the cotangent is dense and not constant, like a real loss. It is
      # a jit argument, not a closed-over constant, so XLA cannot constant-fold through it.
      def loss(p: dict, x: jax.Array, proj: jax.Array, f: Callable = f) -> jax.Array:
        return jnp.sum(f(p, x) * proj)

      steps[name] = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    row: dict = {"layer": f"{h}x{h}x{ci}->{2 * h}x{2 * h}x{co}", "batch": args.batch}
    row["ms_median_min"] = _time_round_robin(steps, (params, x, proj), args.repeats)
    if "flax" in steps and "auto" in steps:
      flax_ms, auto_ms = row["ms_median_min"]["flax"], row["ms_median_min"]["auto"]
      row["speedup_auto_median"] = round(flax_ms[0] / auto_ms[0], 2)
      row["speedup_auto_min"] = round(flax_ms[1] / auto_ms[1], 2)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
