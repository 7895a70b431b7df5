"""Process settings that keep XLA:CPU's per-step scratch memory mapped between steps.

XLA:CPU allocates one block for all of a program's temporary buffers (about 87 MB for the
DCGAN step at batch 64) each time the program runs, and frees it afterwards. With JAX's
default asynchronous dispatch the program runs on a worker thread, whose glibc arena cannot
hold a block over 64 MB, so glibc maps fresh pages for it and unmaps them on free: every
step then page-faults the whole block again (about 22,000 faults and 35 ms of kernel time
per step on a 2-core machine). Running single-device CPU programs on the calling thread and
telling glibc to keep freed memory lets every step reuse the same pages.

`benchmarks/step_throughput.py --no_reuse_host_memory` measures the difference.
"""

from __future__ import annotations

import ctypes
import sys

import jax

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
