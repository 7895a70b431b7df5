r"""Trains, evaluates or samples a GAN described by an ml_collections config.

  python launch.py --config=experiments/dcgan.py
  python launch.py --config=experiments/dcgan.py --config.loss=wasserstein --workdir=runs/w
  python launch.py --config=experiments/dcgan.py --workdir=runs/w --mode=sample

Re-running with the same --workdir resumes from its latest checkpoint. All
logic lives in gan_jax; this file parses flags and reports errors in one line.
"""

import time

_PROCESS_START = time.time()  # before the heavy imports: "time to first step" counts them

import ast  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402

import ml_collections  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an experiments/*.py config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: runs/<name>).")
_MODE = flags.DEFINE_enum(
  "mode",
  "train",
  ["train", "eval", "sample"],
  "train; or eval / sample the latest checkpoint of --workdir (its config.json is used).",
)
_SWEEP = flags.DEFINE_bool(
  "sweep",
  False,
  "Run every member of the config file's get_sweep() into WORKDIR/<member>, then write "
  "WORKDIR/report.md, report.csv and plots/. Finished members are skipped.",
)
_SWEEP_TOGETHER = flags.DEFINE_bool(
  "sweep_together",
  False,
  "With --sweep: members that differ only in settings the game reads per run (and seeds) "
  "train together in one program, the runs split over the devices; with --sweep_dry_run, "
  "print the programs.",
)
_SWEEP_DRY_RUN = flags.DEFINE_bool(
  "sweep_dry_run", False, "Print one launch command per sweep member (for a scheduler)."
)
_SWEEP_ONLY = flags.DEFINE_string(
  "sweep_only",
  None,
  "With --sweep / --sweep_dry_run: only the members whose name matches this regular "
  "expression (e.g. 'pack=1' or 'loss=(hinge|wasserstein)'); the report covers them.",
)
_REUSE_HOST_MEMORY = flags.DEFINE_bool(
  "reuse_host_memory",
  True,
  "On CPU, run programs on the calling thread and keep freed memory mapped, so each step "
  "reuses its scratch buffers instead of page-faulting them in again (gan_jax.host).",
)
_DISTRIBUTED = flags.DEFINE_bool(
  "distributed",
  False,
  "Join JAX's multi-process runtime, the cluster detected (Cloud TPU, SLURM, Open MPI, ...): "
  "run the same command on every host.",
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", None, "With several processes: HOST:PORT of process 0's coordinator."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "With several processes: how many.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "With several processes: this one's index.")
_CLUSTER_TIMEOUT = flags.DEFINE_integer(
  "cluster_timeout", 300, "Seconds to wait for the other processes at start-up."
)
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
  "heartbeat_timeout",
  100,
  "Seconds without a heartbeat after which a process counts as dead: the others then stop.",
)
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
  "allow_config_change",
  False,
  "Resume a workdir even if the config changes parameter shapes: its old checkpoints are set "
  "aside and training starts afresh.",
)


def config_name(config_filename: str) -> str:
  """'experiments/pacgan_2d.py:ring_quick' -> 'pacgan_2d_ring_quick' (for workdir names)."""
  path, _, arg = config_filename.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return f"{name}_{arg}" if arg else name


def default_workdir(config_path: str, config) -> str:
  return os.path.join(
    "runs",
    f"{config_name(config_path)}_{config.loss}_seed{config.seed}_{time.strftime('%Y%m%d-%H%M%S')}",
  )


def _config_path(argv: list[str]) -> str | None:
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


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing, with bad flags and config overrides reported in one line (exit 2)."""
  path = _config_path(argv)
  if path:
    check_config_file(path)
  try:
    rest = flags.FLAGS(argv)
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
  if path and not isinstance(_CONFIG.value, ml_collections.ConfigDict):
    _fail(
      f"config file {path}: get_config() returned {type(_CONFIG.value).__name__}, not a ConfigDict"
    )
  return rest


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run_sweep(config, config_path: str) -> int:
  """--sweep / --sweep_dry_run; returns the exit code. `config_path` may carry config_flags'
  ':ARG' (the config file's variant); get_sweep() is read from the file."""
  import jax  # noqa: PLC0415

  from gan_jax import config as config_lib  # noqa: PLC0415
  from gan_jax import errors, report, sweep, train  # noqa: PLC0415

  members = sweep.load_sweep(config_path)
  if _SWEEP_ONLY.value:
    members = sweep.select_members(members, _SWEEP_ONLY.value)
  sweep.check_seed_overlap(members, config.num_seeds)
  for line in sweep.shadowed_overrides(members, sweep.config_overrides_from_argv(sys.argv)):
    print(f"warning: {line}", file=sys.stderr)
  workdir = _WORKDIR.value or os.path.join(
    "runs", f"{config_name(config_path)}_sweep_{time.strftime('%Y%m%d-%H%M%S')}"
  )
  command = shlex.join([sys.executable, *sys.argv])
  if _SWEEP_DRY_RUN.value:
    sweep.write_sweep_json(workdir, members, command)  # a later --sweep reports on them
    if _SWEEP_TOGETHER.value:
      print("\n".join(sweep.dry_run_groups(config, members)))
      return 0
    overrides = sweep.config_overrides_from_argv(sys.argv)
    print("\n".join(sweep.dry_run_commands(config_path, members, workdir, overrides)))
    return 0
  validate = lambda c: config_lib.validate(c, num_devices=jax.device_count())  # noqa: E731
  if _SWEEP_TOGETHER.value:
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from gan_jax import errors, supervisor  # noqa: PLC0415 - light: no JAX

  explicit = [_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value]
  several = _DISTRIBUTED.value or any(v is not None for v in explicit)
  if several and not supervisor.is_child():
    # JAX aborts a process whose cluster lost a member: train in a child, say so when it does.
    known = None not in explicit[1:]
    sys.exit(
      supervisor.run_supervised(
        errors.process_tag(_PROCESS_ID.value, _NUM_PROCESSES.value) if known else ""
      )
    )
  import jax  # noqa: PLC0415

  from gan_jax import host, parallel, train  # heavy, after flag parsing  # noqa: PLC0415

  if several:
    with errors.one_line_errors():
      if not _DISTRIBUTED.value and None in explicit:
        raise errors.UsageError(
          "--coordinator_address, --num_processes and --process_id go together (or use "
          "--distributed to detect the cluster)"
        )
      parallel.initialize_distributed(
        *explicit, timeout_s=_CLUSTER_TIMEOUT.value, heartbeat_s=_HEARTBEAT_TIMEOUT.value
      )
      errors.tag_process(jax.process_index(), jax.process_count())
      supervisor.report_process(errors.process_tag(jax.process_index(), jax.process_count()))
      if jax.process_count() > 1 and _MODE.value == "train" and not _WORKDIR.value:
        raise errors.UsageError("with several processes, give every one the same --workdir")
  if _REUSE_HOST_MEMORY.value:
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
    if _MODE.value == "train":
      if _CONFIG.value is None:
        raise errors.UsageError("--config is required to train, e.g. --config=experiments/dcgan.py")
      config = _CONFIG.value
      config_path = flags.FLAGS["config"].config_filename
      if _SWEEP.value or _SWEEP_DRY_RUN.value:
        sys.exit(run_sweep(config, config_path))
      if _SWEEP_ONLY.value or _SWEEP_TOGETHER.value:
        raise errors.UsageError(
          "--sweep_only and --sweep_together are about sweep members: add --sweep or "
          "--sweep_dry_run"
        )
      workdir = _WORKDIR.value or default_workdir(config_path, config)
      train.train_and_evaluate(
        config,
        workdir,
        allow_config_change=_ALLOW_CONFIG_CHANGE.value,
        process_start=_PROCESS_START,
      )
    else:
      if not _WORKDIR.value:
        raise errors.UsageError(f"--mode={_MODE.value} needs --workdir=DIR of a trained run")
      from gan_jax import inference  # noqa: PLC0415

      run = inference.evaluate_workdir if _MODE.value == "eval" else inference.sample_workdir
      run(_WORKDIR.value)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
