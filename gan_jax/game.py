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
from fractions import Fraction
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from gan_jax import parallel
from gan_jax.config import GameConfig
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
    run_step: with run_settings, `run_step(member_config)` -> the step of that member's
      run alone (its settings constants), on a state of this program's structure. Where
      the loop unrolls the runs (CPU, every run on each device), run r is this step, so it
      compiles to the run alone's arithmetic (see gan_jax.train._each_run).
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
  run_step: Callable[[Any], Callable[[State, PyTree, Array], tuple[State, Metrics]]] | None = None


@dataclasses.dataclass(frozen=True)
class GameSpec:
  """A game as the registry holds it (gan_jax.games.REGISTRY): its config block and how to
  build it.

  `make(config) -> Game` builds the game of one run (its data loaded); a game with
  `config.run_keys` also takes `make(config, members=configs)`, the member configs of one
  program that differ in those keys.
  """

  config: GameConfig
  make: Callable[..., Game]

  @property
  def name(self) -> str:
    return self.config.name


# --- pieces of a step -------------------------------------------------------------------------


def learning_rate_schedule(
  cfg, *, total_steps: int | None, updates_per_step: int | Fraction = 1
) -> float | optax.Schedule:
  """The learning rate of an optimizer sub-config: `cfg.learning_rate` itself for the
  'constant' schedule (so the optimizer state is what it was before schedules existed), or
  a function of optax's update count for 'linear'.

  'linear' is SNGAN's (chainer's LinearShift((lr, 0), (decay_start, total_steps)), updated
  once per trainer iteration, i.e. per G update): training step t runs at

      lr(t) = learning_rate * (1 - clip((t - decay_start) / (total_steps - decay_start), 0, 1)),

  learning_rate up to step decay_start, 0 at step total_steps (the last step, total_steps - 1,
  runs at learning_rate / (total_steps - decay_start)). The step is the optimizer's update
  count over `updates_per_step`, rounded down: the network's optimizer updates in one
  training step (d_steps for D; a Fraction where a lazy regularizer adds an update every so
  many). The count lives in the optimizer state, which checkpoints hold, so a resumed run
  has the rates of the uninterrupted one.
  """
  if cfg.schedule == "constant":
    return cfg.learning_rate
  if cfg.schedule != "linear":
    raise ValueError(f"unknown learning-rate schedule {cfg.schedule!r}; valid: constant, linear")
  if total_steps is None:
    raise ValueError("a linear learning-rate schedule needs the run's total_steps")
  per = Fraction(updates_per_step)
  if per <= 0:
    raise ValueError(f"updates_per_step must be positive, got {updates_per_step}")
  by_step = optax.linear_schedule(
    cfg.learning_rate,
    0.0,
    transition_steps=max(total_steps - cfg.decay_start, 1),
    transition_begin=cfg.decay_start,
  )
  if per == 1:
    return by_step
  # Integer arithmetic: count * den // num is the step exactly (a float ratio could round a
  # step's last update into the next step).
  return lambda count: by_step(count * per.denominator // per.numerator)


def make_optimizer(
  cfg,
  learning_rate: float | optax.Schedule | None = None,
  *,
  total_steps: int | None = None,
  updates_per_step: int | Fraction = 1,
) -> optax.GradientTransformation:
  """optax transformation from an optimizer sub-config (see config.optimizer_config).

  Its learning rate follows `cfg.schedule` (`learning_rate_schedule`: a 'linear' schedule
  needs the run's `total_steps` and the network's optimizer updates per training step,
  `updates_per_step`). `learning_rate` (e.g. a game's own schedule) replaces the
  sub-config's, which must then be 'constant'.
  """
  if learning_rate is None:
    lr = learning_rate_schedule(cfg, total_steps=total_steps, updates_per_step=updates_per_step)
  elif cfg.schedule != "constant":
    raise ValueError(
      f"the optimizer's schedule is {cfg.schedule!r} but the game sets a learning rate of its "
      "own: set the sub-config's schedule to 'constant'"
    )
  else:
    lr = learning_rate
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
