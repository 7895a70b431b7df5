"""SNGAN's ResNet G and D (Miyato et al. 2018; Miyato & Koyama 2018, the projection
discriminator) for 32 and 64 px images, 1 or 3 channels, unconditional or class-conditional,
as pfnet-research/sngan_projection builds them (gen_models/resnet_32.py, resnet_64.py,
dis_models/snresnet_32.py, snresnet_64.py and their resblocks.py).

G: z -> Dense -> 4x4 -> upsampling residual blocks to the image size, each
    BN-ReLU-up(nearest 2x)-conv3x3-BN-ReLU-conv3x3 + (up, conv1x1) shortcut,
    then BN-ReLU-conv3x3-tanh. Conditional: conditional BatchNorm in the blocks
    (model.g_conditioning='cbn', as SNGAN's conditional G) or a label embedding
    concatenated to z ('concat').
D: an "optimized" first block (conv3x3-ReLU-conv3x3-avgpool + avgpool-conv1x1), then
    residual blocks ReLU-conv3x3-ReLU-conv3x3[-avgpool] + [avgpool-]conv1x1 (the first
    convolution keeps the block's input width, as the reference's hidden_channels), ReLU,
    global sum pooling, a linear layer to the logit; optional spectral norm on every weight
    (model.d_spectral_norm); conditional: a projection term (model.d_conditioning=
    'projection'; its embedding spectrally normalized with the rest, as SNEmbedID) or the
    label embedding on the input ('concat').
The networks of each size (ARCHS):
  32 px (resnet_32 / snresnet_32): every width g_width (G) or d_width (D), the reference's
    256 and 128; D 32 -> 16 -> 8, 8, 8; D's linear layer without bias (nobias=True).
  64 px (resnet_64 / snresnet_64): widths are multiples of g_width / d_width (the
    reference's ch, 64 for both): G 16, 8, 4, 2, 1 x g_width from 4x4 to 64x64; D five
    blocks 1, 2, 4, 8, 16 x d_width, 64 -> 32 -> 16 -> 8 -> 4 -> 2; D's linear layer with a
    bias (SNLinear's default there).
Initialization as the reference's: Glorot-uniform, gain sqrt(2) for the two convolutions of
every residual branch, 1 elsewhere (shortcuts, G's input Dense and output conv, D's linear
layer and the class embedding); biases 0.

Two exact rewrites make it cheaper on CPU without changing the function (tests check both
against the plain form): nearest-2x upsampling followed by a 3x3 convolution is a stride-2
transposed convolution with the 4x4 kernel that sums the 3x3 kernel over 2x2 boxes
(`UpConv`); a 3x3 convolution followed by 2x2 average pooling is a stride-2 4x4
convolution with that kernel / 4 (`ConvPool`); and 1x1 convolutions commute with both
resamplings, so shortcuts run at the lower resolution.

Where it differs from sngan_projection (tests/test_composed_resnet.py pins both with strict
xfails): BatchNorm's eps is 1e-5 (torch's) where chainer's is 2e-5; and with spectral norm
the kernels are stored already divided by their power-iteration sigma at init
(flax.linen.SpectralNorm writes the normalized value back), where chainer stores the raw
Glorot kernel: the function at init is the same, Adam's steps are relative to another scale.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax import ops, specs
from gan_jax.models import common

Array = jax.Array

_DN = ("NHWC", "HWIO", "NHWC")


class Arch(NamedTuple):
  """The shape of SNGAN's networks at one image size."""

  g_widths: tuple[int, ...]  # multiples of g_width: G's 4x4 input, then each block's output
  d_widths: tuple[int, ...]  # multiples of d_width: each D block's output, the first optimized
  d_down: tuple[bool, ...]  # whether each D block halves the resolution
  d_head_bias: bool  # whether D's final linear layer has a bias


ARCHS = {
  # gen_models/resnet_32.py, dis_models/snresnet_32.py (l5: SNLinear(ch, 1, nobias=True)).
  32: Arch((1, 1, 1, 1), (1, 1, 1, 1), (True, True, False, False), d_head_bias=False),
  # gen_models/resnet_64.py, dis_models/snresnet_64.py (l6: SNLinear(ch * 16, 1), a bias).
  64: Arch((16, 8, 4, 2, 1), (1, 2, 4, 8, 16), (True,) * 5, d_head_bias=True),
}
RESNET_SIZES = tuple(ARCHS)

