"""The games the loop can train, one module each; `config.game` picks one from GAMES.

A game module exposes `make(config) -> gan_jax.game.Game` (see gan_jax/game.py for the
interface). Adding a game: a module here, its models under gan_jax/models/, a config in
experiments/, and one entry below.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_collections

from gan_jax.game import Game
from gan_jax.games import cyclegan, gan, srgan

GAMES: dict[str, Callable[[ml_collections.ConfigDict], Game]] = {
  "gan": gan.make,
  "cyclegan": cyclegan.make,
  "srgan": srgan.make,
}
