"""gan_jax.ops.ConvTranspose / ops.Conv must be interchangeable with their flax.linen twins."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tiers import slow_except
from flax import linen as nn
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from gan_jax import host, ops

_DN = ("NHWC", "HWIO", "NHWC")


def _assert_close(actual: jax.Array, expected: jax.Array, tol: float = 1e-5) -> None:
  # Relative to the array's scale: the kernel gradient sums over batch x positions, so its
  # entries are O(10-100) and float32 reordering error scales with them.
  expected = np.asarray(expected)
  scale = max(1.0, float(np.max(np.abs(expected))))
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=tol, atol=tol * scale)


def _assert_loss_close(actual, expected, y: jax.Array, proj: jax.Array, tol: float = 1e-5) -> None:
  """The loss sum(y * proj), where y itself is only equal to `tol` (its float32 order of
  addition differs): errors of y within that tolerance, of either sign, add in quadrature."""
  scale = max(1.0, float(np.max(np.abs(np.asarray(y)))))
  atol = tol * scale * float(np.sqrt(np.sum(np.square(np.asarray(proj)))))
  np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=tol, atol=atol)


# (H, C_in, C_out, use_bias): the 32-px DCGAN generator, the 28-px MNIST generator and an
# RGB output layer. Batch 8, kernel 4x4, stride 2, 'SAME'.
LAYERS = [
  (4, 256, 128, False),
  (8, 128, 64, False),
  (16, 64, 1, True),
  (7, 128, 64, True),
  (14, 64, 1, True),
  (16, 64, 3, True),
]


def _run(fn: Callable, *args: Any) -> Any:
  """jax.jit(fn)(*args), compiled with LLVM optimizations off.

  Compile time dominates these tests (~1 s per program on a small CPU) and the backend
  optimization level only changes how fast the generated code runs, not which HLO ops it
  computes, so reference and candidate are still compared op-for-op at float32. On CPU
  only: it is there to save XLA:CPU's LLVM time; other backends compile as usual.
  """
  lowered = jax.jit(fn).lower(*args)
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else {}
  return lowered.compile(options)(*args)


def _normal(seed: int, shape: tuple[int, ...]) -> jax.Array:
  # numpy, not jax.random: every new jax.random shape costs an XLA compile.
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# The quick tier: one layer (each compiles four implementations, seconds on a CPU).
@pytest.mark.parametrize(
  ("h", "c_in", "c_out", "use_bias"), slow_except(LAYERS, [(7, 128, 64, True)])
)
def test_module_matches_flax(h: int, c_in: int, c_out: int, use_bias: bool) -> None:
  x = _normal(h, (8, h, h, c_in))
  proj = _normal(h + 1, (8, 2 * h, 2 * h, c_out))
  kwargs = dict(features=c_out, kernel_size=(4, 4), strides=(2, 2), padding="SAME")
  ref_mod = nn.ConvTranspose(use_bias=use_bias, **kwargs)
  # The default, plus the sub-pixel path explicitly: on CPU "auto" is plain lax for
  # C_out == 1. ("conv", the off-CPU default, is checked by test_function_matches_lax.)
  methods = ("auto", "dots", "winograd", "col2im")
  our_mods = [ops.ConvTranspose(use_bias=use_bias, method=m, **kwargs) for m in methods]
  # One program per step for all modules: each XLA compile costs ~1 s on a small CPU.
  key = jax.random.key(c_out)
  ref_params, our_params = _run(lambda k: (ref_mod.init(k, x), our_mods[0].init(k, x)), key)
  # Same tree, shapes and values from the same key: the param trees are interchangeable.
  assert jax.tree.structure(ref_params) == jax.tree.structure(our_params)
  jax.tree.map(np.testing.assert_array_equal, our_params, ref_params)
  assert ref_params["params"]["kernel"].shape == (4, 4, c_in, c_out)

  params = ref_params
  if use_bias:  # a zero-init bias would not test the bias path
    params = {"params": {**params["params"], "bias": _normal(c_out, (c_out,))}}

  def value_and_grads(mod: nn.Module, p: dict, x: jax.Array) -> tuple:
    def loss(p: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
      y = mod.apply(p, x)
      return jnp.sum(y * proj), y  # random projection: a dense, non-constant cotangent

    return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(p, x)

  ref, *ours = jax.jit(lambda p, x: [value_and_grads(m, p, x) for m in [ref_mod, *our_mods]])(
    params, x
  )
  (ref_loss, ref_y), (ref_gp, ref_gx) = ref
  assert ref_y.shape == (8, 2 * h, 2 * h, c_out)
  for (our_loss, our_y), (our_gp, our_gx) in ours:
    assert our_y.shape == ref_y.shape
    _assert_close(our_y, ref_y)
    _assert_close(our_gx, ref_gx)
    jax.tree.map(_assert_close, our_gp, ref_gp)
    _assert_loss_close(our_loss, ref_loss, ref_y, proj)


# Every method against lax.conv_transpose on small inputs, over strides, kernel sizes
# (odd, even, non-square, smaller than the stride) and paddings (incl. explicit pairs,
# which lax.conv_transpose applies to the dilated input, and negative ones).
CONFIGS = [
  ((5, 4), (4, 4), (2, 2), "SAME"),
  ((5, 4), (2, 2), (2, 2), "SAME"),
  ((5, 4), (3, 5), (2, 3), "SAME"),
  ((3, 3), (1, 1), (2, 2), "SAME"),
  ((4, 3), (4, 4), (2, 2), "VALID"),
  ((4, 3), (3, 2), (3, 1), "VALID"),
  ((4, 4), (3, 3), (1, 1), "SAME"),
  ((4, 4), (4, 4), (2, 2), [(1, 2), (3, 0)]),
  ((4, 4), (4, 3), (2, 2), [(0, 0), (-1, 2)]),
]


def _all_configs(fn: Callable, xs: list, kernels: list, projs: list) -> list:
  """Output and (input, kernel) grads of sum(fn(x, k) * proj) for every config."""
  results = []
  for (_, _, strides, padding), x, kernel, proj in zip(CONFIGS, xs, kernels, projs, strict=True):

    def loss(x: jax.Array, k: jax.Array, strides=strides, padding=padding, proj=proj) -> tuple:
      y = fn(x, k, strides, padding)
      return jnp.sum(y * proj), y

    (_, y), grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(x, kernel)
    results.append((y, *grads))
  return results


# "auto" is covered by the module test and "lax" is the reference itself.
@pytest.mark.parametrize("method", ["dots", "conv", "winograd", "col2im"])
def test_function_matches_lax(method: str) -> None:
  xs = [_normal(i, (2, *hw, 3)) for i, (hw, _, _, _) in enumerate(CONFIGS)]
  kernels = [_normal(100 + i, (*ks, 3, 5)) for i, (_, ks, _, _) in enumerate(CONFIGS)]
  out_shapes = [
    jax.eval_shape(
      lambda x, k, s=s, p=p: lax.conv_transpose(x, k, s, p, dimension_numbers=_DN), x, k
    ).shape
    for x, k, (_, _, s, p) in zip(xs, kernels, CONFIGS, strict=True)
  ]
  projs = [_normal(200 + i, shape) for i, shape in enumerate(out_shapes)]

  def ref_fn(x: jax.Array, k: jax.Array, strides: tuple, padding: Any) -> jax.Array:
    return lax.conv_transpose(x, k, strides, padding, dimension_numbers=_DN)

  def our_fn(x: jax.Array, k: jax.Array, strides: tuple, padding: Any) -> jax.Array:
    return ops.conv_transpose_subpixel(x, k, strides=strides, padding=padding, method=method)

  # One jit over all configs: one compile instead of one per config.
  refs = _run(lambda *a: _all_configs(ref_fn, *a), xs, kernels, projs)
  ours = _run(lambda *a: _all_configs(our_fn, *a), xs, kernels, projs)
  for config, ref, our in zip(CONFIGS, refs, ours, strict=True):
    assert our[0].shape == ref[0].shape, config
    for a, b in zip(our, ref, strict=True):
      _assert_close(a, b)


@pytest.mark.parametrize("batch_shape", [(), (2, 3)])
def test_batch_dims_like_flax(batch_shape: tuple[int, ...]) -> None:
  x = _normal(2, (*batch_shape, 4, 4, 6))
  kwargs = dict(features=5, kernel_size=(4, 4), strides=(2, 2))
  params = {"params": {"kernel": _normal(3, (4, 4, 6, 5)), "bias": _normal(4, (5,))}}
  ref, out = _run(
    lambda p, x: (nn.ConvTranspose(**kwargs).apply(p, x), ops.ConvTranspose(**kwargs).apply(p, x)),
    params,
    x,
  )
  assert out.shape == ref.shape == (*batch_shape, 8, 8, 5)
  _assert_close(out, ref)


def test_dtype_follows_flax() -> None:
  x = jnp.ones((1, 4, 4, 2), jnp.bfloat16)
  kwargs = dict(features=3, kernel_size=(4, 4), strides=(2, 2), param_dtype=jnp.float32)
  params = jax.eval_shape(nn.ConvTranspose(**kwargs).init, jax.random.key(0), x)
  for dtype in (None, jnp.float32):
    ref = jax.eval_shape(nn.ConvTranspose(dtype=dtype, **kwargs).apply, params, x)
    out = jax.eval_shape(ops.ConvTranspose(dtype=dtype, **kwargs).apply, params, x)
    assert out.dtype == ref.dtype and out.shape == ref.shape


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    (dict(padding="CIRCULAR"), "padding"),
    (dict(method="fft"), "method"),
    (dict(padding="VALID", strides=(1, 1)), None),  # supported: must not raise
  ],
)
def test_unsupported_raise(kwargs: dict, match: str | None) -> None:
  x = jax.ShapeDtypeStruct((1, 3, 3, 2), jnp.float32)
  kernel = jax.ShapeDtypeStruct((4, 4, 2, 3), jnp.float32)
  fn = functools.partial(ops.conv_transpose_subpixel, **kwargs)
  if match is None:
    jax.eval_shape(fn, x, kernel)
    return
  with pytest.raises(ValueError, match=match):
    jax.eval_shape(fn, x, kernel)


def test_plan_dcgan_case() -> None:
  """K=4, s=2, SAME: 2-tap sub-kernels, odd phase shifted by one row, input padded by 1."""
  plan = ops._plan_dim(8, 4, 2, "SAME", shifted=True)
  assert (plan.out_len, plan.q_len, plan.taps) == (16, 8, 2)
  assert plan.offsets == (0, 1) and plan.input_pad == (1, 1)
  # y[2q] = x[q-1] w[0] + x[q] w[2];  y[2q+1] = x[q] w[1] + x[q+1] w[3].
  assert plan.tap_starts == (0, 1)


# --- ops.Conv (strided convs as space-to-depth + matmul / Winograd) -------------------------

# (H, C_in, C_out, use_bias): the 32-px DCGAN discriminator; batch 8, kernel 4, stride 2.
D_LAYERS = [(32, 1, 64, True), (16, 64, 128, False), (8, 128, 256, False), (16, 16, 32, True)]
CONV_METHODS = ("auto", "fast", "winograd", "im2col", "matmul", "dots")


def _conv_module(method: str, **kwargs: Any) -> nn.Module:
  fn = functools.partial(ops.conv_general_dilated, method=method)
  return ops.Conv(conv_general_dilated=fn, **kwargs)


@pytest.mark.parametrize(
  ("h", "c_in", "c_out", "use_bias"), slow_except(D_LAYERS, [(32, 1, 64, True)])
)
def test_conv_module_matches_flax(h: int, c_in: int, c_out: int, use_bias: bool) -> None:
  x = _normal(h, (8, h, h, c_in))
  proj = _normal(h + 1, (8, h // 2, h // 2, c_out))
  kwargs = dict(features=c_out, kernel_size=(4, 4), strides=(2, 2), padding="SAME")
  ref_mod = nn.Conv(use_bias=use_bias, **kwargs)
  our_mods = [ops.Conv(use_bias=use_bias, **kwargs)]
  our_mods += [_conv_module(m, use_bias=use_bias, **kwargs) for m in CONV_METHODS]
  key = jax.random.key(c_out)
  ref_params, our_params = _run(lambda k: (ref_mod.init(k, x), our_mods[0].init(k, x)), key)
  assert jax.tree.structure(ref_params) == jax.tree.structure(our_params)
  jax.tree.map(np.testing.assert_array_equal, our_params, ref_params)
  assert ref_params["params"]["kernel"].shape == (4, 4, c_in, c_out)
  params = ref_params
  if use_bias:
    params = {"params": {**params["params"], "bias": _normal(c_out, (c_out,))}}

  def value_and_grads(mod: nn.Module, p: dict, x: jax.Array) -> tuple:
    def loss(p: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
      y = mod.apply(p, x)
      return jnp.sum(y * proj), y

    return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(p, x)

  ref, *ours = jax.jit(lambda p, x: [value_and_grads(m, p, x) for m in [ref_mod, *our_mods]])(
    params, x
  )
  (ref_loss, ref_y), (ref_gp, ref_gx) = ref
  for (our_loss, our_y), (our_gp, our_gx) in ours:
    assert our_y.shape == ref_y.shape
    _assert_close(our_y, ref_y)
    _assert_close(our_gx, ref_gx)
    jax.tree.map(_assert_close, our_gp, ref_gp)
    _assert_loss_close(our_loss, ref_loss, ref_y, proj)


CONV_CONFIGS = [
  ((8, 8), (4, 4), (2, 2), "SAME"),
  ((9, 7), (3, 5), (2, 3), "SAME"),
  ((9, 8), (4, 3), (3, 2), "VALID"),
  ((8, 12), (4, 3), (2, 2), "SAME"),
  ((8, 8), (4, 4), (2, 2), [(2, 0), (-1, 3)]),
  ((6, 6), (3, 3), (1, 1), "SAME"),
]


@pytest.mark.parametrize("method", ["winograd", "im2col", "matmul", "dots"])
def test_conv_function_matches_lax(method: str) -> None:
  xs = [_normal(i, (2, *hw, 3)) for i, (hw, _, _, _) in enumerate(CONV_CONFIGS)]
  kernels = [_normal(100 + i, (*ks, 3, 5)) for i, (_, ks, _, _) in enumerate(CONV_CONFIGS)]

  def ref_fn(x: jax.Array, k: jax.Array, strides: tuple, padding: Any) -> jax.Array:
    return lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=_DN)

  def our_fn(x: jax.Array, k: jax.Array, strides: tuple, padding: Any) -> jax.Array:
    return ops.conv_s2d(x, k, strides, padding, method=method)

  projs = [
    _normal(200 + i, jax.eval_shape(functools.partial(ref_fn, strides=s, padding=p), x, k).shape)
    for i, (x, k, (_, _, s, p)) in enumerate(zip(xs, kernels, CONV_CONFIGS, strict=True))
  ]

  def all_configs(fn: Callable, xs: list, kernels: list, projs: list) -> list:
    results = []
    for (_, _, strides, padding), x, k, proj in zip(CONV_CONFIGS, xs, kernels, projs, strict=True):

      def loss(x: jax.Array, k: jax.Array, strides=strides, padding=padding, proj=proj):
        y = fn(x, k, strides, padding)
        return jnp.sum(y * proj), y

      (_, y), grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(x, k)
      results.append((y, *grads))
    return results

  refs = _run(lambda *a: all_configs(ref_fn, *a), xs, kernels, projs)
  ours = _run(lambda *a: all_configs(our_fn, *a), xs, kernels, projs)
  for config, ref, our in zip(CONV_CONFIGS, refs, ours, strict=True):
    assert our[0].shape == ref[0].shape, config
    for a, b in zip(our, ref, strict=True):
      _assert_close(a, b)


@pytest.mark.parametrize("method", ["auto", "winograd", "im2col"])
def test_conv_second_order_matches_flax(method: str) -> None:
  """Gradient penalties differentiate the input gradient again (w.r.t. the params)."""
  x = _normal(5, (4, 16, 16, 8))
  kwargs = dict(features=16, kernel_size=(4, 4), strides=(2, 2))
  params = {"params": {"kernel": _normal(6, (4, 4, 8, 16)), "bias": _normal(7, (16,))}}

  def penalty_grad(mod: nn.Module) -> Callable:
    def penalty(p: dict) -> jax.Array:
      g = jax.grad(lambda x: jnp.sum(jnp.tanh(mod.apply(p, x))))(x)
      return jnp.sum(g**2)

    return jax.grad(penalty)

  ref, out = _run(
    lambda p: (penalty_grad(nn.Conv(**kwargs))(p), penalty_grad(_conv_module(method, **kwargs))(p)),
    params,
  )
  jax.tree.map(_assert_close, out, ref)


def test_conv_falls_back_to_lax() -> None:
  """Stride 1, dilation and feature groups are passed to lax unchanged."""
  x = _normal(8, (2, 8, 8, 4))
  for kwargs in (
    dict(features=6, kernel_size=(3, 3)),
    dict(features=6, kernel_size=(3, 3), strides=2, kernel_dilation=2),
    dict(features=6, kernel_size=(4, 4), strides=2, feature_group_count=2),
  ):
    params = nn.Conv(**kwargs).init(jax.random.key(0), x)
    ref, out = _run(
      lambda p, x, kw=kwargs: (nn.Conv(**kw).apply(p, x), ops.Conv(**kw).apply(p, x)), params, x
    )
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


# --- Split gradients: Winograd output and input gradient, direct kernel gradient -----------


def _split_layers(fn: Callable, x_shape: tuple, k_shape: tuple) -> int:
  """How many `_split_grads` calls fn(x, kernel) makes."""
  jaxpr = jax.make_jaxpr(fn)(jnp.zeros(x_shape), jnp.zeros(k_shape))
  return sum(
    e.primitive.name == "custom_vjp_call" and "_split_grads_bwd" in str(e.params["bwd"])
    for e in jaxpr.jaxpr.eqns
  )


def _fast_conv(x: jax.Array, k: jax.Array) -> jax.Array:
  return ops.conv_s2d(x, k, (2, 2), "SAME", method="fast")


def _fast_conv_t(x: jax.Array, k: jax.Array) -> jax.Array:
  return ops.conv_transpose_subpixel(x, k, method="fast")


def test_split_gradients_where_winograd_has_few_tiles():
  # The DCGAN layers with a 4x4 side (4 Winograd tiles per image) are split; the 8x8 / 16x16
  # ones use Winograd throughout, the 1-channel ones XLA's conv / col2im.
  assert _split_layers(_fast_conv, (2, 8, 8, 128), (4, 4, 128, 256)) == 1
  assert _split_layers(_fast_conv, (2, 16, 16, 64), (4, 4, 64, 128)) == 0
  assert _split_layers(_fast_conv, (2, 32, 32, 1), (4, 4, 1, 64)) == 0
  assert _split_layers(_fast_conv_t, (2, 4, 4, 256), (4, 4, 256, 128)) == 1
  assert _split_layers(_fast_conv_t, (2, 8, 8, 128), (4, 4, 128, 64)) == 0
  assert _split_layers(_fast_conv_t, (2, 16, 16, 64), (4, 4, 64, 1)) == 0


def _conv_primitives(fn: Callable, x_shape: tuple, k_shape: tuple) -> set[str]:
  jaxpr = jax.make_jaxpr(fn)(jnp.zeros(x_shape), jnp.zeros(k_shape))
  names = set()
  for e in jaxpr.jaxpr.eqns:
    if e.primitive.name == "custom_vjp_call" and "_conv_im2col_bwd" in str(e.params["bwd"]):
      names.add("im2col")
    elif e.primitive.name == "conv_general_dilated":
      names.add("lax")
  return names


def test_fast_conv_takes_im2col_on_small_outputs_without_winograd():
  # The Stacked MNIST D's 5x5 stride-2 convs: XLA's own conv where the output is large, the
  # im2col matmuls on outputs of at most 16 positions (7 -> 4 and 4 -> 2), where XLA:CPU's
  # conv was measured 3-26x slower.
  assert _conv_primitives(_fast_conv, (2, 14, 14, 64), (5, 5, 64, 128)) == {"lax"}
  assert _conv_primitives(_fast_conv, (2, 7, 7, 128), (5, 5, 128, 256)) == {"im2col"}
  assert _conv_primitives(_fast_conv, (2, 4, 4, 256), (5, 5, 256, 512)) == {"im2col"}
  # The DCGAN's 1-channel layer keeps XLA's conv.
  assert _conv_primitives(_fast_conv, (2, 32, 32, 1), (4, 4, 1, 64)) == {"lax"}


@pytest.mark.skipif(
  jax.default_backend() != "cpu",
  reason="XLA:GPU aborts compiling this program (H200, jax 0.11.2); 'auto' uses the split "
  "gradients on CPU only",
)
def test_split_gradients_second_order_match_lax():
  """Gradient penalties differentiate the split layer's input gradient w.r.t. its kernel."""
  x = _normal(11, (2, 8, 8, 16))
  kernel = 0.1 * _normal(12, (4, 4, 16, 32))  # pre-activations O(1): tanh not saturated
  assert _split_layers(_fast_conv, x.shape, kernel.shape) == 1

  def penalty_grad(conv: Callable) -> Callable:
    def penalty(k: jax.Array) -> jax.Array:
      g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x)
      return jnp.sum(g**2)

    return jax.grad(penalty)

  def ref_conv(x: jax.Array, k: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=_DN)

  ref, out = _run(lambda k: (penalty_grad(ref_conv)(k), penalty_grad(_fast_conv)(k)), kernel)
  _assert_close(out, ref)


