"""Content losses of super-resolution: what G's output must keep of the high-resolution image.

  pixel   MSE = mean (G(x_lr) - x_hr)^2 over pixels and channels (images in [-1, 1])
  vgg     MSE of VGG16 features at `layer`, each rescaled by 1 / 12.75:
            mean ((phi(G(x_lr)) - phi(x_hr)) / 12.75)^2

The SRGAN paper's VGG54 is VGG19's relu5_4 with features rescaled by 1/12.75 "to obtain VGG
losses of a scale that is comparable to the MSE loss"; VGG19 is not available offline, so
the default here is VGG16's deepest comparable layer, relu5_3 (models/vgg16.py), with the
same 1/12.75. The VGG weights are fixed: they are no network of the game's state.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gan_jax.models import vgg16

Array = jax.Array
CONTENT_LOSSES = ("pixel", "vgg")
VGG_RESCALE = 1 / 12.75


def pixel_mse(fake: Array, real: Array) -> Array:
  return jnp.mean(jnp.square(fake.astype(jnp.float32) - real.astype(jnp.float32)))


def make_content_loss(name: str, layer: str = "relu5_3") -> tuple[Callable, dict]:
  """(`loss(weights, fake, real) -> scalar`, weights): the content loss `name` and the fixed
  arrays it reads (VGG16's params for 'vgg', nothing for 'pixel'), passed in by the caller
  so that they are arguments of its jitted step, not constants folded into it."""
  if name == "pixel":
    return (lambda weights, fake, real: pixel_mse(fake, real)), {}
  if name != "vgg":
    raise ValueError(f"unknown content loss {name!r}; valid: {', '.join(CONTENT_LOSSES)}")
  net = vgg16.VGG16(last=layer)

  def vgg_mse(weights, fake: Array, real: Array) -> Array:
    both = net.apply({"params": weights}, jnp.concatenate([fake, real]))[layer]
    f, r = jnp.split(both * VGG_RESCALE, 2)
    return jnp.mean(jnp.square(f - jax.lax.stop_gradient(r)))

  return vgg_mse, vgg16.load_params(layer)
