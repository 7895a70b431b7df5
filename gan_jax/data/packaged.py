"""Files that ship inside installed packages: found in place, never downloaded."""

from __future__ import annotations

import importlib.util
import os


def package_file(package: str, relpath: str) -> str | None:
  """The path of `relpath` inside the installed `package` (an import name), or None when the
  package or the file is missing. Finds the package without importing it."""
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(spec.submodule_search_locations[0], relpath)
  return path if os.path.isfile(path) else None
