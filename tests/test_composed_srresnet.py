"""SRGAN's networks (Ledig et al. 2017, Figure 4) recomposed from plain numpy.

The authors released no code; the constants below are the paper's and those of the
PyTorch ports that follow it (e.g. Lornatang/SRGAN-PyTorch model.py): PReLU with one
slope per layer starting at 0.25 (torch.nn.PReLU()), residual blocks conv-BN-PReLU-conv-BN
plus the block's input, a long skip around the blocks, 2 x [conv to 4 x width, pixel shuffle
x2 (torch's channel order), PReLU], BatchNorm eps 1e-5 (torch's), D's leaky ReLU 0.2 and
its widths 1, 1, 2, 2, 4, 4, 8, 8 x d_width with strides 1, 2, 1, 2, 1, 2, 1, 2.

The paper does not say how D's stride-2 convolutions pad: gan_jax uses XLA's 'SAME',
which for a 3x3 stride-2 conv of an even size pads (0, 1) (TF/Keras ports do the same);
the PyTorch ports pad (1, 1), which shifts the sampling grid by one pixel.
"""

import functools

import _composition as C
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import srresnet

PRELU_INIT = 0.25  # torch.nn.PReLU(init=0.25), num_parameters=1
BN_EPS = 1e-5  # torch.nn.BatchNorm2d
LRELU_SLOPE = 0.2
D_LAYERS = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))  # (width x d_width, stride)


def _prelu(x, slope):
  return np.maximum(x, 0) + slope * np.minimum(x, 0)


def _pixel_shuffle(x, r):
  """torch.nn.PixelShuffle on NHWC: output pixel (h r + i, w r + j), channel c, is input
  pixel (h, w), channel c r^2 + i r + j."""
  n, h, w, c = x.shape
  out = np.zeros((n, h * r, w * r, c // (r * r)))
  for i in range(r):
    for j in range(r):
      out[:, i::r, j::r, :] = x[..., np.arange(c // (r * r)) * r * r + i * r + j]
  return out


def _conv(p, name, x, stride=1, padding=None):
  k = p[f"{name}/kernel"]
  pad = k.shape[0] // 2 if padding is None else padding
  return C.conv2d(x, k, stride=stride, padding=pad) + p[f"{name}/bias"]


def _bn(p, name, x):
  return C.batch_norm(x, (0, 1, 2), BN_EPS, p[f"{name}/scale"], p[f"{name}/bias"])


def _generator_reference(p, x, num_blocks):
  h0 = _prelu(_conv(p, "Conv_0", x), p["PReLU_0/negative_slope"])  # k9n64s1, PReLU
  h = h0
  for b in range(num_blocks):
    r = f"ResidualBlock_{b}"
    y = _bn(p, f"{r}/BatchNorm_0", _conv(p, f"{r}/Conv_0", h))
    y = _prelu(y, p[f"{r}/PReLU_0/negative_slope"])
    h = h + _bn(p, f"{r}/BatchNorm_1", _conv(p, f"{r}/Conv_1", y))
  h = h0 + _bn(p, "BatchNorm_0", _conv(p, "Conv_1", h))  # k3n64s1, BN, elementwise sum
  for i in (0, 1):  # k3n256s1, PixelShuffler x2, PReLU
    h = _prelu(_pixel_shuffle(_conv(p, f"Conv_{2 + i}", h), 2), p[f"PReLU_{1 + i}/negative_slope"])
  return np.tanh(_conv(p, "Conv_4", h))  # k9n3s1; HR images in [-1, 1]


def _discriminator_reference(p, x):
  h = C.leaky_relu(_conv(p, "Conv_0", x), LRELU_SLOPE)  # k3n64s1, LeakyReLU
  for i, (_, stride) in enumerate(D_LAYERS):
    pad = 1 if stride == 1 else ((0, 1), (0, 1))  # XLA 'SAME' (see the module docstring)
    h = _conv(p, f"Conv_{i + 1}", h, stride=stride, padding=pad)
    h = C.leaky_relu(_bn(p, f"BatchNorm_{i}", h), LRELU_SLOPE)
  h = C.leaky_relu(h.reshape(h.shape[0], -1) @ p["Dense_0/kernel"] + p["Dense_0/bias"], LRELU_SLOPE)
  return (h @ p["Dense_1/kernel"] + p["Dense_1/bias"])[:, 0]  # Dense(1); the sigmoid is the loss's


def _known(name, shape, rng):
  if name.endswith("negative_slope"):
    return rng.uniform(0.05, 0.5, shape)  # one slope per layer, each different
  if "BatchNorm" in name:
    return rng.normal(1.0 if name.endswith("scale") else 0.0, 0.3, shape)
  if name.endswith("bias"):
    return rng.normal(0.0, 0.1, shape)
  return rng.normal(0.0, 1 / np.sqrt(np.prod(shape[:-1])), shape)


def test_srresnet_generator_is_the_papers_composition():
  g = srresnet.SRResNet(num_blocks=2, width=4)
  x = np.random.default_rng(0).uniform(-1, 1, size=(3, 4, 4, 3)).astype(np.float32)
  p = C.random_params(C.param_shapes(g, x, train=False), 1, _known)
  apply = jax.jit(lambda p: g.apply({"params": p}, x, train=True, mutable=["batch_stats"])[0])
  got = apply(C.nest(p))
  assert got.shape == (3, 16, 16, 3)
  C.assert_close(got, _generator_reference(C.np64(p), x.astype(np.float64), 2))


def test_srgan_discriminator_is_the_papers_composition():
  d = srresnet.Discriminator(width=2, dense=8)
  shapes = C.param_shapes(d, np.zeros((3, 16, 16, 3), np.float32), train=False)
  assert [shapes[f"Conv_{i + 1}/kernel"][-1] for i in range(7)] == [2 * m for m, _ in D_LAYERS]
  x = np.random.default_rng(2).uniform(-1, 1, size=(3, 16, 16, 3)).astype(np.float32)
  p = C.random_params(shapes, 3, _known)
  apply = jax.jit(lambda p: d.apply({"params": p}, x, train=True, mutable=["batch_stats"])[0])
  C.assert_close(apply(C.nest(p)), _discriminator_reference(C.np64(p), x.astype(np.float64)))


@functools.cache
def _initialized():
  g = srresnet.SRResNet(num_blocks=2, width=4)
  init = jax.jit(lambda k: g.init(k, jnp.zeros((1, 4, 4, 3)), train=False)["params"])
  return C.flat(init(jax.random.PRNGKey(0)))


def test_srresnet_prelu_and_batchnorm_start_as_torchs():
  params = _initialized()
  slopes = {k: v for k, v in params.items() if k.endswith("negative_slope")}
  assert len(slopes) == 2 + 3  # one per block, after the first conv, after each shuffle
  for k, v in slopes.items():
    assert v.shape == () and v == np.float32(PRELU_INIT), k  # a single slope per layer
  for k, v in params.items():
    if "BatchNorm" in k:
      assert np.all(v == (1 if k.endswith("scale") else 0)), k
    elif k.endswith("bias"):
      assert np.all(v == 0), k
