"""The InfoGAN-style networks of Lucic et al. 2018 ("Are GANs Created Equal?"), for 28 px.

As in google/compare_gan, branch v1 (src/gans/abstract_gan.py), for H = W = 28:

  generator      z -> Dense 1024 -> BN -> lReLU -> Dense 128 (H/4)(W/4) -> BN -> lReLU
                 -> 7x7x128 -> ConvT 64 (4x4, stride 2) -> BN -> lReLU
                 -> ConvT C (4x4, stride 2) -> sigmoid
  discriminator  Conv 64 (4x4, stride 2) -> lReLU -> Conv 128 (4x4, stride 2) -> [BN] -> lReLU
                 -> Dense 1024 -> [BN] -> lReLU -> Dense 1 (a logit)

leaky ReLU slope 0.2, weights N(0, 0.02^2), biases 0, "SAME" padding, BatchNorm in D
switchable (`model.infogan.d_batch_norm`; their WGAN-GP runs turn it off, since the penalty
is per example). Images here are in [-1, 1], so the sigmoid output s becomes 2 s - 1.
`model.pack` packs D's input as PacGAN does.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from gan_jax import layers, ops, specs
from gan_jax.models import common

Array = jax.Array
SLOPE = 0.2
INIT = nn.initializers.normal(0.02)

CONFIG = common.family_config(
  "infogan",
  {
    # BatchNorm in the discriminator (compare_gan's discriminator_batchnorm).
    "d_batch_norm": (True, specs.BOOL),
  },
)


class Generator(nn.Module):
  image_size: int = 28
  channels: int = 1
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    del y
    side = self.image_size // 4
    norm = lambda x: common.batch_norm(train, self.axis_name)(x)
    x = nn.leaky_relu(norm(nn.Dense(1024, kernel_init=INIT)(z)), SLOPE)
    x = nn.leaky_relu(norm(nn.Dense(128 * side * side, kernel_init=INIT)(x)), SLOPE)
    x = x.reshape(z.shape[0], side, side, 128)
    conv_t = lambda f: ops.ConvTranspose(
      f, (4, 4), strides=(2, 2), padding="SAME", kernel_init=INIT
    )
    x = nn.leaky_relu(norm(conv_t(64)(x)), SLOPE)
    return 2.0 * nn.sigmoid(conv_t(self.channels)(x)) - 1.0


class Discriminator(nn.Module):
  batch_norm: bool = True
  pack: int = 1
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    del y
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    conv = lambda f: ops.Conv(f, (4, 4), strides=(2, 2), padding="SAME", kernel_init=INIT)
    norm = lambda h: common.batch_norm(train, self.axis_name)(h) if self.batch_norm else h
    x = nn.leaky_relu(conv(64)(x), SLOPE)
    x = nn.leaky_relu(norm(conv(128)(x)), SLOPE)
    x = x.reshape(x.shape[0], -1)
    x = nn.leaky_relu(norm(nn.Dense(1024, kernel_init=INIT)(x)), SLOPE)
    return nn.Dense(1, kernel_init=INIT)(x)[:, 0]


def build(model, channels: int, axis_name: str | None, num_classes: int = 0):
  if num_classes:
    raise ValueError("the infogan networks are unconditional here: drop conditional")
  cfg = CONFIG.read(model)
  g = Generator(image_size=model.image_size, channels=channels, axis_name=axis_name)
  d = Discriminator(batch_norm=cfg.d_batch_norm, pack=model.pack, axis_name=axis_name)
  return g, d


IMAGE_SIZES = (28,)
