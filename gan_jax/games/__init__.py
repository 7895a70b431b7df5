"""The games the loop can train, one module each; `config.game` picks one from GAMES.

A game module exposes `make(config) -> gan_jax.game.Game` (see gan_jax/game.py for the
interface). Adding a game: a module here, its models under gan_jax/models/, a config in
experiments/, and one entry below. A game whose sweep members may differ in settings and
still train as one program names those config keys in RUN_KEYS and takes the program's
member configs, `make(config, members=configs)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ml_collections

from gan_jax.game import Game
from gan_jax.games import cyclegan, gan, srgan

GAMES: dict[str, Callable[..., Game]] = {
  "gan": gan.make,
  "cyclegan": cyclegan.make,
  "srgan": srgan.make,
}
RUN_KEYS: dict[str, tuple[str, ...]] = {"gan": gan.RUN_KEYS}


def make_game(
  config: ml_collections.ConfigDict, members: Sequence[ml_collections.ConfigDict] = ()
) -> Game:
  """The game `config.game` names, built for this config (its data loaded); for a program
  of several `members` (config the first), built to train all of them."""
  if config.game in RUN_KEYS and len(members) > 1:
    return GAMES[config.game](config, members=tuple(members))
  return GAMES[config.game](config)
