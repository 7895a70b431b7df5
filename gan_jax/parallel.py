"""The device mesh every program here runs on, and how pytrees are placed on it.

One 1-D mesh over all devices, axis 'batch': training steps split the global batch over
it (jax.jit of jax.shard_map), evaluation splits feature-extraction batches over it.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "batch"


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all (or the given) devices, axis 'batch'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(devices, (AXIS,))


def replicate(tree: Any, mesh: Mesh | None = None) -> Any:
  """Places a pytree on every device of the mesh (all devices by default), replicated."""
  return jax.device_put(tree, NamedSharding(mesh or make_mesh(), P()))


def split_batch(tree: Any, mesh: Mesh, spec: P | None = None) -> Any:
  """Places a pytree on the mesh split as `spec` says (by default along its leading axis)."""
  return jax.device_put(tree, NamedSharding(mesh, P(AXIS) if spec is None else spec))


def device_batch(batch_size: int, mesh: Mesh) -> int:
  """`batch_size` rounded up to a multiple of the mesh's device count."""
  n = mesh.devices.size
  return -(-batch_size // n) * n
