"""Settings for the machine at hand: the process (XLA:CPU's scratch memory) and the compiler
(XLA options for the train step and for programs that run once).

Memory: XLA:CPU allocates one block for all of a program's temporary buffers (about 87 MB for the
DCGAN step at batch 64) each time the program runs, and frees it afterwards. With JAX's
default asynchronous dispatch the program runs on a worker thread, whose glibc arena cannot
hold a block over 64 MB, so glibc maps fresh pages for it and unmaps them on free: every
step then page-faults the whole block again (about 22,000 faults and 35 ms of kernel time
per step on a 2-core machine). Running single-device CPU programs on the calling thread and
telling glibc to keep freed memory lets every step reuse the same pages.

`benchmarks/step_throughput.py --no_reuse_host_memory` measures the difference.

Compiler: `compiler_options()` for the train step (which libraries XLA:CPU hands its
operations to) and `run_once_compiler_options()` for programs that run once (the initial
state), both None off CPU and where this jaxlib refuses them; the second also where
XLA_FLAGS name an optimization level (the user's choice wins).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP_FREED_BYTES = 2**31 - 1  # the largest int: free memory is returned to the OS only above 2 GB


def reuse_host_memory() -> bool:
  """Runs single-device CPU programs inline and keeps freed memory in the process.

  Call it once at program start, before the first JAX computation: the dispatch setting is
  read when JAX creates its CPU client. Other backends are unaffected, and so are
  multi-device CPU programs (they keep running on XLA's worker threads). The memory kept is
  at most what the process has already used. Returns False where the C library has no
  `mallopt` (not glibc); the dispatch setting is applied anyway.
  """
  jax.config.update("jax_cpu_enable_async_dispatch", False)
  if not sys.platform.startswith("linux"):
    return False
  mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
  if mallopt is None:
    return False
  mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
  # Large blocks come from the heap instead of a fresh mapping, and freed ones stay there.
  return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES))


# XLA:CPU hands dots, convolutions and reductions to YNNPACK by default. For the
# convolutions left in these models (the 1-channel first D layer, and the direct kernel
# gradient of the layers with a 4x4 side, `_split_grads`) XLA's own Eigen convolutions
# are faster in the training step: about 3% (docs/performance.md: A/B in one process and
# across processes). So the train step keeps YNNPACK for dots and reductions only (without
# the reductions it is 16% slower). None turns this off (read when the step is built).
CPU_LIBRARY_FUSIONS: tuple[str, ...] | None = (
  "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",
  "LIBRARY_FUSION_TYPE_REDUCE",
)


@functools.cache
def _accepted_compiler_options(options: tuple[tuple[str, Any], ...]) -> bool:
  """Whether this jaxlib's CPU compiler takes `options` (XLA renames such options)."""
  try:
    jax.jit(lambda x: x + 1).lower(jnp.zeros(())).compile(compiler_options=dict(options))
  except (RuntimeError, ValueError) as e:  # an unknown option or enum value (JaxRuntimeError)
    logging.warning("XLA compile options %s not taken, compiling without them: %s", options, e)
    return False
  return True


def compiler_options() -> dict[str, str] | None:
  """XLA compile options for the train step: on CPU, `CPU_LIBRARY_FUSIONS` where this
  jaxlib accepts them; None elsewhere (and where it does not)."""
  if CPU_LIBRARY_FUSIONS is None or jax.default_backend() != "cpu":
    return None
  options = (("xla_cpu_experimental_ynn_fusion_type", ",".join(CPU_LIBRARY_FUSIONS)),)
  return dict(options) if _accepted_compiler_options(options) else None


def run_once_compiler_options(xla_flags: str | None = None) -> dict[str, int] | None:
  """XLA compile options for programs that run once (the initial state): on CPU, LLVM's
  -O1 instead of XLA's default -O3. The DCGAN's initializers then compile in about 0.8
  instead of 2.4 s, to the same bits (tests/test_steps.py checks them); at -O0 some
  differ in the last place. None elsewhere, where this jaxlib refuses the option, and
  where `xla_flags` (default: the environment's XLA_FLAGS) set an optimization level:
  a compile option overrides XLA_FLAGS, and the user's explicit choice wins."""
  if jax.default_backend() != "cpu":
    return None
  if xla_flags is None:
    xla_flags = os.environ.get("XLA_FLAGS", "")
  if any(f.startswith("--xla_backend_optimization_level=") for f in xla_flags.split()):
    return None
  options = (("xla_backend_optimization_level", 1),)
  return dict(options) if _accepted_compiler_options(options) else None
