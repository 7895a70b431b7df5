"""R3GAN's networks recomposed from plain numpy with the reference's constants.

Reference: brownvc/R3GAN R3GAN/Networks.py (MSRInitializer, Convolution, ResidualBlock,
GenerativeBasis, DiscriminativeBasis, GeneratorStage, DiscriminatorStage, Generator,
Discriminator), R3GAN/FusedOperators.py (BiasedActivation: bias then leaky ReLU 0.2 with
gain 1 at run time; its Gain sqrt(2 / (1 + 0.2^2)) is used only to initialize) and
R3GAN/Resamplers.py (InterpolativeUpsampler / Downsampler: upfirdn2d's upsample2d /
downsample2d with the filter convolve([1, 2, 1], [1, 1]) = [1, 3, 3, 1]). train.py sets
G's ConditionEmbeddingDimension to the noise dimension and D's to the width of its last
(4x4) stage.
"""

import functools
import math

import _composition as C
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import r3gan

LRELU_SLOPE = 0.2  # BiasedActivation.Function: lrelu (bias_act's alpha 0.2), gain=1
ACTIVATION_GAIN = math.sqrt(2 / (1 + 0.2**2))  # BiasedActivation.Gain, init only
LINEAR_LAYERS_PER_BLOCK = 3  # ResidualBlock.NumberOfLinearLayers
FIR = [1, 3, 3, 1]  # numpy.convolve([1, 2, 1], [1, 1])

ARCH = dict(image_size=8, width=8, blocks_per_stage=2, cardinality=2, expansion=2, num_classes=3)


def _block(p, name, x, cardinality):
  """ResidualBlock.forward: x + L3(act2(L2(act1(L1(x))))), bias-free convolutions, L2 3x3
  grouped with padding 1."""
  y = C.conv2d(x, p[f"{name}/conv1/kernel"])
  y = C.leaky_relu(y + p[f"{name}/BiasedActivation_0/bias"], LRELU_SLOPE)
  y = C.conv2d(y, p[f"{name}/conv2/kernel"], padding=1, groups=cardinality)
  y = C.leaky_relu(y + p[f"{name}/BiasedActivation_1/bias"], LRELU_SLOPE)
  return x + C.conv2d(y, p[f"{name}/conv3/kernel"])


def _generator_reference(p, z, y, arch):
  """Generator.forward: concat(z, EmbeddingLayer(onehot(y))); GenerativeBasis (Basis *
  Linear(z) per channel); per stage [upsample2d], blocks; AggregationLayer (1x1, no bias)."""
  e = np.eye(arch["num_classes"])[y] @ p["label_embedding/embedding"]  # a bias-free Linear
  z = np.concatenate([z, e], axis=-1)
  x = p["basis"][None] * (z @ p["basis_scale/kernel"])[:, None, None, :]
  i = 0
  for stage in range(int(math.log2(arch["image_size"])) - 1):
    if stage:
      x = C.upfirdn2d(x, FIR, up=2, padding=(2, 1), gain=4)  # upsample2d: (4+2-1)//2, (4-2)//2
    for _ in range(arch["blocks_per_stage"]):
      x = _block(p, f"ResidualBlock_{i}", x, arch["cardinality"])
      i += 1
  return C.conv2d(x, p["to_image/kernel"])


def _discriminator_reference(p, img, y, arch):
  """Discriminator.forward: ExtractionLayer (1x1, no bias); per stage blocks then
  downsample2d, the last stage blocks then DiscriminativeBasis (depthwise 4x4 VALID conv,
  bias-free Linear); the projection sum(x * EmbeddingLayer(onehot(y)))."""
  x = C.conv2d(img, p["from_image/kernel"])
  stages = int(math.log2(arch["image_size"])) - 1
  i = 0
  for stage in range(stages):
    for _ in range(arch["blocks_per_stage"]):
      x = _block(p, f"ResidualBlock_{i}", x, arch["cardinality"])
      i += 1
    if stage < stages - 1:
      x = C.upfirdn2d(x, FIR, down=2, padding=(1, 1))  # downsample2d: (4-2+1)//2, (4-2)//2
  h = np.einsum("nhwc,hwc->nc", x, p["basis"])
  out = h @ p["out/kernel"]
  return np.sum(out * p["projection_embedding/embedding"][y], axis=-1)


def _known(name, shape, rng):
  # Every parameter away from its initial value: conv3 starts at 0 and would hide the block.
  if name.endswith("bias"):
    return rng.normal(0.0, 0.5, shape)
  return rng.normal(0.0, 1 / math.sqrt(np.prod(shape[:-1])), shape)


def test_r3gan_residual_block_is_the_reference_block():
  block = r3gan.ResidualBlock(expansion=2, cardinality=2, num_blocks=4)
  x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
  p = C.random_params(C.param_shapes(block, x), 1, _known)
  got = jax.jit(lambda p: block.apply({"params": p}, x))(C.nest(p))
  want = _block({f"b/{k}": v for k, v in C.np64(p).items()}, "b", x.astype(np.float64), 2)
  C.assert_close(got, want)


