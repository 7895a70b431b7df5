"""Runs one SRGAN-phase step of a tiny config on N fake CPU devices; saves the new state.

  python tests/_parallel_srgan.py N OUT.npz PRETRAINED

Used by test_srgan_game.py in a subprocess (the device count is fixed when jax starts). The
SRGAN phase starts from the SRResNet run PRETRAINED (the test module's, trained on 1 device).
"""

import os
import sys

num_devices, out, pretrained = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import test_srgan_game  # noqa: E402

assert jax.device_count() == num_devices
# test_srgan_game.sgd_config: SGD at batch 8, the config of the losses' check too.
_fake_devices.save_one_step(test_srgan_game.sgd_config(pretrained), out)
