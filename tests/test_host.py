"""gan_jax.host: the settings take effect (how many pages glibc then faults is measured in
benchmarks/host_memory.py: it depends on the machine, so no unit test asserts it)."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent(
  """
  import json, sys
  import jax
  from gan_jax import host

  applied = host.reuse_host_memory() if sys.argv[1] == "reuse" else None
  jax.numpy.ones(3).block_until_ready()  # the CPU client exists: the setting was read
  print(json.dumps({
    "applied": applied,
    "async_dispatch": jax.config.values["jax_cpu_enable_async_dispatch"],
  }))
  """
)


def _run(mode: str) -> dict:
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
  out = subprocess.run(
    [sys.executable, "-c", _SCRIPT, mode], check=True, capture_output=True, text=True, env=env
  ).stdout
  return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow  # two fresh interpreters
def test_reuse_host_memory_turns_off_async_dispatch_and_sets_mallopt():
  default, reused = _run("default"), _run("reuse")
  assert default["async_dispatch"] is True and default["applied"] is None
  assert reused["async_dispatch"] is False
  # mallopt is glibc's: applied exactly where the C library is glibc.
  assert reused["applied"] is (
    sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
  )
