"""StyleGAN2 (Karras et al. 2020) for 8-1024 px images (32 and 64 px in practice), 1 or 3
channels, unconditional or class-conditional.

The networks of NVlabs/stylegan2-ada-pytorch (training/networks.py, config 'stylegan2'):
a skip-architecture generator (toRGB at every resolution, the upsampled images summed) and
a residual discriminator, written for NHWC and XLA.

* Equalized learning rate everywhere: every weight is stored as N(0, 1/lr_mul^2) and
  multiplied at run time by lr_mul / sqrt(fan_in) (biases by lr_mul), so Adam's step on
  the stored value moves every layer at the same relative speed (`EqualDense`,
  `EqualConv`, and the modulated convolutions, whose demodulation does the scaling).
* Mapping: z normalized to unit second moment (and, when conditional, a label embedding
  normalized the same way concatenated to it), `mapping_layers` (8) dense layers with
  lr_mul 0.01 and leaky ReLU(0.2) times sqrt(2), to W.
* Synthesis: a learned 4x4 constant, then per resolution two 3x3 modulated convolutions
  with weight demodulation (the first upsamples), each followed by a per-pixel noise image
  times a learned per-layer strength (initialized 0), a bias and leaky ReLU times sqrt(2);
  a 1x1 modulated, not demodulated, toRGB per resolution. The output is linear (no tanh),
  as in StyleGAN2: images are trained towards [-1, 1]; clip them for pictures.
* Resampling is FIR with StyleGAN2's filter (1, 3, 3, 1) (see models/fir.py: bilinear
  interpolation in the interior, zero padding at the border), not jax.image.resize.
  An upsampling convolution is FIR-upsample then a VALID 3x3 correlation (computed as a
  transposed convolution then the filter, `fir.upsample_conv2d`); a downsampling one
  FIR-filter then a stride-2 convolution, as conv2d_resample.
* Discriminator: fromRGB, residual blocks (two 3x3 convolutions, the second downsampling,
  plus a 1x1 downsampling skip; the sum scaled by sqrt(1/2)), then minibatch standard
  deviation (`layers.minibatch_stddev`, groups of 4), a 3x3 convolution, a dense layer and
  the output; conditional: a projection onto a mapped label embedding (cmap), as there.

Interface for a game (all by `apply`; v = {'params': ..., 'batch_stats': {'w_avg': ...}}):
    G.apply(v, z, y, train=..., truncation_psi=1.0, noise_mode='random',
            rngs={'noise': key}, mutable=['batch_stats'] if train else False)   -> images
    G.apply(v, z, y, train=..., method='map', skip_w_avg_update=False)        -> ws
    G.apply({'params': p}, ws, method='synthesize', noise_mode=...,
            rngs={'noise': key})                                             -> images
    D.apply({'params': p}, x, y, train=...)                                    -> logits (N,)
ws has shape (N, G.num_ws, w_dim); synthesis reads only 'params'.
The running average of W, `w_avg`, lives in the 'batch_stats' collection: it is a running
statistic of batches like BatchNorm's (the mean over the batch, averaged over `axis_name`
in the data-parallel step), so the state, the checkpoints and the samplers that already
carry 'batch_stats' carry it too. It is updated whenever the mapping runs with train=True
(which then needs mutable=['batch_stats']), except with skip_w_avg_update=True (the
second latent of style mixing), and never at init. The noise images of
noise_mode='random' come from `self.make_rng('noise')` ('const': one fixed image per
layer, the same for every sample and call; 'none': no noise); at init no 'noise' rng is
needed (the strengths start at 0, so the noise value does not matter).

The operations on W sit here too: `update_w_avg`, `truncate` and `mix_styles` /
`draw_crossover` (training's style mixing and the pictures both use them). What only
training adds (path length, lazy regularization, the EMA half-life, the style-mixing
forward) is the GAN game's: gan_jax/games/gan/stylegan2.py.

Where it differs from stylegan2-ada-pytorch: no conv_clamp (the reference's 'stylegan2'
config clamps its fp16 layers at 256; here everything runs in float32 or bfloat16 without
it); and D's label mapping takes model.stylegan2.mapping_layers, where the reference keeps
D's at 8 whatever G's (tests/test_composed_stylegan2.py pins it with a strict xfail).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax import layers, ops, parallel, specs
from gan_jax.models import common, fir

Array = jax.Array

_DN = ("NHWC", "HWIO", "NHWC")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the second moment of a unit-variance input
NOISE_MODES = ("random", "const", "none")

CONFIG = common.family_config(
  "stylegan2",
  {
    # W: 256 (not 512) for CPU-sized runs; mapping depth and lr multiplier as in the paper.
    "w_dim": (256, specs.POSITIVE),
    "mapping_layers": (8, specs.POSITIVE),
    "mapping_lr_mul": (0.01, specs.number(0.0, open_low=True)),
    # Feature maps per resolution: min(channel_base / resolution, channel_max). The paper's
    # are 32768 and 512; these (128 channels at 4-8 px, 64 at 16, 32 at 32) train at about
    # 1 step/s at batch 32 on two CPU cores (benchmarks/family_throughput.py).
    "channel_base": (1024, specs.POSITIVE),
    "channel_max": (128, specs.POSITIVE),
    "noise": (True, specs.BOOL),  # per-pixel noise inputs
    # One grouped convolution with per-sample kernels, instead of scaling activations
    # around a shared convolution: the same function, slower to train on CPU.
    "fused_modconv": (False, specs.BOOL),
    "w_avg_beta": (0.995, specs.FRACTION),
    "mbstd_group_size": (4, specs.POSITIVE),
    "mbstd_num_features": (1, specs.POSITIVE),
  },
)


def lrelu(x: Array, gain: float = LRELU_GAIN) -> Array:
  return nn.leaky_relu(x, LRELU_SLOPE) * gain


def normalize_2nd_moment(x: Array, eps: float = 1e-8) -> Array:
  """x / sqrt(mean(x^2) + eps) over the last axis (StyleGAN's 'pixel norm' of z)."""
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def equalized_scale(fan_in: int, lr_mul: float = 1.0) -> float:
  """The run-time weight multiplier of an equalized-lr layer."""
  return lr_mul / math.sqrt(fan_in)


# --- equalized learning rate ------------------------------------------------------------------


class EqualDense(nn.Module):
  """Dense layer with equalized learning rate.

  y = x @ (kernel * lr_mul / sqrt(fan_in)) + bias * lr_mul, kernel ~ N(0, 1/lr_mul^2),
  raw bias = bias_init; then leaky ReLU times sqrt(2) if `activation` and times `gain`.
  """

  features: int
  use_bias: bool = True
  bias_init: float = 0.0
  lr_mul: float = 1.0
  activation: bool = False
  gain: float = 1.0

  @nn.compact
  def __call__(self, x: Array) -> Array:
    fan_in = x.shape[-1]
    kernel = self.param(
      "kernel", nn.initializers.normal(1.0 / self.lr_mul), (fan_in, self.features)
    )
    y = x @ (kernel * equalized_scale(fan_in, self.lr_mul)).astype(x.dtype)
    if self.use_bias:
      bias = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
      y = y + (bias * self.lr_mul).astype(x.dtype)
    if self.activation:
      y = lrelu(y)
    return y * self.gain if self.gain != 1 else y


def _conv(x: Array, w: Array, stride: int, padding, groups: int = 1) -> Array:
  if stride > 1:  # ops' space-to-depth form of a strided convolution: faster on CPU
    return ops.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=_DN)
  return lax.conv_general_dilated(
    x, w, (1, 1), padding, dimension_numbers=_DN, feature_group_count=groups
  )


