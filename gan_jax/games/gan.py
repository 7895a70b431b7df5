"""The GAN game: G(z[, y]) against D(x[, y]), on images or 2-D points.

One generator and one discriminator, any objective of losses.py, the stabilizers of
the field (gradient penalties, weight clipping, instance noise, label smoothing, EMA of
G, PacGAN packing through the model), unconditional or class-conditional. The state
holds the networks 'g' and 'd' in `State.nets` and the EMA generator (its weights and
its own BatchNorm statistics) in `State.extra['ema']`.

A step (`local_step`, per device under shard_map) is `d_steps` discriminator updates
and one generator update. Gradient averaging: inside shard_map the loss is `pmean`ed
over the mesh axis, so it is a function of the replicated parameters alone and
`jax.grad` of it is already the global-batch gradient (averaging the per-device
gradients again, as with pmap, would be wrong: the backward pass of a replicated
parameter already sums over the axis). BatchNorm statistics are averaged over the axis
by the models themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import os
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
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any

# Keys of their own for the pictures and evaluation, apart from the training stream and the
# same for every run: runs of every seed and sweep member are pictured and scored on the
# very same latents, so they differ only through their generators.
GRID_SEED = 1
EVAL_SEED = 2
INTERPOLATION_SEED = 3
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


def build_gan(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> GAN:
  channels = dataset.example_shape[-1] if len(dataset.example_shape) == 3 else 0
  num_classes = 0
  if config.conditional:
    if not dataset.num_classes:
      raise ConfigError(f"conditional=True needs class labels, and {dataset.name!r} has none here")
    num_classes = dataset.num_classes
  generator, discriminator = models_lib.make_models(
    config.model, channels=channels, axis_name=AXIS, num_classes=num_classes
  )
  return GAN(
    generator=generator,
    discriminator=discriminator,
    objective=losses.get_objective(config.loss),
    g_tx=make_optimizer(config.g_optimizer),
    d_tx=make_optimizer(config.d_optimizer),
    z_dim=config.model.z_dim,
    batch_size=config.batch_size,
    example_shape=tuple(dataset.example_shape),
    d_steps=config.d_steps,
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
  )


def sample_labels(gan: GAN, rng: Array, shape: tuple[int, ...]) -> Array:
  """Labels for generated samples: uniform over the classes (zeros when unconditional)."""
  if not gan.num_classes:
    return jnp.zeros(shape, jnp.int32)
  return jax.random.randint(rng, shape, 0, gan.num_classes, jnp.int32)


# --- state -------------------------------------------------------------------------------------


def init_state(gan: GAN, rng: Array) -> State:
  """Initial parameters, BatchNorm statistics and optimizer states of one run."""
  k_g, k_d, k_run = jax.random.split(rng, 3)
  labels = jnp.zeros((2,), jnp.int32)
  g_vars = gan.generator.init(k_g, jnp.zeros((2, gan.z_dim)), labels, train=False)
  d_vars = gan.discriminator.init(k_d, jnp.zeros((2, *gan.example_shape)), labels, train=False)
  g = init_net(g_vars, gan.g_tx)
  # The EMA generator starts as G; it keeps BatchNorm statistics of its own.
  ema = {"params": jax.tree.map(jnp.copy, g.params), "batch_stats": g.batch_stats}
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=k_run,
    nets={"g": g, "d": init_net(d_vars, gan.d_tx)},
    extra={"ema": ema},
  )


def sampling_variables(gan: GAN, state: State) -> dict[str, PyTree]:
  """The generator variables to draw samples with: the EMA generator's when EMA is on."""
  if gan.ema_decay > 0:
    return dict(state.extra["ema"])
  g = state.nets["g"]
  return {"params": g.params, "batch_stats": g.batch_stats}


# --- the step ----------------------------------------------------------------------------------


