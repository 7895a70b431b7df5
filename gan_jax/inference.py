"""Using a trained workdir: `--mode=sample` and `--mode=eval` on its latest checkpoint.

Samples are drawn in fixed-size batches (one compilation), data-parallel over
all devices, in inference mode (BatchNorm running statistics).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax import steps, train, writers
from gan_jax.errors import WorkdirError

# Keys of their own, apart from the training stream and the fixed grid of train.Sampler.
EVAL_SEED_OFFSET = 2
INTERPOLATION_SEED_OFFSET = 3


def make_sample_fn(
  gan: steps.GAN, mesh, *, batch_size: int, seed: int
) -> Callable[[steps.GANState, int], np.ndarray]:
  """`sample(state, n) -> (n, ...)` numpy samples from latents drawn from `seed`.

  The same seed gives the same latents at every call, so evaluations at
  different steps compare generators on one z; a conditional generator gets
  labels drawn uniformly over its classes. The batch size is rounded up
  to a multiple of the device count; the last batch is computed whole and
  cut, so generation compiles once. The EMA weights are used when on.
  """
  batch_size = _device_batch(batch_size, mesh)
  z_sharding = NamedSharding(mesh, P(steps.AXIS))
  generate = steps.make_generate(gan)

  def sample(state: steps.GANState, n: int) -> np.ndarray:
    params = steps.sampling_params(gan, state)
    out = []
    for i in range(-(-n // batch_size)):
      z, y = _inputs(gan, seed, i, batch_size)
      z, y = jax.device_put(z, z_sharding), jax.device_put(y, z_sharding)
      out.append(np.asarray(generate(params, state.g.batch_stats, z, y)))
    return np.concatenate(out)[:n]

  return sample


def _device_batch(batch_size: int, mesh) -> int:
  n_dev = mesh.devices.size
  return -(-batch_size // n_dev) * n_dev


def _inputs(gan: steps.GAN, seed: int, i: int, batch_size: int) -> tuple[jax.Array, jax.Array]:
  """Latents and labels (uniform over the classes; zeros if unconditional) of batch i."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
  z = jax.random.normal(key, (batch_size, gan.z_dim))
  return z, steps.sample_labels(gan, jax.random.fold_in(key, 1), (batch_size,))


