"""The static GAN and its state: modules, objective, optimizers and switches of one config
(`GAN`, `build_gan`), its latents and labels, its initial state, and its networks' forward
in the run's compute dtype.

A program of several sweep members widens this GAN with the settings they differ in
(games/gan/settings.py, `for_members`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import losses
from gan_jax import models as models_lib
from gan_jax.data import datasets as data_lib
from gan_jax.errors import ConfigError
from gan_jax.game import NetState, State, apply_train, init_net
from gan_jax.games.gan import augmentation
from gan_jax.games.gan.lazy import (
  LAZY_METRIC,
  LazyRegularization,
  lazy_optimizer,
  lazy_regularizers,
)
from gan_jax.models import stylegan2 as stylegan2_lib
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any


@dataclasses.dataclass(frozen=True)
class GAN:
  """The static parts of a GAN: modules, objective, optimizers, batch geometry, switches."""

  generator: nn.Module
  discriminator: nn.Module
  objective: losses.Objective
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  z_dim: int
  batch_size: int  # global
  example_shape: tuple[int, ...]
  total_steps: int  # the run's training steps: where a linear learning-rate decay ends
  d_steps: int = 1
  g_steps: int = 1  # generator updates per step, after the d_steps D updates
  # 'alternating': D's updates, then G's against the updated D; 'simultaneous': one D and
  # one G update from the same parameters on the same batch (ALI's, PacGAN's update).
  update_rule: str = "alternating"
  z_prior: str = "normal"  # 'normal': z ~ N(0, I); 'uniform': z ~ U[-1, 1]^z_dim
  real_label: float = 1.0
  d_weight_clip: float = 0.0
  penalty: str = "none"
  penalty_weight: float = 0.0
  pack: int = 1  # PacGAN: D's input packs this many samples (penalties are defined on it)
  instance_noise_std: float = 0.0
  instance_noise_anneal_steps: int = 0
  ema_decay: float = 0.0
  ema_start_step: int = 0
  # > 0: class-conditional G(z, y) and D(x, y).
  num_classes: int = 0
  # The labels of generated samples: 'uniform' | 'real' | 'data' (config.fake_labels).
  fake_labels: str = "uniform"
  # G's global batch where it differs from D's (0 = batch_size; `g_batch`).
  g_batch_size: int = 0
  # A program of several members: the RUN_KEYS whose values differ among them (read per
  # run from State.extra['settings']), the objectives a run's 'loss' index picks from, and
  # the optimizer sub-configs that per-run learning rates and betas complete.
  varying: tuple[str, ...] = ()
  objectives: tuple[str, ...] = ()
  g_optimizer: Any = None
  d_optimizer: Any = None
  # StyleGAN2 (a generator with map / synthesize): the probability of style mixing in G's
  # training forward.
  style_mixing_prob: float = 0.0
  # Regularizers applied lazily, as data (lazy.LazyRegularization: name, net, interval,
  # weight): the D penalty when penalty_interval > 1 (net 'd'), path length (net 'g').
  lazy: tuple[LazyRegularization, ...] = ()
  ema_half_life_kimg: float = 0.0  # > 0: StyleGAN2's EMA, in place of ema_decay
  ema_rampup: float = 0.0
  compute_dtype: str = "float32"  # of G and D's arithmetic; the master weights are float32
  # Limited data: what D sees augmented (DiffAugment, ADA), bCR and LeCam (augmentation.py).
  augment: augmentation.Augmentation = augmentation.Augmentation()

  @property
  def g_batch(self) -> int:
    """The global batch of each G update: its latents, labels and real data."""
    return self.g_batch_size or self.batch_size

  @property
  def style_based(self) -> bool:
    return isinstance(self.generator, stylegan2_lib.Generator)

  @property
  def ema_on(self) -> bool:
    return self.ema_decay > 0 or self.ema_half_life_kimg > 0

  def lazy_for(self, net: str) -> LazyRegularization | None:
    return next((reg for reg in self.lazy if reg.net == net), None)


def build_gan(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> GAN:
  """The GAN of `config` on `dataset` (its shapes and classes); every setting a constant.
  For a program of several members, widen it with `settings.for_members`."""
  channels = dataset.example_shape[-1] if len(dataset.example_shape) == 3 else 0
  num_classes = 0
  if config.conditional:
    if not dataset.num_classes:
      raise ConfigError(f"conditional=True needs class labels, and {dataset.name!r} has none here")
    num_classes = dataset.num_classes
  generator, discriminator = models_lib.make_models(
    config.model, channels=channels, axis_name=AXIS, num_classes=num_classes
  )
  lazy = lazy_regularizers(config)
  lazy_of = {reg.net: reg for reg in lazy}
  return GAN(
    generator=generator,
    discriminator=discriminator,
    objective=losses.get_objective(config.loss),
    g_tx=lazy_optimizer(
      config.g_optimizer, lazy_of.get("g"), total_steps=config.total_steps, updates=config.g_steps
    ),
    d_tx=lazy_optimizer(
      config.d_optimizer, lazy_of.get("d"), total_steps=config.total_steps, updates=config.d_steps
    ),
    z_dim=config.model.z_dim,
    batch_size=config.batch_size,
    example_shape=tuple(dataset.example_shape),
    d_steps=config.d_steps,
    g_steps=config.g_steps,
    total_steps=config.total_steps,
    update_rule=config.update_rule,
    z_prior=config.model.z_prior,
    real_label=config.real_label,
    d_weight_clip=config.d_weight_clip,
    penalty=config.penalty,
    penalty_weight=config.penalty_weight,
    pack=config.model.pack,
    instance_noise_std=config.instance_noise_std,
    instance_noise_anneal_steps=config.instance_noise_anneal_steps,
    ema_decay=config.ema_decay,
    ema_start_step=config.ema_start_step,
    num_classes=num_classes,
    fake_labels=config.fake_labels,
    g_batch_size=config.g_batch_size,
    g_optimizer=config.g_optimizer,
    d_optimizer=config.d_optimizer,
    style_mixing_prob=config.style_mixing_prob,
    lazy=lazy,
    ema_half_life_kimg=config.ema_half_life_kimg,
    ema_rampup=config.ema_rampup,
    compute_dtype=config.model.compute_dtype,
    augment=augmentation.from_config(config),
  )


def sample_latents(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Latents z of the given batch shape (the last axis is added), from the GAN's prior."""
  shape = (*shape, gan.z_dim)
  if gan.z_prior == "uniform":
    return jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0)
  return jax.random.normal(rng, shape)


