"""Runs two SGD train steps of a tiny DCGAN on N fake CPU devices; saves the final state.

  python tests/_parallel_step.py N OUT.npz

Used by test_steps.py in a subprocess, because the device count is fixed when
jax initializes.
"""

import os
import sys

num_devices, out = int(sys.argv[1]), sys.argv[2]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import games, parallel, train  # noqa: E402
from gan_jax.data import datasets as data_lib  # noqa: E402
from gan_jax.data import images as images_lib  # noqa: E402
from gan_jax.games import gan  # noqa: E402

assert jax.device_count() == num_devices
c = games.default_config()
c.model.base_filters = 16  # wide enough for the split-gradient Winograd layers (ops.py)
c.batch_size = 8
c.d_steps = 2  # two D updates per G update: the scan over D steps is mapped too
# SGD, as in the contract's check (tests/_parallel_game.py): the equivalence is the step's
# (losses, gradients, BatchNorm statistics). Adam's first updates divide each gradient by its
# own size, turning rounding differences of near-zero gradients into differences of a
# learning-rate size (at the suite's -O0, a few percent of some entries after two steps).
for opt in (c.g_optimizer, c.d_optimizer):
  opt.name, opt.learning_rate = "sgd", 0.01
images = (np.random.RandomState(0).rand(40, 32, 32, 1) * 255).astype(np.uint8)
dataset = data_lib.Dataset(
  "mnist",
  "test",
  {"images": images, "labels": np.zeros(40, np.int32)},
  images_lib.sample_images,
  (32, 32, 1),
  40,
  10,
)
game = gan.make(c, dataset)
mesh = parallel.make_mesh()
state = parallel.replicate(train.init_run_state(c, game), mesh)
arrays = parallel.replicate(game.data, mesh)
step = train.make_train_step(game, mesh)
for _ in range(2):
  state, metrics = step(state, arrays)
leaves = jax.tree.leaves(jax.device_get((state, metrics)))
np.savez(out, *[np.asarray(x) for x in leaves])
