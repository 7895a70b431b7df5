"""StyleGAN2 recomposed from plain numpy with the reference's constants.

Reference: NVlabs/stylegan2-ada-pytorch training/networks.py (FullyConnectedLayer,
Conv2dLayer, modulated_conv2d, MappingNetwork, SynthesisLayer, ToRGBLayer, SynthesisBlock,
SynthesisNetwork, DiscriminatorBlock, MinibatchStdLayer, DiscriminatorEpilogue,
Discriminator), torch_utils/ops/bias_act.py (lrelu: alpha 0.2, def_gain sqrt(2)),
torch_utils/ops/upfirdn2d.py (upsample2d / downsample2d paddings, gain up^2) and
torch_utils/ops/conv2d_resample.py (the padding of the resampling convolutions).

Two layout conventions differ from the reference and are invisible at initialization:
the upsampling convolution is a true convolution there (SynthesisLayer passes flip_weight =
(up == 1), conv2d_resample.py), here a correlation, so a ported kernel is rotated by 180
degrees; and D's fc layer reads the 4x4 map flattened as (H, W, C) here, (C, H, W) there.
The 'stylegan2' config clamps conv outputs at +-256 (train.py, conv_clamp = 256 for its
float16 layers; --fp32 sets None); gan_jax runs float32 without the clamp, as --fp32 and
the original StyleGAN2. Nothing here comes near 256.
"""

import functools
import math

import _composition as C
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax.models import stylegan2 as sg

LRELU_SLOPE = 0.2  # bias_act.py activation_funcs['lrelu'].def_alpha
ACT_GAIN = math.sqrt(2)  # bias_act.py activation_funcs['lrelu'].def_gain
RESIDUAL_GAIN = math.sqrt(0.5)  # DiscriminatorBlock.forward: skip and conv1 gain
MAPPING_LR_MUL = 0.01  # MappingNetwork lr_multiplier
AFFINE_BIAS_INIT = 1.0  # SynthesisLayer / ToRGBLayer: FullyConnectedLayer(bias_init=1)
FIR = [1, 3, 3, 1]  # resample_filter
EPS = 1e-8  # normalize_2nd_moment, demodulation, minibatch stddev

# 8 px: blocks b4 (8 channels) and b8 (4 channels), num_ws = 4.
TINY = dict(image_size=8, channels=3, w_dim=8, mapping_layers=2, channel_base=32, channel_max=8)


def _lrelu(x, gain=1.0):
  return C.leaky_relu(x, LRELU_SLOPE) * ACT_GAIN * gain


def _fc(x, p, name, lr_mul=1.0, act=False):
  """FullyConnectedLayer: weight_gain lr_mul / sqrt(in), bias_gain lr_mul."""
  y = x @ (p[f"{name}/kernel"] * lr_mul / math.sqrt(x.shape[-1])) + p[f"{name}/bias"] * lr_mul
  return _lrelu(y) if act else y


def _normalize_2nd_moment(x):
  return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)


def _mapping(p, prefix, z, y, num_classes, num_layers):
  """MappingNetwork.forward: normalize z, embed and normalize c, concatenate, fc layers."""
  parts = [] if z is None else [_normalize_2nd_moment(z)]
  if num_classes:
    onehot = np.eye(num_classes)[y]
    parts.append(_normalize_2nd_moment(_fc(onehot, p, f"{prefix}/embed")))
  x = np.concatenate(parts, axis=-1)
  for i in range(num_layers):
    x = _fc(x, p, f"{prefix}/fc{i}", MAPPING_LR_MUL, act=True)
  return x


