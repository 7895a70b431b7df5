"""Imports each named module of the project first, in a process of its own.

  python tests/_import_alone.py NAME...   # prints a JSON list of [NAME, error] that failed

`python -c "import NAME"` per module starts Python and imports JAX, Flax, Orbax and the rest
every time: about 2.5 s of CPU per module, over 3 minutes for the project's modules on 2
cores. Here one process imports the third-party modules the project imports at module level,
once, and then forks a child per module. Each child holds no module of the project and
imports NAME first, as a fresh interpreter would; what it does not redo is the third-party
imports, which no import order of the project can break. Nothing here initializes JAX's
backends (no threads of its own to fork with).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "gan_jax"
TIMEOUT_S = 120  # per module: a child that hangs (a lock held at the fork) fails, not the suite


def third_party_imports() -> list[str]:
  """The modules outside the standard library and the project that its files import at
  module level."""
  names = set()
  for d, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
    for f in files:
      if f.endswith(".py"):
        for node in ast.parse(open(os.path.join(d, f)).read()).body:
          if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
          elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
  return sorted(
    n
    for n in names
    if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != PACKAGE
  )


def _child(name: str, err_path: str) -> None:
  try:
    importlib.import_module(name)
  except BaseException:  # noqa: BLE001 - every failure is the test's finding
    with open(err_path, "w") as f:
      f.write(traceback.format_exc()[-1500:])
    os._exit(1)
  os._exit(0)


def import_each_alone(names: list[str], workers: int) -> list[list[str]]:
  for module in third_party_imports():
    try:
      importlib.import_module(module)
    except ImportError:
      pass  # the child that needs it reports it
  assert not any(m == PACKAGE or m.startswith(PACKAGE + ".") for m in sys.modules)
  failed, running, pending = [], {}, list(names)
  with tempfile.TemporaryDirectory() as tmp:
    while pending or running:
      while pending and len(running) < workers:
        name = pending.pop(0)
        err_path = os.path.join(tmp, name)
        pid = os.fork()
        if pid == 0:
          _child(name, err_path)
        running[pid] = (name, err_path, time.monotonic())
      pid, status = os.waitpid(-1, os.WNOHANG)
      if pid == 0:
        for child, (_, _, start) in list(running.items()):
          if time.monotonic() - start > TIMEOUT_S:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.01)
        continue
      name, err_path, _ = running.pop(pid)
      if status != 0:
        error = open(err_path).read() if os.path.exists(err_path) else f"exit status {status}"
        failed.append([name, error])
  return failed


if __name__ == "__main__":
  sys.path.insert(0, ROOT)
  print(json.dumps(import_each_alone(sys.argv[1:], workers=os.cpu_count() or 2)))
