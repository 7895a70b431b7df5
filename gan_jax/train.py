"""The training loop, one for every game: `train_and_evaluate(config, workdir)` is the front door.

Sections: setup (config, the game, mesh, state or resume), the step (the game's
per-device update mapped over the mesh, vmapped over seeds, fused over dispatches), and
the loop (dispatch steps; at their cadences log, draw pictures, evaluate, checkpoint;
stop cleanly on SIGTERM/SIGINT and loudly on NaN). Metrics stay on device between log
points. The loop knows a game only through gan_jax.game.Game: it never looks inside the
state beyond `step`, `rng` and the networks' parameters (for the NaN guard).
"""

from __future__ import annotations

import contextlib
import functools
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

from gan_jax import checkpoints, games, host, parallel, writers
from gan_jax import config as config_lib
from gan_jax.errors import NonFiniteError, Preempted, WorkdirError
from gan_jax.game import Game, State, trainable_params

# --- setup -------------------------------------------------------------------------------------


def make_game(config: ml_collections.ConfigDict) -> Game:
  """The game `config.game` names, built for this config (its data loaded)."""
  return games.GAMES[config.game](config)


def run_seeds(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds of the runs one training program holds: seed, ..., seed + num_seeds - 1."""
  return [config.seed + i for i in range(config.num_seeds)]


def init_run_state(config: ml_collections.ConfigDict, game: Game, mesh=None) -> State:
  """The initial state: one run's, or num_seeds runs' stacked on a leading seed axis.

  Slice i of a seed-stacked state is the state a single run with seed seed + i starts
  from. One program that runs once, so it compiles with `host.run_once_compiler_options()`
  (run op by op, the initializers would cost hundreds of tiny compilations). With `mesh`
  the state comes out replicated on it (with several processes: one global state).
  """
  kw = {"compiler_options": host.run_once_compiler_options()}
  if mesh is not None:
    kw["out_shardings"] = NamedSharding(mesh, P())
  if config.num_seeds == 1:
    return jax.jit(game.init, **kw)(jax.random.PRNGKey(config.seed))
  keys = np.stack([jax.random.PRNGKey(s) for s in run_seeds(config)])
  return jax.jit(jax.vmap(game.init), **kw)(keys)


def seed_slice(tree: Any, i: int) -> Any:
  """Seed i's state (or metrics) out of a seed-stacked pytree."""
  return jax.tree.map(lambda x: x[i], tree)


def per_seed(config, tree) -> list[tuple[int | None, Any]]:
  """[(seed, slice)]: one entry per run; the seed is None for a single-seed run."""
  if config.num_seeds == 1:
    return [(None, tree)]
  return [(s, seed_slice(tree, i)) for i, s in enumerate(run_seeds(config))]


def _check_resume(config, workdir: str, allow_config_change: bool) -> bool:
  """Compares config with the one saved in workdir; True when old checkpoints must be set aside."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  saved = config_lib.read_saved_config(workdir)
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
  """The game, mesh and state (restored when possible): what train, eval and sample share.

  Validates the config and builds the game (which loads its data) before the workdir is
  touched. Returns (game, mesh, data_arrays, state, manager, restored_step or None).
  """
  config_lib.validate(config, num_devices=jax.device_count())
  set_aside = for_training and _check_resume(config, workdir, allow_config_change)
  game = make_game(config)  # may still refuse the config: before the workdir is touched
  with config.unlocked():
    config.update_from_flattened_dict(game.resolved)
  if for_training and parallel.is_writer():
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    if set_aside:
      _set_aside_checkpoints(workdir)
    writers.write_atomic(
      os.path.join(workdir, "config.json"),
      config.to_json_best_effort(indent=2, sort_keys=True) + "\n",
    )
  parallel.sync("workdir")  # the other processes wait for the workdir to exist
  mesh = parallel.make_mesh()
  data_arrays = parallel.replicate(game.data, mesh)
  state = init_run_state(config, game, mesh)
  manager = checkpoints.make_manager(workdir, max_to_keep=config.keep_checkpoints)
  restored = checkpoints.restore_latest(manager, state)
  step = None
  if restored is not None:
    state, step = restored
  return game, mesh, data_arrays, state, manager, step


# --- the step ----------------------------------------------------------------------------------


def make_train_step(game: Game, mesh, *, steps_per_dispatch: int = 1, num_seeds: int = 1) -> Any:
  """jit(shard_map(...)) train step `(state, data[, with_norms]) -> (state, metrics)`.

  One step: `game.draw(data, fold_in(state.rng, state.step))` draws the global batch,
  then `game.step` runs on each device's shard of it. `with_norms` (a bool array;
  default true) says whether the metrics' norms are computed: where false they are NaN
  and skipped. The train loop passes true on the steps it logs.

  With steps_per_dispatch = K > 1 it runs K steps in one `lax.scan` and returns the
  metrics of the last; with streamed data `data` is then the dispatch's K batches
  stacked on a leading axis. With num_seeds = S > 1 the state is S independent runs
  stacked on a leading axis (`init_run_state`) and the step is vmapped over it: one
  program trains all seeds, each drawing its own batches and noise from its own rng,
  and the metrics gain a leading seed axis. The state argument is donated. On CPU it is
  compiled with `host.compiler_options()`, which JAX allows only at the top level: call
  it directly, not from inside another jit (its `.lower(...)` works as usual).
  """
  mapped = jax.shard_map(
    game.step, mesh=mesh, in_specs=(P(), game.batch_spec, P()), out_specs=(P(), P())
  )

  def one_step(state, data, with_norms):
    batch = game.draw(data, jax.random.fold_in(state.rng, state.step))
    return mapped(state, batch, with_norms)

  seed_step = one_step if num_seeds == 1 else jax.vmap(one_step, in_axes=(0, None, None))
  streamed = game.stream is not None

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

  return jax.jit(train_step, donate_argnums=0, compiler_options=host.compiler_options())


def _next_batches(game: Game, stream, k: int, mesh) -> Any:
  """The next k streamed batches on the devices, split as the game says (stacked if k > 1)."""
  batches = [next(stream) for _ in range(k)]
  spec = game.stream_spec
  if k > 1:
    batches = [jax.tree.map(lambda *xs: np.stack(xs), *batches)]
    spec = P(None, *spec)
  return parallel.split_batch(batches[0], mesh, spec)


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


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


def crossed(every: int, before: int, after: int) -> bool:
  """Whether a multiple of `every` (> 0) lies in (before, after]: the loop's cadence test."""
  return every > 0 and after // every > before // every


