"""XLA:CPU's compile options as users' runs have them, for the tests whose claim needs them.

The suite compiles under XLA_FLAGS of its own (conftest.py: LLVM at -O0, XLA's elemental
fusion emitters), which halve its compile time. Per program, compile options override
those flags: the tests of a bit-for-bit equality between two different programs compile
them with XLA_DEFAULTS (`compiled_as_for_users`), since such an equality holds at XLA's
defaults (and at -O1) but not at -O0; and the evaluation classifiers' train step, one
program run 600 to 6,000 times per classifier, compiles with them for the whole session
(`classifiers_trained_as_for_users`).
"""

import contextlib
from collections.abc import Callable, Iterator
from unittest import mock

# XLA:CPU's defaults of the options that the suite's XLA_FLAGS change.
XLA_DEFAULTS = {
  "xla_backend_optimization_level": 3,
  "xla_cpu_use_fusion_emitters": True,
  "xla_cpu_parallel_codegen_split_count": 32,
  "xla_cpu_enable_concurrency_optimized_scheduler": True,
  "xla_disable_hlo_passes": "",  # none disabled: the HLO verifier runs again
}


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

  with contextlib.ExitStack() as patches:
    if jax.default_backend() == "cpu":
      step, init = host.compiler_options, host.run_once_compiler_options
      patches.enter_context(
        mock.patch.object(host, "compiler_options", lambda: as_for_users(step()))
      )
      # Users' XLA_FLAGS name no optimization level (""), so their initial state compiles at
      # run_once_compiler_options' -O1; the suite's XLA_FLAGS name -O0.
      patches.enter_context(
        mock.patch.object(host, "run_once_compiler_options", lambda: as_for_users(init("")))
      )
    yield


def _each_compilation_as_for_users(jitted: Callable) -> Callable:
  """`jitted` (a jax.jit function), each of its compilations with XLA_DEFAULTS on top of its
  own options: lowered by `jitted` itself (its static and donated arguments are its own),
  compiled once per signature."""
  import jax  # noqa: PLC0415

  compiled = {}

  def call(*args, **static):
    leaves, tree = jax.tree.flatten(args)
    key = (tree, tuple((x.shape, x.dtype) for x in leaves), tuple(sorted(static.items())))
    if key not in compiled:
      lowered = jitted.lower(*args, **static)
      compiled[key] = lowered.compile(compiler_options=as_for_users(None))
    return compiled[key](*args)

  return call


@contextlib.contextmanager
def classifiers_trained_as_for_users() -> Iterator[None]:
  """Within: the evaluation classifiers train (gan_jax/evaluation/classifier.py) with their
  train step compiled as in users' runs: at the suite's -O0 a classifier's 600 steps take
  twice as long (32 px: 52 against 25 s of CPU). Speed only: the classifier's other programs
  (its initialization among them) keep the suite's flags, so its bits are not a user's. A
  no-op off CPU."""
  import jax  # noqa: PLC0415

  from gan_jax.evaluation import classifier  # noqa: PLC0415

  with contextlib.ExitStack() as patches:
    if jax.default_backend() == "cpu":
      step = _each_compilation_as_for_users(classifier._train_step)
      patches.enter_context(mock.patch.object(classifier, "_train_step", step))
    yield
