"""Runs one CycleGAN step of a tiny config on N fake CPU devices; saves the new state.

  python tests/_parallel_cyclegan.py N OUT.npz

Used by test_cyclegan_game.py in a subprocess (the device count is fixed when jax starts).
"""

import os
import sys

num_devices, out = int(sys.argv[1]), sys.argv[2]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import test_cyclegan_game  # noqa: E402

assert jax.device_count() == num_devices
c = test_cyclegan_game.tiny_config()
# SGD: the equivalence is the step's (losses, gradients, pools). Adam's first step divides
# each gradient by its own size, so it would turn the rounding differences of gradients
# that instance norm cancels to nearly nothing into differences of a learning-rate size.
# One step: the L1 cycle and identity terms have a kink at 0, where a rounding difference
# flips a pixel's gradient, and later steps would amplify that.
for opt in (c.g_optimizer, c.d_optimizer):
  opt.name, opt.learning_rate = "sgd", 0.01
c.cycle.pool_size = 2  # a batch of 4 fills it and then replaces: both rules in one step
_fake_devices.save_one_step(c, out)
