"""CycleGAN's networks (Zhu et al. 2017): the ResNet generator and the PatchGAN discriminator.

Both follow junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py, `ResnetGenerator` and
`NLayerDiscriminator` with `--norm instance`, `--init_type normal --init_gain 0.02`):

  generator      c7s1-k, d2k, d4k, R4k x n_blocks, u2k, uk, c7s1-C, tanh
                 (c7s1-k: reflection pad 3, 7x7 conv, k filters, instance norm, ReLU;
                 dK: 3x3 stride-2 conv (zero padding 1), instance norm, ReLU;
                 RK: residual block of two reflection-padded 3x3 convs with instance norm;
                 uK: 2x upsampling to K filters, instance norm, ReLU)
  discriminator  C(ndf) - C(2 ndf) - ... (4x4 convs, stride 2, then one of stride 1) - 1,
                 instance norm on all but the first, leaky ReLU 0.2; outputs one logit per
                 overlapping patch, (N, h, w)

Instance norm is the reference's `nn.InstanceNorm2d(affine=False, track_running_stats=False)`:
per sample and channel, mean and biased variance over H, W, eps 1e-5, no learned scale or
offset and no running statistics, so the networks have no state besides `params` and are the
same function in training and evaluation (and under data parallelism: nothing is averaged
over the batch). The convs before a norm have no bias: the norm subtracts each channel's
mean, so a bias there is cancelled and its gradient is rounding noise, which Adam turns
into learning-rate-sized random steps (the reference keeps them, `use_bias = norm_layer ==
InstanceNorm2d`; the networks compute the same function without them).

Upsampling (`upsample`): 'transpose' (the default, the paper's) is a 3x3 stride-2 transposed
conv with the reference's geometry (torch padding=1, output_padding=1, i.e. lax padding
(1, 2) per side); 'resize' is nearest-neighbour 2x then a reflection-padded 3x3 conv (Odena
et al. 2016), which avoids checkerboard artefacts at the same parameter count.

The PatchGAN's receptive field is 70x70 with the reference's 3 layers at 256 px, 27% of the
image side. `d_layers=0` picks the number of stride-2 layers whose receptive field is nearest
(in log scale) to that fraction of the image: 3 at 256 px, 2 at 128, 1 at 64 and at 32 px
(16x16 fields, half a 32-px image: the smallest this architecture has; 2 layers would see
34x34, more than the whole image). `receptive_field` computes it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import ops, specs

Array = jax.Array

UPSAMPLE = ("transpose", "resize")
INSTANCE_NORM_EPS = 1e-5  # torch.nn.InstanceNorm2d's default
# The reference PatchGAN: 70x70 receptive fields on 256-px images.
REFERENCE_FIELD_FRACTION = 70 / 256
MAX_D_LAYERS = 8

# model.cyclegan.*: each key's default and what it may be. `default_config()` and
# `config_specs()` read it, so a game config declares this sub-config in one line.
CONFIG: dict[str, tuple[Any, specs.Spec]] = {
  # Generator width k of c7s1-k (the paper: 64) and residual blocks (paper: 6 at 128 px,
  # 9 at 256 px). At 32 px the generators are most of a training step's cost: with k = 16 a
  # step on a batch of 8 (both generators and discriminators, forward and backward) took
  # 0.4 s on two busy CPU cores, with k = 32 1.5 s.
  "ngf": (16, specs.POSITIVE),
  "n_blocks": (6, specs.COUNT),
  "upsample": ("transpose", specs.names(lambda: UPSAMPLE)),
  # Discriminator width (paper: 64) and stride-2 layers (0: from the image size, see above).
  "ndf": (64, specs.POSITIVE),
  "d_layers": (0, specs.integer(0, MAX_D_LAYERS)),
  # Conv weights ~ N(0, init_std^2), biases 0 (the reference's init_type normal, gain 0.02).
  "init_std": (0.02, specs.number(0.0, open_low=True)),
}


def default_config() -> ml_collections.ConfigDict:
  """The model.cyclegan sub-config with its defaults."""
  return ml_collections.ConfigDict({k: default for k, (default, _) in CONFIG.items()})


def config_specs(prefix: str = "model.cyclegan") -> dict[str, specs.Spec]:
  """What each value of the sub-config at `prefix` may be (for config.SPECS)."""
  return {f"{prefix}.{k}": spec for k, (_, spec) in CONFIG.items()}


# --- pieces ---------------------------------------------------------------------------------


def reflect_pad(x: Array, pad: int) -> Array:
  """Reflection padding of H and W (NHWC) by `pad`: torch's ReflectionPad2d, numpy's 'reflect'
  (the edge pixel is not repeated)."""
  if pad == 0:
    return x
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def instance_norm(x: Array, eps: float = INSTANCE_NORM_EPS) -> Array:
  """(x - mean) / sqrt(var + eps), mean and biased variance over H, W of each sample and
  channel (NHWC), computed in float32."""
  x32 = x.astype(jnp.float32)
  mean = x32.mean(axis=(1, 2), keepdims=True)
  var = jnp.square(x32 - mean).mean(axis=(1, 2), keepdims=True)
  return ((x32 - mean) * jax.lax.rsqrt(var + eps)).astype(x.dtype)


class InstanceNorm(nn.Module):
  """Instance norm; `affine=True` adds a learned per-channel scale (1) and offset (0).

  CycleGAN uses affine=False (the reference's default), which has no parameters.
  """

  affine: bool = False
  eps: float = INSTANCE_NORM_EPS

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = instance_norm(x, self.eps)
    if self.affine:
      features = x.shape[-1]
      y = y * self.param("scale", nn.initializers.ones, (features,)) + self.param(
        "bias", nn.initializers.zeros, (features,)
      )
    return y


def _conv(
  features: int, kernel: int, stride: int, padding: Any, init_std: float, *, normed: bool = True
) -> nn.Module:
  """A conv; `normed`: instance norm follows, which cancels a bias (see the module doc)."""
  # ops.Conv: flax.linen.Conv with faster strided convs on CPU (same params, same function).
  return ops.Conv(
    features,
    (kernel, kernel),
    strides=(stride, stride),
    padding=padding,
    use_bias=not normed,
    kernel_init=nn.initializers.normal(init_std),
  )


def _same_pad(p: int) -> tuple[tuple[int, int], tuple[int, int]]:
  return ((p, p), (p, p))


class ResnetBlock(nn.Module):
  """x + IN(conv3(pad(ReLU(IN(conv3(pad(x))))))), with reflection padding 1."""

  init_std: float = 0.02

  @nn.compact
  def __call__(self, x: Array) -> Array:
    features = x.shape[-1]
    h = _conv(features, 3, 1, "VALID", self.init_std)(reflect_pad(x, 1))
    h = nn.relu(instance_norm(h))
    h = _conv(features, 3, 1, "VALID", self.init_std)(reflect_pad(h, 1))
    return x + instance_norm(h)


class ResnetGenerator(nn.Module):
  """(N, H, W, C_in) in [-1, 1] -> (N, H, W, channels) in [-1, 1]; H and W divisible by 4."""

  channels: int = 3
  ngf: int = 16
  n_blocks: int = 6
  upsample: str = "transpose"  # see UPSAMPLE
  init_std: float = 0.02

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if x.shape[1] % 4 or x.shape[2] % 4:
      raise ValueError(f"the ResNet generator needs H and W divisible by 4, got {x.shape}")
    if self.upsample not in UPSAMPLE:
      raise ValueError(f"unknown upsample {self.upsample!r}; valid: {', '.join(UPSAMPLE)}")
    std = self.init_std
    h = _conv(self.ngf, 7, 1, "VALID", std)(reflect_pad(x, 3))
    h = nn.relu(instance_norm(h))
    for mult in (2, 4):  # d2k, d4k
      h = nn.relu(instance_norm(_conv(self.ngf * mult, 3, 2, _same_pad(1), std)(h)))
    for _ in range(self.n_blocks):
      h = ResnetBlock(std)(h)
    for mult in (2, 1):  # u2k, uk
      h = nn.relu(instance_norm(self._up(h, self.ngf * mult)))
    h = _conv(self.channels, 7, 1, "VALID", std, normed=False)(reflect_pad(h, 3))
    return jnp.tanh(h)

  def _up(self, h: Array, features: int) -> Array:
    if self.upsample == "resize":
      n, height, width, c = h.shape
      h = jax.image.resize(h, (n, 2 * height, 2 * width, c), "nearest")
      return _conv(features, 3, 1, "VALID", self.init_std)(reflect_pad(h, 1))
    # torch ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): lax padding
    # (k - 1 - padding, k - 1 - padding + output_padding) = (1, 2), output exactly 2x.
    return ops.ConvTranspose(
      features,
      (3, 3),
      strides=(2, 2),
      padding=((1, 2), (1, 2)),
      use_bias=False,  # instance norm follows
      kernel_init=nn.initializers.normal(self.init_std),
    )(h)


def patch_layers(image_size: int) -> int:
  """The number of stride-2 PatchGAN layers whose receptive field, as a fraction of the image
  side, is nearest (in log scale) to the reference's 70/256."""
  target = math.log(REFERENCE_FIELD_FRACTION * image_size)
  return min(range(1, MAX_D_LAYERS + 1), key=lambda n: abs(math.log(receptive_field(n)) - target))


def patch_kernels(n_layers: int) -> list[tuple[int, int]]:
  """(kernel, stride) of each PatchGAN conv: n_layers stride-2 4x4 convs, a stride-1 4x4 conv
  and the stride-1 4x4 output conv."""
  return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def receptive_field(n_layers: int) -> int:
  """Side of the input window that one PatchGAN output sees (70 for the reference's 3)."""
  field = 1
  for kernel, stride in reversed(patch_kernels(n_layers)):
    field = field * stride + kernel - stride
  return field


class PatchDiscriminator(nn.Module):
  """(N, H, W, C) -> patch logits (N, h, w): the reference's NLayerDiscriminator.

  Widths ndf * min(2^i, 8); 4x4 convs with zero padding 1; instance norm and leaky ReLU 0.2
  after every conv but the first (no norm) and the last (the logits).
  """

  ndf: int = 64
  n_layers: int = 3
  init_std: float = 0.02

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if self.n_layers < 1:
      raise ValueError(f"the PatchGAN needs n_layers >= 1, got {self.n_layers}")
    kernels = patch_kernels(self.n_layers)
    h = x
    for i, (kernel, stride) in enumerate(kernels[:-1]):
      width = self.ndf * min(2**i, 8)
      h = _conv(width, kernel, stride, _same_pad(1), self.init_std, normed=i > 0)(h)
      if i > 0:
        h = instance_norm(h)
      h = nn.leaky_relu(h, 0.2)
    kernel, stride = kernels[-1]
    return _conv(1, kernel, stride, _same_pad(1), self.init_std, normed=False)(h)[..., 0]


class CycleGANNets(NamedTuple):
  """The four networks. G: A -> B, F: B -> A; D_A judges domain A (real a vs F(b)), D_B
  judges domain B (real b vs G(a)). The reference's netG_A, netG_B, netD_A, netD_B are
  G, F, D_B, D_A (its netD_A judges G_A's outputs, which are in B)."""

  g: ResnetGenerator
  f: ResnetGenerator
  d_a: PatchDiscriminator
  d_b: PatchDiscriminator


def build(model: ml_collections.ConfigDict, channels_a: int, channels_b: int) -> CycleGANNets:
  """The four networks from `model` (its image_size and its `cyclegan` sub-config)."""
  cfg = model.cyclegan
  if cfg.upsample not in UPSAMPLE:
    raise ValueError(
      f"unknown model.cyclegan.upsample {cfg.upsample!r}; valid: {', '.join(UPSAMPLE)}"
    )
  if model.image_size % 4:
    raise ValueError(f"CycleGAN needs model.image_size divisible by 4, got {model.image_size}")
  gen = dict(ngf=cfg.ngf, n_blocks=cfg.n_blocks, upsample=cfg.upsample, init_std=cfg.init_std)
  n_layers = cfg.d_layers or patch_layers(model.image_size)
  disc = PatchDiscriminator(ndf=cfg.ndf, n_layers=n_layers, init_std=cfg.init_std)
  return CycleGANNets(
    g=ResnetGenerator(channels=channels_b, **gen),
    f=ResnetGenerator(channels=channels_a, **gen),
    d_a=disc,
    d_b=disc,
  )
