"""DCGAN (Radford et al. 2016) for 28, 32 and 64 px images with 1 or 3 channels.

The 32x32x1 pair with base_filters=64 is exactly the benchmark model of
shared/bench/README.md. The layers are the paper's (Newmu/dcgan_code, pytorch/examples
dcgan: tests/test_composed_dcgan.py recomposes them); three details are not, and change
only the start of training: weights start Flax's lecun_normal where both references draw
N(0, 0.02^2); BatchNorm scales start at 1 where they draw N(1, 0.02^2); and D's first conv,
G's output ConvT and D's head carry a bias (zero at init) that the references omit. The
strict xfails of test_composed_dcgan.py pin each difference.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import layers, ops
from gan_jax.models import common

Array = jax.Array

# image size -> (spatial size of the first feature map, number of 2x resamplings)
DCGAN_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4)}
D_NORMS = ("batch", "layer", "none")


def _check_size(image_size: int) -> tuple[int, int]:
  if image_size not in DCGAN_GEOMETRY:
    raise ValueError(f"DCGAN supports image_size in {sorted(DCGAN_GEOMETRY)}, got {image_size}")
  return DCGAN_GEOMETRY[image_size]


class DCGANGenerator(nn.Module):
  """z -> Dense -> BN -> ReLU -> [ConvT(4, stride 2) -> BN -> ReLU]* -> ConvT -> tanh."""

  image_size: int = 32
  channels: int = 1
  base_filters: int = 64
  # Sub-pixel formulation of the stride-2 transposed conv: same parameters and
  # outputs as nn.ConvTranspose, several times faster to differentiate on CPU.
  fast_conv_transpose: bool = True
  axis_name: str | None = None
  # Conditional generation: num_classes > 0 makes y (int labels) an input.
  num_classes: int = 0
  conditioning: str = "concat"  # see common.G_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    start, num_up = _check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    conv_t = ops.ConvTranspose if self.fast_conv_transpose else nn.ConvTranspose
    cbn = self.num_classes > 0 and self.conditioning == "cbn"
    if self.num_classes and not cbn:
      z = common.concat_label_input(z, y, self.num_classes, self.embed_dim)

    def norm(x):
      if cbn:
        return common.ConditionalBatchNorm(self.num_classes, train, self.axis_name)(x, y)
      return common.batch_norm(train, self.axis_name)(x)

    width = self.base_filters * 2 ** (num_up - 1)
    x = nn.Dense(start * start * width, use_bias=False)(z)
    x = nn.relu(norm(x))
    x = x.reshape(z.shape[0], start, start, width)
    for _ in range(num_up - 1):
      width //= 2
      x = conv_t(width, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(x)
      x = nn.relu(norm(x))
    x = conv_t(self.channels, (4, 4), strides=(2, 2), padding="SAME")(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """x -> Conv(4, stride 2) -> LReLU -> [Conv -> norm -> LReLU]* -> Dense(1) logit.

  `norm`: 'batch' (BatchNorm, statistics over the batch), 'layer' (each sample normalized
  over all of its (H, W, C) activations, with a learned scale and offset per channel, as
  the layer norm of WGAN-GP's critic (Gulrajani et al. 2017; their code normalizes over
  C, H, W): no coupling between samples, so per-sample penalties are exact), or 'none'.

  Options: `pack` m judges m samples concatenated along channels (PacGAN), so
  the logits have batch/m entries; `spectral_norm` normalizes every weight;
  `minibatch` adds minibatch stddev (on the last feature map) or minibatch
  discrimination (on the flattened features) before the output layer.
  """

  image_size: int = 32
  base_filters: int = 64
  norm: str = "batch"
  spectral_norm: bool = False
  minibatch: str = "none"
  pack: int = 1
  axis_name: str | None = None
  num_classes: int = 0
  conditioning: str = "projection"  # see common.D_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    _, num_down = _check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    if self.num_classes and self.conditioning == "concat":
      x = common.concat_label_input(
        x, y, self.num_classes, self.embed_dim, spectral_norm=self.spectral_norm, train=train
      )
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    for i in range(num_down):
      normalized = i > 0 and self.norm != "none"
      conv = ops.Conv(
        self.base_filters * 2**i, (4, 4), strides=(2, 2), padding="SAME", use_bias=not normalized
      )
      x = common.layer(conv, x, spectral_norm=self.spectral_norm, train=train)
      if normalized and self.norm == "batch":
        x = common.batch_norm(train, self.axis_name)(x)
      elif normalized:  # 'layer': each sample over (H, W, C), the critic of WGAN-GP
        x = nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)(x)
      x = nn.leaky_relu(x, 0.2)
    # The projection term reads the features phi(x) of each sample alone, before any
    # minibatch features couple the samples of a batch.
    phi = x.reshape(x.shape[0], -1)
    x = common.minibatch_features(self.minibatch, x)
    x = x.reshape(x.shape[0], -1)
    logits = common.layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      logits = logits + common.projection(
        phi, y, self.num_classes, spectral_norm=self.spectral_norm, train=train
      )
    return logits


def build(model, channels: int, axis_name: str | None, num_classes: int = 0):
  _check_size(model.image_size)
  if model.d_norm not in D_NORMS:
    raise ValueError(f"unknown model.d_norm {model.d_norm!r}; valid: {', '.join(D_NORMS)}")
  g_cond, d_cond = common.conditioning_fields(model, num_classes)
  g = DCGANGenerator(
    image_size=model.image_size,
    channels=channels,
    base_filters=model.base_filters,
    fast_conv_transpose=model.fast_conv_transpose,
    axis_name=axis_name,
    **g_cond,
  )
  d = DCGANDiscriminator(
    image_size=model.image_size,
    base_filters=model.base_filters,
    norm=model.d_norm,
    spectral_norm=model.d_spectral_norm,
    minibatch=model.d_minibatch,
    pack=model.pack,
    axis_name=axis_name,
    **d_cond,
  )
  return g, d
