"""The command line's logic: flags, config-file checks, sweeps, the XLA cache, several processes.

launch.py defines these flags on absl's global FLAGS and hands `main` to `absl.app.run`;
`run(argv)` is the same command line in-process (fresh flags each call), which is how the
tests check its error paths: one line on stderr, exit code 2, nothing written.

This module imports only absl and ml_collections at the top: launch.py records the process
start before importing it, and JAX comes in only after the flags are parsed.
"""

from __future__ import annotations

import ast
import os
import shlex
import sys
import time
from collections.abc import Sequence

import ml_collections
from absl import app, flags
from ml_collections import config_flags


def define_flags(flag_values: flags.FlagValues, argv: Sequence[str] | None = None) -> None:
  """Defines the command line's flags on `flag_values`. `argv`: the command line whose
  `--config.KEY` overrides config_flags registers (None: sys.argv, read when parsing)."""
  on = {"flag_values": flag_values}  # every flag below is defined on it
  config_flags.DEFINE_config_file(
    "config",
    None,
    "Path to an experiments/*.py config.",
    sys_argv=None if argv is None else list(argv),
    **on,
  )
  flags.DEFINE_string("workdir", None, "Output directory (default: runs/<name>).", **on)
  flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval", "sample"],
    "train; or eval / sample the latest checkpoint of --workdir (its config.json is used).",
    **on,
  )
  flags.DEFINE_bool(
    "sweep",
    False,
    "Run every member of the config file's get_sweep() into WORKDIR/<member>, then write "
    "WORKDIR/report.md, report.csv and plots/. Finished members are skipped.",
    **on,
  )
  flags.DEFINE_bool(
    "sweep_together",
    False,
    "With --sweep: members that differ only in settings the game reads per run (and seeds) "
    "train together in one program, the runs split over the devices; with --sweep_dry_run, "
    "print the programs.",
    **on,
  )
  flags.DEFINE_bool(
    "sweep_dry_run", False, "Print one launch command per sweep member (for a scheduler).", **on
  )
  flags.DEFINE_string(
    "sweep_only",
    None,
    "With --sweep / --sweep_dry_run: only the members whose name matches this regular "
    "expression (e.g. 'pack=1' or 'loss=(hinge|wasserstein)'); the report covers them.",
    **on,
  )
  flags.DEFINE_bool(
    "reuse_host_memory",
    True,
    "On CPU, run programs on the calling thread and keep freed memory mapped, so each step "
    "reuses its scratch buffers instead of page-faulting them in again (gan_jax.host).",
    **on,
  )
  flags.DEFINE_bool(
    "distributed",
    False,
    "Join JAX's multi-process runtime, the cluster detected (Cloud TPU, SLURM, Open MPI, ...): "
    "run the same command on every host.",
    **on,
  )
  flags.DEFINE_string(
    "coordinator_address",
    None,
    "With several processes: HOST:PORT of process 0's coordinator.",
    **on,
  )
  flags.DEFINE_integer("num_processes", None, "With several processes: how many.", **on)
  flags.DEFINE_integer("process_id", None, "With several processes: this one's index.", **on)
  flags.DEFINE_integer(
    "cluster_timeout", 300, "Seconds to wait for the other processes at start-up.", **on
  )
  flags.DEFINE_integer(
    "heartbeat_timeout",
    100,
    "Seconds without a heartbeat after which a process counts as dead: the others then stop.",
    **on,
  )
  flags.DEFINE_bool(
    "allow_config_change",
    False,
    "Resume a workdir even if the config changes parameter shapes: its old checkpoints are set "
    "aside and training starts afresh.",
    **on,
  )


def config_name(config_filename: str) -> str:
  """'experiments/pacgan_2d.py:ring_quick' -> 'pacgan_2d_ring_quick' (for workdir names)."""
  path, _, arg = config_filename.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return f"{name}_{arg}" if arg else name


def default_workdir(config_path: str, config: ml_collections.ConfigDict) -> str:
  return os.path.join(
    "runs",
    f"{config_name(config_path)}_{config.loss}_seed{config.seed}_{time.strftime('%Y%m%d-%H%M%S')}",
  )


