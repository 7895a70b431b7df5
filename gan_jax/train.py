"""The training loop, one for every game: `train_and_evaluate(config, workdir)` is the front door.

One idea over 600 lines, the loop, in the sections below (big_vision keeps its trainer whole
for the same reason: it reads top to bottom).

Sections: setup (configs, the game, mesh, state or resume), the step (the game's
per-device update mapped over the mesh, vmapped over runs, fused over dispatches), and
the loop (dispatch steps; at their cadences log, draw pictures, evaluate, checkpoint;
stop cleanly on SIGTERM/SIGINT and loudly on NaN). Metrics stay on device between log
points. The loop knows a game only through gan_jax.game.Game: it never looks inside the
state beyond `step`, `rng` and the networks' parameters (for the NaN guard).

One program may train several runs: the seeds of `num_seeds`, and the members of a sweep
trained together (`train_together`), each run on a leading axis of the state. A run whose
losses or parameters turn non-finite is then frozen at its last finite state and reported
as diverged, and the others go on; a single run stops the program instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax import checkpoints, games, host, parallel, writers
from gan_jax import config as config_lib
from gan_jax.errors import ConfigError, NonFiniteError, Preempted, WorkdirError
from gan_jax.game import Game, State, trainable_params

RUNS_AXIS = "runs"  # the mesh axis the runs of a multi-run program are split over

# --- setup -------------------------------------------------------------------------------------


make_game = games.make_game


def run_seeds(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds of the runs one config trains: seed, ..., seed + num_seeds - 1."""
  return [config.seed + i for i in range(config.num_seeds)]


@dataclasses.dataclass(frozen=True)
class Runs:
  """The runs of one program: each member config's seeds, in order, and where they write.

  A run is (member, seed); `tag(r)` is the seed its rows and pictures carry in the
  member's workdir (None for a member of one seed, whose workdir is a plain run's).
  """

  configs: tuple[ml_collections.ConfigDict, ...]
  workdirs: tuple[str, ...]
  checkpoint_dir: str

  @functools.cached_property
  def entries(self) -> tuple[tuple[int, int], ...]:
    return tuple((m, s) for m, c in enumerate(self.configs) for s in run_seeds(c))

  def __len__(self) -> int:
    return len(self.entries)

  def tag(self, r: int) -> int | None:
    m, seed = self.entries[r]
    return seed if self.configs[m].num_seeds > 1 else None

  def name(self, r: int) -> str:
    m, seed = self.entries[r]
    member = os.path.basename(os.path.normpath(self.workdirs[m]))
    return f"{member} seed {seed}" if len(self.configs) > 1 else f"seed {seed}"


