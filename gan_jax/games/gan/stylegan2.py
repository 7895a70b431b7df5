"""StyleGAN2's training (model.name='stylegan2'; experiments/stylegan2.py): the pieces the
GAN game adds to the networks of models/stylegan2.py.

* Style mixing in G's every training forward (`style_ws`): with `style_mixing_prob`, a
  second latent's W from a random layer on (models/stylegan2.py's `draw_crossover` and
  `mix_styles`, which stay with the networks: they are operations on W that pictures use
  too).
* Path length regularization (`path_length_penalty`), run lazily as G's own update every
  path_length_interval G updates (`g_regularize`, StyleGAN2's 'Greg'), its running mean in
  `State.extra['pl_mean']`. The schedule as data and the switch that runs it are generic
  (games/gan/lazy.py): the D penalty of any family runs lazily the same way.
* The EMA of G with a half-life in images (`ema_beta`).
* StyleGAN2's own schedule of lazy regularizers (`lazy_regularization`) and constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import parallel
from gan_jax.game import NetState, State, device_key
from gan_jax.games.gan.build import GAN, cast_floating
from gan_jax.games.gan.lazy import LazyRegularization
from gan_jax.games.gan.settings import optimizer_of
from gan_jax.models import stylegan2 as stylegan2_lib
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any

STYLE_MIXING_PROB = 0.9
PL_BATCH_SHRINK = 2  # the path length runs on batch / 2 samples
PL_DECAY = 0.01


def lazy_regularization(
  r1_gamma: float = 10.0, pl_weight: float = 2.0, r1_interval: int = 16, pl_interval: int = 4
) -> tuple[LazyRegularization, ...]:
  """StyleGAN2's schedule: R1 on D every 16 updates, path length on G every 4 (weight 2).

  R1's weight is gamma itself: penalties.r1_penalty already holds the 1/2, so its term
  gamma * r1_penalty is stylegan2-ada's loss_Dr1 = r1_grads_square_sum * (r1_gamma / 2)
  (training/loss.py), gamma / 2 on the per-sample sum of squared input gradients: the
  weight a config's penalty_weight gives (lazy.lazy_regularizers). gamma = 10 is the
  'stylegan2' config (its 'cifar' config uses 0.01 and no path length)."""
  return (
    LazyRegularization("r1", "d", r1_interval, r1_gamma),
    LazyRegularization("path_length", "g", pl_interval, pl_weight),
  )


def path_length_penalty(
  synthesis_fn: Callable[[Array], Array],
  ws: Array,
  rng: Array,
  mean: Array,
  decay: float = 0.01,
  *,
  axis_name: str | None = None,
) -> tuple[Array, Array]:
  """StyleGAN2's path length regularizer (stylegan2-ada loss.py, Gpl).

  With images x = synthesis_fn(ws) of shape (N, H, W, C) and y ~ N(0, I) / sqrt(H W)
  (drawn from `rng`, shape of x), the lengths are

      a_n = sqrt( mean_l || d <x_n, y_n> / d ws[n, l] ||^2 ),

  the norm over w_dim of the Jacobian-transposed-vector product J_n^T y_n, averaged
  over the num_ws axis; the running mean moves by `decay` towards the batch mean of a
  (averaged over `axis_name`): mean' = mean + decay * (mean_n a_n - mean), and the penalty
  is mean_n (a_n - mean')^2. As there, mean' is not stop-gradient'ed inside the penalty.

  Returns (penalty, mean'), mean' without gradient: carry it to the next call. Gradients of
  the penalty flow into the synthesis parameters through synthesis_fn and into whatever
  produced ws (the mapping). Multiply by pl_weight (2) and the lazy interval (4).
  """
  images, vjp = jax.vjp(synthesis_fn, ws)
  h, w = images.shape[1], images.shape[2]
  noise = jax.random.normal(rng, images.shape, images.dtype) / math.sqrt(h * w)
  (grads,) = vjp(noise)
  lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))
  batch_mean = jnp.mean(lengths)
  if axis_name is not None:
    batch_mean = parallel.mean(batch_mean, axis_name)
  new_mean = mean + decay * (batch_mean - mean)
  penalty = jnp.mean(jnp.square(lengths - new_mean))
  return penalty, lax.stop_gradient(new_mean)


def ema_beta(
  batch_size: int, half_life_kimg: float, *, rampup: float = 0.0, images_seen: Array | float = 0
) -> Array:
  """Per-update EMA decay of G's weights with a half-life in images (stylegan2-ada).

  beta = 0.5 ** (batch_size / half_life_images), half_life_images = 1000 * half_life_kimg,
  so after half_life_images images the old weights count one half. With rampup > 0 the
  half-life is min(half_life_images, rampup * images_seen) (short early in training);
  images_seen may be a traced array.
  """
  half_life = half_life_kimg * 1000.0
  if rampup > 0:
    half_life = jnp.minimum(half_life, rampup * jnp.asarray(images_seen, jnp.float32))
  return 0.5 ** (batch_size / jnp.maximum(half_life, 1e-8))


def style_ws(
  gan: GAN, g_net: NetState, params: PyTree, z: Array, y: Array, rng: Array
) -> tuple[Array, PyTree]:
  """StyleGAN2's training W: the mapping of z (updating w_avg); with style_mixing_prob,
  from a crossover layer on (one for the batch, the same on every device) the W of a
  second latent (not updating w_avg). Returns (ws, G's updated batch_stats)."""
  g = gan.generator
  variables = {"params": params, "batch_stats": g_net.batch_stats}
  ws, updates = g.apply(variables, z, y, train=True, method="map", mutable=["batch_stats"])
  if gan.style_mixing_prob > 0:
    k_mix, k_z = jax.random.split(rng)
    z2 = jax.random.normal(device_key(k_z), z.shape, z.dtype)
    ws2 = g.apply(variables, z2, y, train=True, method="map", skip_w_avg_update=True)
    crossover = stylegan2_lib.draw_crossover(k_mix, g.num_ws, gan.style_mixing_prob)
    ws = stylegan2_lib.mix_styles(ws, ws2, crossover)
  return ws, updates["batch_stats"]


def synthesis(gan: GAN, params: PyTree, noise_key: Array) -> Callable[[Array], Array]:
  """ws -> images of StyleGAN2's synthesis (noise inputs from noise_key), in the compute
  dtype, float32 out."""
  dtype = jnp.dtype(gan.compute_dtype)
  variables = {"params": params if dtype == jnp.float32 else cast_floating(dtype, params)}

  def synthesize(ws: Array) -> Array:
    rngs = {"noise": noise_key}
    x = gan.generator.apply(variables, ws.astype(dtype), method="synthesize", rngs=rngs)
    return x.astype(jnp.float32)

  return synthesize


def g_regularize(
  gan: GAN,
  reg: LazyRegularization,
  state: State,
  z: Array,
  y: Array,
  rng: Array,
) -> tuple[State, Array]:
  """Path length's own G update (StyleGAN2's 'Greg'): on the first 1 / PL_BATCH_SHRINK of
  this device's share of z, y (path length's own latents, step.draw's z_pl: stylegan2-ada's
  Greg phase draws a fresh gen_z, not the main update's), style-mixed, with noise, w_avg
  updated as in any training forward, the loss reg.scaled_weight * penalty; the running
  mean of the lengths moves in extra['pl_mean']. Returns (state, penalty)."""
  g_net = state.nets["g"]
  n = max(1, z.shape[0] // PL_BATCH_SHRINK)
  z, y = z[:n], y[:n]
  k_ws, k_noise, k_pl = jax.random.split(rng, 3)

  def loss_fn(params):
    ws, stats = style_ws(gan, g_net, params, z, y, k_ws)
    penalty, mean = path_length_penalty(
      synthesis(gan, params, device_key(k_noise)),
      ws,
      device_key(k_pl),
      state.extra["pl_mean"],
      PL_DECAY,
      axis_name=AXIS,
    )
    penalty = parallel.mean(penalty)
    return reg.scaled_weight * penalty, (penalty, mean, stats)

  (_, (penalty, mean, stats)), grads = parallel.value_and_grad(loss_fn, has_aux=True)(g_net.params)
  updates, opt_state = optimizer_of(gan, state, "g").update(grads, g_net.opt_state, g_net.params)
  g_net = NetState(optax.apply_updates(g_net.params, updates), stats, opt_state)
  state = state.replace(nets={**state.nets, "g": g_net}, extra={**state.extra, "pl_mean": mean})
  return state, penalty
