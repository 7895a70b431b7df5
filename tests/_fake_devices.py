"""A step on N devices against the same step on one: the helpers of the tests that check it.

The device count is fixed when jax starts, so each count runs a script in its own process
(`states_on`); the script trains one step of a config and saves the new state and metrics
(`save_one_step`).
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def xla_flags(devices: int) -> str:
  """XLA_FLAGS for `devices` fake CPU devices, keeping the suite's own flags (conftest.py)."""
  kept = [
    flag
    for flag in os.environ.get("XLA_FLAGS", "").split()
    if not flag.startswith("--xla_force_host_platform_device_count=")
  ]
  return " ".join([*kept, f"--xla_force_host_platform_device_count={devices}"])


def states_on(script: str, tmp_path, counts=(1, 4), args=()) -> list:
  """What `script N OUT.npz *args` saved, for each N of `counts` (numpy NpzFiles). A failing
  script's stderr is shown."""
  outs = []
  for n in counts:
    out = tmp_path / f"state{n}.npz"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join((HERE, ROOT))}
    done = subprocess.run(
      [sys.executable, os.path.join(HERE, script), str(n), str(out), *args],
      env=env,
      capture_output=True,
      text=True,
    )
    assert done.returncode == 0, f"{script} on {n} devices failed:\n{done.stderr[-3000:]}"
    outs.append(np.load(out))
  return outs


def save_one_step(config, out: str) -> None:
  """One train step of `config` on all devices from its initial state; saves the new state's
  and the metrics' leaves to `out`."""
  import jax  # noqa: PLC0415 - after the script set the device count

  from gan_jax import parallel, train  # noqa: PLC0415

  game = train.make_game(config)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_run_state(config, game), mesh)
  step = train.make_train_step(game, mesh)
  state, metrics = step(state, parallel.replicate(game.data, mesh))
  leaves = jax.tree.leaves(jax.device_get((state, metrics)))
  np.savez(out, *[np.asarray(x) for x in leaves])
