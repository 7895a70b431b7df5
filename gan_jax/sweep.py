r"""Sweeps: run every member of a config file's `get_sweep()` (gan_jax.report then reports).

One idea over 600 lines: running a sweep (its members, their workdirs, together-groups).

A config file may define, next to `get_config()`,

  def get_sweep():
    return [
      {"loss": loss, "seed": seed}
      for loss in ("minimax", "non_saturating", "hinge")
      for seed in (0, 1, 2)
    ]

Each member is a dict of dotted config overrides applied on top of the base
config (which already carries the command line's `--config.KEY=VALUE`s). A
member may carry a `"name"`; otherwise its name is derived from the overrides:
keys sorted, `seed` last, dotted keys shortened to their last part when no other
key of the sweep ends the same way, e.g. `loss=hinge,d_norm=layer,seed=2`. The
name is the member's directory under the sweep workdir:

  workdir/sweep.json            the members (name, overrides) and the command
  workdir/<member>/             an ordinary run workdir (metrics.jsonl, checkpoints/, ...)
  workdir/<member>/DONE         written when the member finished; holds its total_steps
  workdir/report.{md,csv}, workdir/plots/   see gan_jax.report

Re-running a sweep skips finished members and resumes the others from their
checkpoints; raising `total_steps` makes finished members train further.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
from absl import logging

from gan_jax import config as config_lib
from gan_jax import games, parallel, writers
from gan_jax.errors import Preempted, SweepError, WorkdirError

SEED_KEY = "seed"
NAME_KEY = "name"
DONE_FILE = "DONE"
SWEEP_FILE = "sweep.json"
# Entries of the sweep workdir that are not member directories.
TOGETHER_DIR = "_together"  # the checkpoints of the programs of a sweep trained together
RESERVED_NAMES = frozenset({"plots", SWEEP_FILE, "report.md", "report.csv", TOGETHER_DIR})
# Long names are cut and made unique with a hash: most filesystems cap a name at 255 bytes.
MAX_NAME_LEN = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,-]")

Member = dict[str, Any]  # {"name": str, "overrides": {dotted key: value}}


# --- names -------------------------------------------------------------------------------------


def _format_value(value: Any) -> str:
  if isinstance(value, float):
    return repr(value)  # shortest exact form: 0.0002, 1e-05
  if isinstance(value, (list, tuple)):
    return "-".join(_format_value(v) for v in value)
  return str(value)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
  """Maps each dotted key to its last part, unless another key of the set ends the same way."""
  keys = sorted(set(keys))
  last = [k.rsplit(".", 1)[-1] for k in keys]
  return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def overrides_name(overrides: dict[str, Any], shorten: dict[str, str] | None = None) -> str:
  """A readable, filesystem-safe, deterministic name: `loss=hinge,d_norm=layer,seed=2`.

  Keys are sorted by their full dotted name, `seed` last (so a member's name
  starts with its variant's name); `shorten` maps dotted keys to display keys
  (see `short_keys`). No overrides at all is `base`.
  """
  shorten = shorten if shorten is not None else short_keys(list(overrides))
  keys = sorted(k for k in overrides if k != SEED_KEY)
  if SEED_KEY in overrides:
    keys.append(SEED_KEY)
  name = ",".join(f"{shorten.get(k, k)}={_format_value(overrides[k])}" for k in keys) or "base"
  name = _UNSAFE.sub("_", name)
  if len(name) > MAX_NAME_LEN:
    name = name[: MAX_NAME_LEN - 9] + "-" + _digest(overrides)
  return name


def _digest(overrides: dict[str, Any]) -> str:
  text = json.dumps(overrides, sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:8]


def _is_resolved(member: Any) -> bool:
  return (
    isinstance(member, dict)
    and set(member) == {NAME_KEY, "overrides"}
    and isinstance(member["overrides"], dict)
  )


def resolve_members(raw: Sequence[dict[str, Any]]) -> list[Member]:
  """get_sweep() dicts -> [{"name": ..., "overrides": {...}}], names unique.

  Idempotent: members already in that form pass through (names re-checked).
  Raises ValueError for a member that is not a dict, two members with the same
  overrides or name, or an explicit name that is not a safe directory name.
  """
  if not isinstance(raw, (list, tuple)) or not raw:
    raise SweepError(f"a sweep is a non-empty list of override dicts, got {raw!r:.200}")
  pairs = []
  for i, m in enumerate(raw):
    if _is_resolved(m):
      pairs.append((m[NAME_KEY], dict(m["overrides"])))
    elif isinstance(m, dict):
      overrides = {k: v for k, v in m.items() if k != NAME_KEY}
      if not all(isinstance(k, str) and k for k in overrides):
        raise SweepError(f"sweep member {i}: override keys must be non-empty strings: {m!r}")
      pairs.append((m.get(NAME_KEY), overrides))
    else:
      raise SweepError(f"sweep member {i} is not a dict of overrides: {m!r:.200}")

  shorten = short_keys([k for _, o in pairs for k in o])
  members, seen_names, seen_overrides = [], {}, {}
  for i, (name, overrides) in enumerate(pairs):
    canonical = json.dumps(overrides, sort_keys=True, default=repr)
    if canonical in seen_overrides:
      raise SweepError(
        f"sweep members {seen_overrides[canonical]} and {i} have the same overrides {overrides}"
      )
    seen_overrides[canonical] = i
    if name is None:
      name = overrides_name(overrides, shorten)
      if name in seen_names:  # distinct overrides that print alike, e.g. after "/" -> "_"
        name = f"{name[: MAX_NAME_LEN - 9]}-{_digest(overrides)}"
    else:
      _check_explicit_name(i, name)
    if name in seen_names:
      raise SweepError(f"sweep members {seen_names[name]} and {i} have the same name {name!r}")
    seen_names[name] = i
    members.append({NAME_KEY: name, "overrides": overrides})
  return members


def _check_explicit_name(index: int, name: Any) -> None:
  if (
    not isinstance(name, str)
    or not name
    or _UNSAFE.search(name)
    or name.startswith(("-", "."))
    or name in RESERVED_NAMES
  ):
    raise SweepError(
      f"sweep member {index}: name {name!r} is not usable as a directory name "
      "(use letters, digits and . _ + = , -; not plots, report.*, sweep.json)"
    )


def variant_name(overrides: dict[str, Any], shorten: dict[str, str] | None = None) -> str:
  """The name of the member's overrides without `seed`: members differing only by seed share it."""
  return overrides_name({k: v for k, v in overrides.items() if k != SEED_KEY}, shorten)


# --- loading and configs -----------------------------------------------------------------------


def load_sweep(config_path: str) -> list[Member]:
  """Imports a config file by path and returns its get_sweep() members, resolved and named.

  `config_path` may end in config_flags' ':ARG' (the file's variant, as for get_config):
  get_sweep receives it when it takes a parameter, so a variant can size its members (e.g.
  a quick variant's step counts). The file is imported the way ml_collections'
  config_flags imports it, so `from gan_jax.config import ...` works inside it. Raises
  ValueError (one line) when the file is missing, has no get_sweep(), or get_sweep()
  returns no members.
  """
  config_path, has_arg, arg = config_path.partition(":")
  if not os.path.isfile(config_path):
    raise SweepError(f"config file not found: {config_path}")
  module_name = "_gan_jax_sweep_" + re.sub(r"\W", "_", os.path.splitext(config_path)[0])
  spec = importlib.util.spec_from_file_location(module_name, config_path)
  if spec is None or spec.loader is None:
    raise SweepError(f"cannot import config file {config_path} (not a .py file?)")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  get_sweep = getattr(module, "get_sweep", None)
  if not callable(get_sweep):
    raise SweepError(
      f"{config_path} defines no get_sweep(); add one returning a list of override dicts "
      "to run it with --sweep"
    )
  takes_variant = bool(inspect.signature(get_sweep).parameters)
  try:
    return resolve_members(get_sweep(arg) if has_arg and takes_variant else get_sweep())
  except ValueError as e:
    raise SweepError(f"{config_path}: get_sweep(): {e}") from None


def pack_sweep(
  objectives: Sequence[str], packs: Sequence[int], packed_batch: int
) -> list[dict[str, Any]]:
  """The PacGAN sweep: objectives x pack, with D seeing `packed_batch` packed examples per
  step (batch_size = packed_batch * pack), members named `loss=...,pack=...`."""
  return [
    {
      "name": f"loss={loss},pack={pack}",
      "loss": loss,
      "model.pack": pack,
      "batch_size": packed_batch * pack,
    }
    for loss in objectives
    for pack in packs
  ]


def select_members(members: Sequence[Member], pattern: str) -> list[Member]:
  """The members whose name matches the regular expression `pattern` (re.search)."""
  try:
    regex = re.compile(pattern)
  except re.error as e:
    raise SweepError(f"--sweep_only={pattern!r} is not a regular expression: {e}") from None
  chosen = [m for m in members if regex.search(m["name"])]
  if not chosen:
    names = ", ".join(m["name"] for m in members[:8]) + (", ..." if len(members) > 8 else "")
    raise SweepError(f"--sweep_only={pattern!r} matches no sweep member; members: {names}")
  return chosen


def check_seed_overlap(members: Sequence[Member], num_seeds: int) -> None:
  """Refuses members of one variant whose seed ranges overlap under num_seeds > 1.

  A member with seed s and num_seeds K trains seeds s .. s+K-1; members seeded
  0, 1, 2 with K = 3 would train seeds 1 and 2 twice and the report would count
  the copies as independent runs.
  """
  if num_seeds <= 1:
    return
  shorten = short_keys([k for m in members for k in m["overrides"]])
  seen: dict[tuple[str, int], str] = {}
  for m in members:
    seed = m["overrides"].get(SEED_KEY)
    if seed is None:
      continue
    variant = variant_name(m["overrides"], shorten)
    for s in range(int(seed), int(seed) + num_seeds):
      if (variant, s) in seen:
        raise SweepError(
          f"with num_seeds={num_seeds}, members {seen[(variant, s)]!r} and {m['name']!r} both "
          f"train seed {s}: pick one member per variant (e.g. --sweep_only='seed=0$') or "
          "space the members' seeds num_seeds apart"
        )
      seen[(variant, s)] = m["name"]


def member_config(
  base_config: ml_collections.ConfigDict, overrides: dict[str, Any], *, member: str = ""
) -> ml_collections.ConfigDict:
  """A copy of `base_config` with the dotted `overrides` applied (the base is left untouched).

  Raises ValueError (one line, naming the key and `member`) for a key the config
  does not have, a value of the wrong type, or a whole sub-config as a value.
  """
  config = copy.deepcopy(base_config)
  where = f" in sweep member {member!r}" if member else ""
  for key, value in overrides.items():
    if key == NAME_KEY:
      continue
    node, parts = config, key.split(".")
    for depth, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        prefix = ".".join(parts[:depth])
        valid = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(part, valid, n=1)
        hint = f'; did you mean "{".".join([*parts[:depth], close[0]])}"?' if close else ""
        within = f" (no {part!r} in {prefix!r})" if prefix else ""
        raise SweepError(f"unknown config key {key!r}{where}{within}{hint}")
      if depth < len(parts) - 1:
        node = node[part]
    last = parts[-1]
    if isinstance(node[last], ml_collections.ConfigDict):
      raise SweepError(
        f"config key {key!r}{where} is a sub-config; override its fields as {key}.FIELD"
      )
    try:
      node[last] = value
    except (TypeError, ValueError, KeyError) as e:
      raise SweepError(
        f"bad value {value!r} for config key {key!r}{where}: "
        f"expected {type(node[last]).__name__} ({' '.join(str(e).split())[:160]})"
      ) from None
  return config


# --- running -----------------------------------------------------------------------------------


def read_done(member_workdir: str) -> int | None:
  """The total_steps recorded in the member's DONE marker, or None when unfinished."""
  try:
    with open(os.path.join(member_workdir, DONE_FILE)) as f:
      return int(f.read().strip())
  except (OSError, ValueError):
    return None


def write_sweep_json(workdir: str, members: Sequence[dict[str, Any]], command: str | None) -> str:
  """Writes workdir/sweep.json (members and command), e.g. also for a dry run."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, SWEEP_FILE)
  payload = {"command": command, "members": resolve_members(members)}
  writers.write_atomic(path, json.dumps(payload, indent=2, default=repr) + "\n")
  return path


def _config_drift(config: ml_collections.ConfigDict, member_workdir: str) -> list[str]:
  """Keys whose value differs from the config.json a previous run left in the workdir."""
  try:
    saved = config_lib.read_saved_config(member_workdir)
  except WorkdirError:
    return []  # reported when the member trains
  if saved is None:
    return []
  structural, other = games.config_changes(saved, config)
  return structural + other


def run_sweep(
  base_config: ml_collections.ConfigDict,
  members: Sequence[dict[str, Any]],
  workdir: str,
  *,
  train_fn: Callable[[ml_collections.ConfigDict, str], Any],
  command: str | None = None,
  keep_going: bool = True,
  validate_fn: Callable[[ml_collections.ConfigDict], None] | None = None,
) -> list[dict[str, Any]]:
  """Trains every member, one after the other, into workdir/<member name>.

  Members with a DONE marker recording at least their total_steps are skipped;
  the others are (re)started with `train_fn(config, member_workdir)`, which
  resumes from the member's checkpoints. Every member's config is built before
  anything trains (and checked with `validate_fn`), so a bad override fails at
  once. With `keep_going`, a member whose training raises is logged and left
  unfinished (a re-run retries it) and the sweep goes on; without, the
  exception propagates. A preemption (gan_jax.train.Preempted: SIGTERM/SIGINT)
  always stops the sweep: the member has checkpointed, and a re-run resumes it.

  Args:
    base_config: the config file's config with the command-line overrides applied.
    members: from load_sweep() (or raw get_sweep() dicts).
    workdir: the sweep directory.
    train_fn: gan_jax.train.train_and_evaluate (a fake in tests).
    command: the command line that started the sweep, recorded in sweep.json and the report.
    keep_going: carry on past a member that fails.
    validate_fn: checks a member config (e.g. gan_jax.games.validate); what it
      raises propagates with the member's name prepended, its type kept.

  Returns:
    One dict per member: name, overrides, workdir, status ('done' | 'skipped' |
    'failed'), metrics (what train_fn returned, or None) and error (str or None).
  """
  members, configs = _prepare_members(base_config, members, workdir, command, validate_fn)
  n = len(members)
  results = []
  for i, (member, config) in enumerate(zip(members, configs, strict=True), start=1):
    name = member[NAME_KEY]
    member_dir = os.path.join(workdir, name)
    tag = f"sweep {i}/{n} {name}"
    result = {**member, "workdir": member_dir, "status": "", "metrics": None, "error": None}
    results.append(result)
    drift = _config_drift(config, member_dir)
    if drift:
      logging.warning(
        "%s: the config differs from the one in %s in %s (that run's results are kept)",
        tag,
        member_dir,
        ", ".join(drift[:8]) + (" ..." if len(drift) > 8 else ""),
      )
    done_steps = read_done(member_dir)
    if done_steps is not None and done_steps >= config.total_steps:
      logging.info("%s: skip (finished, %d steps)", tag, done_steps)
      result["status"] = "skipped"
      continue
    if done_steps is not None:  # total_steps was raised: train further
      os.remove(os.path.join(member_dir, DONE_FILE))
    resuming = os.path.isdir(os.path.join(member_dir, "checkpoints"))
    logging.info(
      "%s: %s to %d steps in %s",
      tag,
      "resume" if resuming else "start",
      config.total_steps,
      member_dir,
    )
    t0 = time.time()
    try:
      result["metrics"] = train_fn(config, member_dir)
    except Exception as e:  # one diverged member should not cost the rest of the sweep
      if not keep_going or _is_preemption(e):
        raise
      result["status"], result["error"] = "failed", f"{type(e).__name__}: {e}"
      logging.error("%s: FAILED after %s: %s", tag, writers.format_duration(time.time() - t0), e)
      continue
    if parallel.is_writer():
      os.makedirs(member_dir, exist_ok=True)
      writers.write_atomic(os.path.join(member_dir, DONE_FILE), f"{config.total_steps}\n")
    result["status"] = "done"
    logging.info("%s: done in %s", tag, writers.format_duration(time.time() - t0))

  failed = [r[NAME_KEY] for r in results if r["status"] == "failed"]
  if failed:
    logging.error("sweep: %d/%d members failed: %s", len(failed), n, ", ".join(failed))
  return results


# --- training compatible members together ---------------------------------------------------


def _group_key(config: ml_collections.ConfigDict) -> str:
  # Members trained in one program may differ in their seeds and their game's RUN_KEYS
  # (read per run from the state, gan_jax/games); every other key fixes the program.
  skip = {"seed", "num_seeds", *games.run_keys(config.game)}
  flat = {k: v for k, v in config_lib.flatten(config).items() if k not in skip}
  return json.dumps(flat, sort_keys=True, default=repr)


def together_groups(configs: Sequence[ml_collections.ConfigDict]) -> list[list[int]]:
  """The members that can train in one program, as lists of member indices, in sweep order:
  those whose configs are equal but for their seeds and their game's RUN_KEYS."""
  groups: dict[str, list[int]] = {}
  for i, config in enumerate(configs):
    groups.setdefault(_group_key(config), []).append(i)
  return list(groups.values())


def dry_run_groups(base_config, members: Sequence[dict[str, Any]]) -> list[str]:
  """One line per program of `--sweep_together`: its members."""
  members = resolve_members(members)
  configs = [member_config(base_config, m["overrides"], member=m[NAME_KEY]) for m in members]
  lines = []
  for g, group in enumerate(together_groups(configs)):
    runs = sum(configs[i].num_seeds for i in group)
    names = ", ".join(members[i][NAME_KEY] for i in group)
    lines.append(f"program {g}: {len(group)} members, {runs} runs: {names}")
  return lines


def run_sweep_together(
  base_config: ml_collections.ConfigDict,
  members: Sequence[dict[str, Any]],
  workdir: str,
  *,
  train_fn: Callable[..., list],
  command: str | None = None,
  keep_going: bool = True,
  validate_fn: Callable[[ml_collections.ConfigDict], None] | None = None,
) -> list[dict[str, Any]]:
  """As `run_sweep`, but each group of compatible members (`together_groups`) trains in one
  program: `train_fn(configs, member_workdirs, program_dir)` (gan_jax.train.train_together).

  Each member's workdir gets what its own run would write; a program's checkpoints live in
  workdir/_together/<program>. A group whose members are all finished is skipped, so a
  re-run of a finished sweep trains nothing.
  """
  members, configs = _prepare_members(base_config, members, workdir, command, validate_fn)
  results = [
    {
      **m,
      "workdir": os.path.join(workdir, m[NAME_KEY]),
      "status": "",
      "metrics": None,
      "error": None,
    }
    for m in members
  ]
  groups = together_groups(configs)
  for g, group in enumerate(groups):
    dirs = [results[i]["workdir"] for i in group]
    tag = f"program {g + 1}/{len(groups)} ({len(group)} members)"
    done = [read_done(d) for d in dirs]
    if all(s is not None and s >= configs[i].total_steps for s, i in zip(done, group, strict=True)):
      logging.info("%s: skip (finished)", tag)
      for i in group:
        results[i]["status"] = "skipped"
      continue
    for d, s in zip(dirs, done, strict=True):
      if s is not None:  # total_steps was raised: train further
        os.remove(os.path.join(d, DONE_FILE))
    program_dir = os.path.join(workdir, TOGETHER_DIR, f"program{g}")
    logging.info("%s: %s", tag, ", ".join(members[i][NAME_KEY] for i in group))
    t0 = time.time()
    try:
      metrics = train_fn([configs[i] for i in group], dirs, program_dir)
    except Exception as e:  # a failed program should not cost the rest of the sweep
      if not keep_going or _is_preemption(e):
        raise
      for i in group:
        results[i]["status"], results[i]["error"] = "failed", f"{type(e).__name__}: {e}"
      logging.error("%s: FAILED after %s: %s", tag, writers.format_duration(time.time() - t0), e)
      continue
    for i, d, m in zip(group, dirs, metrics, strict=True):
      if parallel.is_writer():
        writers.write_atomic(os.path.join(d, DONE_FILE), f"{configs[i].total_steps}\n")
      results[i].update(status="done", metrics=m)
    logging.info("%s: done in %s", tag, writers.format_duration(time.time() - t0))
  return results


def _prepare_members(base_config, members, workdir: str, command, validate_fn):
  """(members resolved, their configs): every config built and validated before anything is
  written, then sweep.json."""
  members = resolve_members(members)
  configs = [member_config(base_config, m["overrides"], member=m[NAME_KEY]) for m in members]
  if validate_fn is not None:
    for member, config in zip(members, configs, strict=True):
      _validate(validate_fn, config, member[NAME_KEY])
  if parallel.is_writer():
    write_sweep_json(workdir, members, command)
  return members, configs


def _validate(validate_fn, config: ml_collections.ConfigDict, name: str) -> None:
  try:
    validate_fn(config)
  except Exception as e:
    try:  # same type (e.g. ConfigError, which launch reports in one line), member named
      named = type(e)(f"sweep member {name!r}: {e}")
    except Exception:  # an exception type that takes other arguments: leave it be
      raise e from None
    raise named from None


def _is_preemption(error: BaseException) -> bool:
  return isinstance(error, Preempted)


# --- external schedulers -----------------------------------------------------------------------


def _flag_value(value: Any) -> str:
  """A value as ml_collections' flag parser reads it back for a field of that type."""
  if isinstance(value, (list, tuple)):
    return repr(tuple(value))
  if isinstance(value, float):
    return repr(value)
  return str(value)


def shadowed_overrides(members: Sequence[Member], command_line: Sequence[str]) -> list[str]:
  """One line per `--config.KEY=VALUE` of the command line that some members set themselves
  (theirs wins in those members), naming them: a sweep says so rather than drop it silently."""
  lines = []
  for arg in command_line:
    key = arg[len("--config.") :].partition("=")[0]
    names = [m["name"] for m in members if key in m["overrides"]]
    if names:
      lines.append(
        f"--config.{key} is set by sweep member(s) {', '.join(names)}: their own value is used "
        "there (override it per member, or use a variant of the config file)"
      )
  return lines


def config_overrides_from_argv(argv: Sequence[str]) -> list[str]:
  """The `--config.KEY=VALUE` arguments of a command line (`--config.KEY VALUE` joined)."""
  out, i = [], 0
  while i < len(argv):
    arg = argv[i]
    if arg.startswith("--config."):
      if "=" not in arg and i + 1 < len(argv):
        arg, i = f"{arg}={argv[i + 1]}", i + 1
      out.append(arg)
    i += 1
  return out


def dry_run_commands(
  config_path: str,
  members: Sequence[dict[str, Any]],
  workdir: str,
  base_overrides: Sequence[str] = (),
) -> list[str]:
  """One shell command per member, `python launch.py --config=... --workdir=W/<member> ...`.

  For an external scheduler. `base_overrides` are the sweep's own command-line
  overrides (`--config.KEY=VALUE`, or `KEY=VALUE`); they come before the
  member's so the member wins. Every argument is shell-quoted. These runs write
  no DONE markers; a later `--sweep` over the same workdir finds them at their
  final checkpoint (train_fn returns at once), marks them and writes the report.
  """
  members = resolve_members(members)
  base = [o if o.startswith("--") else f"--config.{o}" for o in base_overrides]
  commands = []
  for m in members:
    args = [
      "python",
      "launch.py",
      f"--config={config_path}",
      f"--workdir={os.path.join(workdir, m[NAME_KEY])}",
      *base,
      *(f"--config.{k}={_flag_value(v)}" for k, v in m["overrides"].items()),
    ]
    commands.append(shlex.join(args))
  return commands
