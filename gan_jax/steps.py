"""GAN state and pure, data-parallel update functions.

The state is an immutable pytree. The update functions are written *per
device*: each sees its shard of the global batch, averages losses (and so
gradients) and BatchNorm statistics over the mesh axis 'batch' with
collectives, and returns a new state that is identical on every device.
`make_train_step` maps them over all devices with
`jax.jit(jax.shard_map(...))`, the form `jax.pmap` itself takes in JAX >= 0.10.

All randomness of a step (the real batch, latents) is drawn for the *global*
batch from `fold_in(state.rng, state.step)` before the mapping, so a step on N
devices computes the same function as on one device, and a resumed run draws
exactly what the uninterrupted run would have drawn.

Gradient averaging: inside shard_map, the loss is `pmean`ed over the axis, so
it is a function of the replicated parameters alone and `jax.grad` of it is
already the global-batch gradient. (Averaging the per-device gradients again,
as with pmap, would be wrong: the backward pass of a replicated parameter
already sums over the axis.)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax import losses, ops, penalties, schedules

Array = jax.Array
PyTree = Any
AXIS = "batch"


@flax.struct.dataclass
class NetState:
  """One network's trainable state."""

  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree


@flax.struct.dataclass
class GANState:
  """Everything that determines the future of a run.

  `step` counts generator updates. `rng` is a fixed base key: step t uses
  fold_in(rng, t), so the state needs no key splitting and resumes exactly.
  """

  step: Array
  rng: Array
  g: NetState
  d: NetState
  # EMA of G's parameters (equal to G's while ema_decay = 0; samples use it when on).
  ema_params: PyTree


@dataclasses.dataclass(frozen=True)
class GAN:
  """The static parts of a GAN: modules, objective, optimizers, batch geometry."""

  generator: nn.Module
  discriminator: nn.Module
  objective: losses.Objective
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  z_dim: int
  batch_size: int  # global
  d_steps: int = 1
  real_label: float = 1.0
  d_weight_clip: float = 0.0
  penalty: str = "none"
  penalty_weight: float = 0.0
  instance_noise_std: float = 0.0
  instance_noise_anneal_steps: int = 0
  ema_decay: float = 0.0
  ema_start_step: int = 0
  # > 0: class-conditional G(z, y) and D(x, y); fake labels uniform over the classes.
  num_classes: int = 0


