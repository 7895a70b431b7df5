"""Pieces the model families share: normalization, spectral norm, minibatch features,
class conditioning, and the declaration of a family's own config keys (`family_config`).

BatchNorm statistics are averaged over the named mesh axis `axis_name` when a model runs
inside the data-parallel step, so a global batch split over N devices normalizes exactly
as the same batch on one device.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax import layers, parallel
from gan_jax import specs as specs_lib

Array = jax.Array

D_MINIBATCH = ("none", "stddev", "discrimination")
# Class conditioning (config.conditional): how G and D see the label y.
G_CONDITIONING = ("concat", "cbn")  # embedding concatenated to z | conditional BatchNorm
D_CONDITIONING = ("projection", "concat")  # projection D | embedding concatenated to the input


def layer(module: nn.Module, x: Array, *, spectral_norm: bool, train: bool) -> Array:
  """Applies a Dense/Conv, spectrally normalized when asked.

  The power-iteration vector u lives in the 'batch_stats' collection, so it is
  part of the state pytree and updated only in training mode.
  """
  if spectral_norm:
    return nn.SpectralNorm(module)(x, update_stats=train)
  return module(x)


def minibatch_features(kind: str, x: Array) -> Array:
  """Minibatch stddev on a feature map / vector, or minibatch discrimination on vectors."""
  if kind == "stddev":
    return layers.MinibatchStdDev()(x)
  if kind == "discrimination":
    return layers.MinibatchDiscrimination()(x.reshape(x.shape[0], -1))
  return x


class BatchNorm(nn.Module):
  """flax's nn.BatchNorm over the last axis: its variables, defaults and arithmetic (the
  statistics in float32, var = E[x^2] - E[x]^2 clipped at 0), with the statistics averaged
  over `axis_name` by `parallel.mean` (in device order, so that the numbers do not depend
  on how the devices are spread over processes) instead of lax.pmean."""

  use_running_average: bool
  momentum: float = 0.99
  epsilon: float = 1e-5
  use_scale: bool = True
  use_bias: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array) -> Array:
    features = (x.shape[-1],)
    ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32), features)
    ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32), features)
    if self.use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      axes = tuple(range(x.ndim - 1))
      xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
      mus = jnp.stack([xf.mean(axes), lax.square(xf).mean(axes)])
      if self.axis_name is not None and not self.is_initializing():
        mus = parallel.mean(mus, self.axis_name)
      mean, mean2 = mus[0], mus[1]
      var = jnp.maximum(0.0, mean2 - lax.square(mean))
      if not self.is_initializing():
        ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
        ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    y = x - mean
    mul = lax.rsqrt(var + self.epsilon)
    if self.use_scale:
      mul *= self.param("scale", nn.initializers.ones, features, jnp.float32)
    y *= mul
    if self.use_bias:
      y += self.param("bias", nn.initializers.zeros, features, jnp.float32)
    return y


def batch_norm(train: bool, axis_name: str | None) -> BatchNorm:
  # momentum 0.9 / eps 1e-5 match torch's BatchNorm defaults (momentum 0.1).
  return BatchNorm(
    use_running_average=not train,
    momentum=0.9,
    epsilon=1e-5,
    axis_name=axis_name if train else None,
  )


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and offset are looked up per class (de Vries et al. 2017).

  Normalization as BatchNorm (statistics shared by all classes); gamma(y) starts at 1
  and beta(y) at 0, so at initialization it equals plain BatchNorm.
  """

  num_classes: int
  train: bool
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, y: Array) -> Array:
    x = BatchNorm(
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


def check_labels(num_classes: int, y: Array | None) -> None:
  if num_classes and y is None:
    raise ValueError("a conditional model needs labels y")


def embed_labels(
  num_classes: int,
  dim: int,
  y: Array,
  name: str,
  *,
  spectral_norm: bool = False,
  train: bool = False,
  embedding_init: nn.initializers.Initializer | None = None,
) -> Array:
  """A learned (num_classes, dim) embedding of labels y; `spectral_norm` divides the whole
  matrix by its largest singular value, as sngan_projection's SNEmbedID
  (source/links/sn_embed_id.py), its power-iteration vector in 'batch_stats' as `layer`'s.
  `embedding_init` None: Flax's default."""
  init = {} if embedding_init is None else {"embedding_init": embedding_init}
  embed = nn.Embed(num_classes, dim, name=name, **init)
  return layer(embed, y, spectral_norm=spectral_norm, train=train)


def concat_label_input(
  x: Array, y: Array, num_classes: int, dim: int, *, spectral_norm: bool = False, train=False
) -> Array:
  """Concatenates a learned label embedding to x: on the channels of every pixel of images.
  A spectrally normalized D normalizes the embedding too (`spectral_norm`), as every weight."""
  e = embed_labels(num_classes, dim, y, "label_embedding", spectral_norm=spectral_norm, train=train)
  if x.ndim == 4:
    e = jnp.broadcast_to(e[:, None, None, :], (*x.shape[:3], dim))
  return jnp.concatenate([x, e.astype(x.dtype)], axis=-1)


def projection(
  h: Array,
  y: Array,
  num_classes: int,
  *,
  spectral_norm: bool = False,
  train: bool = False,
  embedding_init: nn.initializers.Initializer | None = None,
) -> Array:
  """The class term <embed(y), h> of a projection discriminator (Miyato & Koyama 2018).

  `spectral_norm`: the embedding divided by its spectral norm, as the reference's l_y =
  SNEmbedID (pfnet-research/sngan_projection dis_models/snresnet_32.py:19), in a D whose
  other weights are normalized too.
  """
  e = embed_labels(
    num_classes,
    h.shape[-1],
    y,
    "projection_embedding",
    spectral_norm=spectral_norm,
    train=train,
    embedding_init=embedding_init,
  )
  return jnp.sum(e * h, axis=-1)


def conditioning_fields(model: ml_collections.ConfigDict, num_classes: int) -> tuple[dict, dict]:
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


class SubConfig(NamedTuple):
  """A family's own keys, under `model.<key>`: their defaults and what each may be.

  `defaults` has the keys relative to `model.<key>`; `specs` has the full dotted keys
  (`model.<key>.<name>`) that config.SPECS uses. Declared once per key with `family_config`.
  """

  key: str
  defaults: dict[str, Any]
  specs: dict[str, specs_lib.Spec]

  def read(self, model: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The family's sub-config of `model` (the `model` sub-config of a run's config)."""
    if self.key not in model:
      raise ValueError(
        f"model.{self.key} is missing from the config: add the family's CONFIG.defaults "
        f"under model.{self.key} (see gan_jax/models/{self.key}.py)"
      )
    return model[self.key]


def family_config(key: str, fields: dict[str, tuple[Any, specs_lib.Spec]]) -> SubConfig:
  """SubConfig from one table {name: (default, Spec)}."""
  return SubConfig(
    key,
    {name: default for name, (default, _) in fields.items()},
    {f"model.{key}.{name}": spec for name, (_, spec) in fields.items()},
  )
