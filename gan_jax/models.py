"""Generators and discriminators (Flax Linen).

DCGAN (Radford et al. 2016) for 28, 32 and 64 px images with 1 or 3 channels;
the 32x32x1 pair with base_filters=64 is exactly the benchmark model of
shared/bench/README.md. MLPs for 2-D toy data (the PacGAN protocol: a
BatchNorm/ReLU generator and a maxout discriminator).

BatchNorm statistics are averaged over the named mesh axis `axis_name` when
the model runs inside the data-parallel step, so a global batch split over N
devices normalizes exactly as the same batch on one device.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import layers, ops

Array = jax.Array

# image size -> (spatial size of the first feature map, number of 2x resamplings)
DCGAN_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4)}
D_NORMS = ("batch", "layer", "none")
D_MINIBATCH = ("none", "stddev", "discrimination")


def _layer(module: nn.Module, x: Array, *, spectral_norm: bool, train: bool) -> Array:
  """Applies a Dense/Conv, spectrally normalized when asked.

  The power-iteration vector u lives in the 'batch_stats' collection, so it is
  part of the state pytree and updated only in training mode.
  """
  if spectral_norm:
    return nn.SpectralNorm(module)(x, update_stats=train)
  return module(x)


def _minibatch_features(kind: str, x: Array) -> Array:
  """Minibatch stddev on a feature map / vector, or minibatch discrimination on vectors."""
  if kind == "stddev":
    return layers.MinibatchStdDev()(x)
  if kind == "discrimination":
    return layers.MinibatchDiscrimination()(x.reshape(x.shape[0], -1))
  return x


def _batch_norm(train: bool, axis_name: str | None) -> nn.BatchNorm:
  # momentum 0.9 / eps 1e-5 match torch's BatchNorm defaults (momentum 0.1).
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=0.9,
    epsilon=1e-5,
    axis_name=axis_name if train else None,
  )


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

  @nn.compact
  def __call__(self, z: Array, *, train: bool) -> Array:
    start, num_up = _check_size(self.image_size)
    conv_t = ops.ConvTranspose if self.fast_conv_transpose else nn.ConvTranspose
    width = self.base_filters * 2 ** (num_up - 1)
    x = nn.Dense(start * start * width, use_bias=False)(z)
    x = nn.relu(_batch_norm(train, self.axis_name)(x))
    x = x.reshape(z.shape[0], start, start, width)
    for _ in range(num_up - 1):
      width //= 2
      x = conv_t(width, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(x)
      x = nn.relu(_batch_norm(train, self.axis_name)(x))
    x = conv_t(self.channels, (4, 4), strides=(2, 2), padding="SAME")(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """x -> Conv(4, stride 2) -> LReLU -> [Conv -> norm -> LReLU]* -> Dense(1) logit.

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

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    _, num_down = _check_size(self.image_size)
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    for i in range(num_down):
      normalized = i > 0 and self.norm != "none"
      conv = nn.Conv(
        self.base_filters * 2**i, (4, 4), strides=(2, 2), padding="SAME", use_bias=not normalized
      )
      x = _layer(conv, x, spectral_norm=self.spectral_norm, train=train)
      if normalized:
        x = _batch_norm(train, self.axis_name)(x) if self.norm == "batch" else nn.LayerNorm()(x)
      x = nn.leaky_relu(x, 0.2)
    x = _minibatch_features(self.minibatch, x)
    x = x.reshape(x.shape[0], -1)
    return _layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]


class MLPGenerator(nn.Module):
  """z -> [Dense -> BN -> ReLU] * num_layers -> Dense(output_dim)."""

  output_dim: int = 2
  hidden_dim: int = 400
  num_layers: int = 4
  batch_norm: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: Array, *, train: bool) -> Array:
    x = z
    for _ in range(self.num_layers):
      x = nn.Dense(self.hidden_dim, use_bias=not self.batch_norm)(x)
      if self.batch_norm:
        x = _batch_norm(train, self.axis_name)(x)
      x = nn.relu(x)
    return nn.Dense(self.output_dim)(x)


class Maxout(nn.Module):
  """Dense layer with `pieces` linear pieces per unit, max over the pieces."""

  features: int
  pieces: int = 5

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = nn.Dense(self.features * self.pieces)(x)
    return y.reshape(*x.shape[:-1], self.features, self.pieces).max(axis=-1)


class MLPDiscriminator(nn.Module):
  """x -> [maxout | leaky ReLU hidden layer] * num_layers -> Dense(1) logit.

  `pack`, `spectral_norm` and `minibatch` as in DCGANDiscriminator.
  """

  hidden_dim: int = 200
  num_layers: int = 3
  activation: str = "maxout"
  maxout_pieces: int = 5
  spectral_norm: bool = False
  minibatch: str = "none"
  pack: int = 1

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    x = x.reshape(x.shape[0], -1)
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    for _ in range(self.num_layers):
      if self.activation == "maxout":
        dense = nn.Dense(self.hidden_dim * self.maxout_pieces)
        x = _layer(dense, x, spectral_norm=self.spectral_norm, train=train)
        x = x.reshape(*x.shape[:-1], self.hidden_dim, self.maxout_pieces).max(axis=-1)
      else:
        x = nn.leaky_relu(
          _layer(nn.Dense(self.hidden_dim), x, spectral_norm=self.spectral_norm, train=train), 0.2
        )
    x = _minibatch_features(self.minibatch, x)
    return _layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]


# --- registry ----------------------------------------------------------------


def _dcgan(model: ml_collections.ConfigDict, channels: int, axis_name: str | None):
  _check_size(model.image_size)
  if model.d_norm not in D_NORMS:
    raise ValueError(f"unknown model.d_norm {model.d_norm!r}; valid: {', '.join(D_NORMS)}")
  g = DCGANGenerator(
    image_size=model.image_size,
    channels=channels,
    base_filters=model.base_filters,
    fast_conv_transpose=model.fast_conv_transpose,
    axis_name=axis_name,
  )
  d = DCGANDiscriminator(
    image_size=model.image_size,
    base_filters=model.base_filters,
    norm=model.d_norm,
    spectral_norm=model.d_spectral_norm,
    minibatch=model.d_minibatch,
    pack=model.pack,
    axis_name=axis_name,
  )
  return g, d


def _mlp(model: ml_collections.ConfigDict, channels: int, axis_name: str | None):
  del channels
  g = MLPGenerator(
    output_dim=model.output_dim,
    hidden_dim=model.g_hidden_dim,
    num_layers=model.g_num_layers,
    batch_norm=model.g_batch_norm,
    axis_name=axis_name,
  )
  d = MLPDiscriminator(
    hidden_dim=model.d_hidden_dim,
    num_layers=model.d_num_layers,
    activation=model.d_activation,
    maxout_pieces=model.maxout_pieces,
    spectral_norm=model.d_spectral_norm,
    minibatch=model.d_minibatch,
    pack=model.pack,
  )
  return g, d


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {"dcgan": _dcgan, "mlp": _mlp}


def make_models(
  model: ml_collections.ConfigDict, *, channels: int, axis_name: str | None = None
) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from the config's `model` sub-config."""
  if model.name not in MODELS:
    raise ValueError(f"unknown model {model.name!r}; valid models: {', '.join(MODELS)}")
  return MODELS[model.name](model, channels, axis_name)


def sample_latents(rng: Array, batch_size: int, z_dim: int) -> Array:
  """z ~ N(0, I), the latent prior of every model here."""
  return jax.random.normal(rng, (batch_size, z_dim), jnp.float32)
