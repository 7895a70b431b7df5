"""Fast, exactly-equivalent replacements for slow Flax ops.

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
* With a single output channel XLA:CPU's own transposed conv is faster, so on CPU
  `method="auto"` uses `lax.conv_transpose` there (it is the reference function).

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
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

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

METHODS = ("auto", "dots", "conv", "lax")


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
      "auto": on CPU "lax" if C_out == 1 else "dots" (measured on XLA:CPU); on other
        backends "conv" (not benchmarked there; plain convs are what cuDNN/TPU do best).

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
    if jax.default_backend() == "cpu":
      method = "lax" if kernel.shape[-1] <= _LAX_MAX_FEATURES else "dots"
    else:
      method = "conv"
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
