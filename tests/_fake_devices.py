"""A step on N devices against the same step on one: the helpers of the tests that check it.

The device count is fixed when jax starts, so each count of devices but the test process's
own runs a script in a process of its own (`states_on`); the script trains one step of a
config and saves the new state and metrics (`save_one_step`).
"""

import os
import runpy
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
  script's stderr is shown. N = 1 runs in this process where its JAX has one CPU device (as
  the test processes do): a process of its own would cost a Python start and the imports of
  JAX, TensorFlow and the project (about 8 s on 2 cores) for the same single-device step."""
  outs = []
  for n in counts:
    out = tmp_path / f"state{n}.npz"
    if n == 1 and _one_cpu_device_here():
      _run_here(script, out, args)
      outs.append(np.load(out))
      continue
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


def _one_cpu_device_here() -> bool:
  if "jax" not in sys.modules:  # a script's own process, before it set its device count
    return False
  import jax  # noqa: PLC0415

  return jax.default_backend() == "cpu" and jax.device_count() == 1


def _run_here(script: str, out, args) -> None:
  """`script 1 OUT *args` in this process; the environment it sets (XLA_FLAGS) is undone."""
  argv, environ = sys.argv, dict(os.environ)
  sys.argv = [os.path.join(HERE, script), "1", str(out), *args]
  try:
    runpy.run_path(sys.argv[0], run_name="__main__")
  finally:
    sys.argv = argv
    os.environ.clear()
    os.environ.update(environ)


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
