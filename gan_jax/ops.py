"""Fast, exactly-equivalent replacements for slow Flax ops.

One idea over 600 lines: strided and transposed convolutions rewritten as stride-1
correlations and plain matmuls (their plans, kernels and custom gradients), each a drop-in
for its Flax module.

`flax.linen.ConvTranspose` lowers to `lax.conv_general_dilated` with `lhs_dilation=strides`:
the input is spread out with zeros and then cross-correlated with the full kernel. XLA:CPU
has no fast kernel for lhs-dilated convolutions (and neither the forward pass nor the
kernel gradient skips the inserted zeros), so in a DCGAN generator these layers dominate
the training step. `conv_transpose_subpixel` computes the same function from stride-1
correlations / plain matmuls only:

* sub-pixel: output position ``o = s * q + r`` along a spatial dim only ever touches the
  kernel taps ``t ≡ pad_lo - r (mod s)``, so each output phase ``r`` is a stride-1
  correlation of the undilated input with a sub-kernel. All ``prod(strides)`` phases are
  one correlation with ``prod(strides) * features`` output channels (phase r's window
  starts at its own offset, so the sub-kernel keeps the minimal ``ceil(k / s)`` taps),
  followed by an interleave (depth-to-space).
* col2im / Winograd: one matmul over all taps followed by shifted adds (with a custom
  VJP of plain matmuls), or Winograd F(2x2, 2x2) (9 matmuls instead of 16). On CPU
  `method="auto"` means `AUTO_CONV_TRANSPOSE` ("fast": Winograd where it pays, col2im
  elsewhere), measured with benchmarks/step_variants.py on the DCGAN step.
* Split gradients: where Winograd has few tiles (a 4x4 side), it computes the output and
  the input gradient and a direct form the kernel gradient (`_split_grads`).
* `Conv` is the same idea for the discriminator's strided convolutions (space-to-depth,
  then a 2x2 stride-1 correlation), a drop-in subclass of `flax.linen.Conv`.

Derivation (one spatial dim, ``lax.conv_transpose`` with ``transpose_kernel=False``, as Flax
calls it): with input length ``n``, kernel ``w`` of length ``k``, stride ``s`` and the
transposed-conv padding ``(pad_lo, pad_hi)`` (for 'SAME'/'VALID' what
``lax._conv_transpose_padding`` derives),
    y[o] = sum_t d[o + t - pad_lo] * w[t],   d[s * i] = x[i], zero elsewhere,
so with ``o = s * q + r`` and ``t = s * m + pad_lo - r``:
    y[s * q + r] = sum_m x[q + m] * w[s * m + pad_lo - r],   0 <= s * m + pad_lo - r < k.
The output length is ``s * (n - 1) + 1 + pad_lo + pad_hi - k + 1``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

from gan_jax import parallel

Array = jax.Array
PaddingLike = str | int | Sequence[int | tuple[int, int]]

# Must stay identical to what flax.linen.ConvTranspose uses, so param trees are interchangeable.
default_kernel_init = nn.initializers.lecun_normal()
default_bias_init = nn.initializers.zeros_init()

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


@dataclasses.dataclass(frozen=True)
class _DimPlan:
  """How one spatial dim of a transposed conv maps onto a stride-1 conv + interleave."""

  stride: int
  out_len: int  # length of the transposed-conv output along this dim
  q_len: int  # outputs per phase: ceil(out_len / stride)
  taps: int  # sub-kernel length (max over phases; shorter phases are zero-padded)
  tap_starts: tuple[int, ...]  # per phase r: kernel index of sub-kernel tap 0 (step: stride)
  input_pad: tuple[int, int]  # stride-1 conv padding of the input (may be negative = crop)
  offsets: tuple[int, ...]  # per phase r: where phase r's outputs start in the conv output
  conv_len: int  # length of the stride-1 conv output along this dim


def _transpose_padding(k: int, s: int, padding: str | tuple[int, int]) -> tuple[int, int]:
  """(pad_lo, pad_hi) of the lhs-dilated conv, exactly as `lax.conv_transpose` computes it."""
  if padding == "SAME":
    pad_len = k + s - 2
    pad_lo = k - 1 if s > k - 1 else math.ceil(pad_len / 2)
    return pad_lo, pad_len - pad_lo
  if padding == "VALID":
    pad_len = k + s - 2 + max(k - s, 0)
    return k - 1, pad_len - (k - 1)
  # An explicit pair is used verbatim by lax.conv_transpose (use_consistent_padding=False),
  # i.e. it is the padding of the dilated input, not of the corresponding forward conv.
  lo, hi = padding
  return int(lo), int(hi)


def _plan_dim(n: int, k: int, s: int, padding: str | tuple[int, int], shifted: bool) -> _DimPlan:
  """Plans one spatial dim.

  shifted=True: every phase gets its own `taps`-long window, and phases whose window starts
  later read the conv output at an offset (`offsets`). This keeps the sub-kernel at the
  minimal ceil(k / s) taps, e.g. 2x2 for kernel 4 / stride 2, at the cost of computing
  `max(offsets)` extra rows. shifted=False: one window covering the union of all phases'
  taps (e.g. 3x3, with zero taps), all offsets 0, so the interleave is a pure reshape.
  """
  pad_lo, pad_hi = _transpose_padding(k, s, padding)
  out_len = s * (n - 1) + 1 + pad_lo + pad_hi - k + 1
  if out_len <= 0:
    raise ValueError(f"conv_transpose output would be empty (n={n}, k={k}, s={s}, {padding=}).")
  q_len = -(-out_len // s)
  # Phase r uses input offsets m in [m_lo[r], m_hi[r]] (empty when s > k and r is unlucky).
  m_lo = [-((pad_lo - r) // s) for r in range(s)]  # ceil((r - pad_lo) / s)
  m_hi = [(k - 1 + r - pad_lo) // s for r in range(s)]
  m_min = min(m_lo)
  if shifted:
    taps = max(max(hi - lo + 1 for lo, hi in zip(m_lo, m_hi, strict=True)), 1)
    offsets = tuple(lo - m_min for lo in m_lo)
  else:
    taps = max(m_hi) - m_min + 1
    offsets = (0,) * s
  # Tap j of phase r reads input q + m_min + offsets[r] + j, i.e. kernel index
  # s * (m_min + offsets[r] + j) + pad_lo - r (a zero tap when outside [0, k)).
  tap_starts = tuple(s * (m_min + offsets[r]) + pad_lo - r for r in range(s))
  conv_len = q_len + max(offsets)
  # Conv output p reads inputs p + m_min + j for j < taps.
  input_pad = (-m_min, conv_len + taps - 1 - n + m_min)
  return _DimPlan(s, out_len, q_len, taps, tap_starts, input_pad, offsets, conv_len)


def _phase_taps(kernel: Array, axis: int, plan: _DimPlan) -> Array:
  """Replaces `axis` of `kernel` by a pair of axes (taps, stride): entry (j, r) is kernel
  index tap_starts[r] + stride * j, or zero outside the kernel."""
  k, s = kernel.shape[axis], plan.stride
  lo = max(0, -min(plan.tap_starts))
  hi = max(0, max(plan.tap_starts) + s * (plan.taps - 1) - (k - 1))
  pads = [(0, 0, 0)] * kernel.ndim
  pads[axis] = (lo, hi, 0)
  # Zero-pad then take strided slices: exact, and their transposes (pads) are cheap.
  w = lax.pad(kernel, jnp.zeros((), kernel.dtype), pads)
  phases = []
  for start in plan.tap_starts:
    begin = [0] * w.ndim
    end = list(w.shape)
    step = [1] * w.ndim
    begin[axis] = start + lo
    end[axis] = start + lo + s * (plan.taps - 1) + 1
    step[axis] = s
    phases.append(lax.slice(w, begin, end, step))
  return jnp.stack(phases, axis=axis + 1)


def _subkernel(kernel: Array, plans: Sequence[_DimPlan]) -> Array:
  """(K0, K1, Ci, Co) -> (T0, T1, Ci, s0 * s1 * Co), output channels ordered (r0, r1, co)."""
  w = kernel
  for d, plan in enumerate(plans):
    w = _phase_taps(w, 2 * d, plan)
  # w: (T0, s0, T1, s1, Ci, Co) -> (T0, T1, Ci, s0, s1, Co)
  t0, s0, t1, s1, ci, co = w.shape
  w = w.transpose(0, 2, 4, 1, 3, 5)
  return w.reshape(t0, t1, ci, s0 * s1 * co)


def _interleave(z: Array, plans: Sequence[_DimPlan], features: int) -> Array:
  """Depth-to-space: z[n, q0 + off0[r0], q1 + off1[r1], (r0, r1, c)] -> y[n, s0 q0 + r0, ...]."""
  p0, p1 = plans
  n = z.shape[0]
  z = z.reshape(n, p0.conv_len, p1.conv_len, p0.stride, p1.stride, features)
  if max(p0.offsets) or max(p1.offsets):
    # Each phase starts at its own offset: slice it out, one small copy per phase.
    rows = []
    for r0 in range(p0.stride):
      cols = []
      for r1 in range(p1.stride):
        o0, o1 = p0.offsets[r0], p1.offsets[r1]
        cols.append(z[:, o0 : o0 + p0.q_len, o1 : o1 + p1.q_len, r0, r1, :])
      rows.append(jnp.stack(cols, axis=3))
    z = jnp.stack(rows, axis=3)  # (n, Q0, Q1, s0, s1, c)
  y = z.transpose(0, 1, 3, 2, 4, 5)
  y = y.reshape(n, p0.q_len * p0.stride, p1.q_len * p1.stride, features)
  if y.shape[1] != p0.out_len or y.shape[2] != p1.out_len:
    y = y[:, : p0.out_len, : p1.out_len]
  return y


def _canonical_padding(padding: PaddingLike, ndim: int) -> str | list[tuple[int, int]]:
  if isinstance(padding, str):
    if padding not in ("SAME", "VALID"):
      raise ValueError(
        f"conv_transpose_subpixel supports padding 'SAME', 'VALID' or pairs, got {padding!r}."
      )
    return padding
  if isinstance(padding, int):
    return [(padding, padding)] * ndim
  pads = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
  if len(pads) == 1:
    pads = pads * ndim
  if len(pads) != ndim or any(len(p) != 2 for p in pads):
    raise ValueError(f"Expected {ndim} (low, high) padding pairs, got {padding!r}.")
  return pads


# C_out up to which "auto" uses lax.conv_transpose on CPU: with a single output channel
# XLA:CPU's own transposed conv is ~1.5-2x faster than the sub-pixel matmuls (which are
# then skinny); from 2 channels on the sub-pixel path wins (benchmarks/conv_transpose_micro.py).
_LAX_MAX_FEATURES = 1

# What "auto" means on CPU (see conv_transpose_subpixel). Read at trace time.
AUTO_CONV_TRANSPOSE = "fast"

METHODS = ("auto", "fast", "winograd", "col2im", "dots", "conv", "lax")


def _pad(x: Array, pads: Sequence[tuple[int, int, int]]) -> Array:
  return lax.pad(x, jnp.zeros((), x.dtype), list(pads))


def _subpixel(
  x: Array, kernel: Array, plans: Sequence[_DimPlan], precision: lax.PrecisionLike, dots: bool
) -> Array:
  """Sub-pixel evaluation: one stride-1 correlation with the phase kernel, then interleave."""
  w = _subkernel(kernel, plans)  # (T0, T1, Ci, s0 * s1 * Co)
  # Pad explicitly and then run a VALID correlation: with the padding inside the conv,
  # XLA:CPU's kernel gradient for a 2x2 window takes a pathologically slow path (~30x).
  xp = _pad(x, [(0, 0, 0), *((*p.input_pad, 0) for p in plans), (0, 0, 0)])
  if dots:
    # Same correlation as a sum of one matmul per tap over shifted views of the input:
    # XLA:CPU's dot kernels are markedly faster than its conv emitter for these shapes.
    c0, c1 = plans[0].conv_len, plans[1].conv_len
    z = None
    for j0 in range(w.shape[0]):
      for j1 in range(w.shape[1]):
        part = jnp.einsum(
          "nhwc,co->nhwo", xp[:, j0 : j0 + c0, j1 : j1 + c1], w[j0, j1], precision=precision
        )
        z = part if z is None else z + part
  else:
    z = lax.conv_general_dilated(
      xp, w, (1, 1), "VALID", dimension_numbers=_DIMENSION_NUMBERS, precision=precision
    )
  return _interleave(z, plans, kernel.shape[-1])


def conv_transpose_subpixel(
  x: Array,
  kernel: Array,
  *,
  strides: Sequence[int] = (2, 2),
  padding: PaddingLike = "SAME",
  precision: lax.PrecisionLike = None,
  method: str = "auto",
) -> Array:
  """`lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=NHWC/HWIO/NHWC)`.

  Exactly the function Flax's `nn.ConvTranspose` computes (`transpose_kernel=False`, no
  kernel dilation), by default without the slow lhs-dilated convolution. Works for any 2-D
  kernel size and stride and for padding 'SAME', 'VALID', an int or explicit (low, high)
  pairs (interpreted like `lax.conv_transpose` does: as padding of the dilated input).
  Anything else (e.g. 'CIRCULAR', 1-D/3-D inputs) raises ValueError.

  Args:
    x: (N, H, W, C_in) input.
    kernel: (KH, KW, C_in, C_out) kernel, as stored by `nn.ConvTranspose`.
    strides: (sh, sw) upsampling factors.
    padding: 'SAME', 'VALID', an int, or a sequence of (low, high) pairs.
    precision: forwarded to the matmuls / convolution.
    method: how to evaluate it; all give the same function up to float rounding.
      "dots": sub-pixel. Every output phase r (o = s q + r) only uses the kernel taps
        t = s m + pad_lo - r, so all phases form ONE stride-1 correlation of the input with
        a (ceil(K/s), ceil(K/s), C_in, s0 s1 C_out) phase kernel (2x2 for K=4, s=2),
        computed as one matmul per tap over shifted views, followed by depth-to-space.
      "conv": the same correlation as a single `lax.conv_general_dilated`.
      "lax": `lax.conv_transpose` itself (the reference).
      "col2im": x @ W' (all taps at once) then the adjoint of space-to-depth im2col, with a
        custom VJP of plain matmuls + im2col (`conv_transpose_col2im`).
      "winograd": the transpose of the Winograd F(2x2, 2x2) form of the adjoint stride-s
        conv (9 matmuls instead of 16); "col2im" where it does not apply.
      "fast": "winograd" where `_winograd_pays`; where only `_winograd_split_pays`,
        Winograd for the output and input gradient and col2im for the kernel gradient;
        else "col2im".
      "auto": on CPU `AUTO_CONV_TRANSPOSE` ("fast", measured on XLA:CPU with
        benchmarks/step_variants.py); on other backends "conv" (one H200: the DCGAN step
        at 46k images/s vs 39k with flax.linen.ConvTranspose, docs/performance.md).

  Returns:
    (N, H_out, W_out, C_out) with H_out = sh * H for 'SAME'.
  """
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f"Expected NHWC input and HWIO kernel, got {x.shape} and {kernel.shape}.")
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"Input has {x.shape[-1]} channels but kernel expects {kernel.shape[2]}.")
  strides = tuple(int(s) for s in strides)
  if len(strides) != 2 or min(strides) < 1:
    raise ValueError(f"Expected two positive strides, got {strides}.")
  if method not in METHODS:
    raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}.")
  pads = _canonical_padding(padding, 2)
  dim_pads = [pads] * 2 if isinstance(pads, str) else pads
  plans = [
    _plan_dim(x.shape[1 + d], kernel.shape[d], strides[d], dim_pads[d], shifted=True)
    for d in range(2)
  ]
  if method == "auto":
    method = AUTO_CONV_TRANSPOSE if jax.default_backend() == "cpu" else "conv"
    if method == "dots" and kernel.shape[-1] <= _LAX_MAX_FEATURES:
      method = "lax"
  if method in ("fast", "winograd", "col2im"):
    pairs = [_transpose_padding(kernel.shape[d], strides[d], dim_pads[d]) for d in range(2)]
    winograd = {"fast": None, "winograd": True, "col2im": False}[method]
    return conv_transpose_col2im(x, kernel, strides, pairs, precision, vjp=True, winograd=winograd)
  if method == "lax":
    return lax.conv_transpose(
      x, kernel, strides, pads, dimension_numbers=_DIMENSION_NUMBERS, precision=precision
    )
  return _subpixel(x, kernel, plans, precision, dots=method == "dots")


class ConvTranspose(nn.Module):
  """Drop-in for `flax.linen.ConvTranspose` (2-D, NHWC) backed by `conv_transpose_subpixel`.

  Same param names, shapes and default initializers as Flax's module, so parameter trees
  are interchangeable. Supported subset: 2 spatial dims, padding 'SAME'/'VALID'/explicit
  pairs, no kernel dilation, mask or `transpose_kernel` (those fields do not exist here).
  Inputs may have any number of leading batch dims (or none), as with Flax.
  """

  features: int
  kernel_size: Sequence[int]
  strides: int | Sequence[int] | None = None
  padding: PaddingLike = "SAME"
  use_bias: bool = True
  dtype: Any | None = None
  param_dtype: Any = jnp.float32
  precision: lax.PrecisionLike = None
  kernel_init: nn.initializers.Initializer = default_kernel_init
  bias_init: nn.initializers.Initializer = default_bias_init
  method: str = "auto"  # see conv_transpose_subpixel

  @nn.compact
  def __call__(self, inputs: Array) -> Array:
    if isinstance(self.kernel_size, int) or len(self.kernel_size) != 2:
      raise ValueError(f"ConvTranspose supports 2-D kernels only, got {self.kernel_size}.")
    kernel_size = tuple(self.kernel_size)
    # Like Flax: None means stride 1, an int is broadcast to both spatial dims.
    strides = self.strides if self.strides is not None else 1
    strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides)
    # Flatten / add batch dims exactly like Flax, so shapes in and out match.
    batch_shape = inputs.shape[:-3]
    if len(batch_shape) != 1:
      inputs = inputs.reshape((-1,) + inputs.shape[-3:])
    in_features = inputs.shape[-1]
    # Same names, shapes, initializers and creation order (kernel, then bias) as Flax, so
    # the same PRNG key yields the same params.
    kernel = self.param(
      "kernel", self.kernel_init, kernel_size + (in_features, self.features), self.param_dtype
    )
    bias = (
      self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      if self.use_bias
      else None
    )
    inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    y = conv_transpose_subpixel(
      inputs,
      kernel,
      strides=strides,
      padding=self.padding,
      precision=self.precision,
      method=self.method,
    )
    if bias is not None:
      y = y + bias.reshape((1, 1, 1, -1))
    if len(batch_shape) != 1:
      y = y.reshape(batch_shape + y.shape[1:])
    return y


# --- Strided convolutions as space-to-depth + matmul ---------------------------------------
#
# A stride-s convolution with a K-tap kernel, y[o] = sum_{t<K} xpad[s o + t] w[t], only ever
# reads xpad in blocks of s: with t = s a + r (a < A = ceil(K / s), r < s; taps t >= K are
# zero) it is y[o] = sum_{a, r} xs[o + a, r] w[s a + r] where xs = space-to-depth(xpad). So
# its patches are A0 * A1 plain (unstrided) shifted views of the space-to-depth input, and
# the conv is one matmul patches @ W with K = A0 A1 s0 s1 C_in rows (exactly K0 K1 C_in when
# the kernel size is a multiple of the stride: no wasted FLOPs). Its input gradient is the
# adjoint `_col2im`: shifted adds then depth-to-space, no lhs-dilated conv.
#
# The transposed conv of `conv_transpose_subpixel` is that adjoint applied to x @ W': with
# t' = K - 1 - t (the flipped kernel), tap t' of input i lands on output s i + t' - lo where
# lo = K - 1 - pad_lo, i.e. it is the transpose of the stride-s conv with padding lo.


@dataclasses.dataclass(frozen=True)
class _S2DPlan:
  """One spatial dim of a stride-s conv in space-to-depth form."""

  stride: int
  length: int  # input length of the conv (output length of the transposed conv)
  out_len: int  # conv output length
  taps: int  # A = ceil(K / s) block taps
  blocks: int  # out_len + taps - 1 space-to-depth blocks of the padded input
  pad: tuple[int, int]  # padding of the input to exactly stride * blocks (may be negative)


def _s2d_plan(length: int, k: int, s: int, lo: int, out_len: int) -> _S2DPlan:
  taps = -(-k // s)
  blocks = out_len + taps - 1
  return _S2DPlan(s, length, out_len, taps, blocks, (lo, s * blocks - length - lo))


def _im2col(x: Array, plans: Sequence[_S2DPlan]) -> Array:
  """(N, L0, L1, C) -> patches (N, O0, O1, A0 * A1 * s0 * s1 * C), ordered (a0, a1, r0, r1, c)."""
  p0, p1 = plans
  n, c = x.shape[0], x.shape[-1]
  xp = _pad(x, [(0, 0, 0), (*p0.pad, 0), (*p1.pad, 0), (0, 0, 0)])
  xs = xp.reshape(n, p0.blocks, p0.stride, p1.blocks, p1.stride, c).transpose(0, 1, 3, 2, 4, 5)
  xs = xs.reshape(n, p0.blocks, p1.blocks, p0.stride * p1.stride * c)
  if p0.taps == p1.taps == 1:
    return xs
  cols = [
    xs[:, a0 : a0 + p0.out_len, a1 : a1 + p1.out_len]
    for a0 in range(p0.taps)
    for a1 in range(p1.taps)
  ]
  return jnp.concatenate(cols, axis=-1)


def _col2im(u: Array, plans: Sequence[_S2DPlan]) -> Array:
  """Adjoint of `_im2col`: (N, O0, O1, A0 * A1 * s0 * s1 * C) -> (N, L0, L1, C)."""
  p0, p1 = plans
  n = u.shape[0]
  c = u.shape[-1] // (p0.taps * p1.taps * p0.stride * p1.stride)
  u = u.reshape(n, p0.out_len, p1.out_len, p0.taps * p1.taps, p0.stride * p1.stride * c)
  z = None
  for a0 in range(p0.taps):
    for a1 in range(p1.taps):
      part = _pad(
        u[:, :, :, a0 * p1.taps + a1],
        [
          (0, 0, 0),
          (a0, p0.blocks - p0.out_len - a0, 0),
          (a1, p1.blocks - p1.out_len - a1, 0),
          (0, 0, 0),
        ],
      )
      z = part if z is None else z + part
  z = z.reshape(n, p0.blocks, p1.blocks, p0.stride, p1.stride, c).transpose(0, 1, 3, 2, 4, 5)
  z = z.reshape(n, p0.blocks * p0.stride, p1.blocks * p1.stride, c)
  return _pad(z, [(0, 0, 0), *((-p.pad[0], -p.pad[1], 0) for p in plans), (0, 0, 0)])


def _s2d_kernel(kernel: Array, plans: Sequence[_S2DPlan]) -> Array:
  """(K0, K1, Ci, Co) -> (A0 * A1 * s0 * s1 * Ci, Co), rows ordered like `_im2col`'s patches."""
  p0, p1 = plans
  k0, k1, ci, co = kernel.shape
  w = _pad(
    kernel,
    [(0, p0.taps * p0.stride - k0, 0), (0, p1.taps * p1.stride - k1, 0), (0, 0, 0), (0, 0, 0)],
  )
  w = w.reshape(p0.taps, p0.stride, p1.taps, p1.stride, ci, co).transpose(0, 2, 1, 3, 4, 5)
  return w.reshape(-1, co)


