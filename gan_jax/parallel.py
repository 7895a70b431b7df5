"""The device mesh every program here runs on, and how pytrees are placed on it and read back.

One 1-D mesh over all devices, axis 'batch': training steps split the global batch over
it (jax.jit of jax.shard_map). With several processes (JAX's multi-process runtime: TPU
pod slices, GPU clusters) the training mesh spans every process's devices, all processes
run the same program, and process 0 alone writes files (`is_writer`). Evaluation, pictures
and sampling run on one process's own devices (`local_mesh`) from a host copy of the state
(`to_host`), so they need no cross-process traffic.

Reductions over the mesh axis inside a step (`mean`, `value_and_grad`) add the devices'
values in device order 0, 1, ..., N-1, from exact copies (all-gather, all-to-all) rather
than through an all-reduce: an all-reduce's order of addition belongs to its transport (in
one process XLA's, across processes gloo's, NCCL's or the TPU's), so a run on 2 processes
x 2 devices would differ from the same run on 1 process x 4 devices in the last bits, and
those bits grow over a GAN's training. With the order fixed, the numbers depend on the
device count alone, not on how the devices are spread over processes.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import multihost_utils
from jax.flatten_util import ravel_pytree
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


def _ordered_sum(parts: jax.Array) -> jax.Array:
  """parts[0] + parts[1] + ... in that order (XLA does not reassociate float additions)."""
  total = parts[0]
  for j in range(1, parts.shape[0]):
    total = total + parts[j]
  return total


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _device_mean(x: jax.Array, axis: str) -> jax.Array:
  return _ordered_sum(lax.all_gather(x, axis)) / lax.axis_size(axis)


def _device_mean_fwd(x, axis):
  return _device_mean(x, axis), None


def _device_mean_bwd(axis, _, ct):
  # The mean over devices is its own adjoint: device j's input reaches every device's
  # output with weight 1/N. (all_gather's own transpose is a reduce-scatter, an
  # all-reduce's order again.)
  return (_device_mean(ct, axis),)


_device_mean.defvjp(_device_mean_fwd, _device_mean_bwd)


def mean(tree: Any, axis: str = AXIS) -> Any:
  """Inside shard_map: each leaf's mean over the devices of `axis`, added in device order.

  Differentiable (its transpose is the same mean), and its result stays typed as varying
  over `axis` (every device holds the same value), so autodiff inserts no all-reduce
  where it meets per-device values. Leaves that do not vary over `axis` are returned as
  they are. Use `invariant` to hand a result out of the mapped step. Under a vmap whose
  axis_name is `axis` (one device, no transport) it is lax.pmean.
  """

  def one(x):
    if axis in varying_axes(x):
      return _device_mean(x, axis)
    if axis in jax.sharding.get_abstract_mesh().manual_axes:
      return x  # invariant inside shard_map: already the same on every device
    return lax.pmean(x, axis)

  return jax.tree.map(one, tree)


def invariant(tree: Any, axis: str = AXIS) -> Any:
  """Leaves varying over `axis` whose values every device holds alike, typed invariant.

  (Device 0's copy, by an exact all-gather: JAX has no free cast from varying to
  invariant, and out_specs P() asks for invariant values.) Meant for small values:
  metrics, BatchNorm statistics; gradients go through `value_and_grad`. The leaves of one
  dtype travel in one all-gather, not one each (a step hands out dozens).
  """
  leaves, treedef = jax.tree.flatten(tree)
  by_dtype: dict[Any, list[int]] = {}
  for i, x in enumerate(leaves):
    if axis in varying_axes(x):
      by_dtype.setdefault(jnp.result_type(x), []).append(i)
  for indices in by_dtype.values():
    flat = jnp.concatenate([jnp.ravel(leaves[i]) for i in indices])
    flat = lax.all_gather(flat, axis, to="invarying")[0]
    offset = 0
    for i in indices:
      size = leaves[i].size
      leaves[i] = flat[offset : offset + size].reshape(leaves[i].shape)
      offset += size
  return jax.tree.unflatten(treedef, leaves)


def _gradient_mean(grads: Any, axis: str) -> Any:
  """Per-device gradients (varying) -> their mean, invariant, added in device order.

  A reduce-scatter and an all-gather made of exact copies: the flat gradient is cut into N
  chunks, an all-to-all gives device i every device's chunk i, it adds them in device
  order, and an all-gather puts the chunks back together. Memory and traffic are those of
  an all-reduce (about twice the gradient), not N times it.
  """
  n = lax.axis_size(axis)
  flat, unravel = ravel_pytree(grads)
  if flat.size == 0:
    return grads
  size = flat.shape[0]
  chunks = jnp.pad(flat, (0, -size % n)).reshape(n, -1)
  mine = lax.all_to_all(chunks, axis, split_axis=0, concat_axis=0)  # row j: device j's
  total = lax.all_gather(_ordered_sum(mine) / n, axis, tiled=True, to="invarying")
  return unravel(total[:size])


def value_and_grad(fn: Callable, *, has_aux: bool = False, axis: str = AXIS) -> Callable:
  """jax.value_and_grad for a step inside shard_map, the gradient averaged in device order.

  `fn(params, ...)` returns a loss that every device holds alike (a `mean` over `axis` of
  per-device losses); the replicated `params` are differentiated as per-device copies, so
  autodiff inserts no all-reduce, and the copies' gradients (each that of the sum of all
  devices' losses, by the mean's transpose) are averaged by `_gradient_mean`. The loss is
  returned invariant; aux as fn returns it.
  """

  def wrapped(params, *args):
    params = jax.tree.map(
      lambda p: p if axis in varying_axes(p) else lax.pcast(p, (axis,), to="varying"), params
    )
    out, grads = jax.value_and_grad(fn, has_aux=has_aux)(params, *args)
    grads = _gradient_mean(grads, axis)
    if has_aux:
      return (invariant(out[0], axis), out[1]), grads
    return invariant(out, axis), grads

  return wrapped


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
  _match_cpu_threads(num_processes)
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


def _local_cpu_devices() -> int:
  """The CPU devices this process will have: jax_num_cpu_devices or XLA_FLAGS' fake count."""
  configured = getattr(jax.config, "jax_num_cpu_devices", -1)
  if configured and configured > 0:
    return configured
  flags = os.environ.get("XLA_FLAGS", "")
  match = re.search(r"--xla_force_host_platform_device_count=(\d+)", flags)
  return int(match.group(1)) if match else 1


def _match_cpu_threads(num_processes: int | None) -> None:
  """Gives XLA:CPU the intra-op thread pool of one process holding all the cluster's devices.

  XLA:CPU sizes its pool max(cores, local devices) (cores: PJRT_NPROC or NPROC where set),
  and its matmuls block their work by the pool's size, so the same per-device program
  gives other last bits in a process of 2 devices than in one of 4 (tests/test_multihost.py).
  With PJRT_NPROC = max(cores, all processes' devices), 2 processes x 2 fake devices compute
  what 1 process x 4 devices does. Only where the user set neither variable; before the
  CPU client exists. Accelerators are unaffected (this pool serves host work there).
  """
  if num_processes is None or os.environ.get("PJRT_NPROC") or os.environ.get("NPROC"):
    return
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  os.environ["PJRT_NPROC"] = str(max(cores or 1, _local_cpu_devices() * num_processes))


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