CONFIG = common.family_config(
  "resnet",
  {
    # At 32 px every layer's width: SNGAN's CIFAR networks use 256 (G) and 128 (D); 64 trains
    # at CPU speed. At 64 px the base width ch that ARCHS multiplies (the reference's: 64).
    "g_width": (64, specs.POSITIVE),
    "d_width": (64, specs.POSITIVE),
  },
)


def glorot(gain: float = 1.0):
  return nn.initializers.variance_scaling(gain**2, "fan_avg", "uniform")


def check_size(image_size: int) -> None:
  if image_size not in RESNET_SIZES:
    raise ValueError(f"the ResNet GAN supports image_size in {RESNET_SIZES}, got {image_size}")


def upsample_nearest(x: Array) -> Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool(x: Array) -> Array:
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def box_kernel(kernel: Array) -> Array:
  """(3, 3, I, O) -> (4, 4, I, O): the kernel summed over 2x2 boxes, k4[a, b] =
  sum_{da, db in {0, 1}} k3[a - da, b - db] (zero outside)."""
  pad = lambda lo_a, lo_b: jnp.pad(kernel, ((lo_a, 1 - lo_a), (lo_b, 1 - lo_b), (0, 0), (0, 0)))
  return pad(0, 0) + pad(0, 1) + pad(1, 0) + pad(1, 1)


class UpConv(nn.Module):
  """Nearest 2x upsampling then a 3x3 SAME convolution (kernel (3, 3, I, O), bias).

  Computed as the stride-2 'SAME' transposed convolution with `box_kernel(kernel)`: output
  o reads x[floor((o + a - 1) / 2)] for taps a = 0, 1, 2, i.e. the taps that land on one
  input pixel add up.
  """

  features: int
  kernel_init: nn.initializers.Initializer = glorot()

  @nn.compact
  def __call__(self, x: Array) -> Array:
    kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    k4 = box_kernel(kernel).astype(x.dtype)
    y = ops.conv_transpose_subpixel(x, k4, strides=(2, 2), padding="SAME")
    return y + bias.astype(y.dtype)


class ConvPool(nn.Module):
  """A SAME convolution (3x3 or 1x1, with bias) then 2x2 average pooling.

  3x3: one stride-2 4x4 convolution with box_kernel(kernel) / 4, padding 1; 1x1: pool
  first (they commute), then the convolution.
  """

  features: int
  kernel_size: int = 3
  kernel_init: nn.initializers.Initializer = glorot()

  @nn.compact
  def __call__(self, x: Array) -> Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    if k == 1:
      y = lax.conv_general_dilated(
        avg_pool(x), kernel.astype(x.dtype), (1, 1), "VALID", dimension_numbers=_DN
      )
    elif k == 3:
      k4 = (box_kernel(kernel) / 4).astype(x.dtype)
      y = ops.conv_general_dilated(x, k4, (2, 2), [(1, 1), (1, 1)], dimension_numbers=_DN)
    else:
      raise ValueError(f"ConvPool supports 1x1 and 3x3 kernels, got {k}")
    return y + bias.astype(y.dtype)


class GBlock(nn.Module):
  """BN-ReLU-UpConv-BN-ReLU-conv3x3 + up(conv1x1(x)) (1x1 and nearest-up commute)."""

  features: int
  train: bool
  axis_name: str | None = None
  num_classes: int = 0  # > 0: conditional BatchNorm on labels y

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None) -> Array:
    def norm(h):
      if self.num_classes:
        return common.ConditionalBatchNorm(self.num_classes, self.train, self.axis_name)(h, y)
      return common.batch_norm(self.train, self.axis_name)(h)

    h = UpConv(self.features, glorot(math.sqrt(2)))(nn.relu(norm(x)))
    h = nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=glorot(math.sqrt(2)))(
      nn.relu(norm(h))
    )
    shortcut = nn.Conv(self.features, (1, 1), kernel_init=glorot(), name="shortcut")(x)
    return h + upsample_nearest(shortcut)


