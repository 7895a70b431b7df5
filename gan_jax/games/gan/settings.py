"""The settings sweep members trained together may differ in, read per run.

Sweep members that differ only in the settings of RUN_KEYS train as one program (the
loop's run axis): `for_members` widens the GAN of the first member with the keys they
differ in, each member's values become per-run arrays in `State.extra['settings']`
(`run_settings`), and the step reads them (`setting`, `objective_of`, `optimizer_of`)
instead of the GAN's constants; the objective is chosen per run by index (`lax.switch`).
A program of one config keeps every setting a Python constant, so its numbers are those
of a run of its own.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import losses
from gan_jax.game import State, make_optimizer
from gan_jax.games.gan.build import GAN

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


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  for part in key.split("."):
    config = config[part]
  return config


def setting_name(key: str) -> str:
  """The name of a run key's array in State.extra['settings']."""
  return key.replace(".", "_")


def varying_keys(configs: Sequence[ml_collections.ConfigDict]) -> tuple[str, ...]:
  """The RUN_KEYS whose values differ among the member configs of one program."""
  return tuple(k for k in RUN_KEYS if len({repr(_get(c, k)) for c in configs}) > 1)


def for_members(gan: GAN, members: Sequence[ml_collections.ConfigDict]) -> GAN:
  """The GAN that trains all of `members` (the configs of one program; `gan` is the first
  one's): the settings they differ in are read per run, and a switch such as EMA or weight
  clipping is on where any member turns it on. One member: `gan` itself."""
  varying = varying_keys(members) if len(members) > 1 else ()
  if not varying:
    return gan
  fields = {}
  for key in varying:
    if key in _GAN_FIELDS:  # on where any member turns it on (per-run values decide)
      fields[_GAN_FIELDS[key]] = max(_get(c, key) for c in members)
  objectives = tuple(dict.fromkeys(c.loss for c in members)) if "loss" in varying else ()
  objective = gan.objective
  if objectives:  # per run, by index: G sees real logits where any member's objective does
    g_uses_real = any(losses.get_objective(n).g_uses_real for n in objectives)
    objective = objective._replace(g_uses_real=g_uses_real)
  return dataclasses.replace(
    gan, objective=objective, varying=varying, objectives=objectives, **fields
  )


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
  updates = gan.g_steps if net == "g" else gan.d_steps
  if reg is not None:  # the lazy interval's scaling, as lazy_optimizer's
    lr, b1, b2 = reg.adam(values["learning_rate"], values["b1"], values["b2"])
    values.update(learning_rate=lr, b1=b1, b2=b2)
    updates = reg.updates_per_step(updates)
  return make_optimizer(
    types.SimpleNamespace(**values), total_steps=gan.total_steps, updates_per_step=updates
  )