def draw(gan: GAN, sample_real: Callable[..., dict], data: PyTree, rng: Array) -> dict[str, Array]:
  """One step's global batch: real data, latents and labels for d_steps D updates and the
  G update, and a key for the per-device noise (penalties, instance noise)."""
  k_real, k_zd, k_zg, k_noise = jax.random.split(rng, 4)
  real = sample_real(data, k_real, (gan.d_steps, gan.batch_size))
  z_d = jax.random.normal(k_zd, (gan.d_steps, gan.batch_size, gan.z_dim))
  z_g = jax.random.normal(k_zg, (gan.batch_size, gan.z_dim))
  # A key of its own (not a 5th split) keeps the unconditional streams as they were.
  k_yd, k_yg = jax.random.split(jax.random.fold_in(rng, 1))
  y_d = sample_labels(gan, k_yd, (gan.d_steps, gan.batch_size))
  y_g = sample_labels(gan, k_yg, (gan.batch_size,))
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
    else:
      real_g = sample_real(data, jax.random.fold_in(rng, 2), (gan.batch_size,))
      x_g = real_g["x"]
      y_g_real = real_g["y"].astype(jnp.int32) if gan.num_classes else jnp.zeros_like(y_g)
    batch.update(x_real_g=x_g, y_real_g=y_g_real)
  return batch


def batch_spec(gan: GAN) -> dict[str, P]:
  """How `draw`'s batch is split: D's arrays along their batch axis (after d_steps)."""
  d_side, g_side = P(None, AXIS), P(AXIS)
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
    state.step, initial_std=gan.instance_noise_std, anneal_steps=gan.instance_noise_anneal_steps
  )
  return schedules.add_instance_noise(rng, x, std)


