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
D_ACTIVATIONS = ("maxout", "leaky_relu")  # hidden layers of the MLP discriminator
# Class conditioning (config.conditional): how G and D see the label y.
G_CONDITIONING = ("concat", "cbn")  # embedding concatenated to z | conditional BatchNorm
D_CONDITIONING = ("projection", "concat")  # projection D | embedding concatenated to the input


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


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and offset are looked up per class (de Vries et al. 2017).

  Normalization as nn.BatchNorm (statistics shared by all classes); gamma(y) starts at 1
  and beta(y) at 0, so at initialization it equals plain BatchNorm.
  """

  num_classes: int
  train: bool
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, y: Array) -> Array:
    x = nn.BatchNorm(
      use_running_average=not self.train,
      momentum=0.9,
      epsilon=1e-5,
      use_scale=False,
      use_bias=False,
      axis_name=self.axis_name if self.train else None,
    )(x)
    features = x.shape[-1]
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones, name="scale")
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name="bias")
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return x * gamma(y).reshape(shape) + beta(y).reshape(shape)


def _check_labels(num_classes: int, y: Array | None) -> None:
  if num_classes and y is None:
    raise ValueError("a conditional model needs labels y")


def _embed_labels(num_classes: int, dim: int, y: Array, name: str) -> Array:
  return nn.Embed(num_classes, dim, name=name)(y)


def _concat_label_input(x: Array, y: Array, num_classes: int, dim: int) -> Array:
  """Concatenates a learned label embedding to x: on the channels of every pixel of images."""
  e = _embed_labels(num_classes, dim, y, "label_embedding")
  if x.ndim == 4:
    e = jnp.broadcast_to(e[:, None, None, :], (*x.shape[:3], dim))
  return jnp.concatenate([x, e.astype(x.dtype)], axis=-1)


def _projection(h: Array, y: Array, num_classes: int) -> Array:
  """The class term <embed(y), h> of a projection discriminator (Miyato & Koyama 2018)."""
  e = _embed_labels(num_classes, h.shape[-1], y, "projection_embedding")
  return jnp.sum(e * h, axis=-1)


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
  # Conditional generation: num_classes > 0 makes y (int labels) an input.
  num_classes: int = 0
  conditioning: str = "concat"  # see G_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    start, num_up = _check_size(self.image_size)
    _check_labels(self.num_classes, y)
    conv_t = ops.ConvTranspose if self.fast_conv_transpose else nn.ConvTranspose
    cbn = self.num_classes > 0 and self.conditioning == "cbn"
    if self.num_classes and not cbn:
      z = _concat_label_input(z, y, self.num_classes, self.embed_dim)

    def norm(x):
      if cbn:
        return ConditionalBatchNorm(self.num_classes, train, self.axis_name)(x, y)
      return _batch_norm(train, self.axis_name)(x)

    width = self.base_filters * 2 ** (num_up - 1)
    x = nn.Dense(start * start * width, use_bias=False)(z)
    x = nn.relu(norm(x))
    x = x.reshape(z.shape[0], start, start, width)
    for _ in range(num_up - 1):
      width //= 2
      x = conv_t(width, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(x)
      x = nn.relu(norm(x))
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
  num_classes: int = 0
  conditioning: str = "projection"  # see D_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    _, num_down = _check_size(self.image_size)
    _check_labels(self.num_classes, y)
    if self.num_classes and self.conditioning == "concat":
      x = _concat_label_input(x, y, self.num_classes, self.embed_dim)
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    for i in range(num_down):
      normalized = i > 0 and self.norm != "none"
      conv = ops.Conv(
        self.base_filters * 2**i, (4, 4), strides=(2, 2), padding="SAME", use_bias=not normalized
      )
      x = _layer(conv, x, spectral_norm=self.spectral_norm, train=train)
      if normalized:
        x = _batch_norm(train, self.axis_name)(x) if self.norm == "batch" else nn.LayerNorm()(x)
      x = nn.leaky_relu(x, 0.2)
    # The projection term reads the features phi(x) of each sample alone, before any
    # minibatch features couple the samples of a batch.
    phi = x.reshape(x.shape[0], -1)
    x = _minibatch_features(self.minibatch, x)
    x = x.reshape(x.shape[0], -1)
    logits = _layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      logits = logits + _projection(phi, y, self.num_classes)
    return logits


class MLPGenerator(nn.Module):
  """z -> [Dense -> BN -> ReLU] * num_layers -> Dense(output_dim)."""

  output_dim: int = 2
  hidden_dim: int = 400
  num_layers: int = 4
  batch_norm: bool = True
  axis_name: str | None = None
  num_classes: int = 0
  conditioning: str = "concat"  # see G_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    _check_labels(self.num_classes, y)
    cbn = self.num_classes > 0 and self.conditioning == "cbn"
    x = (
      _concat_label_input(z, y, self.num_classes, self.embed_dim)
      if self.num_classes and not cbn
      else z
    )
    for _ in range(self.num_layers):
      x = nn.Dense(self.hidden_dim, use_bias=not self.batch_norm)(x)
      if self.batch_norm and cbn:
        x = ConditionalBatchNorm(self.num_classes, train, self.axis_name)(x, y)
      elif self.batch_norm:
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
  num_classes: int = 0
  conditioning: str = "projection"  # see D_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    _check_labels(self.num_classes, y)
    x = x.reshape(x.shape[0], -1)
    if self.num_classes and self.conditioning == "concat":
      x = _concat_label_input(x, y, self.num_classes, self.embed_dim)
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    if self.activation not in D_ACTIVATIONS:
      raise ValueError(f"unknown activation {self.activation!r}; valid: {', '.join(D_ACTIVATIONS)}")
    for _ in range(self.num_layers):
      if self.activation == "maxout":
        dense = nn.Dense(self.hidden_dim * self.maxout_pieces)
        x = _layer(dense, x, spectral_norm=self.spectral_norm, train=train)
        x = x.reshape(*x.shape[:-1], self.hidden_dim, self.maxout_pieces).max(axis=-1)
      else:
        x = nn.leaky_relu(
          _layer(nn.Dense(self.hidden_dim), x, spectral_norm=self.spectral_norm, train=train), 0.2
        )
    phi = x
    x = _minibatch_features(self.minibatch, x)
    logits = _layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      logits = logits + _projection(phi, y, self.num_classes)
    return logits


# --- registry ----------------------------------------------------------------


def _conditioning(model: ml_collections.ConfigDict, num_classes: int) -> tuple[dict, dict]:
  """The conditioning fields of (G, D); empty dicts for an unconditional GAN."""
  if not num_classes:
    return {}, {}
  if model.g_conditioning not in G_CONDITIONING:
    raise ValueError(
      f"unknown model.g_conditioning {model.g_conditioning!r}; valid: {', '.join(G_CONDITIONING)}"
    )
  if model.d_conditioning not in D_CONDITIONING:
    raise ValueError(
      f"unknown model.d_conditioning {model.d_conditioning!r}; valid: {', '.join(D_CONDITIONING)}"
    )
  common = dict(num_classes=num_classes, embed_dim=model.class_embed_dim)
  return (
    dict(common, conditioning=model.g_conditioning),
    dict(common, conditioning=model.d_conditioning),
  )


def _dcgan(model, channels: int, axis_name: str | None, num_classes: int = 0):
  _check_size(model.image_size)
  if model.d_norm not in D_NORMS:
    raise ValueError(f"unknown model.d_norm {model.d_norm!r}; valid: {', '.join(D_NORMS)}")
  g_cond, d_cond = _conditioning(model, num_classes)
  g = DCGANGenerator(
    image_size=model.image_size,
    channels=channels,
    base_filters=model.base_filters,
    fast_conv_transpose=model.fast_conv_transpose,
    axis_name=axis_name,
    **g_cond,
  )
  d = DCGANDiscriminator(
    image_size=model.image_size,
    base_filters=model.base_filters,
    norm=model.d_norm,
    spectral_norm=model.d_spectral_norm,
    minibatch=model.d_minibatch,
    pack=model.pack,
    axis_name=axis_name,
    **d_cond,
  )
  return g, d


def _mlp(model, channels: int, axis_name: str | None, num_classes: int = 0):
  del channels
  g_cond, d_cond = _conditioning(model, num_classes)
  g = MLPGenerator(
    output_dim=model.output_dim,
    hidden_dim=model.g_hidden_dim,
    num_layers=model.g_num_layers,
    batch_norm=model.g_batch_norm,
    axis_name=axis_name,
    **g_cond,
  )
  d = MLPDiscriminator(
    hidden_dim=model.d_hidden_dim,
    num_layers=model.d_num_layers,
    activation=model.d_activation,
    maxout_pieces=model.maxout_pieces,
    spectral_norm=model.d_spectral_norm,
    minibatch=model.d_minibatch,
    pack=model.pack,
    **d_cond,
  )
  return g, d


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {"dcgan": _dcgan, "mlp": _mlp}


def make_models(
  model: ml_collections.ConfigDict,
  *,
  channels: int,
  axis_name: str | None = None,
  num_classes: int = 0,
) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from the config's `model` sub-config.

  num_classes > 0 builds a class-conditional pair: both then take int labels y,
  `G(z, y)` and `D(x, y)`, conditioned as model.g_conditioning / d_conditioning say.
  """
  if model.name not in MODELS:
    raise ValueError(f"unknown model {model.name!r}; valid models: {', '.join(MODELS)}")
  return MODELS[model.name](model, channels, axis_name, num_classes)


def sample_latents(rng: Array, batch_size: int, z_dim: int) -> Array:
  """z ~ N(0, I), the latent prior of every model here."""
  return jax.random.normal(rng, (batch_size, z_dim), jnp.float32)
