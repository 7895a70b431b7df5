"""The GAN game: G(z[, y]) against D(x[, y]), on images or 2-D points.

One generator and one discriminator, any objective of losses.py, the stabilizers of
the field (gradient penalties, weight clipping, instance noise, label smoothing, EMA of
G, PacGAN packing through the model), unconditional or class-conditional. The state
holds the networks 'g' and 'd' in `State.nets` and the EMA generator (its weights and
its own BatchNorm statistics) in `State.extra['ema']`.

A step (`local_step`, per device under shard_map) is `d_steps` discriminator updates
and one generator update. Gradient averaging: inside shard_map the loss is the
mean over the mesh axis of the devices' losses (`parallel.mean`) and
`parallel.value_and_grad` averages the per-device gradients, both adding in device order
(see gan_jax/parallel.py); BatchNorm statistics are averaged over the axis by the models
themselves.

Sweep members that differ only in the settings of RUN_KEYS train as one program (the
loop's run axis): the settings that differ among them become per-run arrays in
`State.extra['settings']`, read by the step instead of the GAN's constants, and the
objective is chosen per run by index (`lax.switch`). A program of one config keeps every
setting a Python constant, so its numbers are those of a run of its own.
StyleGAN2's training (model.name='stylegan2'; experiments/stylegan2.py) adds, with the
pure pieces of models/stylegan2.py: style mixing in G's every training forward (a second
latent's W from a random layer on, `style_mixing_prob`); lazy regularization, each
regularizer a `LazyRegularization` (name, net, interval, weight) run as an update of its
own where due (`lax.cond`; under the vmap of several runs both branches are computed and
one selected): the D penalty when penalty_interval > 1 (R1 every 16 D updates) and path
length every path_length_interval G updates, its running mean in `extra['pl_mean']`; and
the EMA of G with a half-life in images. The lazy regularizers' metrics (d_penalty,
g_path_length) are their values at their last application, kept in `extra['lazy']`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import PartitionSpec as P

from gan_jax import data as data_lib
from gan_jax import losses, parallel, penalties, schedules, writers
from gan_jax import models as models_lib
from gan_jax.errors import ConfigError
from gan_jax.game import (
  Evaluation,
  Game,
  NetState,
  State,
  apply_train,
  device_key,
  diagnostic_norms,
  global_mean,
  init_net,
  make_optimizer,
)
from gan_jax.models import stylegan2 as stylegan2_lib
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any

# Keys of their own for the pictures and evaluation, apart from the training stream and the
# same for every run: runs of every seed and sweep member are pictured and scored on the
# very same latents, so they differ only through their generators.
GRID_SEED = 1
EVAL_SEED = 2
INTERPOLATION_SEED = 3
# The settings that sweep members trained together may differ in (config keys): each becomes
# a per-run array where members differ. Everything else fixes the program's shapes.
RUN_KEYS = (
  "loss",
  "g_optimizer.learning_rate",
  "g_optimizer.b1",
  "g_optimizer.b2",
  "d_optimizer.learning_rate",
  "d_optimizer.b1",
  "d_optimizer.b2",
  "penalty_weight",
  "real_label",
  "instance_noise_std",
  "instance_noise_anneal_steps",
  "d_weight_clip",
  "ema_decay",
  "ema_start_step",
)
# The GAN field each run key sets (the optimizers' keys are read from their sub-configs).
_GAN_FIELDS = {
  "penalty_weight": "penalty_weight",
  "real_label": "real_label",
  "instance_noise_std": "instance_noise_std",
  "instance_noise_anneal_steps": "instance_noise_anneal_steps",
  "d_weight_clip": "d_weight_clip",
  "ema_decay": "ema_decay",
  "ema_start_step": "ema_start_step",
}
STYLE_MIXING_SEED = 4
MAX_CLASS_ROWS = 10  # rows of a conditional grid; more classes: evenly spaced ones
NUM_2D_POINTS = 2500  # points in a 2-D run's scatter picture (the PacGAN evaluation size)


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
  # > 0: class-conditional G(z, y) and D(x, y); fake labels uniform over the classes.
  num_classes: int = 0
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
  # Regularizers applied lazily, as data (stylegan2.LazyRegularization: name, net, interval,
  # weight): the D penalty when penalty_interval > 1 (net 'd'), path length (net 'g').
  lazy: tuple[stylegan2_lib.LazyRegularization, ...] = ()
  ema_half_life_kimg: float = 0.0  # > 0: StyleGAN2's EMA, in place of ema_decay
  ema_rampup: float = 0.0
  compute_dtype: str = "float32"  # of G and D's arithmetic; the master weights are float32

  @property
  def style_based(self) -> bool:
    return isinstance(self.generator, stylegan2_lib.Generator)

  @property
  def ema_on(self) -> bool:
    return self.ema_decay > 0 or self.ema_half_life_kimg > 0

  def lazy_for(self, net: str) -> stylegan2_lib.LazyRegularization | None:
    return next((reg for reg in self.lazy if reg.net == net), None)


def lazy_regularizers(config: ml_collections.ConfigDict) -> tuple:
  """The config's lazy regularizers: the D penalty every penalty_interval D updates (when
  above 1; weight penalty_weight on penalties.PENALTIES[penalty], whose R1 is gamma / 2
  times the squared gradient norm) and path length every path_length_interval G updates."""
  lazy = []
  if config.penalty != "none" and config.penalty_interval > 1:
    lazy.append(
      stylegan2_lib.LazyRegularization(
        config.penalty, "d", config.penalty_interval, config.penalty_weight
      )
    )
  if config.path_length_weight > 0:
    lazy.append(
      stylegan2_lib.LazyRegularization(
        "path_length", "g", config.path_length_interval, config.path_length_weight
      )
    )
  return tuple(lazy)


def lazy_optimizer(
  cfg: ml_collections.ConfigDict, reg: stylegan2_lib.LazyRegularization | None
) -> optax.GradientTransformation:
  """The optimizer of a network; one with a lazy regularizer takes interval + 1 steps per
  interval updates, so its Adam runs with StyleGAN2's lr * c and betas ** c."""
  if reg is None:
    return make_optimizer(cfg)
  scaled = ml_collections.ConfigDict(cfg.to_dict())
  scaled.learning_rate, scaled.b1, scaled.b2 = reg.adam(cfg.learning_rate, cfg.b1, cfg.b2)
  return make_optimizer(scaled)


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  for part in key.split("."):
    config = config[part]
  return config


