"""SRGAN's networks (Ledig et al. 2017): the SRResNet generator and the VGG-style discriminator.

  G (SRResNet)  9x9 conv (width) + PReLU
                B residual blocks: 3x3 conv, BN, PReLU, 3x3 conv, BN, + the block's input
                3x3 conv, BN, + the output of the first conv (the long skip)
                2 x [3x3 conv (4 width), pixel shuffle x2, PReLU]      (x4 in all)
                9x9 conv to 3 channels, tanh (HR images live in [-1, 1])
                [model.srresnet.bicubic_skip, not the paper's: instead of the tanh, plus the
                 LR image bicubic-upsampled (imresize), the last conv zero at init]
  D             3x3 conv (d_width) + leaky ReLU 0.2, then 7 3x3 convs with BN + leaky ReLU:
                widths d_width, 2, 2, 4, 4, 8, 8 x d_width, strides 2, 1, 2, 1, 2, 1, 2
                dense d_dense + leaky ReLU, dense 1 (a logit)

The paper's sizes are B = 16, width 64, d_width 64, d_dense 1024; the defaults here are
smaller for a 2-core CPU (model.srresnet.*). PReLU has one slope per layer, initialized at
0.25 (torch's nn.PReLU, which the reference implementations use).

Pixel shuffle follows torch's nn.PixelShuffle channel order: with r the factor, output pixel
(h r + i, w r + j) channel c is input pixel (h, w) channel c r^2 + i r + j.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import specs
from gan_jax.data import imresize
from gan_jax.models import common

Array = jax.Array

# model.srresnet.*: each key's default and what it may be.
CONFIG: dict[str, tuple[Any, specs.Spec]] = {
  "num_blocks": (4, specs.COUNT),  # residual blocks B (the paper: 16)
  "width": (32, specs.POSITIVE),  # G's channels (the paper: 64)
  "d_width": (32, specs.POSITIVE),  # D's first width (the paper: 64)
  "d_dense": (256, specs.POSITIVE),  # D's hidden dense layer (the paper: 1024)
  # Not the paper's: G(x) = bicubic(x) + (the network without its tanh, last conv zero at
  # init), so G starts as MATLAB's bicubic and learns the residual (as VDSR). Off = the paper.
  "bicubic_skip": (False, specs.BOOL),
}


def default_config() -> ml_collections.ConfigDict:
  """The model.srresnet sub-config with its defaults."""
  return ml_collections.ConfigDict({k: default for k, (default, _) in CONFIG.items()})


def config_specs(prefix: str = "model.srresnet") -> dict[str, specs.Spec]:
  return {f"{prefix}.{k}": spec for k, (_, spec) in CONFIG.items()}


def pixel_shuffle(x: Array, r: int) -> Array:
  """(N, H, W, C r^2) -> (N, H r, W r, C), torch's channel order (see the module doc)."""
  n, h, w, c = x.shape
  if c % (r * r):
    raise ValueError(f"pixel shuffle by {r} needs channels divisible by {r * r}, got {c}")
  x = x.reshape(n, h, w, c // (r * r), r, r)
  return x.transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c // (r * r))


def space_to_depth(x: Array, r: int) -> Array:
  """The inverse of pixel_shuffle: (N, H r, W r, C) -> (N, H, W, C r^2)."""
  n, hr, wr, c = x.shape
  x = x.reshape(n, hr // r, r, wr // r, r, c)
  return x.transpose(0, 1, 3, 5, 2, 4).reshape(n, hr // r, wr // r, c * r * r)


def _prelu() -> nn.PReLU:
  return nn.PReLU(negative_slope_init=0.25)


class ResidualBlock(nn.Module):
  width: int
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    y = nn.Conv(self.width, (3, 3))(x)
    y = _prelu()(common.batch_norm(train, self.axis_name)(y))
    y = nn.Conv(self.width, (3, 3))(y)
    return x + common.batch_norm(train, self.axis_name)(y)


class SRResNet(nn.Module):
  """LR (N, h, w, 3) in [-1, 1] -> SR (N, 4h, 4w, 3) in [-1, 1]."""

  num_blocks: int = 4
  width: int = 32
  bicubic_skip: bool = False
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    lr = x
    x = _prelu()(nn.Conv(self.width, (9, 9))(x))
    skip = x
    for _ in range(self.num_blocks):
      x = ResidualBlock(self.width, self.axis_name)(x, train)
    x = skip + common.batch_norm(train, self.axis_name)(nn.Conv(self.width, (3, 3))(x))
    for _ in range(2):
      x = _prelu()(pixel_shuffle(nn.Conv(4 * self.width, (3, 3))(x), 2))
    if not self.bicubic_skip:
      return jnp.tanh(nn.Conv(3, (9, 9))(x))
    return bicubic_upsample(lr) + nn.Conv(3, (9, 9), kernel_init=nn.initializers.zeros)(x)


def bicubic_upsample(x: Array, factor: int = 4) -> Array:
  """x (N, h, w, C) upsampled by `factor` as imresize (MATLAB's bicubic): two fixed matrices."""
  mh = jnp.asarray(imresize.weight_matrix(x.shape[1], factor * x.shape[1], factor), x.dtype)
  mw = jnp.asarray(imresize.weight_matrix(x.shape[2], factor * x.shape[2], factor), x.dtype)
  return jnp.einsum("ih,nhwc,jw->nijc", mh, x, mw, precision=jax.lax.Precision.HIGHEST)


class Discriminator(nn.Module):
  """HR images (N, H, W, 3) -> logits (N,)."""

  width: int = 32
  dense: int = 256
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    x = nn.leaky_relu(nn.Conv(self.width, (3, 3))(x), 0.2)
    for mult, stride in ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)):
      x = nn.Conv(mult * self.width, (3, 3), strides=(stride, stride))(x)
      x = nn.leaky_relu(common.batch_norm(train, self.axis_name)(x), 0.2)
    x = nn.leaky_relu(nn.Dense(self.dense)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1)(x)[:, 0]


def build(cfg: ml_collections.ConfigDict, axis_name: str | None) -> tuple[SRResNet, Discriminator]:
  """(G, D) from the model.srresnet sub-config."""
  return (
    SRResNet(cfg.num_blocks, cfg.width, cfg.bicubic_skip, axis_name=axis_name),
    Discriminator(width=cfg.d_width, dense=cfg.d_dense, axis_name=axis_name),
  )
