"""R3GAN's normalization-free ResNet (Huang et al. 2024, "The GAN is dead; long live the
GAN! A Modern GAN Baseline", github.com/brownvc/R3GAN, R3GAN/Networks.py), for 8-1024 px
(32 and 64 px in practice), 1 or 3 channels, unconditional or class-conditional.

Stages of constant width, one per resolution (4, 8, ..., image_size). Each holds
`blocks_per_stage` residual blocks

    x + conv1x1(act(grouped conv3x3(act(conv1x1(x)))))      (inverted bottleneck:
                                                            width -> expansion * width)

with `cardinality` groups in the 3x3 convolution, act = a learned bias then leaky ReLU(0.2),
no normalization anywhere and no biases in the convolutions. Fix-up style initialization
(MSR: N(0, gain^2 / fan_in)): the last convolution of every block starts at zero, so every
block starts as the identity, and the other two have gain sqrt(2 / (1 + 0.2^2)) * L^(-1/4)
with L the number of blocks of the network.

G: z [+ label embedding] -> the 4x4 "generative basis" (a learned 4x4 x width tensor scaled
    per channel by a linear map of z) -> stage blocks -> (FIR 2x upsampling -> blocks)* ->
    a 1x1 convolution to the image channels. The output is linear, as there (no tanh).
D: a 1x1 convolution from the image -> (blocks -> FIR 2x downsampling)* -> blocks at 4x4
    -> the "discriminative basis" (a depthwise 4x4 valid convolution, then linear) ->
    a logit, or a projection onto a label embedding when conditional.
Resampling: FIR with (1, 2, 1) * (1, 1) = (1, 3, 3, 1), i.e. models/fir.py (StyleGAN2's).

On CPU the grouped convolution runs as a dense convolution with the block-diagonal kernel
(XLA:CPU's grouped convolutions are 15-20x slower to differentiate; the function is the
same), so on CPU cardinality does not save time; on GPUs it is lax's grouped convolution.

The training recipe of the paper (RpGAN loss with R1 and R2, no other tricks) is RECIPE:
data for the game and experiment to read, not used here.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax import specs
from gan_jax.models import common, fir

Array = jax.Array

_DN = ("NHWC", "HWIO", "NHWC")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE**2))  # R3GAN's BiasedActivation.Gain

CONFIG = common.family_config(
  "r3gan",
  {
    # R3GAN's CIFAR-10 network: width 768, 2 blocks per stage, cardinality 96, expansion 2
    # (16 channels per group). These keep 16 channels per group and train at about
    # 1 step/s at batch 32 on two CPU cores (benchmarks/family_throughput.py).
    "width": (32, specs.POSITIVE),
    "blocks_per_stage": (1, specs.POSITIVE),
    "cardinality": (4, specs.POSITIVE),
    "expansion": (2, specs.POSITIVE),
  },
)

# The paper's CIFAR-10 recipe (train.py --preset=CIFAR10, batch 512): each scheduled value
# goes from `base` to `final` by cosine decay over the first 20M images.
RECIPE = {
  "loss": "rpgan",  # D: softplus(-(D(x) - D(G(z)))); G: softplus(-(D(G(z)) - D(x)))
  "penalties": ("r1", "r2"),  # zero-centered gradient penalties on real and on fake
  "gamma": {"base": 0.05, "final": 0.005},  # weight gamma / 2 on sum (r1 + r2)
  "learning_rate": {"base": 2e-4, "final": 5e-5},  # Adam, G and D alike
  "b1": 0.0,
  "b2": {"base": 0.9, "final": 0.99},
  "eps": 1e-8,
  "ema_half_life_kimg": {"base": 0.0, "final": 5000.0},
  "decay_kimg": 20000,
  "augment_p": {"base": 0.0, "final": 0.55},  # ADA-style augmentation (not in gan_jax)
  "batch_size": 512,
  "z_dim": 64,
}


def check_size(image_size: int) -> None:
  if image_size < 8 or image_size & (image_size - 1) or image_size > 1024:
    raise ValueError(f"R3GAN needs image_size a power of two in [8, 1024], got {image_size}")


def msr_init(gain: float, fan_in: int):
  return nn.initializers.normal(gain / math.sqrt(fan_in)) if gain else nn.initializers.zeros


# How grouped convolutions run on CPU (read while tracing): 'dense' (the block-diagonal
# kernel) or 'lax' (lax's grouped convolution, e.g. to count the model's own FLOPs).
CPU_GROUPED_CONV = "dense"


def grouped_conv(x: Array, kernel: Array, groups: int) -> Array:
  """SAME stride-1 convolution with `groups` groups; kernel (k, k, C_in / groups, C_out).

  On CPU (CPU_GROUPED_CONV='dense'): a dense convolution with the block-diagonal
  (k, k, C_in, C_out) kernel, the same function.
  """
  k, _, cin_g, cout = kernel.shape
  pad = [(k // 2, k // 2)] * 2
  if groups == 1 or jax.default_backend() != "cpu" or CPU_GROUPED_CONV == "lax":
    return lax.conv_general_dilated(
      x, kernel, (1, 1), pad, dimension_numbers=_DN, feature_group_count=groups
    )
  w = kernel.reshape(k, k, cin_g, groups, cout // groups)
  eye = jnp.eye(groups, dtype=kernel.dtype)
  dense = jnp.einsum("abigo,gh->abgiho", w, eye).reshape(k, k, groups * cin_g, cout)
  return lax.conv_general_dilated(x, dense, (1, 1), pad, dimension_numbers=_DN)


class Conv(nn.Module):
  """Bias-free SAME convolution with MSR initialization (gain 0: zeros)."""

  features: int
  kernel_size: int = 1
  groups: int = 1
  gain: float = 1.0

  @nn.compact
  def __call__(self, x: Array) -> Array:
    k, cin = self.kernel_size, x.shape[-1]
    if cin % self.groups or self.features % self.groups:
      raise ValueError(f"{self.groups} groups must divide {cin} and {self.features} channels")
    cin_g = cin // self.groups
    kernel = self.param("kernel", msr_init(self.gain, cin_g * k * k), (k, k, cin_g, self.features))
    return grouped_conv(x, kernel.astype(x.dtype), self.groups)


class BiasedActivation(nn.Module):
  @nn.compact
  def __call__(self, x: Array) -> Array:
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return nn.leaky_relu(x + bias.astype(x.dtype), LRELU_SLOPE)


class ResidualBlock(nn.Module):
  expansion: int = 2
  cardinality: int = 4
  num_blocks: int = 1  # L, all blocks of the network: the initialization's variance scaling
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x: Array) -> Array:
    c = x.shape[-1]
    e = c * self.expansion
    gain = LRELU_GAIN * self.num_blocks ** (-1 / (2 * 3 - 2))  # 3 linear layers
    y = Conv(e, 1, gain=gain, name="conv1")(x)
    y = Conv(e, self.kernel_size, self.cardinality, gain=gain, name="conv2")(BiasedActivation()(y))
    y = Conv(c, 1, gain=0.0, name="conv3")(BiasedActivation()(y))
    return x + y


def _stages(image_size: int) -> int:
  return int(math.log2(image_size)) - 1  # 4, 8, ..., image_size


class R3GANGenerator(nn.Module):
  image_size: int = 32
  channels: int = 3
  width: int = 32
  blocks_per_stage: int = 1
  cardinality: int = 4
  expansion: int = 2
  num_classes: int = 0
  axis_name: str | None = None  # unused: no statistics cross the batch

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    del train  # no state
    check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    if self.num_classes:  # as R3GAN: an embedding of z's size, concatenated
      dim = z.shape[-1]
      e = nn.Embed(
        self.num_classes,
        dim,
        embedding_init=nn.initializers.normal(1 / math.sqrt(self.num_classes)),
        name="label_embedding",
      )(y)
      z = jnp.concatenate([z, e.astype(z.dtype)], axis=-1)
    basis = self.param("basis", nn.initializers.normal(1.0), (4, 4, self.width))
    scale = nn.Dense(
      self.width, use_bias=False, kernel_init=msr_init(1.0, z.shape[-1]), name="basis_scale"
    )(z)
    x = basis[None].astype(z.dtype) * scale[:, None, None, :]
    num_blocks = self.blocks_per_stage * _stages(self.image_size)
    block = dict(expansion=self.expansion, cardinality=self.cardinality, num_blocks=num_blocks)
    for stage in range(_stages(self.image_size)):
      if stage:
        x = fir.upsample2d(x)
      for _ in range(self.blocks_per_stage):
        x = ResidualBlock(**block)(x)
    return Conv(self.channels, 1, name="to_image")(x)


class R3GANDiscriminator(nn.Module):
  image_size: int = 32
  width: int = 32
  blocks_per_stage: int = 1
  cardinality: int = 4
  expansion: int = 2
  num_classes: int = 0

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    del train  # no state
    check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    num_blocks = self.blocks_per_stage * _stages(self.image_size)
    block = dict(expansion=self.expansion, cardinality=self.cardinality, num_blocks=num_blocks)
    x = Conv(self.width, 1, name="from_image")(x)
    for stage in range(_stages(self.image_size)):
      for _ in range(self.blocks_per_stage):
        x = ResidualBlock(**block)(x)
      if stage < _stages(self.image_size) - 1:
        x = fir.downsample2d(x)
    # The discriminative basis: a depthwise 4x4 valid convolution of the 4x4 map, then linear.
    basis = self.param("basis", msr_init(1.0, 16), (4, 4, self.width))
    h = jnp.einsum("nhwc,hwc->nc", x, basis.astype(x.dtype))
    out_dim = self.width if self.num_classes else 1
    out = nn.Dense(out_dim, use_bias=False, kernel_init=msr_init(1.0, self.width), name="out")(h)
    if not self.num_classes:
      return out[:, 0]
    e = nn.Embed(
      self.num_classes,
      out_dim,
      embedding_init=nn.initializers.normal(1 / math.sqrt(out_dim * self.num_classes)),
      name="projection_embedding",
    )(y)
    return jnp.sum(out * e.astype(out.dtype), axis=-1)


def build(model: ml_collections.ConfigDict, channels: int, axis_name: str | None, num_classes=0):
  """(G, D) from model.image_size and model.r3gan.*; conditioning is R3GAN's own (label
  embedding concatenated to z, projection D), model.g/d_conditioning do not apply."""
  check_size(model.image_size)
  s = CONFIG.read(model)
  if (s.width * s.expansion) % s.cardinality:
    raise ValueError(
      f"model.r3gan.cardinality {s.cardinality} must divide width * expansion "
      f"({s.width} * {s.expansion})"
    )
  arch = dict(
    image_size=model.image_size,
    width=s.width,
    blocks_per_stage=s.blocks_per_stage,
    cardinality=s.cardinality,
    expansion=s.expansion,
    num_classes=num_classes,
  )
  return R3GANGenerator(channels=channels, axis_name=axis_name, **arch), R3GANDiscriminator(**arch)
