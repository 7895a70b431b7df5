"""PRDC of two random sets of 101 rows on N fake CPU devices, saved for test_prdc.py.

python tests/_parallel_prdc.py N OUT.npz
"""

import os
import sys

num_devices, out = int(sys.argv[1]), sys.argv[2]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.evaluation import prdc  # noqa: E402

assert jax.device_count() == num_devices
rng = np.random.default_rng(0)
real = rng.normal(size=(101, 5))
fake = 1.3 * rng.normal(size=(101, 5)) + 0.3
manifold = prdc.real_manifold(real, block_size=16)
metrics = prdc.prdc(manifold, fake)
identical = prdc.prdc(manifold, real)
np.savez(
  out,
  real=real,
  fake=fake,
  num_devices=jax.device_count(),
  **metrics,
  **{f"identical_{k}": v for k, v in identical.items()},
  **{f"squared_radii{k}": r for k, r in manifold.squared_radii.items()},
)
