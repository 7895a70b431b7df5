"""Improved precision & recall (Kynkäänniemi et al. 2019), density & coverage (Naeem et al. 2020).

FID folds fidelity and diversity into one number; these four k-nearest-neighbour metrics keep
them apart. With real features R = {r_i} (n rows), generated ("fake") features F = {f_j}
(m rows), Euclidean distance d and NND_k(x) the distance from x to its k-th nearest neighbour
within its own set (itself excluded: the (k+1)-th smallest distance counting its own zero):

    precision = 1/m sum_j [exists i: d(f_j, r_i) < NND_k(r_i)]            (k = k_pr = 3)
    recall    = 1/n sum_i [exists j: d(r_i, f_j) < NND_k(f_j)]            (k = k_pr = 3)
    density   = 1/(k m) sum_j #{i: d(f_j, r_i) < NND_k(r_i)}              (k = k_dc = 5)
    coverage  = 1/n sum_i [min_j d(r_i, f_j) < NND_k(r_i)]                (k = k_dc = 5)

Precision: the share of fakes inside the union of real k-NN balls ("is it realistic?");
recall: the share of reals inside the fake balls ("is all of the data generated?"); density
counts how many real balls hold each fake, so a few fakes around a real outlier do not make it
1 (it is 1 on average when fakes and reals come from one distribution, and can exceed 1);
coverage: the share of real balls holding at least one fake, robust to fake outliers.

Features: these functions take any feature rows. Both papers compute the metrics on VGG16's
4,096-d fc2 features of ImageNet-trained weights (Kynkäänniemi et al.'s code: "VGG-16 ...
features from FC layer with shape=(n, 4096)"; Naeem et al. follow them), which gan_jax does
not have. The evaluator (evaluate.py) computes them on the FID Inception's 2,048-d pool3
features (precision, recall, density, coverage: eval_info `prdc_features: inception_pool3`),
on the in-project classifier's 128-d penultimate features (classifier_precision, ...:
`classifier_prdc_features: classifier_penultimate`) and on the points of the 2-D mixtures
(`prdc_features: points_2d`). The maths is the papers'; the values are of another feature
space and are not comparable with published precision / recall / density / coverage.

Ties: the comparisons are strict (`<`), as in the reference implementation of all four
(clovaai/generative-evaluation-prdc `compute_prdc`); Kynkäänniemi et al.'s own precision /
recall code uses `<=`. They differ only on exact ties, which continuous features almost never
have, with two exceptions: (1) for identical sets the k-th neighbour lies exactly on each
ball's boundary, so with `<` a ball holds its centre and k - 1 neighbours and density is
exactly 1 (with `<=` it would be (k + 1) / k); (2) duplicated rows: a point with k or more
exact copies has radius 0 and a strict ball holds nothing. Distances are compared squared,
d^2 < NND_k^2, which decides the same as the distances themselves and needs no square root.

Computation: squared distances |a|^2 + |b|^2 - 2 a.b in float32 (matmul at HIGHEST precision)
in fixed blocks of `block_size` x `block_size` on the device, never an n x m matrix, neither
on the host nor on the device. Rows are centred on the real mean first (distances do not
change; the cancellation in |a|^2 + |b|^2 - 2 a.b does shrink) and the squared norms are
summed in float64; features of at most DIRECT_MAX_DIM dimensions (2-D mixtures), where that
cancellation would still cost a percent or more of the nearest-neighbour distances, use
sum_l (a_l - b_l)^2 instead. The k smallest distances of each row are merged block by block
with `lax.top_k`, a point's distance to itself is excluded by index, not by value. Real rows are
split over all devices (shard_map), the other set is replicated on each. One evaluation costs
two n x n-sized passes (the fake k-NN radii and the real-fake comparisons); the real radii
are a third pass, done once per reference set (`real_manifold`, cached by the evaluator).
For identical sets the real-real and real-fake passes see the same blocks and compute the same
bits, so the boundary ties of (1) are decided exactly. Measured on 2 shared CPU cores
(benchmarks/prdc_speed.py): 10,000 x 10,000 with 2,048-d features, 3-5 s for the real radii
and 5-10 s per evaluation (matmul-bound; the range is the machine's varying load); with
64-d features, 0.3 and 0.5 s.

Inputs: real and fake sets of equal size by default (both metrics depend on the set sizes: the
k-NN balls shrink as n grows, so numbers are comparable only at equal n and m); unequal sizes
are accepted with `allow_unequal_sizes=True`, the maths holds for any n and m. Non-finite fake
features (a diverged generator) give NaN metrics, not an exception; non-finite real features
raise.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

BLOCK_SIZE = 1024  # rows and columns per distance block; each shape compiles once
K_PR = 3  # neighbours of the precision / recall balls (Kynkäänniemi et al.)
K_DC = 5  # neighbours of the density / coverage balls (Naeem et al.)
METRICS = ("precision", "recall", "density", "coverage")
DIRECT_MAX_DIM = 8  # up to this feature dimension, distances as sums of squared differences
AXIS = "rows"  # the mesh axis the rows of the first operand are split over


class PRDCError(ValueError):
  """Inputs from which precision / recall / density / coverage cannot be computed."""


@dataclasses.dataclass(frozen=True, eq=False)
class RealManifold:
  """The real set and its k-NN radii: computed once per reference set by `real_manifold`.

  Attributes:
    features: (n, d) float32 real features.
    center: (d,) float64 mean of `features`; both sets are centred on it before distances.
    squared_radii: {k: (n,) float32 NND_k(r_i)^2}, exactly as the distance blocks compute it.
    block_size: the block size the radii were computed with; `prdc` uses the same, so that
      identical sets compare bit-identical distances (see the module docstring).
  """

  features: np.ndarray
  center: np.ndarray
  squared_radii: Mapping[int, np.ndarray]
  block_size: int

  @property
  def count(self) -> int:
    return self.features.shape[0]

  def radii(self, k: int) -> np.ndarray:
    """NND_k of every real row, a distance (float64)."""
    return np.sqrt(self.squared_radii[k].astype(np.float64))


# ---------------------------------------------------------------------------------------------
# Blocked kernels, written per device (shard_map): the rows of the first operand are this
# device's share, the second operand is whole on every device.
# ---------------------------------------------------------------------------------------------


def _squared_distances(a, a_sq, b, b_sq):
  """(B, d), (B,), (B, d), (B,) -> (B, B) |a_i|^2 + |b_j|^2 - 2 a_i.b_j, clamped at 0.

  The matmul form loses about eps32 (|a|^2 + |b|^2) to cancellation: nothing next to the
  nearest-neighbour distances of high-dimensional features, but up to a percent of them for
  thousands of 2-D points; up to DIRECT_MAX_DIM dimensions, sum_l (a_il - b_jl)^2 directly.
  """
  if a.shape[1] <= DIRECT_MAX_DIM:
    return jnp.sum(jnp.square(a[:, None, :] - b[None, :, :]), axis=-1)
  ab = lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=lax.Precision.HIGHEST)
  # The factor 2 is a power of two, so it is exact wherever the compiler moves it.
  return jnp.maximum(a_sq[:, None] + b_sq[None, :] - 2.0 * ab, 0.0)


def _blocks(x: jax.Array, block: int) -> jax.Array:
  return x.reshape(x.shape[0] // block, block, *x.shape[1:])


def _local_knn(rows, rows_sq, cols, cols_sq, num_valid, *, k: int, block: int):
  """The k smallest squared distances from each local row to the other valid rows of `cols`.

  `cols` is the whole set (padded), `rows` this device's contiguous share of it; a row's
  distance to itself is excluded by its global index. -> (local rows, k), ascending.
  """
  row0 = lax.axis_index(AXIS) * rows.shape[0]
  col_starts = jnp.arange(0, cols.shape[0], block)
  row_starts = row0 + jnp.arange(0, rows.shape[0], block)
  offsets = jnp.arange(block)

  def row_block(_, xs):
    x, x_sq, i0 = xs

    def col_block(best, ys):
      y, y_sq, j0 = ys
      d2 = _squared_distances(x, x_sq, y, y_sq)
      col = (j0 + offsets)[None, :]
      skip = (col >= num_valid) | (col == (i0 + offsets)[:, None])
      # top_k keeps the largest: negated squared distances, so the nearest.
      merged = jnp.concatenate([best, jnp.where(skip, -jnp.inf, -d2)], axis=1)
      return lax.top_k(merged, k)[0], None

    init = jnp.full((block, k), -jnp.inf, jnp.float32)
    ys = (_blocks(cols, block), _blocks(cols_sq, block), col_starts)
    best, _ = lax.scan(col_block, init, ys)
    return None, -best

  _, nearest = lax.scan(
    row_block, None, (_blocks(rows, block), _blocks(rows_sq, block), row_starts)
  )
  return nearest.reshape(rows.shape[0], k)


def _local_cross(real, real_sq, real_r2_pr, real_r2_dc, fake, fake_sq, fake_r2_pr, *, block: int):
  """One pass over the real (local rows) x fake (all columns) squared distances.

  Padded real rows have radii -inf (they hold no fake), padded fake columns have radii -inf
  and distance +inf (they hold no real and cover none). Returns per real row: in a fake
  k_pr-ball (recall), its k_dc-ball holds a fake (coverage); per fake column, summed over all
  devices: number of real k_pr-balls holding it (> 0: precision), of real k_dc-balls (density).
  """
  fake_valid = fake_r2_pr > -jnp.inf

  def row_block(col_acc, xs):
    x, x_sq, r2_pr, r2_dc = xs

    def col_block(row_acc, ys):
      y, y_sq, f2_pr, valid = ys
      d2 = jnp.where(valid[None, :], _squared_distances(x, x_sq, y, y_sq), jnp.inf)
      in_real_pr = d2 < r2_pr[:, None]
      in_real_dc = d2 < r2_dc[:, None]
      in_fake_pr = d2 < f2_pr[None, :]
      recall, coverage = row_acc
      row_acc = (recall | in_fake_pr.any(axis=1), coverage | in_real_dc.any(axis=1))
      counts = (in_real_pr.sum(axis=0, dtype=jnp.int32), in_real_dc.sum(axis=0, dtype=jnp.int32))
      return row_acc, counts

    ys = tuple(_blocks(v, block) for v in (fake, fake_sq, fake_r2_pr, fake_valid))
    init = (jnp.zeros((block,), bool), jnp.zeros((block,), bool))
    row_flags, (n_pr, n_dc) = lax.scan(col_block, init, ys)
    return (col_acc[0] + n_pr, col_acc[1] + n_dc), row_flags

  xs = tuple(_blocks(v, block) for v in (real, real_sq, real_r2_pr, real_r2_dc))
  zeros = jnp.zeros((fake.shape[0] // block, block), jnp.int32)
  (n_pr, n_dc), (recall, coverage) = lax.scan(row_block, (zeros, zeros), xs)
  n_pr, n_dc = lax.psum((n_pr.reshape(-1), n_dc.reshape(-1)), AXIS)
  return recall.reshape(-1), coverage.reshape(-1), n_pr, n_dc


@functools.cache
def _knn_fn(mesh: Mesh, k: int, block: int):
  body = functools.partial(_local_knn, k=k, block=block)
  specs = (P(AXIS), P(AXIS), P(), P(), P())
  return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False))


@functools.cache
def _cross_fn(mesh: Mesh, block: int):
  body = functools.partial(_local_cross, block=block)
  specs = (P(AXIS), P(AXIS), P(AXIS), P(AXIS), P(), P(), P())
  out_specs = (P(AXIS), P(AXIS), P(), P())
  return jax.jit(
    jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=out_specs, check_vma=False)
  )


# ---------------------------------------------------------------------------------------------
# Host side: validation, padding, placement.
# ---------------------------------------------------------------------------------------------


def _mesh(devices: Sequence[Any] | None) -> Mesh:
  return Mesh(np.asarray(jax.local_devices() if devices is None else list(devices)), (AXIS,))


def _effective_block(block_size: int, n: int) -> int:
  """block_size, or fewer rows (a multiple of 8) for sets smaller than one block."""
  if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
    raise PRDCError(f"block_size must be an int, got {block_size!r}")
  if block_size < 1:
    raise PRDCError(f"block_size must be >= 1, got {block_size}")
  return int(min(block_size, -(-n // 8) * 8))


def _padded_rows(n: int, block: int, num_devices: int) -> int:
  """n rounded up to whole blocks on every device."""
  per_device = -(-n // num_devices)
  return -(-per_device // block) * block * num_devices


def _as_features(x: Any, name: str) -> np.ndarray:
  """x as (n, d) float32: the precision of the distance blocks (values beyond it become inf)."""
  x = np.asarray(x)
  if x.ndim != 2:
    raise PRDCError(f"{name} must be (num_samples, feature_dim), got shape {x.shape}")
  if x.shape[1] < 1:
    raise PRDCError(f"{name} have no feature dimensions (shape {x.shape})")
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    raise PRDCError(f"{name} must be real numbers, got dtype {x.dtype}")
  with np.errstate(over="ignore"):
    return x.astype(np.float32, copy=False)


def _check_k(k: Any, name: str, n: int, set_name: str) -> int:
  if isinstance(k, bool) or not isinstance(k, int | np.integer):
    raise PRDCError(f"{name} must be an int, got {k!r}")
  if k < 1:
    raise PRDCError(f"{name} must be >= 1, got {k}")
  if k >= n:
    raise PRDCError(
      f"{name}={k} needs more than {k} {set_name} samples (k neighbours besides each point), "
      f"got {n}"
    )
  return int(k)


def _check_finite_real(x: np.ndarray) -> None:
  if not np.isfinite(x).all():
    raise PRDCError("real features are not all finite (NaN or inf in the reference set)")


def _centred(x: np.ndarray, center: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
  """(rows, d) float32 x - center, zero-padded, and its squared row norms (summed in float64)."""
  out = np.zeros((rows, x.shape[1]), np.float32)
  np.subtract(x, center, out=out[: x.shape[0]], casting="unsafe")
  sq = np.einsum("ij,ij->i", out, out, dtype=np.float64).astype(np.float32)
  return out, sq


def _nearest(
  x: np.ndarray, center: np.ndarray, k: int, block: int, mesh: Mesh
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(k smallest squared distances to the others, (n, k) float32; padded x; its norms)."""
  n = x.shape[0]
  rows = _padded_rows(n, block, mesh.size)
  xc, sq = _centred(x, center, rows)
  split, whole = NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())
  nearest = _knn_fn(mesh, k, block)(
    jax.device_put(xc, split),
    jax.device_put(sq, split),
    jax.device_put(xc, whole),
    jax.device_put(sq, whole),
    jnp.int32(n),
  )
  return np.asarray(nearest)[:n], xc, sq


