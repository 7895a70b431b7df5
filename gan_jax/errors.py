"""One-line errors for bad input: what went wrong and what to do, no traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from absl import logging


class UsageError(ValueError):
  """A command-line request that cannot be served (e.g. eval on an empty workdir)."""


class BadFileError(ValueError):
  """A data or weights file that is truncated, corrupt or not what it should be (e.g. an IDX
  file with a wrong magic number, a download whose SHA-256 differs from its pin)."""


class PrepareError(ValueError):
  """An offline item cannot be prepared on this machine (a missing client, a failed fetch)."""


# Exit codes: 2 for input the user can fix, 1 for a run that failed while training.
EXIT_BAD_INPUT = 2
EXIT_TRAINING_FAILED = 1


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
  """Turns the project's expected failures into one stderr line and an exit code."""
  from gan_jax import config, data, sweep, train  # noqa: PLC0415 - avoid import cycles

  try:
    yield
  except (
    config.ConfigError,
    data.DataUnavailableError,
    UsageError,
    train.WorkdirError,
    sweep.SweepError,
  ) as e:
    _fail(str(e), EXIT_BAD_INPUT)
  except train.NonFiniteError as e:
    _fail(f"{e}; the last good checkpoint is kept", EXIT_TRAINING_FAILED)
  except train.Preempted as e:
    # 128 + signal number, the shell's convention, so schedulers see a signalled stop.
    _fail(str(e), 128 + e.signum, prefix="stopped")


def _fail(message: str, code: int, prefix: str = "error") -> None:
  logging.flush()
  print(f"{prefix}: {message}", file=sys.stderr, flush=True)
  sys.exit(code)


class _DropLibraryInfo:
  """absl log filter: keeps INFO lines of this project, drops the chatter of Orbax and friends."""

  _NOISY = ("/orbax/", "/etils/", "/tensorstore/", "/jax/_src/xla_bridge")

  def filter(self, record) -> bool:
    return record.levelno > 20 or not any(n in record.pathname for n in self._NOISY)


def quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_DropLibraryInfo())