def _conv_pads(
  shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int], padding: Any
) -> list[tuple[int, int]]:
  if isinstance(padding, str):
    return [tuple(p) for p in lax.padtype_to_pads(shape, kernel_shape, strides, padding)]
  return [(int(lo), int(hi)) for lo, hi in padding]


def conv_s2d(
  x: Array,
  kernel: Array,
  strides: Sequence[int] = (2, 2),
  padding: str | Sequence[tuple[int, int]] = "SAME",
  precision: lax.PrecisionLike = None,
  method: str = "matmul",
) -> Array:
  """`lax.conv_general_dilated(x, kernel, strides, padding)` (NHWC / HWIO / NHWC, no dilation)
  as space-to-depth + matmul: patches of `_im2col` times the reshaped kernel.

  method "im2col": one matmul with all A0 * A1 block taps concatenated on channels, with a
  custom VJP made of matmuls and the adjoint `_col2im`; "matmul": the same, differentiated
  by JAX; "dots": one matmul per block tap on shifted views (no patch copy), summed.
  """
  strides = tuple(int(s) for s in strides)
  pads = _conv_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
  plans = []
  for d in range(2):
    n, k, s, (lo, hi) = x.shape[1 + d], kernel.shape[d], strides[d], pads[d]
    out_len = (n + lo + hi - k) // s + 1
    if out_len <= 0:
      raise ValueError(f"conv output would be empty (n={n}, k={k}, s={s}, pads={pads[d]}).")
    plans.append(_s2d_plan(n, k, s, lo, out_len))
  if method == "fast":
    c_in, c_out = kernel.shape[2:]
    if _winograd_pays(plans, c_in, c_out):
      method = "winograd"
    elif _winograd_split_pays(plans, c_in, c_out):
      wino = functools.partial(_conv_winograd, plans=tuple(plans), precision=precision)
      direct = functools.partial(
        _conv_lax, strides=strides, pads=tuple(map(tuple, pads)), precision=precision
      )
      return _split_grads(x, _vary_like(kernel, x), wino, wino, direct)
    elif plans[0].out_len * plans[1].out_len > _IM2COL_MAX_OUTPUTS:
      # Measured on XLA:CPU: its own conv is then as fast as the im2col matmuls.
      return _conv_lax(x, kernel, strides, tuple(map(tuple, pads)), precision)
    else:
      method = "im2col"
  if method == "winograd" and _winograd_ok(plans):
    return _conv_winograd(x, kernel, tuple(plans), precision)
  w = _s2d_kernel(kernel, plans)
  if method in ("im2col", "winograd"):
    return _conv_im2col(x, _vary_like(w, x), tuple(plans), precision)
  if method == "matmul":
    patches = _im2col(x, plans)
    return jnp.einsum("nhwf,fo->nhwo", patches, w, precision=precision)
  p0, p1 = plans
  xs = _im2col(x, [dataclasses.replace(p, taps=1, out_len=p.blocks) for p in plans])
  w = w.reshape(p0.taps * p1.taps, -1, w.shape[-1])
  y = None
  for a0 in range(p0.taps):
    for a1 in range(p1.taps):
      part = jnp.einsum(
        "nhwf,fo->nhwo",
        xs[:, a0 : a0 + p0.out_len, a1 : a1 + p1.out_len],
        w[a0 * p1.taps + a1],
        precision=precision,
      )
      y = part if y is None else y + part
  return y


