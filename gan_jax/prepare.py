"""`python -m gan_jax.prepare ITEM...`: the entry point of the prepare CLI, gan_jax/data/prepare.py.

The CLI lives in gan_jax.data; this module only hands it the Inception converter. The converter
checks the weights against the network in gan_jax.evaluation, and gan_jax.data imports no
evaluation code, so the two meet here, above both. Importing this module imports no JAX.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gan_jax.data import prepare as prepare_lib


def convert_inception(torchscript_path: str, npz_path: str, source: str) -> None:
  """fid-helper's TorchScript -> the project's Inception .npz (prepare_lib.InceptionConverter)."""
  from gan_jax.evaluation import convert_torchscript  # noqa: PLC0415 - imports JAX: only here

  convert_torchscript.convert_file(torchscript_path, npz_path, source=source)


def main(argv: Sequence[str] | None = None) -> int:
  return prepare_lib.main(argv, convert_inception=convert_inception)


if __name__ == "__main__":
  sys.exit(main())
