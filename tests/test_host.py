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


def test_an_optimization_level_in_xla_flags_wins_over_the_run_once_options():
  """The initial state compiles at -O1 on CPU, unless the user's XLA_FLAGS name a level:
  a compile option would silently override it."""
  import jax  # noqa: PLC0415

  from gan_jax import host  # noqa: PLC0415

  if jax.default_backend() != "cpu":
    pytest.skip("an XLA:CPU compile option")

  level = {"xla_backend_optimization_level": 1}
  assert host.run_once_compiler_options(xla_flags="") == level
  assert host.run_once_compiler_options(xla_flags="--xla_cpu_max_isa=AVX2") == level
  assert host.run_once_compiler_options(xla_flags="--xla_backend_optimization_level=0") is None
  assert host.run_once_compiler_options() is None  # the suite's XLA_FLAGS (conftest.py) name -O0