def sample_labels(gan: steps.GAN, mesh, *, batch_size: int, seed: int, n: int) -> np.ndarray:
  """The labels `make_sample_fn(gan, mesh, batch_size=..., seed=...)(state, n)` draws with."""
  batch_size = _device_batch(batch_size, mesh)
  ys = [np.asarray(_inputs(gan, seed, i, batch_size)[1]) for i in range(-(-n // batch_size))]
  return np.concatenate(ys)[:n]


def make_evaluation(config, gan: steps.GAN, mesh) -> Callable[[steps.GANState], dict]:
  """`evaluate(state) -> metrics` for the run's data set, built once (reference statistics,
  the classifier) and reused at every evaluation."""
  from gan_jax.evaluation import evaluate as evaluate_lib  # noqa: PLC0415 - heavy, eval only

  evaluator = evaluate_lib.make_evaluator(
    config.dataset,
    image_size=config.model.image_size,
    num_samples=config.eval.num_samples,
    data_source=config.data.source,
    data_dir=config.data.data_dir,
    inception_path=config.eval.inception_path,
    seed=config.seed,
    batch_size=config.eval.batch_size,
  )
  sample = make_sample_fn(
    gan, mesh, batch_size=config.eval.batch_size, seed=config.seed + EVAL_SEED_OFFSET
  )

  def evaluate(state: steps.GANState) -> dict:
    return evaluator(lambda n: sample(state, n))

  evaluate.info = dict(evaluator.info)
  return evaluate


def summary_line(step: int, metrics: dict, seed: int | None = None) -> str:
  where = "" if seed is None else f" (seed {seed})"
  return f"eval at step {step}{where}: " + "  ".join(
    f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
  )


def evaluate_workdir(workdir: str) -> dict:
  """Evaluates the latest checkpoint; appends an eval row to metrics.jsonl and TensorBoard."""
  config, _, gan, mesh, state, step = _restore(workdir)
  evaluate = make_evaluation(config, gan, mesh)
  writer = writers.Writer(workdir)
  try:
    for seed, seed_state in train.per_seed(config, state):
      metrics = evaluate(seed_state)
      writer.write_scalars(step, {**metrics, "eval_samples": config.eval.num_samples}, seed=seed)
      print(summary_line(step, metrics, seed))
  finally:
    writer.close()
  return metrics  # the last seed's


def slerp(t: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
  """Spherical interpolation between latents a and b at times t in [0, 1] (one row per t)."""
  a_n, b_n = (
    a / jnp.linalg.norm(a, axis=-1, keepdims=True),
    b / jnp.linalg.norm(b, axis=-1, keepdims=True),
  )
  omega = jnp.arccos(jnp.clip(jnp.sum(a_n * b_n, -1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  t = t[:, None]
  # Nearly parallel latents: the linear limit of slerp.
  safe = so > 1e-6
  wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
  wb = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
  return wa * a + wb * b


def _restore(workdir: str):
  if not os.path.isdir(workdir):
    raise WorkdirError(f"workdir {workdir} does not exist: train into it first")
  config = train.load_workdir_config(workdir)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir) or not any(name.isdigit() for name in os.listdir(ckpt_dir)):
    raise WorkdirError(f"{workdir} has no checkpoint: train into it first")
  dataset, gan, mesh, _, state, _, step = train.setup(config, workdir, for_training=False)
  if step is None:
    raise WorkdirError(f"no checkpoint in {workdir} could be read")
  return config, dataset, gan, mesh, state, step


def sample_workdir(
  workdir: str, *, num_interpolations: int = 8, interpolation_steps: int = 10
) -> dict:
  """Writes samples/grid_<step>.png, interpolation_<step>.png and samples_<step>.npz."""
  config, dataset, gan, mesh, state, step = _restore(workdir)
  if config.num_seeds > 1:
    logging.info("%d seeds in %s: sampling seed %d", config.num_seeds, workdir, config.seed)
    state = steps.seed_slice(state, 0)
  out_dir = os.path.join(workdir, "samples")
  os.makedirs(out_dir, exist_ok=True)
  sampling = dict(batch_size=config.eval.batch_size, seed=config.seed + EVAL_SEED_OFFSET)
  x = make_sample_fn(gan, mesh, **sampling)(state, config.eval.num_samples)
  npz_path = os.path.join(out_dir, f"samples_{step}.npz")
  arrays = {"x": x}
  if gan.num_classes:  # the labels the samples were drawn with
    arrays["y"] = sample_labels(gan, mesh, n=len(x), **sampling)
  np.savez(npz_path + ".tmp.npz", **arrays)
  os.replace(npz_path + ".tmp.npz", npz_path)
  paths = {"npz": npz_path}
  sampler = train.Sampler(gan, config, dataset, workdir)
  grid = sampler.pixels(state)
  paths["grid"] = os.path.join(out_dir, f"grid_{step}.png")
  writers.save_png(paths["grid"], grid)
  if len(dataset.example_shape) == 3:  # interpolation strips for images
    key_a, key_b = jax.random.split(jax.random.PRNGKey(config.seed + INTERPOLATION_SEED_OFFSET))
    a = jax.random.normal(key_a, (num_interpolations, gan.z_dim))
    b = jax.random.normal(key_b, (num_interpolations, gan.z_dim))
    t = jnp.linspace(0.0, 1.0, interpolation_steps)
    z = jax.vmap(
      lambda za, zb: slerp(
        t, jnp.broadcast_to(za, (len(t), gan.z_dim)), jnp.broadcast_to(zb, (len(t), gan.z_dim))
      )
    )(a, b)
    # A conditional generator keeps one class per strip (strip i: class i mod classes).
    y = np.repeat(np.arange(num_interpolations) % max(gan.num_classes, 1), len(t))
    images = steps.make_generate(gan)(
      steps.sampling_params(gan, state),
      state.g.batch_stats,
      z.reshape(-1, gan.z_dim),
      jnp.asarray(y, jnp.int32),
    )
    paths["interpolation"] = os.path.join(out_dir, f"interpolation_{step}.png")
    writers.save_png(
      paths["interpolation"], writers.image_grid(np.asarray(images), rows=num_interpolations)
    )
  logging.info("step %d: wrote %s", step, ", ".join(paths.values()))
  print(f"sampled step {step}: {len(x)} samples -> {npz_path}")
  return paths