def d_update(
  gan: GAN,
  state: State,
  real: Array,
  y_real: Array,
  z: Array,
  y_fake: Array,
  rng: Array,
  with_norms: Array | bool = True,
) -> tuple[State, dict]:
  """One discriminator update on this device's shard (real, y_real, z, y_fake).

  The gradient and update norms are NaN where `with_norms` is false (`diagnostic_norms`).
  """
  g_net, d_net = state.nets["g"], state.nets["d"]
  fake, g_stats = apply_train(gan.generator, g_net, g_net.params, z, y_fake)
  fake = jax.lax.stop_gradient(fake)
  k_real, k_fake, k_penalty = jax.random.split(device_key(rng), 3)
  real, fake = _noisy(gan, state, k_real, real), _noisy(gan, state, k_fake, fake)

  def loss_fn(params):
    real_logits, stats = apply_train(gan.discriminator, d_net, params, real, y_real)
    fake_logits, stats = apply_train(
      gan.discriminator, d_net.replace(batch_stats=stats), params, fake, y_fake
    )
    loss = gan.objective.d_loss(
      real_logits, fake_logits, real_label=gan.real_label, batch_mean=global_mean
    )
    penalty = jnp.zeros(())
    if gan.penalty != "none":
      # D on the penalty's points in training mode; its statistics updates are dropped.
      d_now = d_net.replace(batch_stats=stats)

      def critic(labels):
        return lambda x: apply_train(gan.discriminator, d_now, params, x, labels)[0]

      penalty = penalties.compute_penalty(
        gan.penalty,
        critic(y_real),
        real,
        fake,
        k_penalty,
        pack=gan.pack,
        d_fake_fn=critic(y_fake),
      )
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
  )(d_net.params)
  updates, opt_state = gan.d_tx.update(grads, d_net.opt_state, d_net.params)
  params = optax.apply_updates(d_net.params, updates)
  if gan.d_weight_clip > 0:
    c = gan.d_weight_clip
    params = jax.tree.map(lambda p: jnp.clip(p, -c, c), params)
  metrics = {
    "d_loss": loss,  # the objective alone; the penalty is logged apart
    "d_real": global_mean(gan.objective.d_output(real_logits)),
    "d_fake": global_mean(gan.objective.d_output(fake_logits)),
    **diagnostic_norms(with_norms, {"d_grad_norm": grads, "d_update_norm": updates}),
  }
  if gan.penalty != "none":
    metrics["d_penalty"] = penalty
  nets = {"g": g_net.replace(batch_stats=g_stats), "d": NetState(params, stats, opt_state)}
  return state.replace(nets=nets), metrics


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
  noise_key = device_key(rng)

  def loss_fn(params):
    fake, g_stats = apply_train(gan.generator, g_net, params, z, y)
    fake_logits, _ = apply_train(
      gan.discriminator, d_net, d_net.params, _noisy(gan, state, noise_key, fake), y
    )
    real_logits = None
    if real is not None:
      x_real = _noisy(gan, state, jax.random.fold_in(noise_key, 1), real[0])
      real_logits, _ = apply_train(gan.discriminator, d_net, d_net.params, x_real, real[1])
    loss = gan.objective.g_loss(real_logits, fake_logits, batch_mean=global_mean)
    return jax.lax.pmean(loss, AXIS), g_stats

  (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(g_net.params)
  updates, opt_state = gan.g_tx.update(grads, g_net.opt_state, g_net.params)
  params = optax.apply_updates(g_net.params, updates)
  metrics = {
    "g_loss": loss,
    **diagnostic_norms(with_norms, {"g_grad_norm": grads, "g_update_norm": updates}),
  }
  extra = state.extra
  if gan.ema_decay > 0:
    ema = extra["ema"]
    ema_params = schedules.ema_update(
      ema["params"], params, decay=gan.ema_decay, step=state.step, start_step=gan.ema_start_step
    )
    # The EMA weights' own BatchNorm statistics, gathered the way G's are: the EMA
    # generator in training mode on this step's latents. (G's statistics belong to G's
    # weights; sampled with the EMA weights they would mismatch its activations.)
    _, ema_stats = apply_train(
      gan.generator, NetState(ema_params, ema["batch_stats"], None), ema_params, z, y
    )
    extra = {**extra, "ema": {"params": ema_params, "batch_stats": ema_stats}}
  nets = {**state.nets, "g": NetState(params, g_stats, opt_state)}
  return state.replace(nets=nets, extra=extra), metrics


def local_step(
  gan: GAN, state: State, batch: dict[str, Array], with_norms: Array | bool = True
) -> tuple[State, dict]:
  """`d_steps` discriminator updates (one per leading slice of the D arrays), then one G
  update, on this device's shard of `draw`'s batch.

  The batch's replicated `key` seeds the per-device noise of penalties and instance
  noise. The gradient, update and parameter norms are NaN where `with_norms` is false.
  """
  k_d, k_g = jax.random.split(batch["key"])

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
    )
  # d_metrics are those of the last D update.
  real_g = (batch["x_real_g"], batch["y_real_g"]) if "x_real_g" in batch else None
  state, g_metrics = g_update(gan, state, batch["z_g"], batch["y_g"], k_g, with_norms, real_g)
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
    return gan.generator.apply(variables, z, y, train=False)

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
  z = jax.random.normal(key, (batch_size, gan.z_dim))
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
      self._z = jnp.tile(jax.random.normal(key, (columns, gan.z_dim)), (self._rows, 1))
    else:
      self._z = jax.random.normal(key, (n, gan.z_dim))
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
  images, interpolation_<step>.png (slerp strips in z)."""
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
    a = jax.random.normal(key_a, (num_interpolations, gan.z_dim))
    b = jax.random.normal(key_b, (num_interpolations, gan.z_dim))
    t = jnp.linspace(0.0, 1.0, interpolation_steps)
    shape = (len(t), gan.z_dim)
    z = jax.vmap(lambda za, zb: slerp(t, jnp.broadcast_to(za, shape), jnp.broadcast_to(zb, shape)))(
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


def make(config: ml_collections.ConfigDict, dataset: data_lib.Dataset | None = None) -> Game:
  """The GAN game of `config`: its data set, networks, step, pictures and evaluation.

  `dataset` replaces the one `config.dataset` names (your own arrays, tests).
  """
  dataset = data_lib.load_dataset(config) if dataset is None else dataset
  gan = build_gan(config, dataset)
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
  )
