"""Runs one step of a registered game's tiny config on N fake CPU devices; saves the new state.

  python tests/_parallel_game.py N OUT.npz GAME

Used by test_game_contract.py in a subprocess (the device count is fixed when jax starts).
"""

import os
import sys

num_devices, out, game = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import _tiny  # noqa: E402 - registers the toy game
import jax  # noqa: E402

assert jax.device_count() == num_devices
c = _tiny.tiny_config(game)
# SGD: the equivalence is the step's (losses, gradients, statistics). Adam's first step
# divides each gradient by its own size, turning rounding differences of near-zero gradients
# into differences of a learning-rate size.
for opt in (c.g_optimizer, c.d_optimizer):
  opt.name, opt.learning_rate = "sgd", 0.01
_fake_devices.save_one_step(c, out)
