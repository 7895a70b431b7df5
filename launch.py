r"""Trains, evaluates or samples a GAN described by an ml_collections config.

  python launch.py --config=experiments/dcgan.py
  python launch.py --config=experiments/dcgan.py --config.loss=wasserstein --workdir=runs/w
  python launch.py --config=experiments/dcgan.py --workdir=runs/w --mode=sample

Re-running with the same --workdir resumes from its latest checkpoint. All logic lives in
gan_jax (gan_jax.launcher: the flags, their checks, sweeps, several processes); this file
defines the flags and makes one call.
"""

import time

_PROCESS_START = time.time()  # before the heavy imports: "time to first step" counts them

import functools  # noqa: E402

from absl import app, flags  # noqa: E402

from gan_jax import launcher  # noqa: E402 - light: absl and ml_collections, no JAX

launcher.define_flags(flags.FLAGS)
flags.adopt_module_key_flags(launcher)  # --help lists them as this program's own

if __name__ == "__main__":
  app.run(
    functools.partial(launcher.main, process_start=_PROCESS_START),
    flags_parser=launcher.parse_flags,
  )