def _conv_lax(
  x: Array, kernel: Array, strides: tuple, pads: tuple, precision: lax.PrecisionLike
) -> Array:
  return lax.conv_general_dilated(
    x, kernel, strides, pads, dimension_numbers=_DIMENSION_NUMBERS, precision=precision
  )


def _conv_winograd(x: Array, kernel: Array, plans: tuple, precision: lax.PrecisionLike) -> Array:
  """The strided conv of `conv_s2d` as Winograd F(2x2, 2x2) over the space-to-depth blocks,
  with each product's contraction split by the blocks' row phase r0: s0 products over
  (r1, c) summed, instead of one over (r0, r1, c).

  A block's entries of one row phase are a contiguous run (r1, c) of the padded NHWC input,
  so every input transform reads plain strided views of it. Over (r0, r1, c) each transform
  would also gather a block's rows (a space-to-depth transpose), which XLA:CPU fuses into
  all nine transforms: the step ran about 1% slower that way.
  """
  p0, p1 = plans
  n, c = x.shape[0], x.shape[-1]
  s0, s1 = p0.stride, p1.stride
  t0, t1 = p0.out_len // 2, p1.out_len // 2
  xp = _pad(x, [(0, 0, 0), (*p0.pad, 0), (*p1.pad, 0), (0, 0, 0)])
  z = xp.reshape(n, s0 * p0.blocks, p1.blocks, s1 * c)  # rows: pixels; cols: blocks
  w = _s2d_kernel(kernel, plans)  # rows (a0, a1, r0, r1, c)
  w = w.reshape(2, 2, s0, s1 * c, w.shape[-1])
  m = [None] * 9
  for r0 in range(s0):
    u = _wino_filter(w[:, :, r0])
    # Block row 2 t + i, phase r0, is pixel row s0 (2 t + i) + r0.
    rows = [
      lax.slice_in_dim(z, s0 * i + r0, s0 * i + r0 + 2 * s0 * (t0 - 1) + 1, 2 * s0, axis=1)
      for i in range(3)
    ]
    rows = [rows[0] - rows[1], rows[1], rows[2] - rows[1]]
    k = 0
    for r in rows:
      cols = [lax.slice_in_dim(r, j, j + 2 * (t1 - 1) + 1, 2, axis=2) for j in range(3)]
      for v in (cols[0] - cols[1], cols[1], cols[2] - cols[1]):
        part = jnp.dot(v.reshape(-1, s1 * c), u[k], precision=precision)
        m[k] = part if m[k] is None else m[k] + part
        k += 1
  return _wino_output(m, n, t0, t1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _split_grads(
  x: Array, w: Array, forward: Callable, input_grad: Callable, kernel_grad: Callable
) -> Array:
  """`forward(x, w)`, differentiated w.r.t. x through `input_grad` and w.r.t. w through
  `kernel_grad`: three formulations of one function, each used where it is fastest.

  The backward pass is ordinary JAX code, so it can be differentiated again (gradient
  penalties); the unused forward halves of the two `jax.vjp` calls are dead code to XLA.
  """
  return forward(x, w)


def _split_grads_fwd(x, w, forward, input_grad, kernel_grad):
  return forward(x, w), (x, w)


def _split_grads_bwd(forward, input_grad, kernel_grad, res, g):
  x, w = res
  dx = jax.vjp(lambda x: input_grad(x, w), x)[1](g)[0]
  dw = jax.vjp(lambda w: kernel_grad(x, w), w)[1](g)[0]
  return dx, dw


_split_grads.defvjp(_split_grads_fwd, _split_grads_bwd)


def conv_transpose_col2im(
  x: Array,
  kernel: Array,
  strides: Sequence[int],
  pads: Sequence[tuple[int, int]],
  precision: lax.PrecisionLike = None,
  vjp: bool = False,
  winograd: bool | None = False,
) -> Array:
  """`lax.conv_transpose` with explicit (dilated-input) pads as x @ W' then `_col2im`."""
  plans = []
  for d in range(2):
    n, k, s, (pad_lo, pad_hi) = x.shape[1 + d], kernel.shape[d], strides[d], pads[d]
    out_len = s * (n - 1) + 1 + pad_lo + pad_hi - k + 1
    plans.append(_s2d_plan(out_len, k, s, k - 1 - pad_lo, n))
  plans = tuple(plans)
  if winograd is None:
    c_in, c_out = kernel.shape[2:]
    winograd = _winograd_pays(plans, c_in, c_out)
    if not winograd and vjp and _winograd_split_pays(plans, c_in, c_out):
      wino = functools.partial(_conv_t_winograd, plans=plans, precision=precision)
      col2im = functools.partial(_conv_t_col2im_kernel, plans=plans, precision=precision)
      return _split_grads(x, _vary_like(kernel, x), wino, wino, col2im)
  if winograd and _winograd_ok(plans):
    return _conv_t_winograd(x, kernel, plans, precision)
  if vjp:
    return _conv_t_col2im_kernel(x, _vary_like(kernel, x), plans, precision)
  w = _adjoint_s2d_kernel(kernel, plans).T  # (Ci, F * Co)
  u = jnp.einsum("nhwc,cf->nhwf", x, w, precision=precision)
  return _col2im(u, plans)


def _adjoint_s2d_kernel(kernel: Array, plans: tuple) -> Array:
  """The kernel of the stride-s conv whose transpose is the transposed conv (flipped, C_in and
  C_out swapped), in space-to-depth form: (F * Co, Ci)."""
  return _s2d_kernel(kernel[::-1, ::-1].transpose(0, 1, 3, 2), plans)


def _conv_t_winograd(x: Array, kernel: Array, plans: tuple, precision: lax.PrecisionLike) -> Array:
  """The transposed conv as the transpose of a stride-s conv (flipped kernel, C_in and C_out
  swapped) from its output space to its input space: that conv's Winograd form
  (`_conv_winograd`), transposed. One output row phase r0 at a time, each phase's products
  fill the (r1, c) runs of its own pixel rows, so the phases interleave by rows into NHWC
  without a depth-to-space transpose."""
  p0, p1 = plans
  n, l0, l1, o = x.shape
  s0, s1 = p0.stride, p1.stride
  t0, t1 = l0 // 2, l1 // 2
  c = kernel.shape[-1]
  w = _adjoint_s2d_kernel(kernel, plans).reshape(2, 2, s0, s1 * c, o)
  y = x.reshape(n, t0, 2, t1, 2, o)
  # Transposed output transform: m0 = y0, m1 = y0 + y1, m2 = y1 per dim.
  rows = [y[:, :, 0], y[:, :, 0] + y[:, :, 1], y[:, :, 1]]  # (N, T0, T1, 2, O)
  m = []
  for r in rows:
    m.extend([r[:, :, :, 0], r[:, :, :, 0] + r[:, :, :, 1], r[:, :, :, 1]])
  m = [mi.reshape(-1, o) for mi in m]
  phases = []
  for r0 in range(s0):
    u = _wino_filter(w[:, :, r0])
    v = [
      jnp.dot(mi, ui.T, precision=precision).reshape(n, t0, t1, s1 * c)
      for mi, ui in zip(m, u, strict=True)
    ]
    rows = [_interleave_overlap(*v[3 * i : 3 * i + 3], axis=2) for i in range(3)]
    phases.append(_interleave_overlap(*rows, axis=1))  # (N, B0, B1, s1 c)
  z = jnp.stack(phases, axis=2)  # (N, B0, s0, B1, s1 c): pixel rows s0 b0 + r0
  z = z.reshape(n, p0.blocks * s0, p1.blocks * s1, c)
  return _pad(z, [(0, 0, 0), *((-p.pad[0], -p.pad[1], 0) for p in plans), (0, 0, 0)])


def _conv_t_col2im_kernel(
  x: Array, kernel: Array, plans: tuple, precision: lax.PrecisionLike
) -> Array:
  """The transposed conv as x @ W' then `_col2im`, with the matmul-only custom VJP."""
  w = _adjoint_s2d_kernel(kernel, plans).T  # (Ci, F * Co)
  return _conv_t_col2im(x, w, plans, precision)


def _mm(a: Array, b: Array, precision: lax.PrecisionLike) -> Array:
  """(..., K) @ (K, M) as one 2-D matmul."""
  y = jnp.dot(a.reshape(-1, a.shape[-1]), b, precision=precision)
  return y.reshape(*a.shape[:-1], b.shape[-1])


def _mm_t(a: Array, b: Array, precision: lax.PrecisionLike) -> Array:
  """a^T b over all leading dims: (..., K) x (..., M) -> (K, M)."""
  return jnp.dot(a.reshape(-1, a.shape[-1]).T, b.reshape(-1, b.shape[-1]), precision=precision)


def _vary_like(w: Array, x: Array) -> Array:
  """Marks the (replicated) weights as varying over the shard_map axes that x varies over.

  Inside shard_map a custom VJP must return a cotangent of its input's type; the weight
  gradient of a sharded batch varies across devices, so the cast has to happen outside the
  custom VJP, where JAX transposes it to the psum its own autodiff would insert.
  """
  missing = tuple(sorted(parallel.varying_axes(x) - parallel.varying_axes(w)))
  return lax.pcast(w, missing, to="varying") if missing else w


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_im2col(x: Array, w: Array, plans: tuple, precision: Any) -> Array:
  return _mm(_im2col(x, plans), w, precision)


def _conv_im2col_fwd(x, w, plans, precision):
  patches = _im2col(x, plans)
  return _mm(patches, w, precision), (patches, w)


def _conv_im2col_bwd(plans, precision, res, dy):
  patches, w = res
  return _col2im(_mm(dy, w.T, precision), plans), _mm_t(patches, dy, precision)


_conv_im2col.defvjp(_conv_im2col_fwd, _conv_im2col_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_t_col2im(x: Array, w: Array, plans: tuple, precision: Any) -> Array:
  return _col2im(_mm(x, w, precision), plans)


def _conv_t_col2im_fwd(x, w, plans, precision):
  return _conv_t_col2im(x, w, plans, precision), (x, w)


def _conv_t_col2im_bwd(plans, precision, res, dy):
  x, w = res
  patches = _im2col(dy, plans)
  return _mm(patches, w.T, precision), _mm_t(x, patches, precision)


_conv_t_col2im.defvjp(_conv_t_col2im_fwd, _conv_t_col2im_bwd)


# What Conv's "auto" means on CPU for strided convs: "fast" (Winograd where `_winograd_pays`;
# Winograd with XLA's own kernel gradient where `_winograd_split_pays`; else XLA's own
# conv), "winograd", "im2col" (custom VJP), "matmul" (im2col with autodiff), "dots" or
# "lax". Read at trace time (benchmarks/step_variants.py switches it).
AUTO_CONV = "fast"

CONV_METHODS = ("auto", "fast", "winograd", "im2col", "matmul", "dots", "lax")


def conv_general_dilated(
  lhs: Array,
  rhs: Array,
  window_strides: Sequence[int],
  padding: str | Sequence[tuple[int, int]],
  lhs_dilation: Sequence[int] | None = None,
  rhs_dilation: Sequence[int] | None = None,
  dimension_numbers: Any = None,
  feature_group_count: int = 1,
  batch_group_count: int = 1,
  precision: lax.PrecisionLike = None,
  preferred_element_type: Any = None,
  *,
  method: str = "auto",
) -> Array:
  """`lax.conv_general_dilated`, with 2-D strided NHWC convs computed by `conv_s2d`.

  Anything else (dilations, groups, other layouts or ranks, stride 1, "auto" off CPU) is
  passed to `lax.conv_general_dilated` unchanged.
  """
  if method not in CONV_METHODS:
    raise ValueError(f"Unknown method {method!r}; expected one of {CONV_METHODS}.")
  strides = tuple(int(s) for s in window_strides)
  if method == "auto":
    method = AUTO_CONV if jax.default_backend() == "cpu" and max(strides) > 1 else "lax"
  fast = (
    method != "lax"
    and lhs.ndim == 4
    and rhs.ndim == 4
    and all(d == 1 for d in (lhs_dilation or (1, 1)))
    and all(d == 1 for d in (rhs_dilation or (1, 1)))
    and feature_group_count == 1
    and batch_group_count == 1
    and preferred_element_type is None
    and (padding in ("SAME", "VALID") or not isinstance(padding, str))
    and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMENSION_NUMBERS)
  )
  if not fast:
    return lax.conv_general_dilated(
      lhs,
      rhs,
      strides,
      padding,
      lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count,
      batch_group_count=batch_group_count,
      precision=precision,
      preferred_element_type=preferred_element_type,
    )
  return conv_s2d(lhs, rhs, strides, padding, precision, method=method)


class Conv(nn.Conv):
  """Drop-in for `flax.linen.Conv`: the same module (fields, param names, shapes,
  initializers, batch-dim handling), with `conv_general_dilated` defaulting to the
  formulations above for 2-D strided convs on CPU (`AUTO_CONV`: Winograd in space-to-depth
  form where it pays, whose gradients avoid XLA:CPU's slow lhs-dilated convolution).
  Everything else falls back to lax.
  """

  conv_general_dilated: Callable[..., Array] | None = conv_general_dilated


# --- Winograd F(2x2, 2x2) ------------------------------------------------------------------
#
# In space-to-depth form both the discriminator's stride-2 4x4 conv and (transposed) the
# generator's transposed conv are 2x2-tap stride-1 correlations, y[o] = d[o] W0 + d[o+1] W1
# per spatial dim. Winograd's minimal filtering algorithm F(2, 2) computes two outputs from
# three inputs with three products instead of four:
#   m0 = (d0 - d1) W0,  m1 = d1 (W0 + W1),  m2 = (d2 - d1) W1;  y0 = m0 + m1,  y1 = m1 + m2,
# so in 2-D 9 matmuls replace 16 (the transforms only add and subtract: no rounding growth
# beyond a direct sum). Gradients are plain autodiff: transposed transforms + 9 matmuls.


def _winograd_ok(plans: Sequence[_S2DPlan]) -> bool:
  """F(2x2, 2x2) applies to 2-tap (e.g. kernel 4, stride 2) convs with even output sizes."""
  return all(p.taps == 2 and p.out_len % 2 == 0 for p in plans)


# Winograd pays off on XLA:CPU only with enough tiles and channels for its 9 matmuls to be
# efficient (measured with benchmarks/conv_micro.py: faster for 16x16x64 -> 8x8x128 and
# 8x8x128 -> 16x16x64, slower for 8x8 -> 4x4, 4x4 -> 8x8 and 1-channel layers).
_WINO_MIN_TILES = 16
_WINO_MIN_CHANNELS = 16
# Where Winograd does not apply, XLA:CPU's own strided conv is as fast as im2col, except on
# small outputs: the 5x5 stride-2 convs of the Stacked MNIST D (models/veegan.py), forward
# and backward at batch 64, 7x7x128 -> 4x4x256 in 205 ms against im2col's 70 and 4x4x256 ->
# 2x2x512 in 1,489 ms against 57. Outputs of at most this many positions take im2col.
_IM2COL_MAX_OUTPUTS = 16


def _winograd_pays(plans: Sequence[_S2DPlan], c_in: int, c_out: int) -> bool:
  tiles = (plans[0].out_len // 2) * (plans[1].out_len // 2)
  return _winograd_ok(plans) and tiles >= _WINO_MIN_TILES and min(c_in, c_out) >= _WINO_MIN_CHANNELS


def _winograd_split_pays(plans: Sequence[_S2DPlan], c_in: int, c_out: int) -> bool:
  """With fewer tiles Winograd still wins for the output and the input gradient, but its
  kernel gradient (nine thin matmuls) loses to the direct one: such layers (a 4x4 side in
  the DCGAN) split their gradients (`_split_grads`; measured in the DCGAN step)."""
  return _winograd_ok(plans) and min(c_in, c_out) >= _WINO_MIN_CHANNELS


def _wino_filter(w: Array) -> list[Array]:
  """(2, 2, C, O) -> the nine (C, O) products' kernels G w G^T, G = [[1, 0], [1, 1], [0, 1]],
  row-major. Nine separate arrays: stacked, each matmul would read a copy of its slice."""
  rows = [w[0], w[0] + w[1], w[1]]
  return [u for r in rows for u in (r[0], r[0] + r[1], r[1])]


def _wino_output(m: list[Array], n: int, t0: int, t1: int) -> Array:
  """Output transform A^T m A (A^T = [[1, 1, 0], [0, 1, 1]]) of the nine Winograd products
  (N T0 T1, O) -> (N, 2 T0, 2 T1, O)."""
  o = m[0].shape[-1]
  m = [mi.reshape(n, t0, t1, o) for mi in m]
  y = []
  for a, b in ((0, 1), (1, 2)):  # rows
    mr = [m[3 * a + j] + m[3 * b + j] for j in range(3)]
    y.append(jnp.stack([mr[0] + mr[1], mr[1] + mr[2]], axis=3))  # (N, T0, T1, 2, O)
  y = jnp.stack(y, axis=2)  # (N, T0, 2, T1, 2, O)
  return y.reshape(n, 2 * t0, 2 * t1, o)


def _interleave_overlap(v0: Array, v1: Array, v2: Array, axis: int) -> Array:
  """Transpose of the input transform along `axis` (length T -> 2 T + 1): tile j read
  (d[2j] - d[2j+1], d[2j+1], d[2j+2] - d[2j+1]), so d[2j] = v0[j] + v2[j-1] and
  d[2j+1] = v1[j] - v0[j] - v2[j]."""
  pads = [(0, 0, 0)] * v0.ndim

  def pad(a: Array, lo: int, hi: int) -> Array:
    p = list(pads)
    p[axis] = (lo, hi, 0)
    return _pad(a, p)

  even = pad(v0, 0, 1) + pad(v2, 1, 0)  # T + 1
  odd = pad(v1 - v0 - v2, 0, 1)  # T (+ 1 zero)
  d = jnp.stack([even, odd], axis=axis + 1)
  shape = list(v0.shape)
  shape[axis] = 2 * (v0.shape[axis] + 1)
  d = d.reshape(shape)
  return lax.slice_in_dim(d, 0, 2 * v0.shape[axis] + 1, axis=axis)