def summary_line(step: int, metrics: dict, seed: int | None = None) -> str:
  """One log line of an evaluation's metrics."""
  where = "" if seed is None else f" (seed {seed})"
  return f"eval at step {step}{where}: " + "  ".join(
    f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
  )


def _progress_line(step: int, total: int, metrics: dict, names, rate: float) -> str:
  eta = (total - step) / rate if rate > 0 else float("nan")
  shown = "  ".join(f"{k} {metrics[k]:.4g}" for k in names if k in metrics)
  eta_text = writers.format_duration(eta) if eta == eta else "?"
  return f"step {step}/{total}  {shown}  |  {rate:.1f} steps/s  ETA {eta_text}"


def write_pictures(game: Game, state: State, step: int, workdir: str, writer, seed=None) -> None:
  """samples/step_<step>[_<picture>][_seed_<seed>].png and TensorBoard images of one run."""
  suffix = "" if seed is None else f"_seed_{seed}"
  for i, (name, pixels) in enumerate(game.pictures(state).items()):
    part = "" if i == 0 else f"_{name}"  # the first picture is the run's main one
    writers.save_png(os.path.join(workdir, "samples", f"step_{step}{part}{suffix}.png"), pixels)
    writer.write_image(step, f"{name}{suffix}", pixels)


