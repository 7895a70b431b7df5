"""Test session setup: a persistent XLA compilation cache shared by the test processes.

Several tests start launch.py in subprocesses that compile the same programs;
with the cache only the first compiles. Set before jax is imported anywhere.
"""

import os
import tempfile

os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "gan_jax_test_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# Equality tests compare formulations of one function (e.g. ops.ConvTranspose vs Flax's) to
# 1e-5. On GPUs the default f32 matmul/conv precision rounds operands to TF32, and each
# formulation rounds differently (differences near 5e-5, seen on an H200), so tests run at
# full f32 precision everywhere. A no-op on CPU, where f32 is already full precision.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
# XLA:CPU's LLVM backend at -O1, as the loop compiles its run-once programs
# (host.run_once_compiler_options). The suite is mostly the compilation of tiny programs,
# run for a step or two: a tiny StyleGAN2 train step compiles in 12.6 s instead of 16
# (docs/performance.md, the suite's time). Not -O0: there a conditional ring run of
# tests/test_conditional.py turned non-finite. Every comparison in the suite is between two
# computations under the same flags, except tests/test_regression.py, whose pinned
# experiments run with XLA's default flags (tests/_regression.py), so the numbers users get
# stay checked. Fake-device tests add their count with _fake_devices.xla_flags.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=1")
# The in-project MNIST classifier trains once per test session, into a shared cache.
os.environ.setdefault("GAN_JAX_CACHE", os.path.join(tempfile.gettempdir(), "gan_jax_test_cache"))