class EqualConv(nn.Module):
  """2-D convolution (NHWC, odd square kernel) with equalized learning rate.

  The kernel is multiplied by lr_mul / sqrt(k * k * C_in) at run time. `down` = StyleGAN2's
  down=2: a 1x1 kernel after FIR downsampling, a larger one with stride 2 after the FIR
  filter. `activation` and `gain` as in EqualDense.
  """

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  activation: bool = False
  gain: float = 1.0
  down: bool = False
  lr_mul: float = 1.0

  @nn.compact
  def __call__(self, x: Array) -> Array:
    k, cin = self.kernel_size, x.shape[-1]
    kernel = self.param(
      "kernel", nn.initializers.normal(1.0 / self.lr_mul), (k, k, cin, self.features)
    )
    w = (kernel * equalized_scale(cin * k * k, self.lr_mul)).astype(x.dtype)
    if self.down and k == 1:
      y = _conv(fir.downsample2d(x), w, 1, "VALID")
    elif self.down:
      y = _conv(fir.blur_for_strided_conv(x, k), w, 2, "VALID")
    else:
      y = _conv(x, w, 1, [(k // 2, k // 2)] * 2)
    if self.use_bias:
      bias = self.param("bias", nn.initializers.zeros, (self.features,))
      y = y + (bias * self.lr_mul).astype(x.dtype)
    if self.activation:
      y = lrelu(y)
    return y * self.gain if self.gain != 1 else y


# --- modulated convolution --------------------------------------------------------------------


def demodulation(weight: Array, styles: Array, eps: float = 1e-8) -> Array:
  """(N, O): 1 / sqrt(sum_{kh, kw, i} (weight[kh, kw, i, o] * styles[n, i])^2 + eps)."""
  w2 = jnp.sum(jnp.square(weight), axis=(0, 1))  # (I, O)
  return lax.rsqrt(jnp.square(styles) @ w2 + eps)


def modulated_conv2d(
  x: Array,
  weight: Array,
  styles: Array,
  *,
  demodulate: bool = True,
  up: bool = False,
  fused: bool = False,
  eps: float = 1e-8,
) -> Array:
  """StyleGAN2's modulated convolution: sample n is correlated with its own kernel

      w_n[a, b, i, o] = weight[a, b, i, o] * styles[n, i] * d[n, o],

  d = `demodulation(weight, styles)` if `demodulate` (so that sum_{a,b,i} w_n^2 = 1 - eps
  for each o), else 1. x: (N, H, W, I); weight: (k, k, I, O), k odd; styles: (N, I). The
  output has x's size, zero-padded by k // 2; with `up` it is correlate(upsample2d(x,
  extra_padding=k // 2), w_n), of size 2H x 2W (StyleGAN2's up=2 with its FIR filter).

  fused=False computes it as ((x * styles) conv weight) * d: the convolution is linear and
  acts on each sample alone, so scaling its input channels and its output channels per
  sample is the same as scaling the kernel per sample; one shared-kernel convolution.
  fused=True convolves with the N kernels at once (a grouped convolution over the batch
  folded into channels), as stylegan2-ada's fused_modconv: the same function, but on
  XLA:CPU grouped convolutions are about 100x slower to differentiate.
  """
  n, _, _, cin = x.shape
  k, _, _, cout = weight.shape
  d = demodulation(weight, styles, eps) if demodulate else None
  if not fused:
    xs = x * styles[:, None, None, :].astype(x.dtype)
    w = weight.astype(x.dtype)
    y = fir.upsample_conv2d(xs, w) if up else _conv(xs, w, 1, [(k // 2, k // 2)] * 2)
    return y * d[:, None, None, :].astype(y.dtype) if demodulate else y
  if up:
    x, padding = fir.upsample2d(x, extra_padding=k // 2), "VALID"
  else:
    padding = [(k // 2, k // 2)] * 2
  wn = weight[None] * styles[:, None, None, :, None]  # (N, k, k, I, O)
  if demodulate:
    wn = wn * d[:, None, None, None, :]
  wn = jnp.moveaxis(wn, 0, 3).reshape(k, k, cin, n * cout)  # output channels (n, o)
  h, w = x.shape[1:3]
  xg = jnp.moveaxis(x, 0, 2).reshape(1, h, w, n * cin)  # input channels (n, i)
  y = _conv(xg, wn.astype(x.dtype), 1, padding, groups=n)
  return jnp.moveaxis(y.reshape(*y.shape[1:3], n, cout), 2, 0)


# --- mapping ----------------------------------------------------------------------------------


class MappingNetwork(nn.Module):
  """z (N, Z) [and labels y] -> w (N, w_dim).

  Conditional: a label embedding (an equalized dense layer on one-hot y, `embed_dim`
  features) is normalized like z and concatenated to it; z may then be None (the
  discriminator's label mapping).
  """

  w_dim: int = 256
  num_layers: int = 8
  lr_mul: float = 0.01
  num_classes: int = 0
  embed_dim: int = 0  # 0: w_dim, as stylegan2-ada

  @nn.compact
  def __call__(self, z: Array | None, y: Array | None = None) -> Array:
    parts = [] if z is None else [normalize_2nd_moment(z.astype(jnp.float32))]
    if self.num_classes:
      common.check_labels(self.num_classes, y)
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32)
      e = EqualDense(self.embed_dim or self.w_dim, name="embed")(onehot)
      parts.append(normalize_2nd_moment(e))
    if not parts:
      raise ValueError("MappingNetwork needs z, labels y, or both")
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.num_layers):
      x = EqualDense(self.w_dim, lr_mul=self.lr_mul, activation=True, name=f"fc{i}")(x)
    return x


def update_w_avg(w_avg: Array, w: Array, beta: float, axis_name: str | None = None) -> Array:
  """The running average of W: lerp(mean_batch(w), w_avg, beta) = m + beta * (w_avg - m).

  w: (N, w_dim); m is the batch mean, averaged over `axis_name` in the data-parallel step
  (so every device keeps the same w_avg). No gradient flows into it.
  """
  m = jnp.mean(lax.stop_gradient(w).astype(jnp.float32), axis=0)
  if axis_name is not None:
    m = parallel.mean(m, axis_name)
  return m + beta * (w_avg - m)


def truncate(ws: Array, w_avg: Array, psi, cutoff: int | None = None) -> Array:
  """The truncation trick: w_avg + psi * (ws - w_avg), on the layers [0, cutoff) of
  ws (N, num_ws, w_dim) (all layers if cutoff is None). psi = 0 gives w_avg, 1 gives ws."""
  t = w_avg + psi * (ws - w_avg)
  if cutoff is None:
    return t.astype(ws.dtype)
  layer = jnp.arange(ws.shape[1])[None, :, None]
  return jnp.where(layer < cutoff, t, ws).astype(ws.dtype)


def mix_styles(ws1: Array, ws2: Array, crossover) -> Array:
  """Style mixing: layer l of sample n takes ws1 if l < crossover[n], else ws2.

  ws1, ws2: (N, num_ws, w_dim); crossover: a scalar (one layer for the whole batch, as
  StyleGAN2 draws it) or (N,) ints in [0, num_ws]; num_ws means no mixing.
  """
  c = jnp.asarray(crossover)
  c = c.reshape(-1, 1, 1) if c.ndim else c
  layer = jnp.arange(ws1.shape[1])[None, :, None]
  return jnp.where(layer < c, ws1, ws2)


def draw_crossover(rng: Array, num_ws: int, prob: float = 0.9, shape: tuple = ()) -> Array:
  """Crossover layers for `mix_styles`: with probability `prob` uniform in [1, num_ws - 1],
  else num_ws (no mixing). shape () draws one for the batch, as StyleGAN2; (N,) one per
  sample."""
  k_layer, k_mix = jax.random.split(rng)
  layer = jax.random.randint(k_layer, shape, 1, num_ws)
  return jnp.where(jax.random.uniform(k_mix, shape) < prob, layer, num_ws)


# --- synthesis --------------------------------------------------------------------------------


def num_ws(image_size: int) -> int:
  """W vectors the synthesis reads: one per convolution (1 at 4 px, 2 per higher
  resolution) plus the last toRGB's (each other toRGB shares the next block's first)."""
  return 2 * int(math.log2(image_size)) - 2


def _channels(res: int, base: int, cmax: int) -> int:
  return max(1, min(base // res, cmax))


def check_size(image_size: int) -> None:
  if image_size < 8 or image_size & (image_size - 1) or image_size > 1024:
    raise ValueError(f"StyleGAN2 needs image_size a power of two in [8, 1024], got {image_size}")


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution [upsampling] + noise * strength + bias, leaky ReLU * sqrt(2)."""

  features: int
  up: bool = False
  use_noise: bool = True
  fused: bool = False
  noise_seed: int = 0  # the fixed noise image of noise_mode='const'
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x: Array, w: Array, noise_mode: str) -> Array:
    k, cin = self.kernel_size, x.shape[-1]
    styles = EqualDense(cin, bias_init=1.0, name="affine")(w)
    weight = self.param("weight", nn.initializers.normal(1.0), (k, k, cin, self.features))
    y = modulated_conv2d(x, weight, styles, up=self.up, fused=self.fused)
    if self.use_noise:
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      noise = self._noise(noise_mode, y.shape)
      if noise is not None:
        y = y + (noise * strength).astype(y.dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return lrelu(y + bias.astype(y.dtype))

  def _noise(self, noise_mode: str, shape: tuple) -> Array | None:
    n, h, w, _ = shape
    if noise_mode == "none":
      return None
    if noise_mode == "const":
      return jax.random.normal(jax.random.PRNGKey(self.noise_seed), (1, h, w, 1))
    if noise_mode != "random":
      raise ValueError(f"unknown noise_mode {noise_mode!r}; valid: {', '.join(NOISE_MODES)}")
    if not self.has_rng("noise"):
      if self.is_initializing():
        return None  # the strength starts at 0: the noise value cannot matter at init
      raise ValueError(
        "noise_mode='random' draws the noise inputs from the 'noise' rng: pass "
        "rngs={'noise': key} to apply, or noise_mode='const' / 'none'"
      )
    return jax.random.normal(self.make_rng("noise"), (n, h, w, 1))


class ToRGB(nn.Module):
  """1x1 modulated convolution, not demodulated (styles scaled by 1/sqrt(C_in)), + bias."""

  channels: int
  fused: bool = False

  @nn.compact
  def __call__(self, x: Array, w: Array) -> Array:
    cin = x.shape[-1]
    styles = EqualDense(cin, bias_init=1.0, name="affine")(w) * equalized_scale(cin)
    weight = self.param("weight", nn.initializers.normal(1.0), (1, 1, cin, self.channels))
    y = modulated_conv2d(x, weight, styles, demodulate=False, fused=self.fused)
    return y + self.param("bias", nn.initializers.zeros, (self.channels,)).astype(y.dtype)


class SynthesisNetwork(nn.Module):
  """ws (N, num_ws, w_dim) -> images (N, image_size, image_size, channels), skip architecture."""

  image_size: int = 32
  channels: int = 3
  channel_base: int = 1024
  channel_max: int = 128
  use_noise: bool = True
  fused: bool = False

  @nn.compact
  def __call__(self, ws: Array, noise_mode: str = "random") -> Array:
    check_size(self.image_size)
    expected = num_ws(self.image_size)
    if ws.ndim != 3 or ws.shape[1] != expected:
      raise ValueError(f"synthesis needs ws of shape (N, {expected}, w_dim), got {ws.shape}")
    n = ws.shape[0]
    x = img = None
    w_idx, layer_idx = 0, 0
    res = 4
    while res <= self.image_size:
      c = _channels(res, self.channel_base, self.channel_max)
      kw = dict(use_noise=self.use_noise, fused=self.fused)
      if x is None:
        const = self.param("const", nn.initializers.normal(1.0), (4, 4, c))
        x = jnp.broadcast_to(const.astype(ws.dtype), (n, 4, 4, c))
        convs = [SynthesisLayer(c, noise_seed=layer_idx, name=f"b{res}_conv1", **kw)]
      else:
        convs = [
          SynthesisLayer(c, up=True, noise_seed=layer_idx, name=f"b{res}_conv0", **kw),
          SynthesisLayer(c, noise_seed=layer_idx + 1, name=f"b{res}_conv1", **kw),
        ]
      for i, conv in enumerate(convs):
        x = conv(x, ws[:, w_idx + i], noise_mode)
      w_idx, layer_idx = w_idx + len(convs), layer_idx + len(convs)
      y = ToRGB(self.channels, fused=self.fused, name=f"b{res}_torgb")(x, ws[:, w_idx])
      img = y if img is None else fir.upsample2d(img) + y
      res *= 2
    return img


class Generator(nn.Module):
  """z (N, Z) [, labels y] -> images (N, H, W, channels); see the module docstring."""

  image_size: int = 32
  channels: int = 3
  w_dim: int = 256
  mapping_layers: int = 8
  mapping_lr_mul: float = 0.01
  channel_base: int = 1024
  channel_max: int = 128
  use_noise: bool = True
  fused_modconv: bool = False
  w_avg_beta: float = 0.995
  num_classes: int = 0
  axis_name: str | None = None

  @property
  def num_ws(self) -> int:
    return num_ws(self.image_size)

  def setup(self):
    check_size(self.image_size)
    self.mapping = MappingNetwork(
      self.w_dim, self.mapping_layers, self.mapping_lr_mul, num_classes=self.num_classes
    )
    self.synthesis = SynthesisNetwork(
      self.image_size,
      self.channels,
      self.channel_base,
      self.channel_max,
      self.use_noise,
      self.fused_modconv,
    )
    # Only where it exists (or is being created): synthesize() needs no 'batch_stats'.
    if self.is_initializing() or self.has_variable("batch_stats", "w_avg"):
      self.w_avg = self.variable("batch_stats", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
    else:
      self.w_avg = None

  def __call__(
    self,
    z: Array,
    y: Array | None = None,
    *,
    train: bool,
    truncation_psi=1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "random",
  ) -> Array:
    ws = self.map(
      z, y, train=train, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff
    )
    return self.synthesize(ws, noise_mode=noise_mode)

  def map(
    self,
    z: Array,
    y: Array | None = None,
    *,
    train: bool,
    truncation_psi=1.0,
    truncation_cutoff: int | None = None,
    skip_w_avg_update: bool = False,
  ) -> Array:
    """z [, y] -> ws (N, num_ws, w_dim); updates w_avg when train, unless skip_w_avg_update
    (the second latent of style mixing, as stylegan2-ada)."""
    common.check_labels(self.num_classes, y)
    w = self.mapping(z, y if self.num_classes else None)
    if self.w_avg is None:
      raise ValueError("Generator.map needs the 'batch_stats' collection (w_avg)")
    if train and not skip_w_avg_update and not self.is_initializing():
      self.w_avg.value = update_w_avg(self.w_avg.value, w, self.w_avg_beta, self.axis_name)
    ws = jnp.broadcast_to(w[:, None, :], (w.shape[0], self.num_ws, self.w_dim))
    if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
      ws = truncate(ws, self.w_avg.value, truncation_psi, truncation_cutoff)
    return ws

  def synthesize(self, ws: Array, *, noise_mode: str = "random") -> Array:
    """ws (N, num_ws, w_dim) -> images."""
    return self.synthesis(ws, noise_mode)


# --- discriminator ----------------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
  """Residual block: (skip 1x1 down + conv3x3 -> conv3x3 down) * sqrt(1/2) each."""

  features: int  # the block's own width (tmp_channels)
  out_features: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    g = math.sqrt(0.5)
    skip = EqualConv(self.out_features, 1, use_bias=False, down=True, gain=g, name="skip")(x)
    x = EqualConv(self.features, 3, activation=True, name="conv0")(x)
    x = EqualConv(self.out_features, 3, activation=True, down=True, gain=g, name="conv1")(x)
    return skip + x


class Discriminator(nn.Module):
  """images (N, H, W, C) [, labels y] -> logits (N,)."""

  image_size: int = 32
  channel_base: int = 1024
  channel_max: int = 128
  mbstd_group_size: int = 4
  mbstd_num_features: int = 1
  num_classes: int = 0
  mapping_layers: int = 8  # the label mapping of a conditional D
  mapping_lr_mul: float = 0.01

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    del train  # no state: the same function in training and evaluation
    check_size(self.image_size)
    common.check_labels(self.num_classes, y)
    ch = lambda r: _channels(r, self.channel_base, self.channel_max)
    res = self.image_size
    x = EqualConv(ch(res), 1, activation=True, name=f"b{res}_fromrgb")(x)
    while res > 4:
      x = DiscriminatorBlock(ch(res), ch(res // 2), name=f"b{res}")(x)
      res //= 2
    x = layers.minibatch_stddev(
      x, group_size=self.mbstd_group_size, num_features=self.mbstd_num_features
    )
    c4 = ch(4)
    x = EqualConv(c4, 3, activation=True, name="b4_conv")(x)
    x = EqualDense(c4, activation=True, name="b4_fc")(x.reshape(x.shape[0], -1))
    if not self.num_classes:
      return EqualDense(1, name="b4_out")(x)[:, 0]
    out = EqualDense(c4, name="b4_out")(x)
    cmap = MappingNetwork(
      c4, self.mapping_layers, self.mapping_lr_mul, num_classes=self.num_classes, name="mapping"
    )(None, y)
    return jnp.sum(out * cmap, axis=-1) / math.sqrt(c4)


# --- the family -------------------------------------------------------------------------------


def build(model: ml_collections.ConfigDict, channels: int, axis_name: str | None, num_classes=0):
  """(Generator, Discriminator) from model.image_size and model.stylegan2.*.

  Conditioning is StyleGAN2's own (label embedding in the mapping, projection D); the
  model.g_conditioning / d_conditioning keys of the other families do not apply.
  """
  check_size(model.image_size)
  s = CONFIG.read(model)
  g = Generator(
    image_size=model.image_size,
    channels=channels,
    w_dim=s.w_dim,
    mapping_layers=s.mapping_layers,
    mapping_lr_mul=s.mapping_lr_mul,
    channel_base=s.channel_base,
    channel_max=s.channel_max,
    use_noise=s.noise,
    fused_modconv=s.fused_modconv,
    w_avg_beta=s.w_avg_beta,
    num_classes=num_classes,
    axis_name=axis_name,
  )
  d = Discriminator(
    image_size=model.image_size,
    channel_base=s.channel_base,
    channel_max=s.channel_max,
    mbstd_group_size=s.mbstd_group_size,
    mbstd_num_features=s.mbstd_num_features,
    num_classes=num_classes,
    mapping_layers=s.mapping_layers,
    mapping_lr_mul=s.mapping_lr_mul,
  )
  return g, d
