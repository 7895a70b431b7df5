"""One process of a multi-process run, watched from outside: a clear last line when JAX aborts it.

When a cluster loses a member, JAX stops the processes left with a C++ fatal error: its
error-polling thread sees the coordinator (process 0) gone, or a peer's heartbeats stop, and
calls abort(). No Python code of that process runs after it, so no exception handler can say
what happened or choose the exit code. With several processes, launch.py therefore trains in
a child process and this one only waits for it:

  - SIGTERM, SIGINT and SIGHUP are passed on to the child, which checkpoints and stops as a
    single-process run does (the child has a process group of its own, so a terminal's
    Ctrl-C reaches it once, through here);
  - the child dies with this process (Linux: PR_SET_PDEATHSIG), so killing this process kills
    the cluster member, as a test or a scheduler expects;
  - the child's exit code is passed on, except when a signal killed it: SIGABRT (JAX's abort)
    becomes one line and errors.EXIT_CLUSTER_LOST, as a failed collective already does
    (errors.cluster_lost); any other signal, one line naming it and 128 + its number.

The child writes which process it is ("process i/n") to a pipe once it has joined the cluster,
so that the line names it even where the cluster was detected rather than given.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

from gan_jax import errors

_TAG_FD = "GAN_JAX_SUPERVISOR_FD"  # set in the child: where it writes "process i/n"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def is_child() -> bool:
  """Whether this process is the one a supervisor started (it must not start another)."""
  return _TAG_FD in os.environ


def report_process(tag: str) -> None:
  """In the child: tells the supervisor which process of the cluster this is."""
  fd = os.environ.get(_TAG_FD)
  if fd is not None:
    with contextlib.suppress(OSError, ValueError):
      os.write(int(fd), tag.encode())
      os.close(int(fd))


def _die_with_parent(parent: int):
  """The child's preexec_fn: SIGKILL it when the supervisor dies (Linux; elsewhere nothing).
  libc is looked up here, before the fork, so the child only makes the call."""
  try:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
  except (OSError, AttributeError):
    prctl = None

  def preexec() -> None:
    if prctl is not None:
      prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the prctl took effect
      os._exit(errors.EXIT_CLUSTER_LOST)

  return preexec


def run_supervised(fallback_tag: str = "") -> int:
  """Runs this command again as a child process and returns the exit code to leave with.

  `fallback_tag` ("process i/n" from the command line) names the process when the child
  died before it could say which one it is.
  """
  read_fd, write_fd = os.pipe()
  parent = os.getpid()
  command = [sys.executable, *sys.orig_argv[1:]]  # interpreter options (-u, -X ...) included
  child = subprocess.Popen(
    command,
    env={**os.environ, _TAG_FD: str(write_fd)},
    pass_fds=(write_fd,),
    process_group=0,
    preexec_fn=_die_with_parent(parent),
  )
  os.close(write_fd)
  previous = {s: signal.signal(s, lambda signum, _: child.send_signal(signum)) for s in _FORWARDED}
  try:
    code = child.wait()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  with os.fdopen(read_fd, "rb") as pipe:
    tag = pipe.read().decode(errors="replace").strip() or fallback_tag
  if code >= 0:
    return code
  return _report_signal(-code, tag)


def _report_signal(signum: int, tag: str) -> int:
  where = f" ({tag})" if tag else ""
  name = signal.Signals(signum).name if signum in signal.valid_signals() else f"signal {signum}"
  if signum == signal.SIGABRT:
    print(
      f"error{where}: JAX's runtime aborted this process ({name}; its fatal message is above): "
      "most often another process of the cluster stopped or cannot be reached; "
      f"{errors.RESTART_ALL}",
      file=sys.stderr,
      flush=True,
    )
    return errors.EXIT_CLUSTER_LOST
  print(
    f"error{where}: the training process was killed by {name} (out of memory, or killed from "
    f"outside); {errors.RESTART_ALL}",
    file=sys.stderr,
    flush=True,
  )
  return 128 + signum
