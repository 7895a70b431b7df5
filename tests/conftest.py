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
# The in-project MNIST classifier trains once per test session, into a shared cache.
os.environ.setdefault("GAN_JAX_CACHE", os.path.join(tempfile.gettempdir(), "gan_jax_test_cache"))