def setting_name(key: str) -> str:
  """The name of a run key's array in State.extra['settings']."""
  return key.replace(".", "_")


def varying_keys(configs) -> tuple[str, ...]:
  """The RUN_KEYS whose values differ among the member configs of one program."""
  return tuple(k for k in RUN_KEYS if len({repr(_get(c, k)) for c in configs}) > 1)


def build_gan(
  config: ml_collections.ConfigDict, dataset: data_lib.Dataset, members: tuple = ()
) -> GAN:
  """The GAN of `config`; with `members` (the configs of one program, config among them),
  the one that trains all of them: the settings they differ in are read per run, and a
  switch such as EMA or weight clipping is on where any member turns it on."""
  channels = dataset.example_shape[-1] if len(dataset.example_shape) == 3 else 0
  num_classes = 0
  if config.conditional:
    if not dataset.num_classes:
      raise ConfigError(f"conditional=True needs class labels, and {dataset.name!r} has none here")
    num_classes = dataset.num_classes
  generator, discriminator = models_lib.make_models(
    config.model, channels=channels, axis_name=AXIS, num_classes=num_classes
  )
  varying = varying_keys(members) if len(members) > 1 else ()
  fields = {}
  for key in varying:
    if key in _GAN_FIELDS:  # on where any member turns it on (per-run values decide)
      fields[_GAN_FIELDS[key]] = max(_get(c, key) for c in members)
  objectives = tuple(dict.fromkeys(c.loss for c in members)) if "loss" in varying else ()
  objective = losses.get_objective(config.loss)
  if objectives:  # per run, by index: G sees real logits where any member's objective does
    g_uses_real = any(losses.get_objective(n).g_uses_real for n in objectives)
    objective = objective._replace(g_uses_real=g_uses_real)
  lazy = lazy_regularizers(config)
  lazy_of = {reg.net: reg for reg in lazy}
  gan = GAN(
    generator=generator,
    discriminator=discriminator,
    objective=objective,
    g_tx=lazy_optimizer(config.g_optimizer, lazy_of.get("g")),
    d_tx=lazy_optimizer(config.d_optimizer, lazy_of.get("d")),
    z_dim=config.model.z_dim,
    batch_size=config.batch_size,
    example_shape=tuple(dataset.example_shape),
    d_steps=config.d_steps,
    g_steps=config.g_steps,
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
    varying=varying,
    objectives=objectives,
    g_optimizer=config.g_optimizer,
    d_optimizer=config.d_optimizer,
    style_mixing_prob=config.style_mixing_prob,
    lazy=lazy,
    ema_half_life_kimg=config.ema_half_life_kimg,
    ema_rampup=config.ema_rampup,
    compute_dtype=config.model.compute_dtype,
  )
  return dataclasses.replace(gan, **fields)


