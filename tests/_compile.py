"""XLA:CPU's compile options as users' runs have them, for the tests whose claim needs them.

The suite compiles under XLA_FLAGS of its own (conftest.py: LLVM at -O0, XLA's elemental
fusion emitters), which halve its compile time. Per program, compile options override
those flags: the tests of a bit-for-bit equality between two different programs compile
them with XLA_DEFAULTS (`compiled_as_for_users`), since such an equality holds at XLA's
defaults (and at -O1) but not at -O0.
"""

import contextlib
from collections.abc import Iterator

# XLA:CPU's defaults of the options that the suite's XLA_FLAGS change.
XLA_DEFAULTS = {"xla_backend_optimization_level": 3, "xla_cpu_use_fusion_emitters": True}


def as_for_users(options: dict | None) -> dict:
  """`options` (a program's own compile options, or None) on top of XLA's defaults."""
  return {**XLA_DEFAULTS, **(options or {})}


@contextlib.contextmanager
def compiled_as_for_users() -> Iterator[None]:
  """Within: the train step and the initial state compile with XLA's defaults on top of
  their own options (host.compiler_options, host.run_once_compiler_options), as in users'
  runs. Other programs keep the suite's flags. A no-op off CPU."""
  import jax  # noqa: PLC0415 - after conftest.py set the environment

  from gan_jax import host  # noqa: PLC0415

  names = ("compiler_options", "run_once_compiler_options")
  own = {name: getattr(host, name) for name in names}
  if jax.default_backend() == "cpu":
    for name in names:
      setattr(host, name, lambda own=own[name]: as_for_users(own()))
  try:
    yield
  finally:
    for name in names:
      setattr(host, name, own[name])
