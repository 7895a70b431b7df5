"""Runs one step of registered games' tiny configs on N fake CPU devices; saves the new states.

  python tests/_parallel_game.py N OUT.npz GAME [GAME ...]

Used by test_game_contract.py in a subprocess (the device count is fixed when jax starts):
one process for every game, as a process's start and imports cost about 8 s on 2 cores. One
GAME's state goes to OUT.npz; with several, each game's goes to OUT_GAME.npz beside it, and
OUT.npz lists the games.
"""

import os
import sys

num_devices, out, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import _tiny  # noqa: E402 - registers the toy game
import jax  # noqa: E402
import numpy as np  # noqa: E402

assert jax.device_count() == num_devices and names


def game_out(game: str) -> str:
  """Where GAME's state goes: OUT itself for one game, else OUT_GAME.npz."""
  return out if len(names) == 1 else f"{out.removesuffix('.npz')}_{game}.npz"


for game in names:
  c = _tiny.tiny_config(game)
  # SGD: the equivalence is the step's (losses, gradients, statistics). Adam's first step
  # divides each gradient by its own size, turning rounding differences of near-zero
  # gradients into differences of a learning-rate size.
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name, opt.learning_rate = "sgd", 0.01
  _fake_devices.save_one_step(c, game_out(game))
if len(names) > 1:
  np.savez(out, games=np.asarray(names))
