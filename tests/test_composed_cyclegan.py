"""CycleGAN's networks recomposed from plain numpy with the reference's constants.

Reference: junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py with the CycleGAN
defaults (--netG resnet_9blocks / resnet_6blocks, --netD basic, --norm instance,
--init_type normal --init_gain 0.02, no dropout): ResnetGenerator, ResnetBlock,
NLayerDiscriminator, get_norm_layer ('instance': InstanceNorm2d(affine=False,
track_running_stats=False), eps 1e-5) and init_weights (normal_(0, 0.02), biases 0).

The reference gives the convolutions before an instance norm a bias (use_bias =
norm_layer == InstanceNorm2d); gan_jax leaves it out. The compositions below add random
biases there, so they also check that the norm cancels them. Flax stores the transposed
convolution's kernel un-flipped; torch's ConvTranspose2d kernel is that array rotated by
180 degrees with C_in and C_out swapped (the same N(0, 0.02^2) at initialization).
"""

import functools

import _composition as C
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import cyclegan

IN_EPS = 1e-5  # torch.nn.InstanceNorm2d's default
LRELU_SLOPE = 0.2  # NLayerDiscriminator: LeakyReLU(0.2, True)
INIT_STD = 0.02  # init_weights(init_type='normal', init_gain=0.02)


def _instance_norm(x):
  return C.batch_norm(x, (1, 2), IN_EPS)  # per sample and channel, over H and W, no affine


def _conv(p, name, x, stride=1, padding=0, rng=None):
  """A conv; with `rng`, plus the random bias the reference has before an instance norm."""
  kernel = p[f"{name}/kernel"]
  y = C.conv2d(x, kernel, stride=stride, padding=padding)
  if f"{name}/bias" in p:
    return y + p[f"{name}/bias"]
  return y if rng is None else y + rng.normal(size=kernel.shape[-1])


def _generator_reference(p, x, n_blocks, rng):
  """ResnetGenerator: ReflectionPad2d(3), Conv2d(7), IN, ReLU; 2 x [Conv2d(3, stride 2,
  padding 1), IN, ReLU]; n_blocks ResnetBlocks; 2 x [ConvTranspose2d(3, stride 2, padding 1,
  output_padding 1), IN, ReLU]; ReflectionPad2d(3), Conv2d(7) (with bias), Tanh."""
  h = C.relu(_instance_norm(_conv(p, "Conv_0", C.reflect_pad(x, 3), rng=rng)))
  for i in (1, 2):
    h = C.relu(_instance_norm(_conv(p, f"Conv_{i}", h, stride=2, padding=1, rng=rng)))
  for b in range(n_blocks):
    # ResnetBlock: x + [ReflectionPad2d(1), Conv2d(3), IN, ReLU, ReflectionPad2d(1), Conv2d(3), IN]
    r = C.relu(_instance_norm(_conv(p, f"ResnetBlock_{b}/Conv_0", C.reflect_pad(h, 1), rng=rng)))
    h = h + _instance_norm(_conv(p, f"ResnetBlock_{b}/Conv_1", C.reflect_pad(r, 1), rng=rng))
  for i in (0, 1):
    # The transposed conv reads the input dilated by 2 and padded by k - 1 - padding = 1
    # before and k - 1 - padding + output_padding = 2 after: exactly 2x the size.
    kernel = p[f"ConvTranspose_{i}/kernel"]
    up = C.conv2d(C.dilate(h, 2), kernel, padding=((1, 2), (1, 2)))
    h = C.relu(_instance_norm(up + rng.normal(size=kernel.shape[-1])))
  return np.tanh(_conv(p, "Conv_3", C.reflect_pad(h, 3)))


def _discriminator_reference(p, x, n_layers):
  """NLayerDiscriminator: Conv2d(4, 2, 1) (bias), LeakyReLU; n_layers - 1 x [Conv2d(4, 2, 1),
  IN, LeakyReLU] and [Conv2d(4, 1, 1), IN, LeakyReLU] with ndf * min(2^n, 8) filters; then
  Conv2d(ndf * min(2^n_layers, 8), 1, 4, 1, 1) (bias): one logit per patch."""
  rng = np.random.default_rng(0)
  h = C.leaky_relu(_conv(p, "Conv_0", x, stride=2, padding=1), LRELU_SLOPE)
  for i in range(1, n_layers + 1):
    stride = 2 if i < n_layers else 1
    h = _conv(p, f"Conv_{i}", h, stride=stride, padding=1, rng=rng)
    h = C.leaky_relu(_instance_norm(h), LRELU_SLOPE)
  return _conv(p, f"Conv_{n_layers + 1}", h, padding=1)[..., 0]


def _known(name, shape, rng):
  # Weights drawn as the reference's init, biases away from 0.
  return rng.normal(0.0, 0.3, shape) if name.endswith("bias") else rng.normal(0.0, INIT_STD, shape)


def test_cyclegan_generator_is_the_reference_composition():
  g = cyclegan.ResnetGenerator(channels=3, ngf=4, n_blocks=2, upsample="transpose")
  x = np.random.default_rng(1).uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
  p = C.random_params(C.param_shapes(g, x), 2, _known)
  got = jax.jit(lambda p: g.apply({"params": p}, x))(C.nest(p))
  want = _generator_reference(C.np64(p), x.astype(np.float64), 2, np.random.default_rng(3))
  C.assert_close(got, want)


def test_cyclegan_patchgan_is_the_reference_composition():
  # 4 stride-2 layers: the widths reach ndf * min(2^4, 8), the reference's cap at 8 ndf.
  d = cyclegan.PatchDiscriminator(ndf=2, n_layers=4)
  x = np.random.default_rng(4).uniform(-1, 1, size=(2, 64, 64, 3)).astype(np.float32)
  shapes = C.param_shapes(d, x)
  widths = [shapes[f"Conv_{i}/kernel"][-1] for i in range(6)]
  assert widths == [2, 4, 8, 16, 16, 1]  # ndf * min(2^i, 8), then 1
  p = C.random_params(shapes, 5, _known)
  got = jax.jit(lambda p: d.apply({"params": p}, x))(C.nest(p))
  assert got.shape == (2, 2, 2)
  C.assert_close(got, _discriminator_reference(C.np64(p), x.astype(np.float64), 4))


@functools.cache
def _initialized():
  g = cyclegan.ResnetGenerator(channels=3, ngf=8, n_blocks=2)
  d = cyclegan.PatchDiscriminator(ndf=8, n_layers=3)
  init_g = jax.jit(lambda k: g.init(k, jnp.zeros((1, 8, 8, 3)))["params"])
  init_d = jax.jit(lambda k: d.init(k, jnp.zeros((1, 32, 32, 3)))["params"])
  return C.flat(init_g(jax.random.PRNGKey(0))), C.flat(init_d(jax.random.PRNGKey(1)))


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_cyclegan_initialization_is_normal_0_02_with_zero_biases():
  for params in _initialized():
    kernels = []
    for k, v in params.items():
      assert k.endswith("kernel") or k.endswith("bias"), k  # no norm parameters (affine=False)
      if k.endswith("bias"):
        assert np.all(v == 0), k
      else:
        kernels.append(v.ravel())
        assert v.std() < 1.5 * INIT_STD, k  # each layer, however small
    pooled = np.concatenate(kernels)
    assert abs(pooled.std() / INIT_STD - 1) < 5 / np.sqrt(2 * pooled.size), pooled.std()
    assert abs(pooled.mean()) < 5 * INIT_STD / np.sqrt(pooled.size)
