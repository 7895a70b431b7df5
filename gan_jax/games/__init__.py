"""The games the loop can train, registered in one place: REGISTRY maps a name to its GameSpec.

A game is a package under gan_jax/games/ that owns its config block (`config.py`: a
gan_jax.config.GameConfig with its keys, specs, rules, datasets, per-run keys and a tiny test
config) and builds a `gan_jax.game.Game` with `make(config)`. Adding a game: the package,
its models under gan_jax/models/, a config in experiments/, and one line in REGISTRY. A test
or a project may also `register` a game of its own.

The functions below are what the rest of gan_jax asks of a config through the registry:
`default_config(game)` (the base plus the game's block), `validate`, the comparison of a
saved config with the current one, and a workdir's saved config.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ml_collections

from gan_jax import config as config_lib
from gan_jax.errors import ConfigError, WorkdirError
from gan_jax.game import Game, GameSpec
from gan_jax.games import cyclegan, gan, srgan
from gan_jax.games.cyclegan import config as cyclegan_config
from gan_jax.games.gan import config as gan_config
from gan_jax.games.srgan import config as srgan_config

REGISTRY: dict[str, GameSpec] = {
  "gan": GameSpec(gan_config.CONFIG, gan.make),
  "cyclegan": GameSpec(cyclegan_config.CONFIG, cyclegan.make),
  "srgan": GameSpec(srgan_config.CONFIG, srgan.make),
}


def register(spec: GameSpec) -> None:
  """Adds a game to the registry (a test's toy game, a project's own game)."""
  if spec.name in REGISTRY and REGISTRY[spec.name] is not spec:
    raise ValueError(f"a game named {spec.name!r} is registered already")
  REGISTRY[spec.name] = spec


def spec_of(name: str) -> GameSpec:
  """The registered game `name`; ConfigError (one line) for an unknown one."""
  if name not in REGISTRY:
    raise ConfigError(f"unknown game {name!r}; valid: {', '.join(REGISTRY)}")
  return REGISTRY[name]


def default_config(game: str = "gan") -> ml_collections.ConfigDict:
  """Every key a run of `game` reads, with its defaults: what experiments start from."""
  return config_lib.assemble(spec_of(game).config)


def validate(config: ml_collections.ConfigDict, *, num_devices: int = 1) -> None:
  """Raises ConfigError with one line for the first value of `config` that cannot work
  (config_lib.validate with the game's block); names the right game where the config's keys
  or its dataset belong to another one."""
  spec = spec_of(config.game)
  keys = set(config_lib.flatten(config))
  if keys != set(config_lib.flatten(config_lib.assemble(spec.config))):
    for other in REGISTRY.values():
      if other is not spec and keys == set(config_lib.flatten(config_lib.assemble(other.config))):
        raise ConfigError(
          f"config.game is {config.game!r} but the config holds the {other.name} game's keys: "
          f"start the config file from default_config({config.game!r}) (a game is chosen in the "
          "config file, not with --config.game)"
        )
  if config.dataset not in spec.config.datasets():
    for other in REGISTRY.values():
      names = (*other.config.datasets(), *other.config.renamed.get("dataset", {}))
      if other is not spec and config.dataset in names:
        raise ConfigError(
          f"dataset {config.dataset!r} is the {other.name} game's, not {spec.name}'s: start "
          f"from default_config({other.name!r}) (an experiment of that game)"
        )
  config_lib.validate(config, spec.config, num_devices=num_devices)


def run_keys(game: str) -> tuple[str, ...]:
  """The keys sweep members of `game` may differ in and still train as one program."""
  return spec_of(game).config.run_keys


def make_game(
  config: ml_collections.ConfigDict, members: Sequence[ml_collections.ConfigDict] = ()
) -> Game:
  """The game `config.game` names, built for this config (its data loaded); for a program
  of several `members` (config the first), built to train all of them."""
  spec = spec_of(config.game)
  if spec.config.run_keys and len(members) > 1:
    return spec.make(config, members=tuple(members))
  return spec.make(config)


def config_changes(saved: dict, config: ml_collections.ConfigDict) -> tuple[list[str], list[str]]:
  """(structural, other) differences between a saved config and `config` (see
  config_lib.config_changes); a saved config of another game differs structurally."""
  saved_game = saved.get("game", "gan")
  if saved_game != config.game:
    return [f"game ({saved_game!r} -> {config.game!r})"], []
  game = spec_of(config.game).config
  saved = config_lib.upgrade_saved(saved, game, "the saved config")
  return config_lib.config_changes(saved, config.to_dict(), game)


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in its workdir (for eval, sample and checks).

  Keys the saved config lacks (it predates them) take their game's defaults; the result is
  validated like a config from the command line.
  """
  saved = config_lib.read_saved_config(workdir)
  if saved is None:
    raise WorkdirError(f"{workdir} has no config.json: not a gan_jax workdir (train into it first)")
  path = os.path.join(workdir, "config.json")
  game = saved.get("game", "gan")
  if game not in REGISTRY:
    raise WorkdirError(
      f"{path} names game {game!r}, which is not registered: use another --workdir"
    )
  saved = config_lib.upgrade_saved(saved, REGISTRY[game].config, path)
  return config_lib.restore_saved(saved, REGISTRY[game].config, path)