def _config_path(argv: Sequence[str]) -> str | None:
  """The file of --config=PATH (or --config PATH), without config_flags' ':ARGS' suffix."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value = argv[i + 1]
    else:
      continue
    return value.split(":", 1)[0]
  return None


def check_config_file(path: str) -> None:
  """One line (exit 2) for a config file that is missing, is not Python or has no get_config."""
  if not os.path.isfile(path):
    _fail(f"config file {path} not found (configs live in experiments/, e.g. experiments/dcgan.py)")
  try:
    with open(path) as f:
      tree = ast.parse(f.read(), filename=path)
  except (SyntaxError, UnicodeDecodeError, ValueError) as e:
    where = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
    _fail(f"config file {path} is not valid Python{where}: {getattr(e, 'msg', e)}")
  names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
  names |= {
    t.id
    for n in tree.body
    if isinstance(n, ast.Assign)
    for t in n.targets
    if isinstance(t, ast.Name)
  }
  names |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
  if "get_config" not in names:
    _fail(f"config file {path} defines no get_config(): see experiments/dcgan.py for the form")


def parse_flags(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """absl flag parsing, with bad flags and config overrides reported in one line (exit 2)."""
  path = _config_path(argv)
  if path:
    check_config_file(path)
  try:
    rest = flag_values(list(argv))
  except (AttributeError, KeyError) as e:  # an override of a key the config does not have
    text = " ".join(str(e).replace("\\n", " ").replace("\\'", "").replace("'", "").split())
    text = text.strip().replace(" Did", ". Did")
    _fail(f"unknown config key {text} (the config file lists its keys)")
  except (flags.Error, TypeError, ValueError) as e:
    _fail(" ".join(str(e).split()))
  except Exception as e:  # noqa: BLE001 - the config file's own code failed
    _fail(
      f"config file {path}: get_config() failed: {type(e).__name__}: {' '.join(str(e).split())}"
    )
  config = flag_values.config
  if path and not isinstance(config, ml_collections.ConfigDict):
    _fail(f"config file {path}: get_config() returned {type(config).__name__}, not a ConfigDict")
  return rest


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run_sweep(
  config: ml_collections.ConfigDict,
  config_path: str,
  flag_values: flags.FlagValues = flags.FLAGS,
  command_line: Sequence[str] | None = None,
) -> int:
  """--sweep / --sweep_dry_run; returns the exit code. `config_path` may carry config_flags'
  ':ARG' (the config file's variant); get_sweep() is read from the file. `command_line`: the
  full argv (default sys.argv), for the overrides each member inherits and the recorded
  command."""
  import jax  # noqa: PLC0415

  from gan_jax import errors, games, report, sweep, train  # noqa: PLC0415

  argv = list(sys.argv if command_line is None else command_line)
  fv = flag_values
  members = sweep.load_sweep(config_path)
  if fv.sweep_only:
    members = sweep.select_members(members, fv.sweep_only)
  sweep.check_seed_overlap(members, config.num_seeds)
  for line in sweep.shadowed_overrides(members, sweep.config_overrides_from_argv(argv)):
    print(f"warning: {line}", file=sys.stderr)
  workdir = fv.workdir or os.path.join(
    "runs", f"{config_name(config_path)}_sweep_{time.strftime('%Y%m%d-%H%M%S')}"
  )
  command = shlex.join([sys.executable, *argv])
  if fv.sweep_dry_run:
    sweep.write_sweep_json(workdir, members, command)  # a later --sweep reports on them
    if fv.sweep_together:
      print("\n".join(sweep.dry_run_groups(config, members)))
      return 0
    overrides = sweep.config_overrides_from_argv(argv)
    print("\n".join(sweep.dry_run_commands(config_path, members, workdir, overrides)))
    return 0
  validate = lambda c: games.validate(c, num_devices=jax.device_count())  # noqa: E731
  if fv.sweep_together:
    results = sweep.run_sweep_together(
      config,
      members,
      workdir,
      train_fn=train.train_together,
      command=command,
      validate_fn=validate,
    )
  else:
    results = sweep.run_sweep(
      config,
      members,
      workdir,
      train_fn=train.train_and_evaluate,
      command=command,
      validate_fn=validate,
    )
  if jax.process_index() == 0:
    report.write_report(
      workdir, members, command=command, primary_metric=config.report.primary_metric
    )
  failed = [r["name"] for r in results if r["status"] == "failed"]
  print(
    f"sweep: {len(results) - len(failed)}/{len(results)} members done; report in "
    f"{os.path.join(workdir, 'report.md')}"
  )
  if failed:
    print(f"error: members failed: {', '.join(failed)}", file=sys.stderr)
    return errors.EXIT_TRAINING_FAILED
  return 0


def main(
  argv: Sequence[str],
  flag_values: flags.FlagValues = flags.FLAGS,
  *,
  command_line: Sequence[str] | None = None,
  process_start: float | None = None,
) -> int:
  """Runs the parsed command line and returns its exit code (absl.app.run's `main`).

  `argv`: what flag parsing left (the program name only); `command_line`: the full argv
  (default sys.argv), which sweeps record; `process_start`: time.time() at the process's
  start, before its heavy imports ("time to first step" counts them).
  """
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from gan_jax import errors, supervisor  # noqa: PLC0415 - light: no JAX

  fv = flag_values
  explicit = [fv.coordinator_address, fv.num_processes, fv.process_id]
  several = fv.distributed or any(v is not None for v in explicit)
  if several and not supervisor.is_child():
    # JAX aborts a process whose cluster lost a member: train in a child, say so when it does.
    known = None not in explicit[1:]
    return supervisor.run_supervised(
      errors.process_tag(fv.process_id, fv.num_processes) if known else ""
    )
  # TensorFlow is only a run's data pipeline (TFDS). Its import loads Keras 3 eagerly, with
  # scikit-learn and pandas where installed (4 s of CPU on 2 cores, a third of the import),
  # unless Keras is said to be the separate tf_keras package, which, where not installed,
  # then does not load either. A run never uses tf.keras.
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  import jax  # noqa: PLC0415

  from gan_jax import host, parallel, train  # heavy, after flag parsing  # noqa: PLC0415

  if several:
    with errors.one_line_errors():
      if not fv.distributed and None in explicit:
        raise errors.UsageError(
          "--coordinator_address, --num_processes and --process_id go together (or use "
          "--distributed to detect the cluster)"
        )
      parallel.initialize_distributed(
        *explicit, timeout_s=fv.cluster_timeout, heartbeat_s=fv.heartbeat_timeout
      )
      errors.tag_process(jax.process_index(), jax.process_count())
      supervisor.report_process(errors.process_tag(jax.process_index(), jax.process_count()))
      if jax.process_count() > 1 and fv.mode == "train" and not fv.workdir:
        raise errors.UsageError("with several processes, give every one the same --workdir")
  if fv.reuse_host_memory:
    host.reuse_host_memory()  # before the first computation creates the CPU client
  # A persistent compilation cache: a second run of the same config skips XLA compilation.
  if not jax.config.jax_compilation_cache_dir:
    jax.config.update(
      "jax_compilation_cache_dir", os.path.join(os.path.expanduser("~"), ".cache", "gan_jax", "xla")
    )
  # JAX caches only programs that took over 1 s to compile: the initial state and the
  # sample grid's generator (0.8-0.9 s each on a 2-core CPU) would be compiled every run.
  if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # JAX's default
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)

  errors.quiet_library_logs()
  with errors.one_line_errors():
    if fv.mode == "train":
      if fv.config is None:
        raise errors.UsageError("--config is required to train, e.g. --config=experiments/dcgan.py")
      config = fv.config
      config_path = fv["config"].config_filename
      if fv.sweep or fv.sweep_dry_run:
        return run_sweep(config, config_path, fv, command_line)
      if fv.sweep_only or fv.sweep_together:
        raise errors.UsageError(
          "--sweep_only and --sweep_together are about sweep members: add --sweep or "
          "--sweep_dry_run"
        )
      workdir = fv.workdir or default_workdir(config_path, config)
      train.train_and_evaluate(
        config,
        workdir,
        allow_config_change=fv.allow_config_change,
        process_start=process_start,
      )
    else:
      if not fv.workdir:
        raise errors.UsageError(f"--mode={fv.mode} needs --workdir=DIR of a trained run")
      from gan_jax import inference  # noqa: PLC0415

      run_mode = inference.evaluate_workdir if fv.mode == "eval" else inference.sample_workdir
      run_mode(fv.workdir)
  return 0


def run(argv: Sequence[str], *, process_start: float | None = None) -> int:
  """The command line `argv` (argv[0]: the program) in this process; returns its exit code.

  Flags are defined afresh on each call, so calls do not share values. Error lines go to
  stderr as from launch.py; absl.app's extras (--help, --helpfull, its usage text for
  unexpected arguments) are launch.py's alone. Multi-process flags start a supervised child
  of *this* process's command line: use launch.py in a subprocess for those.
  """
  flag_values = flags.FlagValues()
  define_flags(flag_values, argv)
  try:
    rest = parse_flags(argv, flag_values)
    return main(rest, flag_values, command_line=argv, process_start=process_start)
  except app.UsageError as e:
    print(e, file=sys.stderr)
    return e.exitcode
  except SystemExit as e:  # errors' one-line reports exit; here they return the code
    if e.code is None or isinstance(e.code, int):
      return e.code or 0
    print(e.code, file=sys.stderr)
    return 1
