"""The step's reductions over devices (gan_jax/parallel.py): added in device order, exactly,
with gradients those of the same function on one device."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow  # a process of fake devices
def test_reductions_add_in_device_order_and_differentiate_as_on_one_device():
  out = subprocess.run(
    [sys.executable, os.path.join(HERE, "_parallel_reductions.py")],
    check=True,
    capture_output=True,
    text=True,
    env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.path.dirname(HERE)},
  )
  checks = json.loads(out.stdout.strip().splitlines()[-1])
  assert checks and all(checks.values()), checks