def sample_labels(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Labels uniform over the classes (zeros when unconditional): those of pictures and
  evaluation, and of training's fakes with fake_labels 'uniform' (step.draw)."""
  if not gan.num_classes:
    return jnp.zeros(shape, jnp.int32)
  return jax.random.randint(rng, shape, 0, gan.num_classes, jnp.int32)


def init_state(gan: GAN, rng: Array, settings: dict[str, Array] | None = None) -> State:
  """Initial parameters, BatchNorm statistics and optimizer states of one run, and its
  per-run settings (`settings.run_settings`) in a program of several members."""
  k_g, k_d, k_run = jax.random.split(rng, 3)
  labels = jnp.zeros((2,), jnp.int32)
  g_vars = gan.generator.init(k_g, jnp.zeros((2, gan.z_dim)), labels, train=False)
  # D packs `pack` examples into one: its dummy batch holds two packs.
  d_labels = jnp.zeros((2 * gan.pack,), jnp.int32)
  d_input = jnp.zeros((2 * gan.pack, *gan.example_shape))
  d_vars = gan.discriminator.init(k_d, d_input, d_labels, train=False)
  g = init_net(g_vars, gan.g_tx)
  # The EMA generator starts as G; it keeps BatchNorm statistics of its own.
  ema = {"params": jax.tree.map(jnp.copy, g.params), "batch_stats": g.batch_stats}
  extra = {"ema": ema, **augmentation.init_extra(gan.augment)}
  if gan.lazy:
    # Each lazy regularizer's value at its last application (its metric), and path
    # length's running mean of the lengths.
    extra["lazy"] = {LAZY_METRIC[reg.net]: jnp.zeros(()) for reg in gan.lazy}
    if gan.lazy_for("g") is not None:
      extra["pl_mean"] = jnp.zeros(())
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=k_run,
    nets={"g": g, "d": init_net(d_vars, gan.d_tx)},
    extra={**extra, **({"settings": settings} if gan.varying else {})},
  )


def cast_floating(dtype, tree: PyTree) -> PyTree:
  """The tree with its floating arrays cast to `dtype` (integers left as they are)."""
  return jax.tree.map(
    lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
  )


def apply_net(gan: GAN, module: nn.Module, net: NetState, params: PyTree, *args, **kwargs):
  """`apply_train` in the run's compute dtype: with 'bfloat16' the float32 master
  parameters and the float inputs are cast on the way in; the outputs come back float32
  and the statistics in their own dtypes (float32), so the state never changes dtype."""
  if gan.compute_dtype == "float32":
    return apply_train(module, net, params, *args, **kwargs)
  dtype = jnp.dtype(gan.compute_dtype)
  out, stats = apply_train(
    module, net, cast_floating(dtype, params), *cast_floating(dtype, args), **kwargs
  )
  stats = jax.tree.map(lambda new, old: new.astype(old.dtype), stats, net.batch_stats)
  return out.astype(jnp.float32), stats