def train_and_evaluate(
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  allow_config_change: bool = False,
  process_start: float | None = None,
) -> dict[str, Any]:
  """Trains the game described by `config`, writing everything under `workdir`.

  Resumes from the newest readable checkpoint in workdir. SIGTERM/SIGINT checkpoint
  the current step and raise Preempted. Returns the last logged metrics (the mean over
  seeds). `process_start` (time.time() when the program started) makes the "first step"
  log line count imports too.
  """
  t_start = time.time()
  t_process = process_start or t_start
  game, mesh, data_arrays, state, manager, restored_step = setup(
    config, workdir, for_training=True, allow_config_change=allow_config_change
  )
  start = restored_step or 0
  total = config.total_steps
  writes = parallel.is_writer()  # process 0 writes the files; every process trains
  logging.info("workdir: %s", workdir)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if restored_step is not None:
    if writes:
      writers.truncate_rows_after(metrics_path, start)
    logging.info("resuming from the checkpoint at step %d in %s", start, workdir)
  num_devices = jax.device_count()
  writer = writers.Writer(workdir, enabled=writes)
  writer.write_scalars(start, {"event": "start", **game.info, "devices": num_devices})
  writer.write_text(start, "config", "```\n" + config.to_json_best_effort(indent=2) + "\n```")

  stream = game.stream(start) if game.stream is not None else None
  evaluation = None
  if config.eval_every >= 0 and start < total and writes:
    # On this process's devices, from a host copy of the state: no cross-process traffic.
    evaluation = game.make_evaluation(parallel.local_mesh())
    if evaluation is not None:
      writer.write_scalars(start, {"event": "eval_info", **evaluation.info})

  @functools.cache
  def step_fn(k: int):
    return make_train_step(game, mesh, steps_per_dispatch=k, num_seeds=config.num_seeds)

  # Device-resident flags for the step's `with_norms`: the norms are computed on the steps
  # that are logged (a Python bool would be a host-to-device transfer every step).
  norm_flags = {b: parallel.replicate(np.asarray(b), mesh) for b in (False, True)}

  def check_finite(step: int, metrics: dict[str, np.ndarray]) -> None:
    for seed, values in per_seed(config, metrics):
      for name, value in values.items():
        if not math.isfinite(value):
          where = "" if seed is None else f" (seed {seed})"
          raise NonFiniteError(f"non-finite {name}={value} at step {step}{where}")
    if not bool(parallel.to_host(_all_finite(trainable_params(state)))):
      raise NonFiniteError(f"non-finite parameters at step {step}")

  def save(step: int) -> None:
    if not bool(parallel.to_host(_all_finite(trainable_params(state)))):
      raise NonFiniteError(f"non-finite parameters at step {step}; not checkpointed")
    checkpoints.save(manager, step, state)  # every process takes part

  def draw_pictures(step: int) -> None:
    if writes:
      for seed, seed_state in per_seed(config, parallel.to_host(state)):
        write_pictures(game, seed_state, step, workdir, writer, seed)

  seeds = run_seeds(config)
  logging.info(
    "training %s (%s) for %d steps, batch %d over %d device(s)%s",
    game.name,
    ", ".join(f"{k}={v}" for k, v in game.info.items()),
    total,
    config.batch_size,
    num_devices,
    f", {config.num_seeds} seeds {seeds} in one program" if config.num_seeds > 1 else "",
  )
  step = start
  last_metrics: dict[str, float] = {}
  t_log, step_log = time.time(), step
  first = True
  if start == 0:
    draw_pictures(0)
  with _PreemptionGuard().installed() as guard:
    try:
      while step < total:
        k = min(config.steps_per_dispatch, total - step)
        if stream is not None:
          data_arrays = _next_batches(game, stream, k, mesh)
        will_log = crossed(config.log_every, step, step + k) or step + k >= total
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
        is_last = step >= total
        if will_log:  # the steps whose metrics carry their norms
          host_metrics = parallel.to_host(metrics)
          check_finite(step, host_metrics)
          now = time.time()
          rate = (step - step_log) / max(now - t_log, 1e-9) if step > step_log else float("nan")
          t_log, step_log = now, step
          for seed, values in per_seed(config, host_metrics):
            row = {k: float(v) for k, v in values.items()}
            writer.write_scalars(step, {**row, "steps_per_s": rate}, seed=seed)
          # The console shows the mean over seeds.
          last_metrics = {k: float(np.mean(v)) for k, v in host_metrics.items()}
          logging.info("%s", _progress_line(step, total, last_metrics, game.console, rate))
        if crossed(config.sample_every, before, step) or is_last:
          draw_pictures(step)
        if evaluation is not None and (crossed(config.eval_every, before, step) or is_last):
          for seed, seed_state in per_seed(config, parallel.to_host(state)):
            eval_metrics = evaluation.evaluate(seed_state)
            writer.write_scalars(step, eval_metrics, seed=seed)
            logging.info("%s", summary_line(step, eval_metrics, seed))
        if crossed(config.checkpoint_every, before, step) or is_last:
          save(step)
        # Every process stops at the same step: the first dispatch after any of them was
        # signalled (a collective with several processes).
        if parallel.any_process(guard.signum is not None):
          if not crossed(config.checkpoint_every, before, step) and not is_last:
            save(step)
          signum = guard.signum or signal.SIGTERM  # a process that was not signalled itself
          name = signal.Signals(signum).name
          raise Preempted(
            f"stopped by {name} at step {step}: checkpoint saved; re-run the same command "
            "to resume",
            signum,
          )
    finally:
      writer.close()
      manager.close()
  logging.info(
    "done: %d steps in %s; outputs in %s",
    step,
    writers.format_duration(time.time() - t_start),
    workdir,
  )
  return last_metrics
