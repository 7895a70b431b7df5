"""Trains a sweep over objective x learning rate x 2 seeds on 4 fake CPU devices, together
(runs 2 x batch 2) and one member after another (its seeds over batch 4); prints each run's
d_loss rows as JSON. No evaluation: only the loss rows are compared.

  python tests/_parallel_together.py OUT_DIR

Used by test_together.py in a subprocess (the device count is fixed when jax starts).
"""

import json
import os
import sys

import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(4)

import jax  # noqa: E402
import test_together  # noqa: E402

from gan_jax import sweep, train  # noqa: E402

assert jax.device_count() == 4
out = sys.argv[1]
members = test_together.SETTINGS_SWEEP
base = test_together.ring(False, num_seeds=2, runs_devices=2)
assert train.run_mesh(4, base).devices.shape == (2, 2)
together = sweep.run_sweep_together(
  base, members, os.path.join(out, "together"), train_fn=train.train_together
)
one_by_one = test_together.ring(False, num_seeds=2, runs_devices=1)
assert train.run_mesh(2, one_by_one).devices.shape == (1, 4)
alone = sweep.run_sweep(
  one_by_one, members, os.path.join(out, "alone"), train_fn=train.train_and_evaluate
)


def losses(results):
  return [
    [r["d_loss"] for r in test_together.rows(res["workdir"]) if r["seed"] == seed]
    for res in results
    for seed in (0, 1)
  ]


print(json.dumps([losses(together), losses(alone)]))
