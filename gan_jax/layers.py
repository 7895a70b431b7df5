"""Discriminator building blocks (Flax Linen) and pure helpers.

* ``MinibatchStdDev`` / ``minibatch_stddev``: Karras et al. (2018), ProGAN/StyleGAN2.
* ``MinibatchDiscrimination``: Salimans et al. (2016), "Improved Techniques for
  Training GANs".
* ``pack``: PacGAN input packing, Lin et al. (2018).
* ``spectral_normalize``: power-iteration spectral normalisation of a weight
  (Miyato et al., 2018) as a pure function. For layers use ``flax.linen.SpectralNorm``,
  which does the same computation: wrap a layer, ``nn.SpectralNorm(nn.Dense(k))(x,
  update_stats=train)``; its ``u`` (shape ``(1, out)``) and ``sigma`` live in the
  ``'batch_stats'`` collection, so training applies need ``mutable=['batch_stats']``
  and must carry the returned stats; evaluation (and the discriminator closure given
  to a gradient penalty) uses ``update_stats=False`` with no mutable collection.

Note that minibatch std-dev and minibatch discrimination couple the examples of a
batch, so per-example input gradients from ``gan_jax.penalties`` are approximate
for discriminators containing them.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]


def minibatch_stddev(
  x: jax.Array, *, group_size: int = 4, num_features: int = 1, epsilon: float = 1e-8
) -> jax.Array:
  """Appends the minibatch standard-deviation feature(s) of Karras et al. (2018).

  For ``x`` of shape ``(N, *S, F)`` (NHWC images: ``S = (H, W)``, ``F = C``; dense
  features: ``S = ()``), let ``G = min(group_size, N)`` and ``M = N / G``. Following
  the StyleGAN2 reference, example ``i`` belongs to group ``i mod M`` (a strided, not a
  contiguous, split: ``x.reshape(G, M, ...)``). The ``F`` features are split into
  ``num_features`` contiguous blocks of ``c = F / num_features``. For group ``m`` and
  block ``k``:

      s_{m,k} = mean_{s in S, f in block k} sqrt(Var_g[x_{g,m,s,f}] + epsilon),

  with the population (biased) variance over the ``G`` group members. Every example
  of group ``m`` gets ``s_{m,k}`` broadcast over ``S`` as an extra feature, so the
  output has shape ``(N, *S, F + num_features)``. Identical examples in a group give
  exactly ``sqrt(epsilon)``.

  Raises:
    ValueError: at trace time, if ``N`` is not divisible by ``G`` or ``F`` by
      ``num_features``.
  """
  if x.ndim < 2:
    raise ValueError(f"minibatch_stddev needs (N, ..., F) input, got shape {x.shape}")
  if group_size < 1 or num_features < 1:
    raise ValueError(f"group_size={group_size} and num_features={num_features} must be >= 1")
  n, feat = x.shape[0], x.shape[-1]
  spatial = x.shape[1:-1]
  g = min(group_size, n)
  if n % g:
    raise ValueError(f"MinibatchStdDev: batch size {n} is not divisible by group size {g}")
  if feat % num_features:
    raise ValueError(
      f"MinibatchStdDev: {feat} features are not divisible by num_features={num_features}"
    )
  m = n // g
  # Statistics in at least float32: the variance of bf16 activations is too coarse.
  compute_dtype = jnp.promote_types(x.dtype, jnp.float32)
  y = x.astype(compute_dtype).reshape((g, m, *spatial, num_features, feat // num_features))
  var = jnp.mean(jnp.square(y - jnp.mean(y, axis=0)), axis=0)  # (M, *S, nf, c)
  std = jnp.sqrt(var + epsilon)
  reduce_axes = tuple(range(1, 1 + len(spatial))) + (std.ndim - 1,)
  stat = jnp.mean(std, axis=reduce_axes)  # (M, nf)
  # Row i of the tile is stat[i mod M], matching the strided group membership above.
  stat = jnp.tile(stat, (g, 1)).astype(x.dtype)  # (N, nf)
  stat = jnp.broadcast_to(
    stat.reshape((n,) + (1,) * len(spatial) + (num_features,)), (n, *spatial, num_features)
  )
  return jnp.concatenate([x, stat], axis=-1)


class MinibatchStdDev(nn.Module):
  """Minibatch standard-deviation layer; see ``minibatch_stddev`` for the maths.

  Attributes:
    group_size: examples per group (clipped to the batch size).
    num_features: number of appended features (channel blocks).
    epsilon: added to the variance before the square root.
  """

  group_size: int = 4
  num_features: int = 1
  epsilon: float = 1e-8

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return minibatch_stddev(
      x, group_size=self.group_size, num_features=self.num_features, epsilon=self.epsilon
    )


class MinibatchDiscrimination(nn.Module):
  """Minibatch discrimination of Salimans et al. (2016).

  For features ``x`` of shape ``(N, D)`` and a learned tensor ``T`` of shape
  ``(D, B * C)`` (``B = num_kernels``, ``C = kernel_dim``):

      M_i = reshape(x_i T, (B, C)),
      c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1),
      o(x_i)_b = sum_{j != i} c_b(x_i, x_j),

  and the output is ``concat([x, o(x)], -1)`` of shape ``(N, D + B)``. The self term
  ``j = i`` (always ``exp(0) = 1``) is excluded, as in the authors' improved-gan code
  (which adds ``1e6 * I`` to the distances); so ``N`` identical examples give
  ``o = N - 1`` for every kernel. That code also adds a learned bias to ``o``; we
  omit it because the layer after the concatenation has its own bias, which
  absorbs it. ``T`` is initialised ``N(0, 0.05^2)`` as there.

  Attributes:
    num_kernels: ``B``, the number of appended features.
    kernel_dim: ``C``, the dimension of each kernel's projection.
    kernel_init: initializer for ``T``.
  """

  num_kernels: int = 50
  kernel_dim: int = 5
  kernel_init: Initializer = nn.initializers.normal(stddev=0.05)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 2:
      raise ValueError(f"MinibatchDiscrimination needs (N, D) input, got shape {x.shape}")
    n, d = x.shape
    t = self.param("kernel", self.kernel_init, (d, self.num_kernels * self.kernel_dim))
    t = t.astype(jnp.promote_types(x.dtype, t.dtype))
    m = (x.astype(t.dtype) @ t).reshape(n, self.num_kernels, self.kernel_dim)
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # (N, N, B)
    c = jnp.exp(-l1)
    # Mask the diagonal rather than subtracting 1 so o is exact for j != i.
    off_diagonal = ~jnp.eye(n, dtype=bool)[:, :, None]
    o = jnp.sum(jnp.where(off_diagonal, c, 0.0), axis=1)  # (N, B)
    return jnp.concatenate([x, o.astype(x.dtype)], axis=-1)


def pack(x: jax.Array, m: int) -> jax.Array:
  """PacGAN packing (Lin et al., 2018): ``m`` consecutive examples become one.

  ``(N, *S, C) -> (N / m, *S, m * C)`` with

      out[k, ..., j * C + c] = x[k * m + j, ..., c],    0 <= j < m,

  i.e. examples ``k*m, ..., k*m + m - 1`` concatenated along the last (channel /
  feature) axis. Covers NHWC images and ``(N, D)`` features alike; ``pack(x, 1)`` is
  ``x``. Real and fake batches must be packed separately so a pack is all-real or
  all-fake.

  Raises:
    ValueError: if ``N`` is not divisible by ``m`` or ``m < 1``.
  """
  if m < 1:
    raise ValueError(f"pack: m must be >= 1, got {m}")
  if x.ndim < 2:
    raise ValueError(f"pack needs (N, ..., C) input, got shape {x.shape}")
  n = x.shape[0]
  if n % m:
    raise ValueError(f"pack: batch size {n} is not divisible by pack size m={m}")
  rest = x.shape[1:]
  y = x.reshape((n // m, m, *rest))
  y = jnp.moveaxis(y, 1, -2)  # (N/m, *S, m, C)
  return y.reshape((n // m, *rest[:-1], m * rest[-1]))


def _l2_normalize(v: jax.Array, eps: float) -> jax.Array:
  """``v / (||v||_2 + eps)``, the same form as Flax's SpectralNorm."""
  return v / (jnp.linalg.norm(v) + eps)


