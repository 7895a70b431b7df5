"""The command line in this process (gan_jax.launcher.run), its output captured as a launch's.

A subprocess launch costs a Python start and the imports of JAX, TensorFlow and the project
(5-10 s on 2 cores) before the line it is there to check; in-process, an error path takes
milliseconds once the test process has imported them. What is captured: stdout and stderr as
Python writes them, and log records at INFO and above through the filters the run sets on
absl's handler (so a stray log line counts as under absl.app). Not captured: what C++ writes
to the file descriptors. Launches that need a process of their own (signals, several
processes, fake devices) stay in subprocesses (`subprocess_launch`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from unittest import mock

from absl import logging as absl_logging

from gan_jax import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Launched:
  """What a launch returned: subprocess.CompletedProcess's fields that the tests read."""

  returncode: int
  stdout: str
  stderr: str


def launch(*args: str, env: Mapping[str, str] | None = None) -> Launched:
  """`python launch.py *args` in this process; `env`: variables set for the call only."""
  args = list(args)
  if not any("reuse_host_memory" in a for a in args):
    # It turns off JAX's async dispatch and changes glibc's malloc for the whole process:
    # the test process keeps its defaults (the subprocess launches check the default).
    args.append("--noreuse_host_memory")
  out, err = io.StringIO(), io.StringIO()
  with (
    mock.patch.dict(os.environ, dict(env or {})),
    _logs_to(err),
    contextlib.redirect_stdout(out),
    contextlib.redirect_stderr(err),
  ):
    code = launcher.run(["launch.py", *args])
  return Launched(code, out.getvalue(), err.getvalue())


def subprocess_launch(
  *args: str, env: Mapping[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
  """`python launch.py *args` in a process of its own (the real command line, end to end)."""
  return subprocess.run(
    [sys.executable, "launch.py", *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=None if env is None else {**os.environ, **env},
  )


@contextlib.contextmanager
def _logs_to(stream: io.StringIO) -> Iterator[None]:
  """Log records at INFO and above into `stream`, as absl.app writes them to stderr; the
  filters the run adds to absl's handler (errors.quiet_library_logs) apply, then go."""
  root, absl_handler = logging.getLogger(), absl_logging.get_absl_handler()
  saved_level, saved_filters = root.level, list(absl_handler.filters)
  handler = logging.StreamHandler(stream)
  handler.addFilter(absl_handler.filter)
  root.addHandler(handler)
  root.setLevel(logging.INFO)
  try:
    yield
  finally:
    root.removeHandler(handler)
    root.setLevel(saved_level)
    absl_handler.filters[:] = saved_filters
