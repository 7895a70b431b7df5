"""Runs one SRGAN-phase step of a tiny config on N fake CPU devices; saves the new state.

  python tests/_parallel_srgan.py N OUT.npz

Used by test_srgan_game.py in a subprocess (the device count is fixed when jax starts). The
SRGAN phase needs an SRResNet run: a 1-step one is trained first, into OUT's folder.
"""

import os
import sys

num_devices, out = int(sys.argv[1]), sys.argv[2]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import test_srgan_game  # noqa: E402

from gan_jax import train  # noqa: E402

assert jax.device_count() == num_devices
pretrained = os.path.join(os.path.dirname(out), f"srresnet_{num_devices}")


# SGD: Adam's first step divides each gradient by its own size, turning rounding differences
# of near-zero gradients into differences of a learning-rate size.
def sgd(c):
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.name, opt.learning_rate = "sgd", 0.01
  return c


first = sgd(test_srgan_game.tiny_config())
first.total_steps, first.batch_size = 1, 8
train.train_and_evaluate(first, pretrained)
c = sgd(test_srgan_game.tiny_config("srgan", pretrained))
c.batch_size = 8
_fake_devices.save_one_step(c, out)
