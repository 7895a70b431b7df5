"""MLPs for 2-D toy data (the PacGAN protocol): a BatchNorm/ReLU generator and a maxout
discriminator."""

from __future__ import annotations

import flax.linen as nn
import jax

from gan_jax import layers
from gan_jax.models import common

Array = jax.Array

D_ACTIVATIONS = ("maxout", "leaky_relu")  # hidden layers of the MLP discriminator


class MLPGenerator(nn.Module):
  """z -> [Dense -> BN -> ReLU] * num_layers -> Dense(output_dim)."""

  output_dim: int = 2
  hidden_dim: int = 400
  num_layers: int = 4
  batch_norm: bool = True
  axis_name: str | None = None
  num_classes: int = 0
  conditioning: str = "concat"  # see common.G_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, z: Array, y: Array | None = None, *, train: bool) -> Array:
    common.check_labels(self.num_classes, y)
    cbn = self.num_classes > 0 and self.conditioning == "cbn"
    x = (
      common.concat_label_input(z, y, self.num_classes, self.embed_dim)
      if self.num_classes and not cbn
      else z
    )
    for _ in range(self.num_layers):
      x = nn.Dense(self.hidden_dim, use_bias=not self.batch_norm)(x)
      if self.batch_norm and cbn:
        x = common.ConditionalBatchNorm(self.num_classes, train, self.axis_name)(x, y)
      elif self.batch_norm:
        x = common.batch_norm(train, self.axis_name)(x)
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
  conditioning: str = "projection"  # see common.D_CONDITIONING
  embed_dim: int = 50

  @nn.compact
  def __call__(self, x: Array, y: Array | None = None, *, train: bool) -> Array:
    common.check_labels(self.num_classes, y)
    x = x.reshape(x.shape[0], -1)
    if self.num_classes and self.conditioning == "concat":
      x = common.concat_label_input(
        x, y, self.num_classes, self.embed_dim, spectral_norm=self.spectral_norm, train=train
      )
    x = layers.pack(x, self.pack) if self.pack > 1 else x
    if self.activation not in D_ACTIVATIONS:
      raise ValueError(f"unknown activation {self.activation!r}; valid: {', '.join(D_ACTIVATIONS)}")
    for _ in range(self.num_layers):
      if self.activation == "maxout":
        dense = nn.Dense(self.hidden_dim * self.maxout_pieces)
        x = common.layer(dense, x, spectral_norm=self.spectral_norm, train=train)
        x = x.reshape(*x.shape[:-1], self.hidden_dim, self.maxout_pieces).max(axis=-1)
      else:
        x = nn.leaky_relu(
          common.layer(nn.Dense(self.hidden_dim), x, spectral_norm=self.spectral_norm, train=train),
          0.2,
        )
    phi = x
    x = common.minibatch_features(self.minibatch, x)
    logits = common.layer(nn.Dense(1), x, spectral_norm=self.spectral_norm, train=train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      logits = logits + common.projection(
        phi, y, self.num_classes, spectral_norm=self.spectral_norm, train=train
      )
    return logits


def build(model, channels: int, axis_name: str | None, num_classes: int = 0):
  del channels
  g_cond, d_cond = common.conditioning_fields(model, num_classes)
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
