"""What the training loop knows of a game, and the pieces every game's step uses.

A *game* is one way of training adversarial networks (the image/2-D GAN, CycleGAN, ...).
The loop (gan_jax/train.py) drives any game through `Game`: it builds the initial
state, maps the per-device step over the mesh, and at its cadences asks the game for
pictures and metrics. The loop never looks inside the state: a game keeps its networks
by name in `State.nets` and anything else that evolves (EMA weights, history buffers,
running means) in `State.extra`, so a game with four networks needs no new state class
and no change to the loop, the checkpoints or the seed axis.

Randomness: the loop derives one key per step, `fold_in(state.rng, state.step)`, and
hands it to `Game.draw`, which draws the step's global batch (real data, latents, noise
keys) before the data-parallel mapping. A step on N devices therefore computes what it
computes on one, and a resumed run draws exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from gan_jax import parallel
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any


@flax.struct.dataclass
class NetState:
  """One network's trainable state."""

  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree


@flax.struct.dataclass
class State:
  """Everything that determines the future of one run of a game.

  `step` counts training steps (generator updates for the GAN games). `rng` is a fixed
  base key: step t uses fold_in(rng, t), so the state needs no key splitting and resumes
  exactly. `nets` maps network names to their states; `extra` holds the game's other
  evolving arrays.
  """

  step: Array
  rng: Array
  nets: dict[str, NetState]
  extra: dict[str, PyTree]


Metrics = dict[str, Array]


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """`evaluate(state) -> {metric: value}` of one run, and what the numbers are measured
  against (`info`: written once per run as an "eval_info" row)."""

  evaluate: Callable[[State], dict[str, float]]
  info: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Game:
  """A game as the loop sees it. Built once per run by the game module's `make(config)`.

  Attributes:
    name: the config's `game`.
    init: `init(rng) -> State` of one run; traceable (the loop jits and vmaps it).
    data: arrays resident on every device, read by `draw` (empty for streamed data).
    draw: `draw(data, rng) -> batch`, inside jit, before the mapping: the global batch of
      one step and its per-step keys, as a pytree whose leaves `batch_spec` splits.
    batch_spec: a pytree of PartitionSpecs, the structure of draw's output (a prefix of
      it), saying how each leaf is split over the 'batch' axis.
    step: `step(state, batch, with_norms) -> (state, metrics)`, one device's update under
      `jax.shard_map`: collectives over AXIS make every device's new state the same.
      Scalar metrics, identical on every device. Where `with_norms` (a traced bool) is
      false, norm metrics may be NaN (`diagnostic_norms`): the loop logs only steps
      where it is true.
    console: metrics shown on the progress line, in order.
    pictures: `pictures(state) -> {name: uint8 (H, W, C)}` of one run, from fixed inputs
      so that pictures at different steps are comparable; the first is the main one.
    make_evaluation: `make_evaluation(mesh) -> Evaluation` or None (no metrics).
    sample: `sample(state, mesh, out_dir, step) -> {what: path}` for `--mode=sample`.
    stream: for streamed data, `stream(start_step)` -> iterator of one step's host batch;
      `draw` then reads that batch as `data`. None for resident data.
    stream_spec: how one streamed batch is split (leading axes first).
    info: what the run trains on, for the "start" row (dataset, its source and size).
    resolved: config keys the game resolved (e.g. data.source 'auto' -> what was used),
      recorded in config.json.
    run_settings: for a program of several member configs that differ in settings the
      game reads per run: `run_settings(member_config) -> {name: array}`, and `init` then
      takes them, `init(rng, settings)`, keeping them in the state. None otherwise.
  """

  name: str
  init: Callable[[Array], State]
  data: PyTree
  draw: Callable[[PyTree, Array], PyTree]
  batch_spec: PyTree
  step: Callable[[State, PyTree, Array], tuple[State, Metrics]]
  console: tuple[str, ...]
  pictures: Callable[[State], dict[str, np.ndarray]]
  make_evaluation: Callable[[Any], Evaluation | None]
  sample: Callable[[State, Any, str, int], dict[str, str]]
  stream: Callable[[int], Iterator[dict[str, np.ndarray]]] | None = None
  stream_spec: P = P(None, AXIS)
  info: dict[str, Any] = dataclasses.field(default_factory=dict)
  resolved: dict[str, Any] = dataclasses.field(default_factory=dict)
  run_settings: Callable[[Any], dict[str, np.ndarray]] | None = None


