"""Each registered game's tiny config: the config of the tests that train a game for a few steps.

tests/conftest.py serves it as the `tiny_config` fixture; the scripts that the tests run in
processes of their own (tests/_parallel_game.py) import it from here. Importing this module
registers the toy game of tests/toy_game.py, so every game of the contract suite has one.
"""

from __future__ import annotations

import ml_collections
import toy_game

from gan_jax import games

toy_game.register()


def tiny_config(game: str, **overrides) -> ml_collections.ConfigDict:
  """The game's default config with its tiny overrides (games.REGISTRY[game].config.tiny),
  then `overrides` (flattened keys: {"cycle.pool_size": 2})."""
  c = games.default_config(game)
  c.update_from_flattened_dict({**games.REGISTRY[game].config.tiny, **overrides})
  return c