def test_split_gradients_inside_shard_map_and_vmap():
  """The train step runs layers inside shard_map (the kernel gradient is psum-ed over the
  batch axis) and, with num_seeds, under vmap."""
  mesh = Mesh(jax.devices()[:1], ("batch",))
  x = _normal(13, (2, 4, 4, 32))
  kernel = _normal(14, (4, 4, 32, 16))
  assert _split_layers(_fast_conv_t, x.shape, kernel.shape) == 1

  def grads(conv: Callable) -> Callable:
    def loss(x: jax.Array, k: jax.Array) -> jax.Array:
      return jnp.sum(jnp.sin(conv(x, k)))

    sharded = jax.shard_map(
      lambda x, k: jax.lax.psum(loss(x, k), "batch"),
      mesh=mesh,
      in_specs=(P("batch"), P()),
      out_specs=P(),
    )
    return jax.grad(sharded, argnums=(0, 1))

  def ref_conv_t(x: jax.Array, k: jax.Array) -> jax.Array:
    return lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=_DN)

  ref, out = _run(lambda x, k: (grads(ref_conv_t)(x, k), grads(_fast_conv_t)(x, k)), x, kernel)
  jax.tree.map(_assert_close, out, ref)
  xs, ks = jnp.stack([x, 2 * x]), jnp.stack([kernel, -kernel])
  ref, out = _run(
    lambda x, k: (jax.vmap(grads(ref_conv_t))(x, k), jax.vmap(grads(_fast_conv_t))(x, k)), xs, ks
  )
  jax.tree.map(_assert_close, out, ref)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU compile options")
def test_compiler_options_this_jaxlib_rejects_are_dropped(monkeypatch) -> None:
  """An XLA option a jaxlib does not know (they are renamed) must not break compilation:
  neither an unknown value nor an unknown name."""
  assert host.compiler_options() is not None
  monkeypatch.setattr(host, "CPU_LIBRARY_FUSIONS", ("LIBRARY_FUSION_TYPE_NO_SUCH_THING",))
  assert host.compiler_options() is None
  assert not host._accepted_compiler_options((("xla_cpu_no_such_option", 1),))
  assert host._accepted_compiler_options((("xla_backend_optimization_level", 1),))