# --- pieces of a step -------------------------------------------------------------------------


def make_optimizer(
  cfg, learning_rate: float | optax.Schedule | None = None
) -> optax.GradientTransformation:
  """optax transformation from an optimizer sub-config (see config.optimizer_config).

  `learning_rate` (e.g. a schedule) replaces the sub-config's constant one.
  """
  lr = cfg.learning_rate if learning_rate is None else learning_rate
  if cfg.name == "adam":
    tx = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
  elif cfg.name == "rmsprop":  # torch.optim.RMSprop semantics (as in the WGAN paper)
    tx = optax.rmsprop(lr, decay=cfg.decay, eps=cfg.eps, eps_in_sqrt=False)
  elif cfg.name == "sgd":
    tx = optax.sgd(lr, momentum=cfg.momentum or None)
  else:
    raise ValueError(f"unknown optimizer {cfg.name!r}; valid: adam, rmsprop, sgd")
  if cfg.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
  return tx


def init_net(variables: dict, tx: optax.GradientTransformation) -> NetState:
  """A network's state from its Flax variables (BatchNorm statistics, if any) and optimizer."""
  params = variables["params"]
  return NetState(params, variables.get("batch_stats", {}), tx.init(params))


def apply_train(
  module: nn.Module, net: NetState, params: PyTree, *args, **kwargs
) -> tuple[Any, PyTree]:
  """Runs a module in training mode; returns its outputs and updated batch_stats."""
  out, updates = module.apply(
    {"params": params, "batch_stats": net.batch_stats},
    *args,
    train=True,
    mutable=["batch_stats"],
    **kwargs,
  )
  return out, updates.get("batch_stats", {})


def diagnostic_norms(with_norms: Array | bool, trees: dict[str, PyTree]) -> dict[str, Array]:
  """L2 norms of gradient, update and parameter trees, or NaN where `with_norms` is false.

  The train loop reads a step's metrics only when it logs them, and these norms cost a
  pass over every parameter-sized array (about 2% of the DCGAN step on CPU), so it asks
  for them on logged steps only; under `lax.cond` the other steps skip the work.
  """

  def norms(t: dict[str, PyTree]) -> dict[str, Array]:
    return {k: optax.tree.norm(v).astype(jnp.float32) for k, v in t.items()}

  def skipped(t: dict[str, PyTree]) -> dict[str, Array]:
    # NaN, of the same manual-axis type as the norm (varying over the axes its tree varies
    # over, e.g. the runs of a multi-run program), as lax.cond requires.
    out = {}
    for k, v in t.items():
      axes = tuple(sorted(frozenset().union(*map(parallel.varying_axes, jax.tree.leaves(v)))))
      nan = jnp.full((), jnp.nan, jnp.float32)
      out[k] = jax.lax.pcast(nan, axes, to="varying") if axes else nan
    return out

  if isinstance(with_norms, bool):
    return norms(trees) if with_norms else skipped(trees)
  return jax.lax.cond(with_norms, norms, skipped, trees)


def global_mean(x: Array) -> Array:
  """The mean over the global batch of a per-device array."""
  return parallel.mean(jnp.mean(x))


def device_key(rng: Array) -> Array:
  """A key of this device's own: per-example noise differs across shards."""
  return jax.random.fold_in(rng, jax.lax.axis_index(AXIS))


def trainable_params(state: State) -> dict[str, PyTree]:
  """Every network's parameters: what the NaN guard checks before a checkpoint."""
  return {name: net.params for name, net in state.nets.items()}
