"""Test session setup, then the shared fixtures.

The setup: a persistent XLA compilation cache shared by the test processes (several tests
start launch.py in subprocesses that compile the same programs; with the cache only the first
compiles), and the suite's XLA flags. Set before jax is imported anywhere, so this module
imports nothing that imports jax at its top.

The fixtures: `tiny_config` (each registered game's tiny config), `run_launch` (launch.py in
this process or its own, showing the child's stderr when it fails), `states_on` (a script
on 1 and on 4 fake devices), `compiled_as_for_users` (XLA's default compile options for
the tests of bit-for-bit equalities between programs), `tfds_prepared_as` (a TFDS data dir
for mocked data sets), `temporary_files_in_tmp_path` (for TFDS's leftovers) and
`quick_classifiers` (evaluation classifiers of a few steps, for launch tests); for the whole
session, the evaluation classifiers that tests train compile their train step with XLA's
defaults too.
"""

import collections
import gc
import os
import tempfile

import pytest

os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "gan_jax_test_xla_cache")
)
# Every program to the cache, however fast it compiled: tests build the same small programs
# again and again (initializers, samplers, a tiny config's pieces), in one process and in
# several, and a cache hit costs less than their compilation. With 0.5 s, the floor before,
# tests/test_stabilizers.py, test_gan_game.py, test_conditional.py and test_launch.py in one
# process with a cold cache took 10% more CPU (docs/performance.md).
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# No Python traceback in the MLIR locations of lowered programs (JAX keeps 100 frames): the
# suite never reads them, and building them is part of every lowering.
os.environ.setdefault("JAX_TRACEBACK_IN_LOCATIONS_LIMIT", "0")
# Equality tests compare formulations of one function (e.g. ops.ConvTranspose vs Flax's) to
# 1e-5. On GPUs the default f32 matmul/conv precision rounds operands to TF32, and each
# formulation rounds differently (differences near 5e-5, seen on an H200), so tests run at
# full f32 precision everywhere. A no-op on CPU, where f32 is already full precision.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
# XLA:CPU's LLVM backend at -O0 and XLA's elemental fusion emitters instead of the newer
# MLIR ones. The suite is mostly the compilation of tiny programs run for a step or two, and
# these two flags more than halve that: tests/test_stabilizers.py in one process with a cold
# cache takes 71 s at -O1 (the suite's flag before), 49 s with the elemental emitters too,
# 33 s with both at -O0 (docs/performance.md has the whole suite's times). Comparisons of
# two computations run under the same flags. The exceptions compile as users' runs do:
# tests/test_regression.py's pinned experiments run in processes with XLA's defaults
# (tests/_regression.py), and the tests of a bit-for-bit equality between two different
# programs, which holds at XLA's defaults (and -O1) but not at -O0, compile those programs
# with XLA's defaults (`compiled_as_for_users` below, tests/_compile.py). Fake-device tests
# add their count with _fake_devices.xla_flags.
# Two more take 7% and 4% off such a compilation, measured in pairs run at once, one per CPU
# (docs/performance.md): one LLVM module per program, not 32 parts compiled on a thread pool
# (the suite's two workers already fill both CPUs, so the threads only contend), and XLA's
# plain scheduler instead of the one that orders independent operations to run concurrently.
# Neither changes an operation's arithmetic; _compile.XLA_DEFAULTS resets both too. The
# initial state's -O1 (host.run_once_compiler_options) yields to the level named here.
# And no HLO verifier after each of XLA's passes (about 10% of a compilation, 2.5-5.6% of
# test files' CPU in pairs): it checks XLA's own passes, not this project, and changes no
# program (_compile.XLA_DEFAULTS turns it back on).
os.environ.setdefault(
  "XLA_FLAGS",
  "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
  " --xla_cpu_parallel_codegen_split_count=1"
  " --xla_cpu_enable_concurrency_optimized_scheduler=false"
  " --xla_disable_hlo_passes=hlo-verifier",
)
# No Keras in TensorFlow's import (gan_jax/launcher.py says why; launch.py's runs set it
# too): 4 s of CPU less in each test process that imports TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# The in-project MNIST classifier trains once per test session, into a shared cache.
os.environ.setdefault("GAN_JAX_CACHE", os.path.join(tempfile.gettempdir(), "gan_jax_test_cache"))


# Tracing allocates millions of short-lived objects; at Python's default thresholds the
# collector walks the whole heap (jax, flax, every traced program) again and again.
gc.set_threshold(50_000, 20, 100)


def pytest_collection_modifyitems(items: list) -> None:
  """Modules in the order of their share of slow tests, the most first; each module's tests
  together and in order (its module fixtures are made once). xdist's workers then take the
  long tests early and share the short ones at the end, instead of one worker finishing a
  long test while the other idles."""
  total, slow = collections.Counter(), collections.Counter()
  for item in items:
    total[item.module.__name__] += 1
    slow[item.module.__name__] += item.get_closest_marker("slow") is not None
  items.sort(key=lambda item: -slow[item.module.__name__] / total[item.module.__name__])