class ResNetGenerator(nn.Module):
  image_size: int = 32
  channels: int = 3
  width: int = 64
  axis_name: str | None = None
  num_classes: int = 0
  conditioning: str = "cbn"  # see common.G_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    cbn = self.num_classes > 0 and self.conditioning == "cbn"
    if self.num_classes and not cbn:
      z = common.concat_label_input(z, y, self.num_classes, self.embed_dim)
    widths = [self.width * m for m in ARCHS[self.image_size].g_widths]
    x = nn.Dense(4 * 4 * widths[0], kernel_init=glorot())(z).reshape(-1, 4, 4, widths[0])
    for width in widths[1:]:
      x = GBlock(width, train, self.axis_name, self.num_classes if cbn else 0)(x, y)
    x = nn.relu(common.batch_norm(train, self.axis_name)(x))
    x = nn.Conv(self.channels, (3, 3), padding="SAME", kernel_init=glorot())(x)
    return jnp.tanh(x)


class DBlock(nn.Module):
  """[ReLU-]conv3x3-ReLU-conv3x3[-avgpool] + [avgpool-]conv1x1 (identity if neither
  downsampling nor changing width). `optimized`: SNGAN's first block, no leading ReLU.

  The first convolution keeps the input's width (the reference's D Block: hidden_channels =
  in_channels); the optimized block's goes straight to `features` (its OptimizedBlock).
  """

  features: int
  down: bool = True
  optimized: bool = False
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    sn = dict(spectral_norm=self.spectral_norm, train=train)
    hidden = self.features if self.optimized else x.shape[-1]
    h = x if self.optimized else nn.relu(x)
    h = common.layer(
      nn.Conv(hidden, (3, 3), padding="SAME", kernel_init=glorot(math.sqrt(2))), h, **sn
    )
    h = nn.relu(h)
    if self.down:
      h = common.layer(ConvPool(self.features, 3, glorot(math.sqrt(2))), h, **sn)
    else:
      h = common.layer(
        nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=glorot(math.sqrt(2))), h, **sn
      )
    if self.down:
      shortcut = common.layer(ConvPool(self.features, 1, glorot(), name="shortcut"), x, **sn)
    elif x.shape[-1] != self.features:
      shortcut = common.layer(nn.Conv(self.features, (1, 1), kernel_init=glorot()), x, **sn)
    else:
      shortcut = x
    return h + shortcut


class ResNetDiscriminator(nn.Module):
  image_size: int = 32
  width: int = 64
  spectral_norm: bool = False
  num_classes: int = 0
  conditioning: str = "projection"  # see common.D_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    sn = self.spectral_norm
    if self.num_classes and self.conditioning == "concat":
      x = common.concat_label_input(
        x, y, self.num_classes, self.embed_dim, spectral_norm=sn, train=train
      )
    arch = ARCHS[self.image_size]
    for i, (m, down) in enumerate(zip(arch.d_widths, arch.d_down, strict=True)):
      x = DBlock(self.width * m, down=down, optimized=i == 0, spectral_norm=sn)(x, train=train)
    h = jnp.sum(nn.relu(x), axis=(1, 2))
    head = nn.Dense(1, use_bias=arch.d_head_bias, kernel_init=glorot())
    logits = common.layer(head, h, spectral_norm=sn, train=train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      # The reference's l_y: SNEmbedID(n_classes, width, initialW=GlorotUniform()).
      logits = logits + common.projection(
        h, y, self.num_classes, spectral_norm=sn, train=train, embedding_init=glorot()
      )
    return logits


def build(model: ml_collections.ConfigDict, channels: int, axis_name: str | None, num_classes=0):
  """(G, D) from model.image_size, model.resnet.*, model.d_spectral_norm and, when
  conditional, model.g_conditioning / d_conditioning / class_embed_dim."""
  check_size(model.image_size)
  s = CONFIG.read(model)
  g_cond, d_cond = common.conditioning_fields(model, num_classes)
  g = ResNetGenerator(
    image_size=model.image_size, channels=channels, width=s.g_width, axis_name=axis_name, **g_cond
  )
  d = ResNetDiscriminator(
    image_size=model.image_size, width=s.d_width, spectral_norm=model.d_spectral_norm, **d_cond
  )
  return g, d