def spectral_normalize(
  kernel: jax.Array, u: jax.Array, n_steps: int = 1, eps: float = 1e-12
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Spectral normalisation by power iteration (Miyato et al., 2018).

  ``kernel`` of any rank >= 2 is viewed as ``W`` of shape ``(K, out)`` with
  ``K = prod(kernel.shape[:-1])`` (Dense ``(in, out)`` and Conv ``(kh, kw, in, out)``
  kernels alike, as in ``flax.linen.SpectralNorm``). Starting from ``u`` (``out``
  entries, any shape, e.g. Flax's ``(1, out)``), each of ``n_steps`` iterations does

      v <- W u / ||W u||,    u <- W^T v / ||W^T v||,

  then ``sigma = v^T W u`` (approximating the largest singular value of ``W``) and
  the result is ``W / sigma`` reshaped to ``kernel.shape``. ``u`` and ``v`` are
  stop-gradient'ed, so gradients flow only through ``W`` in ``v^T W u`` and the
  division (the standard choice, as in the paper and Flax).

  Args:
    kernel: weight tensor, shape ``(..., out)``.
    u: current estimate of the top right-singular vector, ``out`` entries.
    n_steps: number of power iterations (static, >= 1).
    eps: added to norms to avoid division by zero.

  Returns:
    ``(w_sn, new_u, sigma)``: normalised kernel (shape of ``kernel``), updated ``u``
    (shape of ``u``) to carry to the next call, and the scalar ``sigma``.
  """
  if kernel.ndim < 2:
    raise ValueError(f"spectral_normalize needs a kernel of rank >= 2, got {kernel.shape}")
  if n_steps < 1:
    raise ValueError(f"spectral_normalize needs n_steps >= 1, got {n_steps}")
  w = kernel.reshape(-1, kernel.shape[-1])
  if u.size != w.shape[1]:
    raise ValueError(f"u has {u.size} entries, expected {w.shape[1]} (kernel out dim)")
  u0 = u.reshape(-1).astype(w.dtype)

  def body(_, carry):
    uu, _ = carry
    vv = _l2_normalize(w @ uu, eps)
    uu = _l2_normalize(w.T @ vv, eps)
    return uu, vv

  v_init = jnp.zeros((w.shape[0],), w.dtype)
  new_u, v = jax.lax.fori_loop(0, n_steps, body, (u0, v_init))
  new_u = jax.lax.stop_gradient(new_u)
  v = jax.lax.stop_gradient(v)
  sigma = v @ w @ new_u
  # A zero kernel gives sigma = 0; leave it unscaled rather than dividing by zero.
  w_sn = w / jnp.where(sigma != 0, sigma, 1.0)
  return w_sn.reshape(kernel.shape), new_u.reshape(u.shape).astype(u.dtype), sigma
