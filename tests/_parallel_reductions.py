"""parallel.mean, parallel.value_and_grad and parallel.invariant on 4 fake CPU devices; prints
one JSON line of checks (True where a check holds).

  python tests/_parallel_reductions.py

Used by test_parallel_reductions.py in a subprocess: the device count is fixed when jax
initializes.
"""

import json
import os

import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(4)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from gan_jax import parallel  # noqa: E402

AXIS = parallel.AXIS
mesh = parallel.make_mesh()
assert mesh.devices.size == 4
rng = np.random.default_rng(0)
# Values of very different sizes, so that the order of addition shows in the last bits.
x = (rng.standard_normal((4, 1001)) * 10 ** rng.uniform(-4, 4, (4, 1001))).astype(np.float32)
in_order = (((x[0] + x[1]) + x[2]) + x[3]) / np.float32(4)


def mapped(fn, in_specs, out_specs):
  return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs))


split = parallel.split_batch(x, mesh)
mean = mapped(lambda v: parallel.invariant(parallel.mean(v[0])), (P(AXIS),), P())(split)
grad_mean = mapped(lambda v: parallel._gradient_mean({"w": v[0]}, AXIS)["w"], (P(AXIS),), P())
checks = {
  "mean_in_device_order": bool(np.array_equal(np.asarray(mean), in_order)),
  "gradient_mean_in_device_order": bool(np.array_equal(np.asarray(grad_mean(split)), in_order)),
}

# The mean's transpose: gradients through a BatchNorm-like use of the mean (each device's
# output depends on every device's input) equal those of the same function on one device.
batch = rng.standard_normal((16, 3)).astype(np.float32)
w0 = rng.standard_normal((3, 5)).astype(np.float32)


def local_loss(w, xs, mean_fn):
  h = xs @ w
  mu = mean_fn(jnp.mean(h, axis=0))
  var = mean_fn(jnp.mean(jnp.square(h - mu), axis=0))
  return jnp.mean(jnp.tanh((h - mu) / jnp.sqrt(var + 1e-5)) * jnp.arange(5.0))


def sharded(w, xs):
  loss_fn = lambda w: parallel.mean(local_loss(w, xs, parallel.mean))
  return parallel.value_and_grad(loss_fn)(w)


got_loss, got_grad = mapped(sharded, (P(), P(AXIS)), (P(), P()))(w0, batch)
want_loss, want_grad = jax.value_and_grad(lambda w: local_loss(w, batch, lambda v: v))(w0)
checks["loss_matches_one_device"] = bool(np.allclose(got_loss, want_loss, rtol=1e-6))
checks["gradient_matches_one_device"] = bool(np.allclose(got_grad, want_grad, rtol=1e-5, atol=1e-7))
checks["no_all_reduce_in_the_step"] = "all-reduce" not in (
  mapped(sharded, (P(), P(AXIS)), (P(), P())).lower(w0, batch).compile().as_text()
)
print(json.dumps(checks))