def run_settings(gan: GAN, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The per-run settings of member `config` in a program of several (see RUN_KEYS)."""
  out = {}
  for key in gan.varying:
    value = gan.objectives.index(config.loss) if key == "loss" else _get(config, key)
    dtype = np.int32 if isinstance(value, int) and not isinstance(value, bool) else np.float32
    out[setting_name(key)] = np.asarray(value, dtype)
  return out


def setting(gan: GAN, state: State, key: str) -> Any:
  """A run key's value for this run: the per-run array where members differ, else the
  config's constant."""
  if key in gan.varying:
    return state.extra["settings"][setting_name(key)]
  if key in _GAN_FIELDS:
    return getattr(gan, _GAN_FIELDS[key])
  return _get(gan.g_optimizer if key.startswith("g_") else gan.d_optimizer, key.split(".")[1])


def objective_of(gan: GAN, state: State) -> losses.Objective:
  """The run's objective: the config's, or, where members differ in it, the one its index
  picks (every branch is traced; under the run vmap all are computed and one selected)."""
  if not gan.objectives:
    return gan.objective
  index = state.extra["settings"]["loss"]
  objs = [losses.get_objective(n) for n in gan.objectives]

  def d_loss(r, f, *, real_label=1.0, batch_mean=jnp.mean):
    branches = [
      lambda r, f, o=o: o.d_loss(r, f, real_label=real_label, batch_mean=batch_mean) for o in objs
    ]
    return jax.lax.switch(index, branches, r, f)

  def g_loss(r, f, *, batch_mean=jnp.mean):
    branches = [lambda r, f, o=o: o.g_loss(r, f, batch_mean=batch_mean) for o in objs]
    return jax.lax.switch(index, branches, r, f)

  def d_output(x):
    return jax.lax.switch(index, [o.d_output for o in objs], x)

  return gan.objective._replace(d_loss=d_loss, g_loss=g_loss, d_output=d_output)


def optimizer_of(gan: GAN, state: State, net: str) -> optax.GradientTransformation:
  """Network `net`'s optimizer for this run: the GAN's, or one with this run's learning
  rate and betas where members differ in them (optax transformations take arrays; their
  states do not depend on these values, so every run's state has one structure)."""
  static = gan.g_tx if net == "g" else gan.d_tx
  keys = [k for k in gan.varying if k.startswith(f"{net}_optimizer.")]
  if not keys:
    return static
  cfg = gan.g_optimizer if net == "g" else gan.d_optimizer
  values = {**cfg.to_dict(), **{k.split(".")[1]: setting(gan, state, k) for k in keys}}
  reg = gan.lazy_for(net)
  if reg is not None:  # the lazy interval's scaling, as lazy_optimizer's
    lr, b1, b2 = reg.adam(values["learning_rate"], values["b1"], values["b2"])
    values.update(learning_rate=lr, b1=b1, b2=b2)
  return make_optimizer(types.SimpleNamespace(**values))


def sample_latents(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Latents z of the given batch shape (the last axis is added), from the GAN's prior."""
  shape = (*shape, gan.z_dim)
  if gan.z_prior == "uniform":
    return jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0)
  return jax.random.normal(rng, shape)


def sample_labels(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Labels for generated samples: uniform over the classes (zeros when unconditional)."""
  if not gan.num_classes:
    return jnp.zeros(shape, jnp.int32)
  return jax.random.randint(rng, shape, 0, gan.num_classes, jnp.int32)


# --- state -------------------------------------------------------------------------------------


def init_state(gan: GAN, rng: Array, settings: dict[str, Array] | None = None) -> State:
  """Initial parameters, BatchNorm statistics and optimizer states of one run, and its
  per-run settings (`run_settings`) in a program of several members."""
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
  extra = {"ema": ema}
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


def sampling_variables(gan: GAN, state: State) -> dict[str, PyTree]:
  """The generator variables to draw samples with: the EMA generator's when EMA is on."""
  g = state.nets["g"]
  online = {"params": g.params, "batch_stats": g.batch_stats}
  if not gan.ema_on:
    return online
  if "ema_decay" in gan.varying:  # one run of a program: its own EMA switch
    on = setting(gan, state, "ema_decay") > 0
    return jax.tree.map(lambda e, o: jnp.where(on, e, o), dict(state.extra["ema"]), online)
  return dict(state.extra["ema"])


# --- the step ----------------------------------------------------------------------------------


def draw(gan: GAN, sample_real: Callable[..., dict], data: PyTree, rng: Array) -> dict[str, Array]:
  """One step's global batch: real data, latents and labels for d_steps D updates and the
  G update, and a key for the per-device noise (penalties, instance noise)."""
  k_real, k_zd, k_zg, k_noise = jax.random.split(rng, 4)
  real = sample_real(data, k_real, (gan.d_steps, gan.batch_size))
  z_d = sample_latents(gan, k_zd, (gan.d_steps, gan.batch_size))
  # One G update keeps its batch unstacked (the streams of runs before g_steps existed).
  g_shape = (gan.batch_size,) if gan.g_steps == 1 else (gan.g_steps, gan.batch_size)
  z_g = sample_latents(gan, k_zg, g_shape)
  # A key of its own (not a 5th split) keeps the unconditional streams as they were.
  k_yd, k_yg = jax.random.split(jax.random.fold_in(rng, 1))
  y_d = sample_labels(gan, k_yd, (gan.d_steps, gan.batch_size))
  y_g = sample_labels(gan, k_yg, g_shape)
  y_real = real["y"].astype(jnp.int32) if gan.num_classes else jnp.zeros_like(y_d)
  batch = {
    "x_real": real["x"],
    "y_real": y_real,
    "z_d": z_d,
    "y_d": y_d,
    "z_g": z_g,
    "y_g": y_g,
    "key": k_noise,
  }
  if gan.objective.g_uses_real:  # the G step compares with real data: a batch of its own
    if sample_real is data_lib.take_streamed_batch:  # a stream brings D's batches only
      x_g, y_g_real = real["x"][-1], y_real[-1]
      if gan.g_steps > 1:
        x_g, y_g_real = (jnp.broadcast_to(a, (gan.g_steps, *a.shape)) for a in (x_g, y_g_real))
    else:
      real_g = sample_real(data, jax.random.fold_in(rng, 2), g_shape)
      x_g = real_g["x"]
      y_g_real = real_g["y"].astype(jnp.int32) if gan.num_classes else jnp.zeros_like(y_g)
    batch.update(x_real_g=x_g, y_real_g=y_g_real)
  return batch


def batch_spec(gan: GAN) -> dict[str, P]:
  """How `draw`'s batch is split: D's arrays along their batch axis (after d_steps)."""
  d_side = P(None, AXIS)
  g_side = P(AXIS) if gan.g_steps == 1 else P(None, AXIS)
  spec = {
    "x_real": d_side,
    "y_real": d_side,
    "z_d": d_side,
    "y_d": d_side,
    "z_g": g_side,
    "y_g": g_side,
    "key": P(),
  }
  if gan.objective.g_uses_real:
    spec.update(x_real_g=g_side, y_real_g=g_side)
  return spec


def _noisy(gan: GAN, state: State, rng: Array, x: Array) -> Array:
  """Instance noise on a discriminator input, with the std of the current step."""
  if gan.instance_noise_std <= 0:
    return x
  std = schedules.instance_noise_std(
    state.step,
    initial_std=setting(gan, state, "instance_noise_std"),
    anneal_steps=setting(gan, state, "instance_noise_anneal_steps"),
  )
  return schedules.add_instance_noise(rng, x, std)


# The metric of a lazy regularizer, by network: its value at its last application.
LAZY_METRIC = {"d": "d_penalty", "g": "g_path_length"}


def _floating(dtype, tree: PyTree) -> PyTree:
  return jax.tree.map(
    lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
  )


def _apply(gan: GAN, module: nn.Module, net: NetState, params: PyTree, *args, **kwargs):
  """`apply_train` in the run's compute dtype: with 'bfloat16' the float32 master
  parameters and the float inputs are cast on the way in; the outputs come back float32
  and the statistics in their own dtypes (float32), so the state never changes dtype."""
  if gan.compute_dtype == "float32":
    return apply_train(module, net, params, *args, **kwargs)
  dtype = jnp.dtype(gan.compute_dtype)
  out, stats = apply_train(module, net, _floating(dtype, params), *_floating(dtype, args), **kwargs)
  stats = jax.tree.map(lambda new, old: new.astype(old.dtype), stats, net.batch_stats)
  return out.astype(jnp.float32), stats


def _style_ws(gan: GAN, g_net: NetState, params: PyTree, z: Array, y: Array, rng: Array):
  """StyleGAN2's training W: the mapping of z (updating w_avg); with style_mixing_prob,
  from a crossover layer on (one for the batch, the same on every device) the W of a
  second latent (not updating w_avg). Returns (ws, G's updated batch_stats)."""
  g = gan.generator
  variables = {"params": params, "batch_stats": g_net.batch_stats}
  ws, updates = g.apply(variables, z, y, train=True, method="map", mutable=["batch_stats"])
  if gan.style_mixing_prob > 0:
    k_mix, k_z = jax.random.split(rng)
    z2 = jax.random.normal(device_key(k_z), z.shape, z.dtype)
    ws2 = g.apply(variables, z2, y, train=True, method="map", skip_w_avg_update=True)
    crossover = stylegan2_lib.draw_crossover(k_mix, g.num_ws, gan.style_mixing_prob)
    ws = stylegan2_lib.mix_styles(ws, ws2, crossover)
  return ws, updates["batch_stats"]


def _synthesis(gan: GAN, params: PyTree, noise_key: Array) -> Callable[[Array], Array]:
  """ws -> images of StyleGAN2's synthesis (noise inputs from noise_key), in the compute
  dtype, float32 out."""
  dtype = jnp.dtype(gan.compute_dtype)
  variables = {"params": params if dtype == jnp.float32 else _floating(dtype, params)}

  def synthesize(ws: Array) -> Array:
    rngs = {"noise": noise_key}
    x = gan.generator.apply(variables, ws.astype(dtype), method="synthesize", rngs=rngs)
    return x.astype(jnp.float32)

  return synthesize


def _generate(
  gan: GAN, g_net: NetState, params: PyTree, z: Array, y: Array, rng: Array
) -> tuple[Array, PyTree]:
  """G's training forward on this device's latents: (images, G's updated batch_stats).
  `rng` (replicated) feeds StyleGAN2's style mixing and noise inputs; other families take
  no randomness."""
  if not gan.style_based:
    return _apply(gan, gan.generator, g_net, params, z, y)
  k_ws, k_noise = jax.random.split(rng)
  ws, stats = _style_ws(gan, g_net, params, z, y, k_ws)
  return _synthesis(gan, params, device_key(k_noise))(ws), stats


def _lazily(
  reg: stylegan2_lib.LazyRegularization,
  index: Array,
  update: Callable[[State], tuple[State, Array]],
  state: State,
) -> tuple[State, Array]:
  """`update(state) -> (state, value)` on the updates where `reg` is due (index % interval
  == 0), the state unchanged on the others; returns the state and the value of the last
  application (kept in extra['lazy'])."""
  metric = LAZY_METRIC[reg.net]

  def apply(s: State) -> State:
    s, value = update(s)
    return s.replace(extra={**s.extra, "lazy": {**s.extra["lazy"], metric: value}})

  # Both branches must return one type: statistics and values that every device holds
  # alike but typed varying (parallel.mean) are made invariant going in and coming out.
  update_invariant = lambda s: parallel.invariant(apply(s))
  state = jax.lax.cond(reg.due(index), update_invariant, lambda s: s, parallel.invariant(state))
  return state, state.extra["lazy"][metric]


def d_regularize(
  gan: GAN,
  reg: stylegan2_lib.LazyRegularization,
  state: State,
  real: Array,
  y_real: Array,
  fake: Array,
  y_fake: Array,
  rng: Array,
) -> tuple[State, Array]:
  """A lazy penalty's own D update (StyleGAN2's 'Dreg'): the loss reg.scaled_weight *
  penalty (weight times interval) on this step's real and fake batches; D's statistics
  updates are dropped, as for the penalty in the D loss. Returns (state, penalty)."""
  d_net = state.nets["d"]

  def loss_fn(params):
    def critic(labels):
      return lambda x: _apply(gan, gan.discriminator, d_net, params, x, labels)[0]

    penalty = penalties.compute_penalty(
      reg.name, critic(y_real), real, fake, rng, pack=gan.pack, d_fake_fn=critic(y_fake)
    )
    penalty = parallel.mean(penalty)
    return reg.scaled_weight * penalty, penalty

  (_, penalty), grads = parallel.value_and_grad(loss_fn, has_aux=True)(d_net.params)
  updates, opt_state = optimizer_of(gan, state, "d").update(grads, d_net.opt_state, d_net.params)
  d_net = d_net.replace(params=optax.apply_updates(d_net.params, updates), opt_state=opt_state)
  return state.replace(nets={**state.nets, "d": d_net}), penalty


def g_regularize(
  gan: GAN,
  reg: stylegan2_lib.LazyRegularization,
  state: State,
  z: Array,
  y: Array,
  rng: Array,
) -> tuple[State, Array]:
  """Path length's own G update (StyleGAN2's 'Greg'): on the first 1 / PL_BATCH_SHRINK of
  this device's latents (style-mixed, with noise, w_avg updated as in any training
  forward), the loss reg.scaled_weight * penalty; the running mean of the lengths moves
  in extra['pl_mean']. Returns (state, penalty)."""
  g_net = state.nets["g"]
  n = max(1, z.shape[0] // stylegan2_lib.PL_BATCH_SHRINK)
  z, y = z[:n], y[:n]
  k_ws, k_noise, k_pl = jax.random.split(rng, 3)

  def loss_fn(params):
    ws, stats = _style_ws(gan, g_net, params, z, y, k_ws)
    penalty, mean = stylegan2_lib.path_length_penalty(
      _synthesis(gan, params, device_key(k_noise)),
      ws,
      device_key(k_pl),
      state.extra["pl_mean"],
      stylegan2_lib.PL_DECAY,
      axis_name=AXIS,
    )
    penalty = parallel.mean(penalty)
    return reg.scaled_weight * penalty, (penalty, mean, stats)

  (_, (penalty, mean, stats)), grads = parallel.value_and_grad(loss_fn, has_aux=True)(g_net.params)
  updates, opt_state = optimizer_of(gan, state, "g").update(grads, g_net.opt_state, g_net.params)
  g_net = NetState(optax.apply_updates(g_net.params, updates), stats, opt_state)
  state = state.replace(nets={**state.nets, "g": g_net}, extra={**state.extra, "pl_mean": mean})
  return state, penalty


def d_update(
  gan: GAN,
  state: State,
  real: Array,
  y_real: Array,
  z: Array,
  y_fake: Array,
  rng: Array,
  with_norms: Array | bool = True,
  d_index: Array | int | None = None,
) -> tuple[State, dict]:
  """One discriminator update on this device's shard (real, y_real, z, y_fake).

  `d_index` counts D updates (default state.step * d_steps): a lazy penalty runs, as an
  update of its own after this one, where it is due. The gradient and update norms are
  NaN where `with_norms` is false (`diagnostic_norms`).
  """
  g_net, d_net = state.nets["g"], state.nets["d"]
  objective = objective_of(gan, state)
  real_label = setting(gan, state, "real_label")
  fake, g_stats = _generate(gan, g_net, g_net.params, z, y_fake, jax.random.fold_in(rng, 1))
  fake = jax.lax.stop_gradient(fake)
  k_real, k_fake, k_penalty = jax.random.split(device_key(rng), 3)
  real, fake = _noisy(gan, state, k_real, real), _noisy(gan, state, k_fake, fake)
  lazy = gan.lazy_for("d")
  in_loss = gan.penalty != "none" and lazy is None

  def loss_fn(params):
    real_logits, stats = _apply(gan, gan.discriminator, d_net, params, real, y_real)
    fake_logits, stats = _apply(
      gan, gan.discriminator, d_net.replace(batch_stats=stats), params, fake, y_fake
    )
    loss = objective.d_loss(real_logits, fake_logits, real_label=real_label, batch_mean=global_mean)
    penalty = jnp.zeros(())
    if in_loss:
      # D on the penalty's points in training mode; its statistics updates are dropped.
      d_now = d_net.replace(batch_stats=stats)

      def critic(labels):
        return lambda x: _apply(gan, gan.discriminator, d_now, params, x, labels)[0]

      penalty = penalties.compute_penalty(
        gan.penalty,
        critic(y_real),
        real,
        fake,
        k_penalty,
        pack=gan.pack,
        d_fake_fn=critic(y_fake),
      )
    total = parallel.mean(loss + setting(gan, state, "penalty_weight") * penalty)
    return total, (
      stats,
      real_logits,
      fake_logits,
      parallel.mean(loss),
      parallel.mean(penalty),
    )

  (_, (stats, real_logits, fake_logits, loss, penalty)), grads = parallel.value_and_grad(
    loss_fn, has_aux=True
  )(d_net.params)
  tx = optimizer_of(gan, state, "d")
  updates, opt_state = tx.update(grads, d_net.opt_state, d_net.params)
  params = optax.apply_updates(d_net.params, updates)
  if gan.d_weight_clip > 0:
    c = setting(gan, state, "d_weight_clip")
    clip = lambda p: jnp.clip(p, -c, c)
    if "d_weight_clip" in gan.varying:  # a run of clip 0 is not clipped
      clip = lambda p: jnp.where(c > 0, jnp.clip(p, -c, c), p)
    params = jax.tree.map(clip, params)
  metrics = {
    "d_loss": loss,  # the objective alone; the penalty is logged apart
    "d_real": global_mean(objective.d_output(real_logits)),
    "d_fake": global_mean(objective.d_output(fake_logits)),
    **diagnostic_norms(with_norms, {"d_grad_norm": grads, "d_update_norm": updates}),
  }
  nets = {"g": g_net.replace(batch_stats=g_stats), "d": NetState(params, stats, opt_state)}
  state = state.replace(nets=nets)
  if lazy is not None:
    index = state.step * gan.d_steps if d_index is None else d_index
    state, penalty = _lazily(
      lazy,
      index,
      lambda s: d_regularize(gan, lazy, s, real, y_real, fake, y_fake, k_penalty),
      state,
    )
  if gan.penalty != "none":
    metrics["d_penalty"] = penalty
  return state, metrics


def g_update(
  gan: GAN,
  state: State,
  z: Array,
  y: Array,
  rng: Array,
  with_norms: Array | bool = True,
  real: tuple[Array, Array] | None = None,
) -> tuple[State, dict]:
  """One generator update on this device's shard of latents z (and labels y).

  D runs in training mode (batch statistics) but its running statistics are left as
  they are: the discriminator's state belongs to its own update. `real` (x, y) is the
  real batch that an objective with `g_uses_real` compares against. The gradient and
  update norms are NaN where `with_norms` is false.
  """
  g_net, d_net = state.nets["g"], state.nets["d"]
  objective = objective_of(gan, state)
  noise_key = device_key(rng)
  k_forward = jax.random.fold_in(rng, 2)

  def loss_fn(params):
    fake, g_stats = _generate(gan, g_net, params, z, y, k_forward)
    fake_logits, _ = _apply(
      gan, gan.discriminator, d_net, d_net.params, _noisy(gan, state, noise_key, fake), y
    )
    real_logits = None
    if real is not None:
      x_real = _noisy(gan, state, jax.random.fold_in(noise_key, 1), real[0])
      real_logits, _ = _apply(gan, gan.discriminator, d_net, d_net.params, x_real, real[1])
    loss = objective.g_loss(real_logits, fake_logits, batch_mean=global_mean)
    return parallel.mean(loss), g_stats

  (loss, g_stats), grads = parallel.value_and_grad(loss_fn, has_aux=True)(g_net.params)
  updates, opt_state = optimizer_of(gan, state, "g").update(grads, g_net.opt_state, g_net.params)
  params = optax.apply_updates(g_net.params, updates)
  metrics = {
    "g_loss": loss,
    **diagnostic_norms(with_norms, {"g_grad_norm": grads, "g_update_norm": updates}),
  }
  state = state.replace(nets={**state.nets, "g": NetState(params, g_stats, opt_state)})
  lazy = gan.lazy_for("g")
  if lazy is not None:  # path length, after the main update (as stylegan2-ada's Greg)
    k_reg = jax.random.fold_in(rng, 3)
    state, metrics["g_path_length"] = _lazily(
      lazy, state.step, lambda s: g_regularize(gan, lazy, s, z, y, k_reg), state
    )
    metrics["pl_mean"] = state.extra["pl_mean"]
  if gan.ema_on:
    state = state.replace(extra={**state.extra, "ema": _ema(gan, state, z, y)})
  return state, metrics


def _ema(gan: GAN, state: State, z: Array, y: Array) -> dict[str, PyTree]:
  """The EMA generator after this step's G update: ema_decay per update from
  ema_start_step on, or StyleGAN2's half-life in images (`stylegan2.ema_beta`, with the
  images seen before this step)."""
  ema, g = state.extra["ema"], state.nets["g"]
  if gan.ema_half_life_kimg > 0:
    images_seen = state.step.astype(jnp.float32) * gan.batch_size
    decay = stylegan2_lib.ema_beta(
      gan.batch_size, gan.ema_half_life_kimg, rampup=gan.ema_rampup, images_seen=images_seen
    )
    ema_params = schedules.ema_update(ema["params"], g.params, decay=decay, step=state.step)
  else:
    ema_params = schedules.ema_update(
      ema["params"],
      g.params,
      decay=setting(gan, state, "ema_decay"),
      step=state.step,
      start_step=setting(gan, state, "ema_start_step"),
    )
  if gan.style_based:
    # StyleGAN2's statistic (w_avg) is copied from G, as stylegan2-ada copies G's buffers.
    return {"params": ema_params, "batch_stats": g.batch_stats}
  # The EMA weights' own BatchNorm statistics, gathered the way G's are: the EMA
  # generator in training mode on this step's latents. (G's statistics belong to G's
  # weights; sampled with the EMA weights they would mismatch its activations.)
  _, ema_stats = apply_train(
    gan.generator, NetState(ema_params, ema["batch_stats"], None), ema_params, z, y
  )
  return {"params": ema_params, "batch_stats": ema_stats}


def local_step(
  gan: GAN, state: State, batch: dict[str, Array], with_norms: Array | bool = True
) -> tuple[State, dict]:
  """`d_steps` discriminator updates (one per leading slice of the D arrays), then
  `g_steps` G updates; or, with update_rule 'simultaneous', one D and one G update from the
  same parameters on the same batch (G's loss on the fakes D judged). On this device's shard
  of `draw`'s batch.

  The batch's replicated `key` seeds the per-device noise of penalties and instance
  noise. The gradient, update and parameter norms are NaN where `with_norms` is false.
  """
  k_d, k_g = jax.random.split(batch["key"])
  if gan.update_rule == "simultaneous":
    d_state, d_metrics = d_update(
      gan,
      state,
      batch["x_real"][0],
      batch["y_real"][0],
      batch["z_d"][0],
      batch["y_d"][0],
      jax.random.fold_in(k_d, 0),
      with_norms,
      d_index=state.step,
    )
    real_g = (batch["x_real_g"], batch["y_real_g"]) if "x_real_g" in batch else None
    g_state, g_metrics = g_update(
      gan, state, batch["z_d"][0], batch["y_d"][0], k_g, with_norms, real_g
    )
    # G's new weights and statistics (its forward on these latents, as in D's update); each
    # lazy regularizer's value from its own network's update.
    extra = g_state.extra
    if "lazy" in extra:
      d_metric = LAZY_METRIC["d"]
      lazy = {**extra["lazy"]}
      if d_metric in lazy:
        lazy[d_metric] = d_state.extra["lazy"][d_metric]
      extra = {**extra, "lazy": lazy}
    state = g_state.replace(nets={"g": g_state.nets["g"], "d": d_state.nets["d"]}, extra=extra)
  else:
    # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop
    # tens of times slower than straight-line code (benchmarks/loop_overhead.py).
    for j in range(gan.d_steps):
      last = j == gan.d_steps - 1
      state, d_metrics = d_update(
        gan,
        state,
        batch["x_real"][j],
        batch["y_real"][j],
        batch["z_d"][j],
        batch["y_d"][j],
        jax.random.fold_in(k_d, j),
        with_norms if last else False,
        d_index=state.step * gan.d_steps + j,
      )
    # d_metrics are those of the last D update, g_metrics of the last G update.
    for j in range(gan.g_steps):
      pick = (lambda x: x) if gan.g_steps == 1 else (lambda x, j=j: x[j])
      real_g = None
      if "x_real_g" in batch:
        real_g = (pick(batch["x_real_g"]), pick(batch["y_real_g"]))
      state, g_metrics = g_update(
        gan,
        state,
        pick(batch["z_g"]),
        pick(batch["y_g"]),
        k_g if gan.g_steps == 1 else jax.random.fold_in(k_g, j),
        with_norms if j == gan.g_steps - 1 else False,
        real_g,
      )
  metrics = {
    **d_metrics,
    **g_metrics,
    **diagnostic_norms(
      with_norms,
      {"g_param_norm": state.nets["g"].params, "d_param_norm": state.nets["d"].params},
    ),
  }
  return state.replace(step=state.step + 1), metrics


# --- sampling ----------------------------------------------------------------------------------


def make_generate(gan: GAN) -> Callable[[dict, Array, Array], Array]:
  """jit `(variables, z, y) -> samples` in inference mode (running BatchNorm statistics).

  y (int labels) matters only for a conditional generator; pass zeros otherwise.
  """

  def generate(variables, z, y):
    if not gan.style_based:
      x = gan.generator.apply(variables, z, y, train=False)
    else:  # pictures and evaluation draw the same fixed noise images at every call
      x = gan.generator.apply(variables, z, y, train=False, noise_mode="const")
    # StyleGAN2's and R3GAN's outputs are linear: images are clipped to the data's range.
    return jnp.clip(x, -1.0, 1.0) if len(gan.example_shape) == 3 else x

  return jax.jit(generate)


def make_sample_fn(
  gan: GAN, mesh, *, batch_size: int, seed: int
) -> Callable[[State, int], np.ndarray]:
  """`sample(state, n) -> (n, ...)` numpy samples from latents drawn from `seed`.

  The same seed gives the same latents at every call, so evaluations at different steps
  compare generators on one z; a conditional generator gets labels drawn uniformly over
  its classes. The batch size is rounded up to a multiple of the device count; the last
  batch is computed whole and cut, so generation compiles once. The EMA generator is used
  when on.
  """
  batch_size = parallel.device_batch(batch_size, mesh)
  generate = make_generate(gan)

  def sample(state: State, n: int) -> np.ndarray:
    variables = sampling_variables(gan, state)
    out = []
    for i in range(-(-n // batch_size)):
      z, y = parallel.split_batch(_inputs(gan, seed, i, batch_size), mesh)
      out.append(np.asarray(generate(variables, z, y)))
    return np.concatenate(out)[:n]

  return sample


def _inputs(gan: GAN, seed: int, i: int, batch_size: int) -> tuple[Array, Array]:
  """Latents and labels (uniform over the classes; zeros if unconditional) of batch i."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
  z = sample_latents(gan, key, (batch_size,))
  return z, sample_labels(gan, jax.random.fold_in(key, 1), (batch_size,))


def sampled_labels(gan: GAN, mesh, *, batch_size: int, seed: int, n: int) -> np.ndarray:
  """The labels `make_sample_fn(gan, mesh, batch_size=..., seed=...)(state, n)` draws with."""
  batch_size = parallel.device_batch(batch_size, mesh)
  ys = [np.asarray(_inputs(gan, seed, i, batch_size)[1]) for i in range(-(-n // batch_size))]
  return np.concatenate(ys)[:n]


def class_grid_labels(num_classes: int, columns: int) -> np.ndarray:
  """Labels of a per-class grid: row r shows class r (evenly spaced classes beyond 10)."""
  rows = min(num_classes, MAX_CLASS_ROWS)
  classes = np.round(np.linspace(0, num_classes - 1, rows)).astype(np.int32)
  return np.repeat(classes, columns)


class Pictures:
  """The pictures of a run, from a fixed z, so pictures at different steps are comparable.

  An image GAN gets a grid; a conditional one a per-class grid (one row per class, the
  same latent in every row of a column, so a column varies the class alone); a 2-D GAN a
  scatter of its samples over the true modes.
  """

  def __init__(self, gan: GAN, config, dataset: data_lib.Dataset):
    self._gan = gan
    self._generate = make_generate(gan)
    self._is_2d = len(dataset.example_shape) == 1
    n = NUM_2D_POINTS if self._is_2d else config.num_sample_images
    # A key of its own, not the training stream: sampling never changes training.
    key = jax.random.PRNGKey(GRID_SEED)
    self._rows = None
    if gan.num_classes and not self._is_2d:
      columns = 10
      self._y = jnp.asarray(class_grid_labels(gan.num_classes, columns))
      self._rows = len(self._y) // columns
      self._z = jnp.tile(sample_latents(gan, key, (columns,)), (self._rows, 1))
    else:
      self._z = sample_latents(gan, key, (n,))
      self._y = sample_labels(gan, jax.random.fold_in(key, 1), (n,))
    self._centers = dataset.arrays.get("modes") if self._is_2d else None

  def __call__(self, state: State) -> dict[str, np.ndarray]:
    x = np.asarray(self._generate(sampling_variables(self._gan, state), self._z, self._y))
    if self._is_2d:
      centers = self._centers
      lim = 1.5 if centers is not None and np.abs(centers).max() <= 1.5 else 5.5
      return {"samples": writers.scatter_png(x, centers, lim=lim)}
    return {"samples": writers.image_grid(x, rows=self._rows)}


def slerp(t: Array, a: Array, b: Array) -> Array:
  """Spherical interpolation between latents a and b at times t in [0, 1] (one row per t)."""
  a_n = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_n = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_n * b_n, -1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  t = t[:, None]
  # Nearly parallel latents: the linear limit of slerp.
  safe = so > 1e-6
  wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
  wb = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
  return wa * a + wb * b


def style_pictures(
  gan: GAN,
  variables: dict[str, PyTree],
  ends: tuple[Array, Array, Array],
  steps: int,
  *,
  mixing_rows: int = 5,
  mixing_columns: int = 6,
  truncation_rows: int = 6,
  truncation_steps: int = 9,
) -> dict[str, np.ndarray]:
  """StyleGAN2's pictures (the fixed noise images of noise_mode='const'):

  interpolation_w: strip i goes linearly in W from the W of latent ends[0][i] to that of
    ends[1][i] (labels ends[2][i]), `steps` pictures; the z strips' end points.
  style_mixing: the grid of the StyleGAN papers: the top row shows the column sources,
    the left column the row sources; cell (r, c) has the coarse styles (the layers below
    num_ws / 2: 4 and 8 px) of row source r and the fine ones of column source c.
  truncation: row r is one latent truncated towards w_avg with psi = 0, ..., 1 (psi 0
    is w_avg itself, the same picture in every row).
  The mixing and truncation latents come from STYLE_MIXING_SEED; conditional generators
  draw them with label 0.
  """
  g = gan.generator
  map_ws = jax.jit(lambda v, z, y: g.apply(v, z, y, train=False, method="map"))
  synthesize = jax.jit(
    lambda v, ws: jnp.clip(
      g.apply({"params": v["params"]}, ws, method="synthesize", noise_mode="const"), -1.0, 1.0
    )
  )

  def images(ws: Array) -> np.ndarray:
    return np.asarray(synthesize(variables, ws.reshape(-1, *ws.shape[-2:])))

  a, b, y_ends = ends
  ws_a, ws_b = map_ws(variables, a, y_ends), map_ws(variables, b, y_ends)
  t = jnp.linspace(0.0, 1.0, steps)[None, :, None, None]
  ws_t = ws_a[:, None] + t * (ws_b - ws_a)[:, None]
  out = {"interpolation_w": writers.image_grid(images(ws_t), rows=len(a))}

  key = jax.random.PRNGKey(STYLE_MIXING_SEED)
  k_rows, k_cols, k_trunc = jax.random.split(key, 3)
  n = mixing_rows + mixing_columns + truncation_rows
  zeros = jnp.zeros((n,), jnp.int32)
  z = jnp.concatenate(
    [
      jax.random.normal(k_rows, (mixing_rows, gan.z_dim)),
      jax.random.normal(k_cols, (mixing_columns, gan.z_dim)),
      jax.random.normal(k_trunc, (truncation_rows, gan.z_dim)),
    ]
  )
  ws = map_ws(variables, z, zeros)
  ws_rows, ws_cols = ws[:mixing_rows], ws[mixing_rows : mixing_rows + mixing_columns]
  ws_trunc = ws[mixing_rows + mixing_columns :]
  mixed = jax.vmap(
    lambda wr: stylegan2_lib.mix_styles(jnp.broadcast_to(wr, ws_cols.shape), ws_cols, g.num_ws // 2)
  )(ws_rows)  # (rows, columns, num_ws, w_dim)
  row_images, col_images, cells = images(ws_rows), images(ws_cols), images(mixed)
  blank = np.ones_like(row_images[:1])  # white
  grid = [blank, col_images]
  for r in range(mixing_rows):
    grid += [row_images[r : r + 1], cells[r * mixing_columns : (r + 1) * mixing_columns]]
  out["style_mixing"] = writers.image_grid(np.concatenate(grid), rows=mixing_rows + 1)

  w_avg = variables["batch_stats"]["w_avg"]
  psi = jnp.linspace(0.0, 1.0, truncation_steps)
  truncated = jax.vmap(lambda p: stylegan2_lib.truncate(ws_trunc, w_avg, p), out_axes=1)(psi)
  out["truncation"] = writers.image_grid(images(truncated), rows=truncation_rows)
  return out


def write_samples(
  gan: GAN,
  config,
  pictures: Pictures,
  state: State,
  mesh,
  out_dir: str,
  step: int,
  *,
  num_interpolations: int = 8,
  interpolation_steps: int = 10,
) -> dict[str, str]:
  """--mode=sample: samples_<step>.npz (eval.num_samples), grid_<step>.png and, for
  images, interpolation_<step>.png (strips in z: slerp, or straight for a uniform prior); for
  StyleGAN2 also interpolation_w_<step>.png, style_mixing_<step>.png and truncation_<step>.png
  (`style_pictures`)."""
  sampling = dict(batch_size=config.eval.batch_size, seed=EVAL_SEED)
  x = make_sample_fn(gan, mesh, **sampling)(state, config.eval.num_samples)
  npz_path = os.path.join(out_dir, f"samples_{step}.npz")
  arrays = {"x": x}
  if gan.num_classes:  # the labels the samples were drawn with
    arrays["y"] = sampled_labels(gan, mesh, n=len(x), **sampling)
  writers.save_npz(npz_path, arrays)
  paths = {"npz": npz_path, "grid": os.path.join(out_dir, f"grid_{step}.png")}
  writers.save_png(paths["grid"], pictures(state)["samples"])
  if len(gan.example_shape) == 3:  # interpolation strips for images
    key_a, key_b = jax.random.split(jax.random.PRNGKey(INTERPOLATION_SEED))
    a = sample_latents(gan, key_a, (num_interpolations,))
    b = sample_latents(gan, key_b, (num_interpolations,))
    t = jnp.linspace(0.0, 1.0, interpolation_steps)
    shape = (len(t), gan.z_dim)
    # slerp for a Gaussian prior (its mass lies near a sphere), straight lines in the cube.
    path = slerp if gan.z_prior == "normal" else lambda t, a, b: a + t[:, None] * (b - a)
    z = jax.vmap(lambda za, zb: path(t, jnp.broadcast_to(za, shape), jnp.broadcast_to(zb, shape)))(
      a, b
    )
    # A conditional generator keeps one class per strip (strip i: class i mod classes).
    y = np.repeat(np.arange(num_interpolations) % max(gan.num_classes, 1), len(t))
    images = make_generate(gan)(
      sampling_variables(gan, state), z.reshape(-1, gan.z_dim), jnp.asarray(y, jnp.int32)
    )
    paths["interpolation"] = os.path.join(out_dir, f"interpolation_{step}.png")
    writers.save_png(
      paths["interpolation"], writers.image_grid(np.asarray(images), rows=num_interpolations)
    )
  if gan.style_based:
    ends = (a, b, jnp.asarray(y[:: len(t)], jnp.int32))
    pictures_w = style_pictures(gan, sampling_variables(gan, state), ends, interpolation_steps)
    for name, grid in pictures_w.items():
      paths[name] = os.path.join(out_dir, f"{name}_{step}.png")
      writers.save_png(paths[name], grid)
  logging.info("step %d: wrote %s", step, ", ".join(paths.values()))
  return paths


# --- evaluation --------------------------------------------------------------------------------


def make_evaluation(gan: GAN, config, mesh) -> Evaluation | None:
  """The metrics of the run's data set (evaluation.evaluate), built once (reference
  statistics, the classifier) and reused at every evaluation."""
  from gan_jax.evaluation import evaluate as evaluate_lib  # noqa: PLC0415 - heavy, eval only

  evaluator = evaluate_lib.make_evaluator(
    config.dataset,
    image_size=config.model.image_size,
    num_samples=config.eval.num_samples,
    data_source=config.data.source,
    data_dir=config.data.data_dir,
    inception_path=config.eval.inception_path,
    batch_size=config.eval.batch_size,
  )
  if not evaluator.metric_names:
    return None
  sample = make_sample_fn(gan, mesh, batch_size=config.eval.batch_size, seed=EVAL_SEED)

  def evaluate(state: State) -> dict[str, float]:
    metrics = evaluator(lambda n: sample(state, n))
    return {**metrics, "eval_samples": config.eval.num_samples}

  return Evaluation(evaluate, dict(evaluator.info))


# --- the game ----------------------------------------------------------------------------------


def make(
  config: ml_collections.ConfigDict,
  dataset: data_lib.Dataset | None = None,
  members: tuple[ml_collections.ConfigDict, ...] = (),
) -> Game:
  """The GAN game of `config`: its data set, networks, step, pictures and evaluation.

  `dataset` replaces the one `config.dataset` names (your own arrays, tests). `members`:
  the configs of a program that trains several (config is the first), which may differ in
  the settings of RUN_KEYS.
  """
  dataset = data_lib.load_dataset(config) if dataset is None else dataset
  gan = build_gan(config, dataset, members)
  pictures = Pictures(gan, config, dataset)
  return Game(
    name="gan",
    init=functools.partial(init_state, gan),
    data=dataset.arrays,
    draw=functools.partial(draw, gan, dataset.sample),
    batch_spec=batch_spec(gan),
    step=functools.partial(local_step, gan),
    console=("d_loss", "g_loss", "d_real", "d_fake"),
    pictures=pictures,
    make_evaluation=functools.partial(make_evaluation, gan, config),
    sample=lambda state, mesh, out_dir, step: write_samples(
      gan, config, pictures, state, mesh, out_dir, step
    ),
    stream=dataset.stream,
    info=dataset.info(),
    resolved={"data.source": dataset.source, "data.examples": dataset.num_examples},
    run_settings=functools.partial(run_settings, gan) if gan.varying else None,
  )
