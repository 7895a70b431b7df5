"""Plain numpy (float64) pieces for the tests that recompose whole networks against their
reference implementations (tests/test_composed_*.py).

Nothing here imports gan_jax: every reference constant (gains, paddings, epsilons, filter
taps) is written out in the test that uses it, and these helpers only do the arithmetic of
textbook operations in NHWC / HWIO layout, so a wrong constant in a model cannot leak into
its own reference.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import traverse_util


def np64(tree):
  """A pytree of arrays as float64 numpy arrays."""
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def flat(params) -> dict[str, np.ndarray]:
  """{'a/b/kernel': array} in float64."""
  return {
    "/".join(k): np.asarray(v, np.float64) for k, v in traverse_util.flatten_dict(params).items()
  }


def _pairs(padding, ndim: int = 2):
  if isinstance(padding, int):
    return [(padding, padding)] * ndim
  return [tuple(p) for p in padding]


def conv2d(x, w, stride: int = 1, padding=0, groups: int = 1):
  """Cross-correlation (torch's conv2d, lax's conv_general_dilated): x (N, H, W, C_in),
  w (kh, kw, C_in / groups, C_out); zero padding `padding` (an int or ((lo, hi), (lo, hi)));
  input channel group g feeds output channels [g C_out / groups, (g + 1) C_out / groups)."""
  (p0, p1), (q0, q1) = _pairs(padding)
  x = np.pad(x, ((0, 0), (p0, p1), (q0, q1), (0, 0)))
  kh, kw, cin_g, cout = w.shape
  n, h, wd, cin = x.shape
  assert cin == cin_g * groups, (x.shape, w.shape, groups)
  oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
  cout_g = cout // groups
  out = np.zeros((n, oh, ow, cout))
  for g in range(groups):
    xs = x[..., g * cin_g : (g + 1) * cin_g]
    ws = w[..., g * cout_g : (g + 1) * cout_g]
    for a in range(kh):
      for b in range(kw):
        patch = xs[
          :, a : a + stride * (oh - 1) + 1 : stride, b : b + stride * (ow - 1) + 1 : stride
        ]
        out[..., g * cout_g : (g + 1) * cout_g] += patch @ ws[a, b]
  return out


def dilate(x, stride: int):
  """Inserts stride - 1 zeros between the pixels of x (N, H, W, C)."""
  n, h, w, c = x.shape
  out = np.zeros((n, stride * (h - 1) + 1, stride * (w - 1) + 1, c))
  out[:, ::stride, ::stride] = x
  return out


def reflect_pad(x, p: int):
  """torch's ReflectionPad2d(p) (the edge pixel is not repeated)."""
  return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


def upfirdn2d(x, taps, up: int = 1, down: int = 1, padding=(0, 0), gain: float = 1.0):
  """stylegan2-ada's torch_utils/ops/upfirdn2d.py _upfirdn2d_ref on NHWC, for a separable
  filter: insert up - 1 zeros after each pixel, pad by `padding` (before, after) on H and
  W, convolve with outer(f, f) * gain (f = taps / sum(taps)), keep every down-th pixel."""
  f = np.asarray(taps, np.float64)
  f2 = np.outer(f, f)
  f2 = f2 / f2.sum() * gain
  n, h, w, c = x.shape
  z = np.zeros((n, h * up, w * up, c))
  z[:, ::up, ::up] = x
  z = np.pad(z, ((0, 0), tuple(padding), tuple(padding), (0, 0)))
  # A true convolution is a correlation with the flipped filter, each channel alone.
  k = f2[::-1, ::-1]
  oh, ow = z.shape[1] - k.shape[0] + 1, z.shape[2] - k.shape[1] + 1
  out = sum(
    z[:, a : a + oh, b : b + ow] * k[a, b] for a in range(k.shape[0]) for b in range(k.shape[1])
  )
  return out[:, ::down, ::down]


def batch_norm(x, axes, eps: float, scale=1.0, offset=0.0):
  """(x - mean) / sqrt(var + eps) * scale + offset, mean and biased variance over `axes`."""
  mean = x.mean(axis=axes, keepdims=True)
  var = np.square(x - mean).mean(axis=axes, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * scale + offset


def leaky_relu(x, slope: float):
  return np.where(x >= 0, x, slope * x)


def relu(x):
  return np.maximum(x, 0.0)


def upsample_nearest(x):
  return x.repeat(2, axis=1).repeat(2, axis=2)


def avg_pool2(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def assert_close(got, want, rtol: float = 1e-4, atol: float = 1e-5):
  """float32 module output against the float64 composition."""
  np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


def param_shapes(module, *args, **kwargs) -> dict[str, tuple[int, ...]]:
  """{'a/b/kernel': shape} of module.init(..., *args, **kwargs), without running it."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, **kwargs))
  return {"/".join(k): v.shape for k, v in traverse_util.flatten_dict(shapes["params"]).items()}


def random_params(shapes: dict[str, tuple[int, ...]], seed: int, rule) -> dict[str, np.ndarray]:
  """Known float32 parameters for a composition: rule(name, shape, rng) -> array. Setting them
  by hand instead of running the initializers saves compiling one program per network."""
  rng = np.random.default_rng(seed)
  return {k: np.asarray(rule(k, s, rng), np.float32) for k, s in shapes.items()}


def nest(flat_params: dict[str, np.ndarray]):
  """{'a/b/kernel': array} -> the nested params dict a Flax module applies."""
  return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat_params.items()})
