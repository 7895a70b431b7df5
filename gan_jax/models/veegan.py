"""The DCGAN of PacGAN's Stacked MNIST experiment (the VEEGAN setting), 28x28x3.

As in PacGAN's code (github fjxmlzn/PacGAN, stacked_MNIST_experiments; a TensorFlow DCGAN
with 5x5 kernels and "SAME" padding), width w = 64:

  generator      z -> Dense 2x2x8w -> BN -> ReLU -> ConvT 4w to 4x4 -> BN -> ReLU
                 -> ConvT 2w to 7x7 -> BN -> ReLU -> ConvT w to 14x14 -> BN -> ReLU
                 -> ConvT 3 to 28x28 -> tanh           (5x5 kernels, stride 2)
  discriminator  Conv w -> lReLU -> Conv 2w -> BN -> lReLU -> Conv 4w -> BN -> lReLU
                 -> Conv 8w -> BN -> lReLU -> Dense 1   (5x5 kernels, stride 2: 28, 14, 7, 4, 2)

leaky ReLU 0.2, weights N(0, 0.02^2). The transposed convolutions are the gradients of the
strided "SAME" convolutions they invert (TensorFlow's conv2d_transpose with an output shape),
whose lax paddings are (3, 2) per side, and (2, 2) for 4 -> 7. `model.pack` packs D's input.
The layers are ops.Conv / ops.ConvTranspose, flax's modules with the same parameters computed
by the CPU formulations of gan_jax.ops (with flax's lax convolutions the step ran 12.7x slower
on a 2-core CPU, docs/performance.md).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from gan_jax import layers, ops, specs
from gan_jax.models import common

Array = jax.Array
SLOPE = 0.2
INIT = nn.initializers.normal(0.02)
SIDES = (2, 4, 7, 14, 28)

CONFIG = common.family_config("veegan", {"width": (64, specs.POSITIVE)})


def _transpose_padding(n_in: int, n_out: int, k: int = 5, s: int = 2) -> tuple[int, int]:
  """lax padding of the transposed conv that is the gradient of conv(n_out -> n_in, SAME)."""
  total = max((n_in - 1) * s + k - n_out, 0)
  before = total // 2
  return k - 1 - before, k - 1 - (total - before)


class Generator(nn.Module):
  width: int = 64
  channels: int = 3
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    del y
    norm = lambda x: common.batch_norm(train, self.axis_name)(x)
    x = nn.Dense(SIDES[0] * SIDES[0] * 8 * self.width, kernel_init=INIT)(z)
    x = nn.relu(norm(x)).reshape(z.shape[0], SIDES[0], SIDES[0], 8 * self.width)
    widths = (4 * self.width, 2 * self.width, self.width, self.channels)
    for i, features in enumerate(widths):
      pad = _transpose_padding(SIDES[i], SIDES[i + 1])
      x = ops.ConvTranspose(features, (5, 5), strides=(2, 2), padding=(pad, pad), kernel_init=INIT)(
        x
      )
      x = jax.numpy.tanh(x) if i == len(widths) - 1 else nn.relu(norm(x))
    return x


class Discriminator(nn.Module):
  width: int = 64
  pack: int = 1
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    del y
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    for i, mult in enumerate((1, 2, 4, 8)):
      x = ops.Conv(self.width * mult, (5, 5), strides=(2, 2), padding="SAME", kernel_init=INIT)(x)
      if i > 0:
        x = common.batch_norm(train, self.axis_name)(x)
      x = nn.leaky_relu(x, SLOPE)
    return nn.Dense(1, kernel_init=INIT)(x.reshape(x.shape[0], -1))[:, 0]


def build(model, channels: int, axis_name: str | None, num_classes: int = 0):
  if num_classes:
    raise ValueError("the veegan networks are unconditional here: drop conditional")
  width = CONFIG.read(model).width
  g = Generator(width=width, channels=channels, axis_name=axis_name)
  return g, Discriminator(width=width, pack=model.pack, axis_name=axis_name)


IMAGE_SIZES = (28,)
