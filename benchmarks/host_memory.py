r"""Page faults of a program's scratch block per run, with and without gan_jax.host's settings.

  python benchmarks/host_memory.py            # one JSON line per mode

XLA:CPU allocates a program's temporaries (one block) on every run. By default, on a
dispatch thread, glibc maps a block over 64 MB afresh each time, so every run page-faults
all of it; `gan_jax.host.reuse_host_memory()` keeps the pages. What glibc does depends on
the machine (its version, heuristics and memory state), so this is measured here and
printed, never asserted in the unit tests. Expected on a glibc machine: the median run of
"default" faults about the whole block (temp_pages), that of "reuse" a few pages.
"""

import json
import os
import statistics
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
  """
  import json, resource, sys
  import jax, jax.numpy as jnp
  from jax import lax
  from gan_jax import host

  applied = host.reuse_host_memory() if sys.argv[1] == "reuse" else None

  @jax.jit
  def program(x):
    a = lax.optimization_barrier(x[::-1] * 2.0)  # barriers keep the temporaries separate
    b = lax.optimization_barrier(a[:, ::-1] + 1.0)
    return jnp.sum(a * b)

  x = jnp.ones((6144, 2048), jnp.float32)  # 48 MB: 96 MB of temporaries
  compiled = program.lower(x).compile()
  temp_bytes = compiled.memory_analysis().temp_size_in_bytes
  compiled(x).block_until_ready()
  faults = []
  for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    compiled(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
  print(json.dumps({
    "applied": applied,
    "async_dispatch": jax.config.values["jax_cpu_enable_async_dispatch"],
    "temp_pages": temp_bytes / 4096,
    "faults": faults,
  }))
  """
)


def run(mode: str) -> dict:
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}  # no cache, etc.
  out = subprocess.run(
    [sys.executable, "-c", _SCRIPT, mode], check=True, capture_output=True, text=True, env=env
  ).stdout
  result = json.loads(out.strip().splitlines()[-1])
  result["mode"] = mode
  result["median_faults"] = statistics.median(result["faults"])
  return result


if __name__ == "__main__":
  for mode in ("default", "reuse"):
    print(json.dumps(run(mode)))