def sample_labels(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Labels for generated samples: uniform over the classes (zeros when unconditional)."""
  if not gan.num_classes:
    return jnp.zeros(shape, jnp.int32)
  return jax.random.randint(rng, shape, 0, gan.num_classes, jnp.int32)


def make_optimizer(cfg) -> optax.GradientTransformation:
  """optax transformation from an optimizer sub-config (see config.optimizer_config)."""
  if cfg.name == "adam":
    tx = optax.adam(cfg.learning_rate, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
  elif cfg.name == "rmsprop":  # torch.optim.RMSprop semantics (as in the WGAN paper)
    tx = optax.rmsprop(cfg.learning_rate, decay=cfg.decay, eps=cfg.eps, eps_in_sqrt=False)
  elif cfg.name == "sgd":
    tx = optax.sgd(cfg.learning_rate, momentum=cfg.momentum or None)
  else:
    raise ValueError(f"unknown optimizer {cfg.name!r}; valid: adam, rmsprop, sgd")
  if cfg.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
  return tx


def init_state(gan: GAN, rng: Array, example_shape: tuple[int, ...]) -> GANState:
  """Initial parameters, BatchNorm statistics and optimizer states.

  Compiled as one program: run op by op, the initializers cost hundreds of tiny
  compilations (seconds of start-up on a CPU). It runs once, so it compiles with
  `ops.run_once_compiler_options()`. Inside another transformation (jit, vmap,
  eval_shape) it is traced into the enclosing program, which JAX requires of compile
  options.
  """
  if isinstance(rng, jax.core.Tracer):
    return _init_state(gan, rng, example_shape)
  init = jax.jit(
    lambda key: _init_state(gan, key, example_shape),
    compiler_options=ops.run_once_compiler_options(),
  )
  return init(rng)


def _init_state(gan: GAN, rng: Array, example_shape: tuple[int, ...]) -> GANState:
  k_g, k_d, k_run = jax.random.split(rng, 3)
  labels = jnp.zeros((2,), jnp.int32)
  g_vars = gan.generator.init(k_g, jnp.zeros((2, gan.z_dim)), labels, train=False)
  d_vars = gan.discriminator.init(k_d, jnp.zeros((2, *example_shape)), labels, train=False)

  def net(variables, tx):
    params = variables["params"]
    return NetState(params, variables.get("batch_stats", {}), tx.init(params))

  g = net(g_vars, gan.g_tx)
  return GANState(
    step=jnp.zeros((), jnp.int32),
    rng=k_run,
    g=g,
    d=net(d_vars, gan.d_tx),
    ema_params=jax.tree.map(jnp.copy, g.params),
  )


def init_seed_states(gan: GAN, seeds: list[int], example_shape: tuple[int, ...]) -> GANState:
  """States of independent runs stacked on a leading seed axis (config.num_seeds).

  Slice i is `init_state(gan, PRNGKey(seeds[i]), example_shape)`: the state a
  single run with seed seeds[i] starts from.
  """
  keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  init = jax.jit(
    jax.vmap(lambda k: _init_state(gan, k, example_shape)),
    compiler_options=ops.run_once_compiler_options(),
  )
  return init(keys)


def seed_slice(state: PyTree, i: int) -> PyTree:
  """Seed i's state (or metrics) out of a seed-stacked pytree."""
  return jax.tree.map(lambda x: x[i], state)


def sampling_params(gan: GAN, state: GANState) -> PyTree:
  """The generator weights to draw samples with: the EMA when it is on."""
  return state.ema_params if gan.ema_decay > 0 else state.g.params


def _apply(
  module: nn.Module, net: NetState, params: PyTree, x: Array, y: Array
) -> tuple[Array, PyTree]:
  """Runs a module on (x, labels y) in training mode; returns outputs and updated batch_stats.

  Unconditional modules ignore y.
  """
  out, updates = module.apply(
    {"params": params, "batch_stats": net.batch_stats}, x, y, train=True, mutable=["batch_stats"]
  )
  return out, updates.get("batch_stats", {})


def _diagnostic_norms(with_norms: Array | bool, trees: dict[str, PyTree]) -> dict[str, Array]:
  """L2 norms of gradient, update and parameter trees, or NaN where `with_norms` is false.

  The train loop reads a step's metrics only when it logs them, and these norms cost a
  pass over every parameter-sized array (about 2% of the DCGAN step on CPU), so it asks
  for them on logged steps only; under `lax.cond` the other steps skip the work.
  """

  def norms(t: dict[str, PyTree]) -> dict[str, Array]:
    return {k: optax.tree.norm(v).astype(jnp.float32) for k, v in t.items()}

  def skipped(t: dict[str, PyTree]) -> dict[str, Array]:
    return {k: jnp.full((), jnp.nan, jnp.float32) for k in t}

  if isinstance(with_norms, bool):
    return norms(trees) if with_norms else skipped(trees)
  return jax.lax.cond(with_norms, norms, skipped, trees)


def _global_mean(x: Array) -> Array:
  return jax.lax.pmean(jnp.mean(x), AXIS)


def _noisy(gan: GAN, state: GANState, rng: Array, x: Array) -> Array:
  """Instance noise on a discriminator input, with the std of the current step."""
  if gan.instance_noise_std <= 0:
    return x
  std = schedules.instance_noise_std(
    state.step, initial_std=gan.instance_noise_std, anneal_steps=gan.instance_noise_anneal_steps
  )
  return schedules.add_instance_noise(rng, x, std)


def _device_key(rng: Array) -> Array:
  """A key of this device's own: per-example noise differs across shards."""
  return jax.random.fold_in(rng, jax.lax.axis_index(AXIS))


def d_update(
  gan: GAN,
  state: GANState,
  real: Array,
  y_real: Array,
  z: Array,
  y_fake: Array,
  rng: Array,
  with_norms: Array | bool = True,
) -> tuple[GANState, dict]:
  """One discriminator update on this device's shard (real, y_real, z, y_fake).

  The gradient and update norms are NaN where `with_norms` is false (`_diagnostic_norms`).
  """
  fake, g_stats = _apply(gan.generator, state.g, state.g.params, z, y_fake)
  fake = jax.lax.stop_gradient(fake)
  k_real, k_fake, k_penalty = jax.random.split(_device_key(rng), 3)
  real, fake = _noisy(gan, state, k_real, real), _noisy(gan, state, k_fake, fake)

  def loss_fn(params):
    real_logits, stats = _apply(gan.discriminator, state.d, params, real, y_real)
    fake_logits, stats = _apply(
      gan.discriminator, state.d.replace(batch_stats=stats), params, fake, y_fake
    )
    loss = gan.objective.d_loss(real_logits, fake_logits, real_label=gan.real_label)
    penalty = jnp.zeros(())
    if gan.penalty != "none":
      # D on the penalty's points in training mode; its statistics updates are dropped.
      # The points are real, perturbed real or real/fake interpolates: the real labels.
      d_net = state.d.replace(batch_stats=stats)
      d_fn = lambda x: _apply(gan.discriminator, d_net, params, x, y_real)[0]
      penalty = penalties.compute_penalty(gan.penalty, d_fn, real, fake, k_penalty)
    total = jax.lax.pmean(loss + gan.penalty_weight * penalty, AXIS)
    return total, (
      stats,
      real_logits,
      fake_logits,
      jax.lax.pmean(loss, AXIS),
      jax.lax.pmean(penalty, AXIS),
    )

  (_, (stats, real_logits, fake_logits, loss, penalty)), grads = jax.value_and_grad(
    loss_fn, has_aux=True
  )(state.d.params)
  updates, opt_state = gan.d_tx.update(grads, state.d.opt_state, state.d.params)
  params = optax.apply_updates(state.d.params, updates)
  if gan.d_weight_clip > 0:
    c = gan.d_weight_clip
    params = jax.tree.map(lambda p: jnp.clip(p, -c, c), params)
  metrics = {
    "d_loss": loss,  # the objective alone; the penalty is logged apart
    "d_real": _global_mean(gan.objective.d_output(real_logits)),
    "d_fake": _global_mean(gan.objective.d_output(fake_logits)),
    **_diagnostic_norms(with_norms, {"d_grad_norm": grads, "d_update_norm": updates}),
  }
  if gan.penalty != "none":
    metrics["d_penalty"] = penalty
  state = state.replace(
    g=state.g.replace(batch_stats=g_stats), d=NetState(params, stats, opt_state)
  )
  return state, metrics


def g_update(
  gan: GAN, state: GANState, z: Array, y: Array, rng: Array, with_norms: Array | bool = True
) -> tuple[GANState, dict]:
  """One generator update on this device's shard of latents z (and labels y).

  D runs in training mode (batch statistics) but its running statistics are
  left as they are: the discriminator's state belongs to its own update. The
  gradient and update norms are NaN where `with_norms` is false.
  """
  noise_key = _device_key(rng)

  def loss_fn(params):
    fake, g_stats = _apply(gan.generator, state.g, params, z, y)
    fake_logits, _ = _apply(
      gan.discriminator, state.d, state.d.params, _noisy(gan, state, noise_key, fake), y
    )
    return jax.lax.pmean(gan.objective.g_loss(fake_logits), AXIS), g_stats

  (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g.params)
  updates, opt_state = gan.g_tx.update(grads, state.g.opt_state, state.g.params)
  params = optax.apply_updates(state.g.params, updates)
  metrics = {
    "g_loss": loss,
    **_diagnostic_norms(with_norms, {"g_grad_norm": grads, "g_update_norm": updates}),
  }
  ema = state.ema_params
  if gan.ema_decay > 0:
    ema = schedules.ema_update(
      ema, params, decay=gan.ema_decay, step=state.step, start_step=gan.ema_start_step
    )
  return state.replace(g=NetState(params, g_stats, opt_state), ema_params=ema), metrics


def local_train_step(
  gan: GAN,
  state: GANState,
  real: Array,
  y_real: Array,
  z_d: Array,
  y_d: Array,
  z_g: Array,
  y_g: Array,
  rng: Array,
  with_norms: Array | bool = True,
) -> tuple[GANState, dict]:
  """`d_steps` discriminator updates (one per leading slice of real, z_d, ...), then one G update.

  `rng` (replicated) seeds the per-device noise of penalties and instance noise. The
  gradient, update and parameter norms of the metrics are NaN where `with_norms` is false.
  """
  k_d, k_g = jax.random.split(rng)

  # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop
  # tens of times slower than straight-line code (benchmarks/loop_overhead.py).
  for j in range(gan.d_steps):
    last = j == gan.d_steps - 1
    state, d_metrics = d_update(
      gan,
      state,
      real[j],
      y_real[j],
      z_d[j],
      y_d[j],
      jax.random.fold_in(k_d, j),
      with_norms if last else False,
    )
  # d_metrics are those of the last D update.
  state, g_metrics = g_update(gan, state, z_g, y_g, k_g, with_norms)
  metrics = {
    **d_metrics,
    **g_metrics,
    **_diagnostic_norms(
      with_norms, {"g_param_norm": state.g.params, "d_param_norm": state.d.params}
    ),
  }
  return state.replace(step=state.step + 1), metrics


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all (or the given) devices, axis 'batch'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(devices, (AXIS,))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
  """Places a pytree on every device of the mesh (replicated)."""
  return jax.device_put(tree, NamedSharding(mesh, P()))


def make_train_step(
  gan: GAN,
  mesh: Mesh,
  sample_real: Callable[..., dict],
  *,
  steps_per_dispatch: int = 1,
  num_seeds: int = 1,
  streamed: bool = False,
) -> Callable[..., tuple[GANState, dict]]:
  """jit(shard_map(...)) train step `(state, data_arrays[, with_norms]) -> (state, metrics)`.

  `with_norms` (a bool array; default true) says whether the metrics' gradient, update
  and parameter norms are computed: where false they are NaN and skipped. The train
  loop passes true on the steps it logs.

  With steps_per_dispatch = K > 1 it runs K steps in one `lax.scan` and
  returns the metrics of the last. With `streamed`, `data_arrays` is the
  dispatch's batches from the host (data.Dataset.stream), with a leading K axis
  when K > 1, and `sample_real` reads them. With num_seeds = S > 1 the state is S
  independent runs stacked on a leading axis (`init_seed_states`) and the step
  is vmapped over it: one program trains all seeds, each drawing its own
  batches, latents and noise from its own rng, and the metrics gain a leading
  seed axis. The state argument is donated. On CPU it is compiled with
  `ops.compiler_options()`, which JAX allows only at the top level: call it
  directly, not from inside another jit (its `.lower(...)` works as usual).
  """
  mapped = jax.shard_map(
    functools.partial(local_train_step, gan),
    mesh=mesh,
    in_specs=(P(), *[P(None, AXIS)] * 4, P(AXIS), P(AXIS), P(), P()),
    out_specs=(P(), P()),
  )

  def one_step(state, data, with_norms):
    rng = jax.random.fold_in(state.rng, state.step)
    k_real, k_zd, k_zg, k_noise = jax.random.split(rng, 4)
    real = sample_real(data, k_real, (gan.d_steps, gan.batch_size))
    z_d = jax.random.normal(k_zd, (gan.d_steps, gan.batch_size, gan.z_dim))
    z_g = jax.random.normal(k_zg, (gan.batch_size, gan.z_dim))
    # A key of its own (not a 5th split) keeps the unconditional streams as they were.
    k_yd, k_yg = jax.random.split(jax.random.fold_in(rng, 1))
    y_d = sample_labels(gan, k_yd, (gan.d_steps, gan.batch_size))
    y_g = sample_labels(gan, k_yg, (gan.batch_size,))
    y_real = real["y"].astype(jnp.int32) if gan.num_classes else jnp.zeros_like(y_d)
    return mapped(state, real["x"], y_real, z_d, y_d, z_g, y_g, k_noise, with_norms)

  seed_step = one_step if num_seeds == 1 else jax.vmap(one_step, in_axes=(0, None, None))

  def train_step(state, data, with_norms=None):
    # None: every metric, always. The train loop passes a (device-resident) bool.
    with_norms = jnp.asarray(True) if with_norms is None else with_norms
    if steps_per_dispatch == 1:
      return seed_step(state, data, with_norms)
    # Only the last step's metrics are returned: the others skip their norms.
    flags = (jnp.arange(steps_per_dispatch) == steps_per_dispatch - 1) & with_norms
    # Fully unrolled: a rolled scan is a while loop, which XLA:CPU runs far slower.
    # Streamed data brings one batch per step (a leading K axis); resident data is shared.
    state, metrics = jax.lax.scan(
      lambda s, x: seed_step(s, x[0] if streamed else data, x[1]),
      state,
      (data if streamed else None, flags),
      length=steps_per_dispatch,
      unroll=True,
    )
    return state, jax.tree.map(lambda m: m[-1], metrics)

  return jax.jit(train_step, donate_argnums=0, compiler_options=ops.compiler_options())


def make_generate(gan: GAN) -> Callable[[PyTree, PyTree, Array, Array], Array]:
  """jit `(params, batch_stats, z, y) -> samples` in inference mode (running BN statistics).

  y (int labels) matters only for a conditional generator; pass zeros otherwise.
  """

  def generate(params, batch_stats, z, y):
    variables = {"params": params, "batch_stats": batch_stats}
    return gan.generator.apply(variables, z, y, train=False)

  return jax.jit(generate)