def test_r3gan_generator_is_the_reference_composition():
  g = r3gan.R3GANGenerator(channels=3, **ARCH)
  rng = np.random.default_rng(2)
  z = rng.normal(size=(3, 6)).astype(np.float32)
  y = np.array([2, 0, 1], np.int32)
  p = C.random_params(C.param_shapes(g, z, y, train=False), 3, _known)
  got = jax.jit(lambda p: g.apply({"params": p}, z, y, train=False))(C.nest(p))
  C.assert_close(got, _generator_reference(C.np64(p), z.astype(np.float64), y, ARCH))


def test_r3gan_discriminator_is_the_reference_composition():
  d = r3gan.R3GANDiscriminator(**ARCH)
  rng = np.random.default_rng(4)
  x = rng.normal(size=(3, 8, 8, 3)).astype(np.float32)
  y = np.array([1, 2, 0], np.int32)
  p = C.random_params(C.param_shapes(d, x, y, train=False), 5, _known)
  got = jax.jit(lambda p: d.apply({"params": p}, x, y, train=False))(C.nest(p))
  C.assert_close(got, _discriminator_reference(C.np64(p), x.astype(np.float64), y, ARCH))


@functools.cache
def _initialized():
  """Initial params of a conditional G and D (8 px: 2 stages of 2 blocks, L = 4), wide
  enough for the distribution checks."""
  arch = dict(ARCH, width=32, cardinality=4, num_classes=10)
  g = r3gan.R3GANGenerator(channels=3, **arch)
  d = r3gan.R3GANDiscriminator(**arch)
  y = jnp.zeros((2,), jnp.int32)
  init_g = jax.jit(lambda k: g.init(k, jnp.zeros((2, 64)), y, train=False)["params"])
  init_d = jax.jit(lambda k: d.init(k, jnp.zeros((2, 8, 8, 3)), y, train=False)["params"])
  return C.flat(init_g(jax.random.PRNGKey(0))), C.flat(init_d(jax.random.PRNGKey(1)))


def _assert_normal(v, std, name):
  """MSRInitializer: normal_(0, std); the sample std within 5 standard errors."""
  tolerance = 5 / math.sqrt(2 * v.size)
  assert abs(v.std() / std - 1) < tolerance, (name, v.std(), std, v.size)
  assert abs(v.mean()) < 5 * std / math.sqrt(v.size), name


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_r3gan_initialization_is_the_references_fixup():
  g, d = _initialized()
  width, num_blocks, cardinality = 32, 4, 4  # L = sum(BlocksPerStage)
  # ActivationGain = BiasedActivation.Gain * L ** (-1 / (2 * 3 - 2)) for LinearLayer1 and 2,
  # 0 for LinearLayer3: every block starts as the identity.
  gain = ACTIVATION_GAIN * num_blocks ** (-1 / (2 * LINEAR_LAYERS_PER_BLOCK - 2))
  for params in (g, d):
    conv1 = np.concatenate([v.ravel() for k, v in params.items() if k.endswith("conv1/kernel")])
    conv2 = np.concatenate([v.ravel() for k, v in params.items() if k.endswith("conv2/kernel")])
    _assert_normal(conv1, gain / math.sqrt(width), "conv1")  # fan_in = C_in * 1 * 1
    _assert_normal(conv2, gain / math.sqrt(2 * width // cardinality * 9), "conv2")  # per group
    for k, v in params.items():
      if k.endswith("conv3/kernel") or k.endswith("bias"):
        assert np.all(v == 0), k
  # G: GenerativeBasis (Basis N(0, 1), Linear gain 1 on z + embedding), AggregationLayer
  # (gain 1, fan_in = width), EmbeddingLayer (gain 1, fan_in = num_classes).
  _assert_normal(g["basis"], 1.0, "G basis")
  _assert_normal(g["basis_scale/kernel"], 1 / math.sqrt(64 + 64), "G basis linear")
  _assert_normal(g["to_image/kernel"], 1 / math.sqrt(width), "G aggregation")
  _assert_normal(g["label_embedding/embedding"], 1 / math.sqrt(10), "G embedding")
  # D: ExtractionLayer (fan_in = 3), DiscriminativeBasis (depthwise: fan_in = 16; Linear
  # fan_in = width), EmbeddingLayer with ActivationGain 1 / sqrt(E), E = width.
  _assert_normal(d["from_image/kernel"], 1 / math.sqrt(3), "D extraction")
  _assert_normal(d["basis"], 1 / math.sqrt(16), "D basis")
  _assert_normal(d["out/kernel"], 1 / math.sqrt(width), "D basis linear")
  _assert_normal(
    d["projection_embedding/embedding"], 1 / math.sqrt(width) / math.sqrt(10), "D embedding"
  )
