"""The project's expected failures, and their one-line report: what went wrong, what to do.

Every error a user can cause or a run can meet is defined here, so that the reporter
(`one_line_errors`) needs no import of the modules that raise them (this module imports
nothing of gan_jax).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from absl import logging

# Exit codes: 2 for input the user can fix, 1 for a run that failed while training, 3 for a
# run stopped by the loss of another process of its cluster (resumable as it is).
EXIT_BAD_INPUT = 2
EXIT_TRAINING_FAILED = 1
EXIT_CLUSTER_LOST = 3


class UsageError(ValueError):
  """A command-line request that cannot be served (e.g. eval on an empty workdir)."""


class ConfigError(ValueError):
  """A config value that cannot work; the message is one actionable line."""


class DataUnavailableError(RuntimeError):
  """The data set cannot be had on this machine (offline, not prepared, corrupt files)."""


class WorkdirError(ValueError):
  """The workdir cannot serve the request (resume with other shapes, eval on nothing)."""


class SweepError(ValueError):
  """A sweep that cannot run as written; the message is one line that names the member."""


class BadFileError(ValueError):
  """A data or weights file that is truncated, corrupt or not what it should be (e.g. an IDX
  file with a wrong magic number, a download whose SHA-256 differs from its pin)."""


class PrepareError(ValueError):
  """An offline item cannot be prepared on this machine (a missing client, a failed fetch)."""


class NonFiniteError(RuntimeError):
  """Training produced NaN or Inf; the message names the step and the quantity."""


class Preempted(RuntimeError):  # noqa: N818 - a stop that was asked for, not a failure
  """SIGTERM/SIGINT arrived; the run checkpointed its current step and stopped."""

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.signum = signum


BAD_INPUT = (
  UsageError,
  ConfigError,
  DataUnavailableError,
  WorkdirError,
  SweepError,
  BadFileError,
  PrepareError,
)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
  """Turns the project's expected failures into one stderr line and an exit code."""
  try:
    yield
  except BAD_INPUT as e:
    _fail(str(e), EXIT_BAD_INPUT)
  except NonFiniteError as e:
    _fail(f"{e}; the last good checkpoint is kept", EXIT_TRAINING_FAILED)
  except Preempted as e:
    # 128 + signal number, the shell's convention, so schedulers see a signalled stop.
    _fail(str(e), 128 + e.signum, prefix="stopped")
  except Exception as e:
    if _process and _is_lost_peer(e):
      cluster_lost(str(e))
    raise


# What a cross-process collective raises when its peer is gone (gloo on CPU; elsewhere peers
# time out, and JAX stops the process itself when the heartbeats stop).
_LOST_PEER = ("connection closed by peer", "connection reset", "broken pipe", "gloo")


def _is_lost_peer(e: BaseException) -> bool:
  return type(e).__name__ == "JaxRuntimeError" and any(m in str(e).lower() for m in _LOST_PEER)


def cluster_lost(reason: str) -> None:
  """A process of the cluster died or became unreachable: one line, then exit at once.

  os._exit, not sys.exit: the interpreter's exit would run JAX's shutdown barrier, which
  waits for the dead process and then aborts with a C++ fatal error and a stack dump.
  Called where a collective failed because its peer is gone. The line is the last of
  stderr: JAX's coordination agent, in a thread of its own, may log the lost peer as a fatal
  error at the same moment, so the process's stderr goes to /dev/null first and the line to
  a duplicate of it.
  """
  first = (reason.strip().splitlines() or ["unknown"])[0]
  with contextlib.suppress(Exception):
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
  where = f" ({_process})" if _process else ""
  line = (
    f"error{where}: another process of the cluster stopped or cannot be reached "
    f"({' '.join(first.split())[:240]}); this one stops too: {RESTART_ALL}\n"
  )
  try:
    stderr = os.dup(2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
  except OSError:  # no stderr to silence: write where there is one
    stderr = 2
  with contextlib.suppress(OSError):
    os.write(stderr, line.encode())
  os._exit(EXIT_CLUSTER_LOST)


# What to do after a multi-process run lost a member (here and in gan_jax/supervisor.py).
RESTART_ALL = "start every process again with the same command to resume from the last checkpoint"


def process_tag(index: int, count: int) -> str:
  """'process i/n', the name error and log lines give a process of a multi-process run."""
  return f"process {index}/{count}"


# "process i/n": set by `tag_process` in a multi-process run, so lines say which process.
_process = ""


def tag_process(index: int, count: int) -> None:
  """From now on, error lines and log lines name this process (with more than one)."""
  global _process
  _process = process_tag(index, count) if count > 1 else ""
  if _process:
    logging.get_absl_handler().addFilter(_ProcessTag())


class _ProcessTag:
  """absl log filter: prefixes every message with the process that wrote it."""

  def filter(self, record) -> bool:
    record.msg = f"[{_process}] {record.msg}"
    return True


def _fail(message: str, code: int, prefix: str = "error") -> None:
  logging.flush()
  where = f" ({_process})" if _process else ""
  print(f"{prefix}{where}: {' '.join(message.split())}", file=sys.stderr, flush=True)
  sys.exit(code)


class _DropLibraryInfo:
  """absl log filter: keeps INFO lines of this project, drops the chatter of Orbax and friends."""

  _NOISY = ("/orbax/", "/etils/", "/tensorstore/", "/jax/_src/xla_bridge")

  def filter(self, record) -> bool:
    return record.levelno > 20 or not any(n in record.pathname for n in self._NOISY)


def quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_DropLibraryInfo())
