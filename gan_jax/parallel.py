"""The device mesh every program here runs on, and how pytrees are placed on it and read back.

One 1-D mesh over all devices, axis 'batch': training steps split the global batch over
it (jax.jit of jax.shard_map). With several processes (JAX's multi-process runtime: TPU
pod slices, GPU clusters) the training mesh spans every process's devices, all processes
run the same program, and process 0 alone writes files (`is_writer`). Evaluation, pictures
and sampling run on one process's own devices (`local_mesh`) from a host copy of the state
(`to_host`), so they need no cross-process traffic.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.errors import UsageError

AXIS = "batch"


def varying_axes(a: Any) -> frozenset:
  """The shard_map axes an array varies over (its manual-axis type), empty outside one."""
  aval = jax.typeof(a)
  if hasattr(aval, "vma"):  # jax < 0.10
    return frozenset(aval.vma)
  manual = getattr(aval, "manual_axis_type", None)
  return frozenset(manual.varying) if manual is not None else frozenset()


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all (or the given) devices, axis 'batch'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(devices, (AXIS,))


def local_mesh() -> Mesh:
  """A 1-D mesh over this process's devices (all devices with one process)."""
  return make_mesh(jax.local_devices())


def is_writer() -> bool:
  """Whether this process writes the run's files: process 0 of however many there are."""
  return jax.process_index() == 0


def _place(tree: Any, sharding: NamedSharding) -> Any:
  """Host (or device) arrays, the same in every process, as arrays of `sharding`."""
  if jax.process_count() == 1 or sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)

  def one(x):
    x = np.asarray(x) if not isinstance(x, jax.Array) else to_host(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(one, tree)


def replicate(tree: Any, mesh: Mesh | None = None) -> Any:
  """Places a pytree on every device of the mesh (all devices by default), replicated.

  With several processes every process passes the same values (host arrays drawn from
  the same seed, or a replicated state) and keeps the copies on its own devices.
  """
  return _place(tree, NamedSharding(mesh or make_mesh(), P()))


def split_batch(tree: Any, mesh: Mesh, spec: P | None = None) -> Any:
  """Places a pytree on the mesh split as `spec` says (by default along its leading axis).

  With several processes every process passes the whole (global) value and keeps its
  devices' slices of it (`jax.make_array_from_callback`).
  """
  return _place(tree, NamedSharding(mesh, P(AXIS) if spec is None else spec))


def split_local_batch(tree: Any, mesh: Mesh, spec: P) -> Any:
  """Places a pytree of which this process holds only its part, split as `spec` says.

  Each process passes its own slice of the global value along the mesh axis (its devices'
  consecutive share, as a per-process input pipeline yields it); the global array is
  assembled with `jax.make_array_from_process_local_data`, with no process holding the
  whole. With one process this is split_batch.
  """
  if jax.process_count() == 1:
    return split_batch(tree, mesh, spec)
  sharding = NamedSharding(mesh, spec)
  axis = list(spec).index(AXIS)

  def one(x):
    x = np.asarray(x)
    shape = list(x.shape)
    shape[axis] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, x, tuple(shape))

  return jax.tree.map(one, tree)


def to_host(tree: Any) -> Any:
  """A pytree's values as numpy arrays on this host, whatever processes hold them.

  Replicated arrays are read from this process's copy; arrays split across processes are
  gathered from all of them (a collective: every process must call it).
  """

  def one(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return np.asarray(x)
    if x.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))

  return jax.tree.map(one, tree)


def any_process(flag: bool) -> bool:
  """Whether `flag` is true in any process (a collective with several processes)."""
  if jax.process_count() == 1:
    return bool(flag)
  flags = multihost_utils.process_allgather(np.asarray(bool(flag), np.int32))
  return bool(np.any(flags))


def device_batch(batch_size: int, mesh: Mesh) -> int:
  """`batch_size` rounded up to a multiple of the mesh's device count."""
  n = mesh.devices.size
  return -(-batch_size // n) * n


def sync(name: str) -> None:
  """Waits until every process reaches this point (nothing to do with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def initialize_distributed(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  *,
  timeout_s: int = 300,
  heartbeat_s: int = 100,
) -> None:
  """Joins JAX's multi-process runtime (`jax.distributed.initialize`), before any computation.

  Without arguments the cluster is detected (Cloud TPU, SLURM, Open MPI, ...); the three
  values name it explicitly (what a test on one machine passes). On CPU the collectives
  between processes run over gloo. Raises UsageError (one line) when the coordinator
  cannot be reached within `timeout_s`. No process hangs on a dead peer: a collective
  that loses its peer fails at once (gloo), and the others stop with one line
  (errors.cluster_lost, exit code 3); a peer that stops sending heartbeats, or the loss of
  process 0 (the coordinator), makes JAX abort the others after `heartbeat_s` or at once,
  with its own fatal message (its error callback cannot be replaced from Python in this
  JAX), and launch.py's supervisor (gan_jax/supervisor.py) adds the one line and exit code 3.
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if coordinator_address and process_id:
    # JAX aborts the process (a C++ fatal error, no exception) when it cannot register
    # with the coordinator: look for it first, to fail with one line instead.
    _wait_for_coordinator(coordinator_address, timeout_s, process_id, num_processes)
  try:
    jax.distributed.initialize(
      coordinator_address=coordinator_address,
      num_processes=num_processes,
      process_id=process_id,
      initialization_timeout=timeout_s,
      heartbeat_timeout_seconds=heartbeat_s,
    )
  except (RuntimeError, ValueError) as e:
    where = coordinator_address or "the detected cluster"
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    raise UsageError(
      f"cannot join the cluster at {where} as process {process_id} of {num_processes} "
      f"within {timeout_s} s ({first}): check the address and port, and that process 0 runs"
    ) from None


def _wait_for_coordinator(address: str, timeout_s: int, process_id, num_processes) -> None:
  host, _, port = address.rpartition(":")
  if not host or not port.isdigit():
    raise UsageError(f"--coordinator_address={address} is not HOST:PORT")
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=2):
        return
    except OSError as e:
      if time.monotonic() > deadline:
        raise UsageError(
          f"cannot reach the coordinator at {address} as process {process_id} of "
          f"{num_processes} within {timeout_s} s ({e.strerror or e}): start process 0 "
          "there, or check the address and port"
        ) from None
      time.sleep(0.5)