def _modulated_conv(x, weight, styles, demodulate, up=False):
  """modulated_conv2d, one sample at a time with its own kernel; with up, conv2d_resample's
  up=2, padding=k//2 path: upfirdn2d(up=2, padding (1 + 2, 1 + 1), gain 4), then VALID."""
  k = weight.shape[0]
  out = []
  for n in range(x.shape[0]):
    w = weight * styles[n][None, None, :, None]
    if demodulate:
      w = w / np.sqrt(np.sum(w * w, axis=(0, 1, 2)) + EPS)
    xn = x[n : n + 1]
    if up:
      xn = C.upfirdn2d(xn, FIR, up=2, padding=(k // 2 + 2, k // 2 + 1), gain=4)
      out.append(C.conv2d(xn, w))
    else:
      out.append(C.conv2d(xn, w, padding=k // 2))
  return np.concatenate(out)


def _synthesis_layer(p, name, x, w, up=False):
  styles = _fc(w, p, f"{name}/affine")
  y = _modulated_conv(x, p[f"{name}/weight"], styles, demodulate=True, up=up)
  return _lrelu(y + p[f"{name}/bias"])  # noise_mode='none'


def _torgb(p, name, x, w):
  styles = _fc(w, p, f"{name}/affine") / math.sqrt(x.shape[-1])  # weight_gain 1/sqrt(C_in k^2)
  return _modulated_conv(x, p[f"{name}/weight"], styles, demodulate=False) + p[f"{name}/bias"]


def _synthesis_reference(p, ws):
  """SynthesisNetwork + SynthesisBlock ('skip'): block res reads ws[w_idx : w_idx +
  num_conv + num_torgb] and w_idx advances by num_conv, so each toRGB shares its w with the
  next block's first convolution."""
  x = np.broadcast_to(p["synthesis/const"], (ws.shape[0], *p["synthesis/const"].shape))
  x = _synthesis_layer(p, "synthesis/b4_conv1", x, ws[:, 0])
  img = _torgb(p, "synthesis/b4_torgb", x, ws[:, 1])
  x = _synthesis_layer(p, "synthesis/b8_conv0", x, ws[:, 1], up=True)
  x = _synthesis_layer(p, "synthesis/b8_conv1", x, ws[:, 2])
  up = C.upfirdn2d(img, FIR, up=2, padding=(2, 1), gain=4)  # upsample2d: (4+2-1)//2, (4-2)//2
  return up + _torgb(p, "synthesis/b8_torgb", x, ws[:, 3])


def _known(name, shape, rng):
  """Parameters away from their initial values, so that every gain and offset shows."""
  if name.endswith("affine/bias"):
    return rng.normal(AFFINE_BIAS_INIT, 0.3, shape)
  if name.endswith("bias") or name.endswith("noise_strength"):
    return rng.normal(0.0, 0.3, shape)
  if name.startswith("mapping/fc"):
    return rng.normal(0.0, 1 / MAPPING_LR_MUL, shape)
  return rng.normal(0.0, 1.0, shape)


def test_stylegan2_mapping_is_the_reference_composition():
  g = sg.Generator(**TINY, num_classes=3)
  z = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
  y = np.array([0, 2, 1, 2], np.int32)
  p = C.random_params(C.param_shapes(g, z, y, train=False), 1, _known)
  stats = {"w_avg": np.zeros(TINY["w_dim"], np.float32)}
  ws = jax.jit(lambda v: g.apply(v, z, y, train=False, method="map"))(
    {"params": C.nest(p), "batch_stats": stats}
  )
  w = _mapping(C.np64(p), "mapping", z.astype(np.float64), y, 3, TINY["mapping_layers"])
  assert ws.shape == (4, 4, TINY["w_dim"])  # num_ws: 1 + 2 convolutions + the last toRGB
  C.assert_close(ws, np.broadcast_to(w[:, None], ws.shape))


def test_stylegan2_synthesis_is_the_reference_composition():
  g = sg.Generator(**TINY)
  ws = np.random.default_rng(2).normal(size=(2, 4, TINY["w_dim"])).astype(np.float32)
  p = C.random_params(C.param_shapes(g, ws[:, 0, :6], train=False), 3, _known)
  synth = jax.jit(lambda p, ws: g.apply({"params": p}, ws, method="synthesize", noise_mode="none"))
  # Four different w rows: reading the wrong row for any layer or toRGB changes the image.
  C.assert_close(synth(C.nest(p), ws), _synthesis_reference(C.np64(p), ws.astype(np.float64)))


def test_stylegan2_noise_enters_after_demodulation_before_the_bias():
  # modulated_conv2d: x * dcoefs + noise (fma), then bias_act; noise is [N, 1, H, W] times a
  # scalar strength: the same image for every channel.
  layer = sg.SynthesisLayer(4)
  rng = np.random.default_rng(4)
  x = rng.normal(size=(2, 4, 4, 8)).astype(np.float32)
  w = rng.normal(size=(2, 8)).astype(np.float32)
  p = C.random_params(C.param_shapes(layer, x, w, "none"), 5, _known)
  apply = jax.jit(lambda p: layer.apply({"params": p}, x, w, "const"))
  q = C.np64(p)
  styles = _fc(w.astype(np.float64), q, "affine")
  base = _modulated_conv(x.astype(np.float64), q["weight"], styles, True) + q["bias"]
  added = []
  for strength in (0.5, -1.5):
    out = np.asarray(apply(C.nest({**p, "noise_strength": np.float32(strength)})), np.float64)
    pre = out / ACT_GAIN
    pre = np.where(pre >= 0, pre, pre / LRELU_SLOPE)  # invert the leaky ReLU
    added.append((pre - base) / strength)
  np.testing.assert_allclose(added[0], added[1], atol=1e-4)  # linear in the strength
  one_image = np.broadcast_to(added[0][..., :1], added[0].shape)
  np.testing.assert_allclose(added[0], one_image, atol=1e-4)  # the same for every channel
  assert np.abs(added[0]).max() > 0.1  # and not zero


def _minibatch_stddev(x, group_size):
  """MinibatchStdLayer(group_size, num_channels=1): x.reshape(G, -1, ...) puts sample n in
  group n mod (N / G); one feature, the mean over (C, H, W) of the group's stddev."""
  n = x.shape[0]
  m = n // group_size
  stat = np.zeros(n)
  for j in range(m):
    members = x[j::m]  # samples j, j + m, ...
    std = np.sqrt(members.var(axis=0) + EPS)
    stat[j::m] = std.mean()
  return np.concatenate([x, np.broadcast_to(stat[:, None, None, None], (*x.shape[:3], 1))], -1)


def _conv_layer(p, name, x, act=True, gain=1.0, bias=True, pad=None):
  """Conv2dLayer: weight_gain 1/sqrt(C_in k^2), then bias_act(gain=def_gain * gain)."""
  kernel = p[f"{name}/kernel"]
  k = kernel.shape[0]
  y = C.conv2d(x, kernel / math.sqrt(x.shape[-1] * k * k), padding=k // 2 if pad is None else pad)
  y = y + p[f"{name}/bias"] if bias else y
  return _lrelu(y, gain) if act else y * gain


def _discriminator_reference(p, x, y, num_classes, group_size):
  h = _conv_layer(p, "b8_fromrgb", x)
  # DiscriminatorBlock 'resnet': skip = Conv2dLayer(1x1, bias=False, down=2) with gain
  # sqrt(.5) (the 1x1 fast path: downsample2d, padding (4-2+1)//2, (4-2)//2, then conv);
  # conv1 = Conv2dLayer(3x3, down=2) with gain sqrt(.5): filter padded (1 + 1, 1 + 1), then
  # a stride-2 VALID conv.
  skip = C.upfirdn2d(h, FIR, down=2, padding=(1, 1))
  skip = _conv_layer(p, "b8/skip", skip, act=False, gain=RESIDUAL_GAIN, bias=False)
  r = _conv_layer(p, "b8/conv0", h)
  r = C.upfirdn2d(r, FIR, padding=(2, 2))
  kernel = p["b8/conv1/kernel"]
  r = C.conv2d(r, kernel / math.sqrt(r.shape[-1] * 9), stride=2) + p["b8/conv1/bias"]
  h = skip + _lrelu(r, RESIDUAL_GAIN)
  # DiscriminatorEpilogue: mbstd, conv, fc, out [, projection onto cmap].
  h = _conv_layer(p, "b4_conv", _minibatch_stddev(h, group_size))
  h = _fc(h.reshape(h.shape[0], -1), p, "b4_fc", act=True)
  out = _fc(h, p, "b4_out")
  if not num_classes:
    return out[:, 0]
  cmap = _mapping(p, "mapping", None, y, num_classes, 8)  # D's mapping: 8 layers by default
  return np.sum(out * cmap, axis=-1) / math.sqrt(cmap.shape[-1])


@pytest.mark.parametrize("num_classes", [0, 3])
def test_stylegan2_discriminator_is_the_reference_composition(num_classes):
  d = sg.Discriminator(
    image_size=8, channel_base=32, channel_max=8, mbstd_group_size=2, num_classes=num_classes
  )
  rng = np.random.default_rng(6)
  x = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
  y = np.array([1, 0, 2, 1], np.int32)
  p = C.random_params(C.param_shapes(d, x, y, train=False), 7, _known)
  got = jax.jit(lambda p: d.apply({"params": p}, x, y, train=False))(C.nest(p))
  want = _discriminator_reference(C.np64(p), x.astype(np.float64), y, num_classes, 2)
  C.assert_close(got, want)


@functools.cache
def _initialized():
  """Initial params of a conditional G and D wide enough for distribution checks."""
  wide = dict(image_size=8, channel_base=128, channel_max=32)
  g = sg.Generator(**wide, channels=3, w_dim=32, mapping_layers=2, num_classes=4)
  d = sg.Discriminator(**wide, num_classes=4, mapping_layers=2)
  y = jnp.zeros((2,), jnp.int32)
  init_g = jax.jit(lambda k: g.init(k, jnp.zeros((2, 32)), y, train=False)["params"])
  init_d = jax.jit(lambda k: d.init(k, jnp.zeros((2, 8, 8, 3)), y, train=False)["params"])
  return C.flat(init_g(jax.random.PRNGKey(0))), C.flat(init_d(jax.random.PRNGKey(1)))


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_stylegan2_initialization_is_the_references():
  g, d = _initialized()
  groups = {"unit normal": [], "mapping": []}
  for k, v in {**g, **{f"D/{k}": v for k, v in d.items()}}.items():
    if k.endswith("affine/bias"):
      assert np.all(v == AFFINE_BIAS_INIT), k  # FullyConnectedLayer(bias_init=1)
    elif k.endswith("noise_strength"):
      assert v == 0, k  # torch.zeros([])
    elif k.endswith("bias"):
      assert np.all(v == 0), k  # torch.zeros / bias_init=0
    elif "mapping/fc" in k:
      groups["mapping"].append(v.ravel())  # randn / lr_multiplier
    else:
      groups["unit normal"].append(v.ravel())  # randn: weights, const, embed, D's kernels
  unit = np.concatenate(groups["unit normal"])
  mapping = np.concatenate(groups["mapping"])
  assert abs(unit.std() - 1) < 0.03 and abs(unit.mean()) < 0.03, (unit.std(), unit.size)
  assert abs(mapping.std() * MAPPING_LR_MUL - 1) < 0.05, (mapping.std(), mapping.size)


@pytest.mark.xfail(
  strict=True,
  raises=AssertionError,
  reason="build() gives D's label mapping model.stylegan2.mapping_layers too "
  "(models/stylegan2.py build); stylegan2-ada sets only G's (train.py:180, "
  "G_kwargs.mapping_kwargs.num_layers = spec.map) and D's MappingNetwork keeps its default "
  "num_layers=8 (training/networks.py MappingNetwork), e.g. with the 'cifar' config's map=2",
)
def test_stylegan2_discriminator_label_mapping_keeps_8_layers():
  model = ml_collections.ConfigDict()
  model.image_size = 32
  model.stylegan2 = dict(sg.CONFIG.defaults, mapping_layers=2)
  g, d = sg.build(model, 3, None, 10)
  assert g.mapping_layers == 2
  assert d.mapping_layers == 8