def real_manifold(
  real_features: Any,
  *,
  ks: Sequence[int] = (K_PR, K_DC),
  block_size: int = BLOCK_SIZE,
  devices: Sequence[Any] | None = None,
) -> RealManifold:
  """The k-NN radii of the real set for each k in `ks`, for reuse across evaluations.

  One blocked pass over the n x n real distances for all ks together (the largest k decides
  its cost). Raises PRDCError for non-finite features or a k outside 1..n-1.
  """
  x = _as_features(real_features, "real features")
  n = x.shape[0]
  ks = tuple(sorted({_check_k(k, "k", n, "real") for k in ks}))
  if not ks:
    raise PRDCError("ks is empty: give at least one k")
  _check_finite_real(x)
  block = _effective_block(block_size, n)
  center = x.mean(axis=0, dtype=np.float64)
  nearest = _nearest(x, center, ks[-1], block, _mesh(devices))[0]
  features = x.copy()
  features.setflags(write=False)
  radii = {k: nearest[:, k - 1].copy() for k in ks}
  for r in radii.values():
    r.setflags(write=False)
  return RealManifold(features, center, radii, block)


def prdc(
  real: Any,
  fake_features: Any,
  *,
  k_pr: int = K_PR,
  k_dc: int = K_DC,
  block_size: int | None = None,
  allow_unequal_sizes: bool = False,
  devices: Sequence[Any] | None = None,
) -> dict[str, float]:
  """{'precision', 'recall', 'density', 'coverage'} of fake against real features (floats).

  Args:
    real: (n, d) real features, or a `RealManifold` of them (its radii are reused; it must
      hold radii for k_pr and k_dc).
    fake_features: (m, d) generated features; m == n unless `allow_unequal_sizes`.
    k_pr: neighbours of the precision / recall balls (1 <= k_pr < n, m).
    k_dc: neighbours of the density / coverage balls (1 <= k_dc < n).
    block_size: rows per distance block (default BLOCK_SIZE); a RealManifold carries its own,
      and a different one here is an error.
    allow_unequal_sizes: accept m != n (the metrics depend on both sizes; see module doc).
    devices: the devices to split the real rows over (default: all local ones).

  Returns NaN for all four when a fake feature is NaN or infinite. Raises PRDCError (a
  ValueError, one line) for anything else it cannot compute.
  """
  if isinstance(real, RealManifold):
    manifold = real
    if block_size is not None and block_size != manifold.block_size:
      raise PRDCError(
        f"block_size={block_size}, but the RealManifold was built with "
        f"block_size={manifold.block_size}; pass none or the same"
      )
  else:
    manifold = None
    real = _as_features(real, "real features")
  real_x = manifold.features if manifold is not None else real
  fake = _as_features(fake_features, "fake features")
  n, m = real_x.shape[0], fake.shape[0]
  if real_x.shape[1] != fake.shape[1]:
    raise PRDCError(
      f"real and fake features differ in dimension: {real_x.shape[1]} vs {fake.shape[1]}"
    )
  if n != m and not allow_unequal_sizes:
    raise PRDCError(
      f"real and fake sets differ in size ({n} vs {m}); the metrics depend on the set sizes, "
      "so compare equal sizes (or pass allow_unequal_sizes=True)"
    )
  k_pr = _check_k(k_pr, "k_pr", n, "real")
  k_dc = _check_k(k_dc, "k_dc", n, "real")
  _check_k(k_pr, "k_pr", m, "fake")
  if manifold is None:
    block = BLOCK_SIZE if block_size is None else block_size
    _effective_block(block, n)
    _check_finite_real(real_x)
  else:
    missing = sorted({k_pr, k_dc} - set(manifold.squared_radii))
    if missing:
      raise PRDCError(
        f"the RealManifold has radii for k in {sorted(manifold.squared_radii)}, not {missing}; "
        f"build it with real_manifold(..., ks=({k_pr}, {k_dc}))"
      )
  if not np.isfinite(fake).all():
    return {name: float("nan") for name in METRICS}
  if manifold is None:
    manifold = real_manifold(real_x, ks=(k_pr, k_dc), block_size=block, devices=devices)

  mesh = _mesh(devices)
  block = manifold.block_size
  fake_r2, fake_c, fake_sq = _nearest(fake, manifold.center, k_pr, block, mesh)
  rows = _padded_rows(n, block, mesh.size)
  real_c, real_sq = _centred(manifold.features, manifold.center, rows)

  def padded(r2: np.ndarray, size: int) -> np.ndarray:
    out = np.full((size,), -np.inf, np.float32)
    out[: r2.shape[0]] = r2
    return out

  split, whole = NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())
  recall, coverage, n_pr, n_dc = _cross_fn(mesh, block)(
    jax.device_put(real_c, split),
    jax.device_put(real_sq, split),
    jax.device_put(padded(manifold.squared_radii[k_pr], rows), split),
    jax.device_put(padded(manifold.squared_radii[k_dc], rows), split),
    jax.device_put(fake_c, whole),
    jax.device_put(fake_sq, whole),
    jax.device_put(padded(fake_r2[:, k_pr - 1], fake_c.shape[0]), whole),
  )
  n_dc = np.asarray(n_dc)[:m].astype(np.int64)
  return {
    "precision": float(np.mean(np.asarray(n_pr)[:m] > 0)),
    "recall": float(np.mean(np.asarray(recall)[:n])),
    "density": float(n_dc.sum() / (k_dc * m)),
    "coverage": float(np.mean(np.asarray(coverage)[:n])),
  }
