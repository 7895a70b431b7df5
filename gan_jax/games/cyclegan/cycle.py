"""CycleGAN's pure pieces: the cycle and identity losses, the image pool, the schedule.

The game (G: A -> B, F: B -> A, D_A, D_B) is built from these; nothing here calls a model.
As in junyanz/pytorch-CycleGAN-and-pix2pix (models/cycle_gan_model.py, util/image_pool.py):

  L_G = L_adv(D_B(G(a))) + L_adv(D_A(F(b)))
        + lambda_cycle * (cycle_loss(a, F(G(a))) + cycle_loss(b, G(F(b))))
        + identity_weight * lambda_cycle * (identity_loss(b, G(b)) + identity_loss(a, F(a)))

with lambda_cycle = 10 and identity_weight = 0.5 (0 switches the identity term off; it needs
the two domains to have the same number of channels). The discriminators see generated
images through an image pool of 50 (Shrivastava et al. 2017), `pool_query`.

L_adv is the reference's GANLoss('lsgan') (its --gan_mode default): MSE(D(G(a)), 1) =
E (D(G(a)) - 1)^2 for a generator and 0.5 (MSE(D(b), 1) + MSE(D(G(a)), 0)) for a
discriminator (backward_D_basic). gan_jax's least_squares objective halves the generator's
term (1/2 E (f - 1)^2, losses.least_squares_g_loss), so the game weighs it by
ADVERSARIAL_WEIGHT = 2; its discriminator term is the reference's as it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

LAMBDA_CYCLE = 10.0  # the paper's lambda (reference --lambda_A = --lambda_B = 10)
IDENTITY_WEIGHT = 0.5  # reference --lambda_identity: the identity term's weight / lambda
POOL_SIZE = 50  # reference --pool_size
# The least_squares g_loss times 2 is the reference's lsgan G term MSE(D(G(a)), 1).
ADVERSARIAL_WEIGHT = 2.0


def cycle_loss(x: Array, x_rec: Array) -> Array:
  """mean |x - x_rec| over every pixel and channel: the L1 cycle-consistency loss, e.g.
  cycle_loss(a, F(G(a))). Weighted by LAMBDA_CYCLE in the generators' loss."""
  return jnp.mean(jnp.abs(x - x_rec))


def identity_loss(x: Array, x_same: Array) -> Array:
  """mean |x - x_same|, e.g. identity_loss(b, G(b)): G should leave images of its target
  domain unchanged. Weighted by IDENTITY_WEIGHT * LAMBDA_CYCLE in the generators' loss."""
  return jnp.mean(jnp.abs(x - x_same))


# --- the image pool (history of generated images) ------------------------------------------


def pool_init(capacity: int, image_shape: tuple[int, ...], dtype=jnp.float32) -> dict[str, Array]:
  """An empty pool: {'images': (capacity, *image_shape) zeros, 'count': int32 0}.

  'count' is the number of images stored (it stops at capacity). The pool is a plain
  pytree, so it sits in the train state and its checkpoint makes resumption exact.
  """
  return {
    "images": jnp.zeros((capacity, *image_shape), dtype),
    "count": jnp.zeros((), jnp.int32),
  }


def pool_draws(rng: Array, num_images: int, capacity: int) -> tuple[Array, Array]:
  """The random numbers of one `pool_query` of `num_images`: per image a uniform u in [0, 1)
  and a slot in [0, capacity). Public so a test can replay the rule on the same draws."""
  keys = jax.random.split(rng, num_images)
  u = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0)))(keys)
  slot = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, 1), (), 0, capacity))(keys)
  return u, slot


def pool_query(pool: dict[str, Array], images: Array, rng: Array) -> tuple[dict[str, Array], Array]:
  """Passes a batch of generated images through the pool: returns (new pool, images for D).

  The reference's rule, image by image in batch order: while the pool is not full, the image
  is stored and returned; once full, with probability 1/2 (u > 0.5) a uniformly chosen stored
  image is returned and the new one takes its slot, else the new image is returned. A pool of
  capacity 0 returns the batch unchanged. Jittable (a lax.scan over the batch); the result is
  a function of (pool, images, rng) alone.
  """
  capacity = pool["images"].shape[0]
  if capacity == 0:
    return pool, images
  u, slot = pool_draws(rng, images.shape[0], capacity)

  def one(carry, inputs):
    stored, count = carry
    image, u_i, slot_i = inputs
    full = count >= capacity
    swap = full & (u_i > 0.5)
    old = stored[slot_i]
    write_at = jnp.where(full, slot_i, count)
    write = ~full | swap
    stored = stored.at[write_at].set(jnp.where(write, image, stored[write_at]))
    returned = jnp.where(swap, old, image)
    return (stored, jnp.minimum(count + 1, capacity)), returned

  (stored, count), returned = jax.lax.scan(
    one, (pool["images"], pool["count"]), (images.astype(pool["images"].dtype), u, slot)
  )
  return {"images": stored, "count": count}, returned.astype(images.dtype)


# --- the learning-rate schedule -------------------------------------------------------------


def linear_decay_schedule(
  learning_rate: float, *, constant_steps: int, decay_steps: int
) -> optax.Schedule:
  """`learning_rate` for `constant_steps`, then linearly to 0 over `decay_steps` (the paper:
  100 epochs constant, 100 decaying). Reaches exactly 0 at constant_steps + decay_steps (the
  reference's per-epoch rule stops one decay step short, at lr / (n_epochs_decay + 1)).
  decay_steps=0 is a constant learning rate."""
  if decay_steps <= 0:
    return optax.constant_schedule(learning_rate)
  return optax.join_schedules(
    [
      optax.constant_schedule(learning_rate),
      optax.linear_schedule(learning_rate, 0.0, decay_steps),
    ],
    [constant_steps],
  )