# --- the shared fixtures: their helper modules import jax, so they are imported inside ----------


@pytest.fixture(scope="session")
def tiny_config():
  """`tiny_config(game, **overrides)`: a registered game's default config with its tiny
  overrides (games.REGISTRY[game].config.tiny) and `overrides`; the toy game of
  tests/toy_game.py is registered too."""
  import _tiny  # noqa: PLC0415 - imports jax: after the environment above

  return _tiny.tiny_config


@pytest.fixture(scope="session")
def run_launch():
  """`run_launch(*args, env=None, expect=0, process=False)`: `python launch.py *args`, in
  this process (tests/_launch.py's `launch`) or, with `process`, in one of its own
  (`subprocess_launch`: signals, fake devices, the real command line end to end). Where the
  exit code is not `expect` (None: any), the test fails showing the child's stderr. Returns
  its returncode, stdout and stderr."""
  import _launch  # noqa: PLC0415 - imports jax: after the environment above

  def run(*args: str, env=None, expect: int | None = 0, process: bool = False):
    launched = (_launch.subprocess_launch if process else _launch.launch)(*args, env=env)
    if expect is not None and launched.returncode != expect:
      pytest.fail(
        f"launch.py {' '.join(args)} exited {launched.returncode}, not {expect}; its stderr:\n"
        + launched.stderr[-4000:],
        pytrace=False,
      )
    return launched

  return run


@pytest.fixture
def states_on(tmp_path):
  """`states_on(script, counts=(1, 4), args=())`: what `script N OUT.npz *args` saved when run
  on N fake CPU devices, for each N of `counts` (tests/_fake_devices.py; a failing script's
  stderr is shown)."""
  import _fake_devices  # noqa: PLC0415

  def run(script: str, counts=(1, 4), args=()):
    return _fake_devices.states_on(script, tmp_path, counts=counts, args=args)

  return run


@pytest.fixture
def compiled_as_for_users():
  """The train step and the initial state compile with XLA's defaults, as in users' runs,
  not with the suite's XLA_FLAGS (tests/_compile.py). Other programs keep the suite's flags."""
  import _compile  # noqa: PLC0415

  with _compile.compiled_as_for_users():
    yield


@pytest.fixture
def temporary_files_in_tmp_path(tmp_path, monkeypatch):
  """Temporary files of this test and of the processes it starts go to tmp_path, not /tmp.
  For TFDS builders without a dataset_info.json (mocked or in-memory data sets): TFDS makes
  a temporary directory for the info it would fetch from GCS and never removes it."""
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  monkeypatch.setenv("TMPDIR", str(tmp_path))  # for child processes (os.environ at start)


@pytest.fixture
def tfds_prepared_as(tmp_path, monkeypatch, temporary_files_in_tmp_path):
  """`tfds_prepared_as(*names)`: TFDS_DATA_DIR (a new directory in tmp_path) where the data
  sets `names` (e.g. "cycle_gan/horse2zebra") look prepared (a version folder with a
  dataset_info.json, images.tfds_prepared), for tfds.testing.mock_data to serve them. The
  version, 0.0.0, is none TFDS reads. Returns the directory. Temporary files go to tmp_path
  meanwhile."""

  def prepare(*names: str) -> str:
    data_dir = tmp_path / "tfds"
    for name in names:
      os.makedirs(data_dir / name / "0.0.0")
      (data_dir / name / "0.0.0" / "dataset_info.json").write_text("{}")
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    return str(data_dir)

  return prepare


QUICK_CLASSIFIER_STEPS = 20


@pytest.fixture
def quick_classifiers(monkeypatch):
  """The evaluation classifiers this test's runs train on first use train
  QUICK_CLASSIFIER_STEPS steps, not the 600 or 1,500 of evaluation's recipe: for launch
  tests whose claim is that an evaluation runs and writes its rows, whatever the classifier's
  accuracy (its training and accuracy are test_classifier.py's and test_translation.py's
  claims). They cost 40 s of CPU in the suite otherwise (32 px: 25 s). Their cache files'
  names hold the steps, so no other test loads them."""
  from gan_jax.evaluation import classifier  # noqa: PLC0415 - imports jax

  get = classifier.get_classifier
  quick = lambda **kwargs: get(**{**kwargs, "steps": QUICK_CLASSIFIER_STEPS})
  monkeypatch.setattr(classifier, "get_classifier", quick)


@pytest.fixture(scope="session", autouse=True)
def _classifiers_trained_as_for_users():
  """The evaluation classifiers that tests train (those `prepare classifiers` did not) run
  their train step, hundreds of steps of one program, compiled with XLA's defaults
  (tests/_compile.py)."""
  import _compile  # noqa: PLC0415

  with _compile.classifiers_trained_as_for_users():
    yield