def run_mesh(runs: int, config: ml_collections.ConfigDict) -> Mesh:
  """The mesh of a program of `runs` runs: 1-D ('batch') for one run; else 2-D ('runs',
  'batch'), the runs split over as many devices as divide them (config.runs_devices forces
  it), each run's global batch over the rest."""
  devices = np.asarray(jax.devices())
  if runs == 1:
    return Mesh(devices, (parallel.AXIS,))
  n = devices.size
  split = config.runs_devices
  if split and (n % split or runs % split or config.batch_size % (n // split)):
    raise ConfigError(
      f"runs_devices {split} must divide the {n} devices and the {runs} runs, and leave "
      f"devices that divide batch_size {config.batch_size}: use 0 (chosen) or another value"
    )
  if not split:
    split = max(
      d
      for d in range(1, n + 1)
      if n % d == 0 and runs % d == 0 and config.batch_size % (n // d) == 0
    )
  return Mesh(devices.reshape(split, n // split), (RUNS_AXIS, parallel.AXIS))


def _run_sharding(mesh: Mesh) -> NamedSharding:
  """Where a run-stacked tree lives: split along its leading axis over 'runs' (if any)."""
  return NamedSharding(mesh, P(RUNS_AXIS) if RUNS_AXIS in mesh.axis_names else P())


def init_states(
  game: Game, seeds: Sequence[int], mesh: Mesh | None = None, settings: Sequence | None = None
) -> State:
  """The initial state of one run (one seed), or of several stacked on a leading run axis.

  Slice i of a stacked state is the state a single run with seed seeds[i] starts from;
  `settings[i]` are run i's per-run settings where the game takes them (Game.run_settings). One
  program that runs once, so it compiles with `host.run_once_compiler_options()` (run op by
  op, the initializers would cost hundreds of tiny compilations). With `mesh` the state
  comes out on it (with several processes: one global state).
  """
  kw = {"compiler_options": host.run_once_compiler_options()}
  if len(seeds) == 1:
    if mesh is not None:
      kw["out_shardings"] = NamedSharding(mesh, P())
    return jax.jit(game.init, **kw)(jax.random.PRNGKey(seeds[0]))
  if mesh is not None:
    kw["out_shardings"] = _run_sharding(mesh)
  keys = np.stack([jax.random.PRNGKey(s) for s in seeds])
  if settings is not None:
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *settings)
    return jax.jit(jax.vmap(game.init), **kw)(keys, stacked)
  return jax.jit(jax.vmap(game.init), **kw)(keys)


def init_run_state(
  config: ml_collections.ConfigDict, game: Game, mesh: Mesh | None = None
) -> State:
  """The initial state of `config`'s num_seeds runs (see `init_states`)."""
  return init_states(game, run_seeds(config), mesh)


def seed_slice(tree: Any, i: int) -> Any:
  """Run i's state (or metrics) out of a run-stacked pytree."""
  return jax.tree.map(lambda x: x[i], tree)


def per_seed(config, tree) -> list[tuple[int | None, Any]]:
  """[(seed, slice)]: one entry per run; the seed is None for a single-seed run."""
  if config.num_seeds == 1:
    return [(None, tree)]
  return [(s, seed_slice(tree, i)) for i, s in enumerate(run_seeds(config))]


def _check_resume(config, workdir: str, checkpoint_dir: str, allow_config_change: bool) -> bool:
  """Compares config with the one saved in workdir; True when old checkpoints must be set aside."""
  ckpt_dir = os.path.join(checkpoint_dir, "checkpoints")
  saved = config_lib.read_saved_config(workdir)
  if saved is None or not os.path.isdir(ckpt_dir) or not os.listdir(ckpt_dir):
    return False
  structural, other = games.config_changes(saved, config)
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


def _set_aside_checkpoints(directory: str) -> None:
  src = os.path.join(directory, "checkpoints")
  dst = os.path.join(directory, f"checkpoints_replaced_{time.strftime('%Y%m%d-%H%M%S')}")
  os.replace(src, dst)
  logging.warning("config shapes changed: old checkpoints moved to %s; starting at step 0", dst)


@dataclasses.dataclass
class Program:
  """What setup builds for one program: the game, its mesh, data, state and checkpoints.

  `state` is the game's state (run-stacked for several runs); `diverged_at` holds, per run,
  the step at which it diverged (-1: it did not); with one run it is None.
  """

  runs: Runs
  game: Game
  mesh: Mesh
  data: Any
  state: State
  diverged_at: Any
  manager: Any
  restored_step: int | None

  def checkpoint_tree(self) -> Any:
    if self.diverged_at is None:
      return self.state
    return {"state": self.state, "diverged_at": self.diverged_at}


def setup_runs(runs: Runs, *, for_training: bool, allow_config_change: bool = False) -> Program:
  """Validates every config and builds the game (which loads its data) before anything is
  written; then writes each member's config.json, and restores the newest checkpoint."""
  for config in runs.configs:
    games.validate(config, num_devices=jax.device_count())
  set_aside = False
  if for_training:
    for config, workdir in zip(runs.configs, runs.workdirs, strict=True):
      set_aside |= _check_resume(config, workdir, runs.checkpoint_dir, allow_config_change)
  # May still refuse a config: nothing is written yet.
  game = make_game(runs.configs[0], runs.configs)
  for config in runs.configs:
    with config.unlocked():
      config.update_from_flattened_dict(game.resolved)
  if for_training and parallel.is_writer():
    if set_aside:
      _set_aside_checkpoints(runs.checkpoint_dir)
    for config, workdir in zip(runs.configs, runs.workdirs, strict=True):
      os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
      writers.write_atomic(
        os.path.join(workdir, "config.json"),
        config.to_json_best_effort(indent=2, sort_keys=True) + "\n",
      )
  parallel.sync("workdir")  # the other processes wait for the workdirs to exist
  mesh = run_mesh(len(runs), runs.configs[0])
  data = parallel.replicate(game.data, mesh)
  settings = None
  if game.run_settings is not None:
    settings = [game.run_settings(runs.configs[m]) for m, _ in runs.entries]
  state = init_states(game, [seed for _, seed in runs.entries], mesh, settings)
  diverged_at = None
  if len(runs) > 1:
    state, diverged_at = initial_carry(state, mesh)
  program = Program(runs, game, mesh, data, state, diverged_at, None, None)
  program.manager = checkpoints.make_manager(
    runs.checkpoint_dir, max_to_keep=runs.configs[0].keep_checkpoints
  )
  restored = checkpoints.restore_latest(program.manager, program.checkpoint_tree())
  if restored is not None:
    tree, program.restored_step = restored
    if diverged_at is None:
      program.state = tree
    else:
      program.state, program.diverged_at = tree["state"], tree["diverged_at"]
  return program


def setup(config, workdir: str, *, for_training: bool, allow_config_change: bool = False):
  """The game, mesh and state of one config (restored when possible): what train, eval and
  sample share. Returns (game, mesh, data_arrays, state, manager, restored_step or None)."""
  p = setup_runs(
    Runs((config,), (workdir,), workdir),
    for_training=for_training,
    allow_config_change=allow_config_change,
  )
  return p.game, p.mesh, p.data, p.state, p.manager, p.restored_step


# --- the step ----------------------------------------------------------------------------------


def _with_runs(spec: Any, mesh: Mesh) -> Any:
  """A batch spec with a leading axis of runs, split over 'runs' (where the mesh has it)."""
  runs = RUNS_AXIS if RUNS_AXIS in mesh.axis_names else None
  return jax.tree.map(lambda s: P(runs, *s), spec, is_leaf=lambda s: isinstance(s, P))


def initial_carry(state: State, mesh: Mesh) -> tuple[State, jax.Array]:
  """What a multi-run train step takes: the run-stacked state and `diverged_at` (all -1)."""
  runs = jax.tree.leaves(state)[0].shape[0]
  return state, jax.device_put(np.full(runs, -1, np.int32), _run_sharding(mesh))


def _finite_runs(tree: Any) -> jax.Array:
  """Per run (leading axis), whether every value of the tree is finite."""
  leaves = [jnp.all(jnp.isfinite(x).reshape(x.shape[0], -1), axis=1) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves), axis=0)


def _each_run(step: Any, *, unroll: bool, run_steps: Sequence[Any] | None = None) -> Any:
  """The per-device step over a device's runs (a leading axis): vmapped, or, with `unroll`,
  one copy of the step per run. On CPU the copies run the very kernels a single run's step
  runs, so run i of a program computes what run i alone computes, where a vmapped program's
  batched matmuls and reductions round differently (and Adam turns such differences in
  near-zero gradients into steps of its full size); vmapped convolutions are no faster on
  XLA:CPU. On accelerators the runs are vmapped: one batched kernel instead of many small
  launches is the point of training runs together.

  `run_steps` (unrolled, every run on this device): run r's copy is run_steps[r], the step
  of its run alone (Game.run_step), whose settings are constants. The game's step reads
  them from the state as arrays, and XLA fuses an array operand otherwise than a constant;
  XLA:CPU contracts a multiply and an add in one fusion into a fused multiply-add, so a
  fusion boundary moved is a rounding changed (gan_jax.games.gan.run_step)."""
  if not unroll:
    return jax.vmap(step, in_axes=(0, 0, None))

  def unrolled(state, batch, with_norms):
    runs = jax.tree.leaves(state)[0].shape[0]
    steps = [step] * runs if run_steps is None else run_steps
    if len(steps) != runs:
      raise ValueError(f"{len(steps)} run steps for {runs} runs on a device")
    outs = [steps[r](seed_slice(state, r), seed_slice(batch, r), with_norms) for r in range(runs)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

  return unrolled


def make_train_step(
  game: Game,
  mesh: Mesh,
  *,
  steps_per_dispatch: int = 1,
  num_seeds: int = 1,
  run_steps: Sequence[Any] | None = None,
) -> Any:
  """jit(shard_map(...)) train step.

  One step: `game.draw(data, fold_in(state.rng, state.step))` draws the global batch,
  then `game.step` runs on each device's shard of it. `with_norms` (a bool array;
  default true) says whether the metrics' norms are computed: where false they are NaN
  and skipped. The train loop passes true on the steps it logs.

  One run (num_seeds = 1): `(state, data[, with_norms]) -> (state, metrics)`, the state
  replicated on the 1-D mesh. R runs (num_seeds = R > 1, on `run_mesh(R)`): `((state,
  diverged_at), data[, with_norms]) -> ((state, diverged_at), metrics)` with a leading run
  axis on the state and the metrics, split over the mesh's 'runs' axis; each run draws its
  batches and noise from its own rng. A run whose console metrics or parameters turn
  non-finite keeps its last finite state from then on (its updates are masked) and
  `diverged_at` records the step. `run_steps` (one per run; Game.run_step of its member):
  on CPU, where the mesh does not split the runs, run r steps with run_steps[r], the step
  of its run alone (`_each_run`); elsewhere every run steps with `game.step`.

  With steps_per_dispatch = K > 1 it runs K steps in one `lax.scan` and returns the
  metrics of the last; with streamed data `data` is then the dispatch's K batches
  stacked on a leading axis. The state argument is donated. On CPU it is compiled with
  `host.compiler_options()`, which JAX allows only at the top level: call it directly,
  not from inside another jit (its `.lower(...)` works as usual).
  """
  streamed = game.stream is not None
  # The step's reductions (parallel.mean) leave values typed as varying over the batch
  # axis, though every device holds them alike; out_specs P() wants them invariant.
  local_step = lambda *args: parallel.invariant(game.step(*args))
  if num_seeds == 1:
    mapped = jax.shard_map(
      local_step, mesh=mesh, in_specs=(P(), game.batch_spec, P()), out_specs=(P(), P())
    )

    def one_step(state, data, with_norms):
      batch = game.draw(data, jax.random.fold_in(state.rng, state.step))
      return mapped(state, batch, with_norms)

  else:
    runs = _run_sharding(mesh).spec
    unroll = jax.default_backend() == "cpu"
    # Where the runs are split over devices, a device's runs depend on its place in the
    # mesh, which a program of one code for every device cannot hold as constants.
    own_steps = None
    if unroll and run_steps is not None and dict(mesh.shape).get(RUNS_AXIS, 1) == 1:
      own_steps = [lambda *args, s=s: parallel.invariant(s(*args)) for s in run_steps]
    runs_step = jax.shard_map(
      _each_run(local_step, unroll=unroll, run_steps=own_steps),
      mesh=mesh,
      in_specs=(runs, _with_runs(game.batch_spec, mesh), P()),
      out_specs=(runs, runs),
    )

    def one_step(carry, data, with_norms):
      state, diverged_at = carry
      draw = lambda s: game.draw(data, jax.random.fold_in(s.rng, s.step))
      new, metrics = runs_step(state, jax.vmap(draw)(state), with_norms)
      live = diverged_at < 0
      ok = _finite_runs({k: metrics[k] for k in game.console if k in metrics})
      ok &= _finite_runs(trainable_params(new))
      keep = live & ok

      def select(n, o):
        return jnp.where(keep.reshape(keep.shape + (1,) * (n.ndim - 1)), n, o)

      state = jax.tree.map(select, new, state)
      diverged_at = jnp.where(live & ~ok, new.step, diverged_at)
      return (state, diverged_at), metrics

  def train_step(state, data, with_norms=None):
    # None: every metric, always. The train loop passes a (device-resident) bool.
    with_norms = jnp.asarray(True) if with_norms is None else with_norms
    if steps_per_dispatch == 1:
      return one_step(state, data, with_norms)
    # Only the last step's metrics are returned: the others skip their norms.
    flags = (jnp.arange(steps_per_dispatch) == steps_per_dispatch - 1) & with_norms
    # Fully unrolled: a rolled scan is a while loop, which XLA:CPU runs far slower.
    # Streamed data brings one batch per step (a leading K axis); resident data is shared.
    state, metrics = jax.lax.scan(
      lambda s, x: one_step(s, x[0] if streamed else data, x[1]),
      state,
      (data if streamed else None, flags),
      length=steps_per_dispatch,
      unroll=True,
    )
    return state, jax.tree.map(lambda m: m[-1], metrics)

  return jax.jit(train_step, donate_argnums=0, compiler_options=host.compiler_options())


def _next_batches(game: Game, stream, k: int, mesh) -> Any:
  """The next k streamed batches on the devices, split as the game says (stacked if k > 1).

  With several processes each stream yields its process's part of the global batch."""
  batches = [next(stream) for _ in range(k)]
  spec = game.stream_spec
  if k > 1:
    batches = [jax.tree.map(lambda *xs: np.stack(xs), *batches)]
    spec = P(None, *spec)
  return parallel.split_local_batch(batches[0], mesh, spec)


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


def summary_line(step: int, metrics: dict, seed: int | None = None, name: str = "") -> str:
  """One log line of an evaluation's metrics."""
  where = f" ({name})" if name else "" if seed is None else f" (seed {seed})"
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
  runs = Runs((config,), (workdir,), workdir)
  return train_runs(runs, allow_config_change=allow_config_change, process_start=process_start)


def train_together(
  configs: Sequence[ml_collections.ConfigDict],
  workdirs: Sequence[str],
  checkpoint_dir: str,
  *,
  allow_config_change: bool = False,
) -> list[dict[str, Any]]:
  """Trains the runs of several member configs (with their seeds) as one program.

  The configs must build the same game (what sweep.together_groups groups). Each member's
  workdir gets what a run of its own would write (config.json, metrics.jsonl rows,
  pictures, eval rows); the program's checkpoints live in `checkpoint_dir`. Returns the
  last logged metrics of each member.
  """
  runs = Runs(tuple(configs), tuple(workdirs), checkpoint_dir)
  last = train_runs(runs, allow_config_change=allow_config_change, per_member=True)
  return last


def train_runs(
  runs: Runs,
  *,
  allow_config_change: bool = False,
  process_start: float | None = None,
  per_member: bool = False,
) -> Any:
  """The loop: trains `runs` to the members' total_steps (see train_and_evaluate)."""
  t_start = time.time()
  t_process = process_start or t_start
  program = setup_runs(runs, for_training=True, allow_config_change=allow_config_change)
  game, mesh, data_arrays = program.game, program.mesh, program.data
  config = runs.configs[0]  # the loop's settings are the same for every member
  start = program.restored_step or 0
  total = config.total_steps
  num_runs = len(runs)
  writes = parallel.is_writer()  # process 0 writes the files; every process trains
  logging.info("workdir: %s", ", ".join(runs.workdirs))
  if program.restored_step is not None:
    if writes:
      for workdir in runs.workdirs:
        writers.truncate_rows_after(os.path.join(workdir, "metrics.jsonl"), start)
    logging.info("resuming from the checkpoint at step %d in %s", start, runs.checkpoint_dir)
  num_devices = jax.device_count()
  member_writers = [writers.Writer(w, enabled=writes) for w in runs.workdirs]
  for m, writer in enumerate(member_writers):
    writer.write_scalars(start, {"event": "start", **game.info, "devices": num_devices})
    text = runs.configs[m].to_json_best_effort(indent=2)
    writer.write_text(start, "config", "```\n" + text + "\n```")

  def writer_of(r: int) -> writers.Writer:
    return member_writers[runs.entries[r][0]]

  stream = game.stream(start) if game.stream is not None else None
  evaluation = None
  if config.eval_every >= 0 and start < total and writes:
    # On this process's devices, from a host copy of the state: no cross-process traffic.
    evaluation = game.make_evaluation(parallel.local_mesh())
    if evaluation is not None:
      for writer in member_writers:
        writer.write_scalars(start, {"event": "eval_info", **evaluation.info})

  run_steps = None
  if num_runs > 1 and game.run_step is not None:  # each run its member's own step (on CPU)
    member_steps = [game.run_step(c) for c in runs.configs]
    run_steps = [member_steps[m] for m, _ in runs.entries]

  @functools.cache
  def step_fn(k: int):
    return make_train_step(
      game, mesh, steps_per_dispatch=k, num_seeds=num_runs, run_steps=run_steps
    )

  # Device-resident flags for the step's `with_norms`: the norms are computed on the steps
  # that are logged (a Python bool would be a host-to-device transfer every step).
  norm_flags = {b: parallel.replicate(np.asarray(b), mesh) for b in (False, True)}
  carry = program.state if num_runs == 1 else (program.state, program.diverged_at)
  reported = set()  # runs whose divergence was logged

  def state_of(carry):
    return carry if num_runs == 1 else carry[0]

  def run_slices(tree) -> list[tuple[int, Any]]:
    """[(run, its slice)] of a host tree, the frozen (diverged) runs left out."""
    if num_runs == 1:
      return [(0, tree)]
    return [(r, seed_slice(tree, r)) for r in range(num_runs) if r not in reported]

  def check_finite(step: int, metrics: dict[str, np.ndarray]) -> None:
    """One run: a non-finite loss or parameter stops the program, naming them. Several:
    newly diverged runs are reported; all of them diverged stops the program."""
    if num_runs == 1:
      for name, value in metrics.items():
        if not math.isfinite(value):
          raise NonFiniteError(f"non-finite {name}={value} at step {step}")
      if not bool(parallel.to_host(_all_finite(trainable_params(carry)))):
        raise NonFiniteError(f"non-finite parameters at step {step}")
      return
    diverged_at = parallel.to_host(carry[1])
    for r in np.flatnonzero(diverged_at >= 0):
      if int(r) in reported:
        continue
      reported.add(int(r))
      at = int(diverged_at[r])
      logging.warning("%s diverged at step %d: frozen there; the others go on", runs.name(r), at)
      writer_of(r).write_scalars(at, {"event": "diverged"}, seed=runs.tag(r))
    if len(reported) == num_runs:
      raise NonFiniteError(f"every run diverged (the last at step {int(diverged_at.max())})")

  def save(step: int) -> None:
    if num_runs == 1 and not bool(parallel.to_host(_all_finite(trainable_params(carry)))):
      raise NonFiniteError(f"non-finite parameters at step {step}; not checkpointed")
    program.state = state_of(carry)
    if num_runs > 1:
      program.diverged_at = carry[1]
    checkpoints.save(program.manager, step, program.checkpoint_tree())  # every process

  def draw_pictures(step: int) -> None:
    host_state = parallel.to_host(state_of(carry))  # a collective where runs are split
    if writes:
      for r, run_state in run_slices(host_state):
        workdir = runs.workdirs[runs.entries[r][0]]
        write_pictures(game, run_state, step, workdir, writer_of(r), runs.tag(r))

  logging.info(
    "training %s (%s) for %d steps, batch %d over %d device(s)%s",
    game.name,
    ", ".join(f"{k}={v}" for k, v in game.info.items()),
    total,
    config.batch_size,
    num_devices,
    f", {num_runs} runs in one program, mesh {dict(mesh.shape)}" if num_runs > 1 else "",
  )
  step = start
  last_metrics: dict[str, float] = {}
  member_metrics: list[dict[str, float]] = [{} for _ in runs.configs]
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
        carry, metrics = step_fn(k)(carry, data_arrays, norm_flags[will_log])
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
          live = run_slices(host_metrics)
          for r, values in live:
            row = {key: float(v) for key, v in values.items()}
            writer_of(r).write_scalars(step, {**row, "steps_per_s": rate}, seed=runs.tag(r))
            member_metrics[runs.entries[r][0]] = row
          # The console shows the mean over the live runs.
          last_metrics = {key: float(np.mean([v[key] for _, v in live])) for key in host_metrics}
          logging.info("%s", _progress_line(step, total, last_metrics, game.console, rate))
        if crossed(config.sample_every, before, step) or is_last:
          draw_pictures(step)
        evaluating = config.eval_every >= 0 and (
          crossed(config.eval_every, before, step) or is_last
        )
        host_state = parallel.to_host(state_of(carry)) if evaluating else None  # every process
        if evaluation is not None and evaluating:
          for r, run_state in run_slices(host_state):
            eval_metrics = evaluation.evaluate(run_state)
            writer_of(r).write_scalars(step, eval_metrics, seed=runs.tag(r))
            name = runs.name(r) if num_runs > 1 else ""
            logging.info("%s", summary_line(step, eval_metrics, name=name))
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
      for writer in member_writers:
        writer.close()
      program.manager.close()
  logging.info(
    "done: %d steps in %s; outputs in %s",
    step,
    writers.format_duration(time.time() - t_start),
    ", ".join(runs.workdirs),
  )
  return member_metrics if per_member else last_metrics
