"""The GAN's step: a step's global batch (`draw`, `batch_spec`) and the per-device update
(`local_step`, under shard_map): `d_steps` discriminator updates and `g_steps` generator
updates, or one of each from the same parameters ('simultaneous').

Gradient averaging: inside shard_map the loss is the mean over the mesh axis of the
devices' losses (`parallel.mean`) and `parallel.value_and_grad` averages the per-device
gradients, both adding in device order (see gan_jax/parallel.py); BatchNorm statistics are
averaged over the axis by the models themselves. A lazy regularizer runs as an update of its
own where it is due (games/gan/lazy.py): the D penalty as `d_regularize`, on any family;
path length as StyleGAN2's `g_regularize`. Settings that vary per run in a program of
several members are read through games/gan/settings.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from gan_jax import parallel, penalties, schedules
from gan_jax.data import datasets as data_lib
from gan_jax.game import NetState, State, apply_train, device_key, diagnostic_norms, global_mean
from gan_jax.games.gan import augmentation, stylegan2
from gan_jax.games.gan.build import GAN, apply_net, sample_labels, sample_latents
from gan_jax.games.gan.lazy import LAZY_METRIC, LazyRegularization, lazily
from gan_jax.games.gan.settings import objective_of, optimizer_of, setting
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any


def draw(gan: GAN, sample_real: Callable[..., dict], data: PyTree, rng: Array) -> dict[str, Array]:
  """One step's global batch: real data, latents and labels for d_steps D updates of
  batch_size and g_steps G updates of g_batch (a real batch of G's own where its objective
  reads real data), path length's own latents where it is on, and a key for the per-device
  noise (penalties, instance noise). The fakes' labels follow gan.fake_labels."""
  k_real, k_zd, k_zg, k_noise = jax.random.split(rng, 4)
  d_shape = (gan.d_steps, gan.batch_size)
  real = sample_real(data, k_real, d_shape)
  z_d = sample_latents(gan, k_zd, d_shape)
  # One G update keeps its batch unstacked (the streams of runs before g_steps existed).
  g_shape = (gan.g_batch,) if gan.g_steps == 1 else (gan.g_steps, gan.g_batch)
  z_g = sample_latents(gan, k_zg, g_shape)
  # A key of its own (not a 5th split) keeps the unconditional streams as they were.
  k_yd, k_yg = jax.random.split(jax.random.fold_in(rng, 1))
  streamed = sample_real is data_lib.take_streamed_batch  # a stream brings D's batches only
  mode = gan.fake_labels if gan.num_classes else "uniform"  # without classes: zeros

  def real_labels(batch: dict, shape: tuple[int, ...]) -> Array:
    return batch["y"].astype(jnp.int32) if gan.num_classes else jnp.zeros(shape, jnp.int32)

  def fake_labels(key: Array, shape: tuple[int, ...], paired: Array | None) -> Array:
    if mode == "real":  # the labels of the real batch the fakes are judged beside
      return paired
    if mode == "data":  # the training set's labels, apart from the real batch (gen_c)
      return real_labels(sample_real(data, key, shape), shape)
    return sample_labels(gan, key, shape)

  y_real = real_labels(real, d_shape)
  batch = {"x_real": real["x"], "y_real": y_real, "z_d": z_d, "z_g": z_g, "key": k_noise}
  x_g = y_g_real = None
  if gan.objective.g_uses_real or mode == "real":  # G's real batch: data, or labels only
    if streamed:
      x_g, y_g_real = real["x"][-1], y_real[-1]
      if gan.g_steps > 1:
        x_g, y_g_real = (jnp.broadcast_to(a, (gan.g_steps, *a.shape)) for a in (x_g, y_g_real))
    else:
      real_g = sample_real(data, jax.random.fold_in(rng, 2), g_shape)
      x_g, y_g_real = real_g["x"], real_labels(real_g, g_shape)
  batch["y_d"] = fake_labels(k_yd, d_shape, y_real)
  batch["y_g"] = fake_labels(k_yg, g_shape, y_g_real)
  if gan.objective.g_uses_real:
    batch.update(x_real_g=x_g, y_real_g=y_g_real)
  if gan.lazy_for("g") is not None:
    # Path length's G update draws latents of its own (stylegan2-ada's Greg phase gets a
    # fresh gen_z and gen_c), labels from the data where the fakes' are not uniform.
    k_zpl, k_ypl = jax.random.split(jax.random.fold_in(rng, 3))
    batch["z_pl"] = sample_latents(gan, k_zpl, g_shape)
    if mode == "uniform":
      batch["y_pl"] = sample_labels(gan, k_ypl, g_shape)
    elif streamed:  # 'real' ('data' refuses a stream): G's labels, those of D's last batch
      batch["y_pl"] = batch["y_g"]
    else:  # the training set's labels, as stylegan2-ada's gen_c
      batch["y_pl"] = real_labels(sample_real(data, k_ypl, g_shape), g_shape)
  return batch


def batch_spec(gan: GAN) -> dict[str, P]:
  """How `draw`'s batch is split: D's arrays along their batch axis (after d_steps)."""
  d_side = P(None, AXIS)
  g_side = P(AXIS) if gan.g_steps == 1 else P(None, AXIS)
  spec = {
    "x_real": d_side,
    "y_real": d_side,
    "z_d": d_side,
    "y_d": d_side,
    "z_g": g_side,
    "y_g": g_side,
    "key": P(),
  }
  if gan.objective.g_uses_real:
    spec.update(x_real_g=g_side, y_real_g=g_side)
  if gan.lazy_for("g") is not None:
    spec.update(z_pl=g_side, y_pl=g_side)
  return spec


def _noisy(gan: GAN, state: State, rng: Array, x: Array) -> Array:
  """Instance noise on a discriminator input, with the std of the current step."""
  if gan.instance_noise_std <= 0:
    return x
  std = schedules.instance_noise_std(
    state.step,
    initial_std=setting(gan, state, "instance_noise_std"),
    anneal_steps=setting(gan, state, "instance_noise_anneal_steps"),
  )
  return schedules.add_instance_noise(rng, x, std)


def _generate(
  gan: GAN, g_net: NetState, params: PyTree, z: Array, y: Array, rng: Array
) -> tuple[Array, PyTree]:
  """G's training forward on this device's latents: (images, G's updated batch_stats).
  `rng` (replicated) feeds StyleGAN2's style mixing and noise inputs; other families take
  no randomness."""
  if not gan.style_based:
    return apply_net(gan, gan.generator, g_net, params, z, y)
  k_ws, k_noise = jax.random.split(rng)
  ws, stats = stylegan2.style_ws(gan, g_net, params, z, y, k_ws)
  return stylegan2.synthesis(gan, params, device_key(k_noise))(ws), stats


def d_regularize(
  gan: GAN,
  reg: LazyRegularization,
  state: State,
  real: Array,
  y_real: Array,
  fake: Array,
  y_fake: Array,
  rng: Array,
) -> tuple[State, Array]:
  """A lazy penalty's own D update (StyleGAN2's 'Dreg', on any family): the loss
  reg.scaled_weight * penalty (weight times interval) on this step's real and fake batches;
  D's statistics updates are dropped, as for the penalty in the D loss. Returns (state,
  penalty)."""
  d_net = state.nets["d"]

  def loss_fn(params):
    def critic(labels):
      return lambda x: apply_net(gan, gan.discriminator, d_net, params, x, labels)[0]

    penalty = penalties.compute_penalty(
      reg.name, critic(y_real), real, fake, rng, pack=gan.pack, d_fake_fn=critic(y_fake)
    )
    penalty = parallel.mean(penalty)
    return reg.scaled_weight * penalty, penalty

  (_, penalty), grads = parallel.value_and_grad(loss_fn, has_aux=True)(d_net.params)
  updates, opt_state = optimizer_of(gan, state, "d").update(grads, d_net.opt_state, d_net.params)
  d_net = d_net.replace(params=optax.apply_updates(d_net.params, updates), opt_state=opt_state)
  return state.replace(nets={**state.nets, "d": d_net}), penalty


def _augmentation_state(
  gan: GAN, state: State, real_logits: Array, extras: dict, d_index
) -> tuple[State, dict]:
  """After a D update: ADA's p and LeCam's anchors in the state, and their metrics."""
  aug, extra, metrics = gan.augment, dict(state.extra), {}
  if aug.ada:
    metrics["ada_p"] = extra["ada"]["p"]  # the p this update augmented with
    extra["ada"] = augmentation.ada_after_d_update(aug, state, real_logits, d_index, gan.batch_size)
  if aug.lecam:
    extra["lecam"] = extras["lecam"]._asdict()
    metrics["lecam_penalty"] = parallel.mean(extras["lecam_penalty"])
  if aug.bcr:
    metrics["bcr_penalty"] = parallel.mean(extras["bcr_penalty"])
  return state.replace(extra=extra), metrics


def d_update(
  gan: GAN,
  state: State,
  real: Array,
  y_real: Array,
  z: Array,
  y_fake: Array,
  rng: Array,
  with_norms: Array | bool = True,
  d_index: Array | int | None = None,
) -> tuple[State, dict]:
  """One discriminator update on this device's shard (real, y_real, z, y_fake).

  `d_index` counts D updates (default state.step * d_steps): a lazy penalty runs, as an
  update of its own after this one, where it is due. The gradient and update norms are
  NaN where `with_norms` is false (`diagnostic_norms`).
  """
  g_net, d_net = state.nets["g"], state.nets["d"]
  objective = objective_of(gan, state)
  real_label = setting(gan, state, "real_label")
  fake, g_stats = _generate(gan, g_net, g_net.params, z, y_fake, jax.random.fold_in(rng, 1))
  fake = jax.lax.stop_gradient(fake)
  k_real, k_fake, k_penalty = jax.random.split(device_key(rng), 3)
  aug = gan.augment
  if aug.on:  # D sees augmented images, the penalties' inputs included (keys of their own)
    k_aug_real, k_aug_fake = jax.random.split(jax.random.fold_in(device_key(rng), 7))
    apply_aug = augmentation.augmenter(aug, state)
    real, fake = apply_aug(real, k_aug_real), apply_aug(fake, k_aug_fake)
  real, fake = _noisy(gan, state, k_real, real), _noisy(gan, state, k_fake, fake)
  lazy = gan.lazy_for("d")
  in_loss = gan.penalty != "none" and lazy is None

  def loss_fn(params):
    real_logits, stats = apply_net(gan, gan.discriminator, d_net, params, real, y_real)
    fake_logits, stats = apply_net(
      gan, gan.discriminator, d_net.replace(batch_stats=stats), params, fake, y_fake
    )
    loss = objective.d_loss(real_logits, fake_logits, real_label=real_label, batch_mean=global_mean)
    penalty = jnp.zeros(())
    if in_loss:
      # D on the penalty's points in training mode; its statistics updates are dropped.
      d_now = d_net.replace(batch_stats=stats)

      def critic(labels):
        return lambda x: apply_net(gan, gan.discriminator, d_now, params, x, labels)[0]

      penalty = penalties.compute_penalty(
        gan.penalty,
        critic(y_real),
        real,
        fake,
        k_penalty,
        pack=gan.pack,
        d_fake_fn=critic(y_fake),
      )
    total = loss + setting(gan, state, "penalty_weight") * penalty
    extras = {}
    if aug.bcr:
      d_now = d_net.replace(batch_stats=stats)

      def d_fn(x, which):
        labels = y_real if which == "real" else y_fake
        return apply_net(gan, gan.discriminator, d_now, params, x, labels)[0]

      k_bcr = jax.random.fold_in(device_key(rng), 8)
      extras["bcr_penalty"] = augmentation.consistency(
        aug, d_fn, real, fake, real_logits, fake_logits, k_bcr
      )
      total = total + extras["bcr_penalty"]
    if aug.lecam:
      extras["lecam_penalty"], extras["lecam"] = augmentation.lecam(
        aug, state, real_logits, fake_logits
      )
      total = total + extras["lecam_penalty"]
    return parallel.mean(total), (
      stats,
      real_logits,
      fake_logits,
      parallel.mean(loss),
      parallel.mean(penalty),
      extras,
    )

  (_, (stats, real_logits, fake_logits, loss, penalty, extras)), grads = parallel.value_and_grad(
    loss_fn, has_aux=True
  )(d_net.params)
  tx = optimizer_of(gan, state, "d")
  updates, opt_state = tx.update(grads, d_net.opt_state, d_net.params)
  params = optax.apply_updates(d_net.params, updates)
  if gan.d_weight_clip > 0:
    c = setting(gan, state, "d_weight_clip")
    clip = lambda p: jnp.clip(p, -c, c)
    if "d_weight_clip" in gan.varying:  # a run of clip 0 is not clipped
      clip = lambda p: jnp.where(c > 0, jnp.clip(p, -c, c), p)
    params = jax.tree.map(clip, params)
  metrics = {
    "d_loss": loss,  # the objective alone; the penalty is logged apart
    "d_real": global_mean(objective.d_output(real_logits)),
    "d_fake": global_mean(objective.d_output(fake_logits)),
    **diagnostic_norms(with_norms, {"d_grad_norm": grads, "d_update_norm": updates}),
  }
  nets = {"g": g_net.replace(batch_stats=g_stats), "d": NetState(params, stats, opt_state)}
  state = state.replace(nets=nets)
  index = state.step * gan.d_steps if d_index is None else d_index
  state, aug_metrics = _augmentation_state(gan, state, real_logits, extras, index)
  metrics.update(aug_metrics)
  if lazy is not None:
    state, penalty = lazily(
      lazy,
      index,
      lambda s: d_regularize(gan, lazy, s, real, y_real, fake, y_fake, k_penalty),
      state,
    )
  if gan.penalty != "none":
    metrics["d_penalty"] = penalty
  return state, metrics


def g_update(
  gan: GAN,
  state: State,
  z: Array,
  y: Array,
  rng: Array,
  with_norms: Array | bool = True,
  real: tuple[Array, Array] | None = None,
  g_index: Array | int | None = None,
  path_length: tuple[Array, Array] | None = None,
) -> tuple[State, dict]:
  """One generator update on this device's shard of latents z (and labels y).

  D runs in training mode (batch statistics) but its running statistics are left as
  they are: the discriminator's state belongs to its own update. `real` (x, y) is the
  real batch that an objective with `g_uses_real` compares against. `g_index` counts G
  updates (default state.step * g_steps): path length runs, as an update of its own after
  this one on its own latents and labels `path_length` (z, y), where it is due. The
  gradient and update norms are NaN where `with_norms` is false.
  """
  g_net, d_net = state.nets["g"], state.nets["d"]
  objective = objective_of(gan, state)
  noise_key = device_key(rng)
  k_forward = jax.random.fold_in(rng, 2)

  apply_aug = augmentation.augmenter(gan.augment, state)
  k_aug_fake, k_aug_real = jax.random.split(jax.random.fold_in(noise_key, 7))

  def loss_fn(params):
    fake, g_stats = _generate(gan, g_net, params, z, y, k_forward)
    if gan.augment.on:  # D judges G's images as it judges them in its own update
      fake = apply_aug(fake, k_aug_fake)
    fake_logits, _ = apply_net(
      gan, gan.discriminator, d_net, d_net.params, _noisy(gan, state, noise_key, fake), y
    )
    real_logits = None
    if real is not None:
      x_real = real[0] if not gan.augment.on else apply_aug(real[0], k_aug_real)
      x_real = _noisy(gan, state, jax.random.fold_in(noise_key, 1), x_real)
      real_logits, _ = apply_net(gan, gan.discriminator, d_net, d_net.params, x_real, real[1])
    loss = objective.g_loss(real_logits, fake_logits, batch_mean=global_mean)
    return parallel.mean(loss), g_stats

  (loss, g_stats), grads = parallel.value_and_grad(loss_fn, has_aux=True)(g_net.params)
  updates, opt_state = optimizer_of(gan, state, "g").update(grads, g_net.opt_state, g_net.params)
  params = optax.apply_updates(g_net.params, updates)
  metrics = {
    "g_loss": loss,
    **diagnostic_norms(with_norms, {"g_grad_norm": grads, "g_update_norm": updates}),
  }
  state = state.replace(nets={**state.nets, "g": NetState(params, g_stats, opt_state)})
  lazy = gan.lazy_for("g")
  if lazy is not None:  # path length, after the main update (as stylegan2-ada's Greg)
    if path_length is None:
      raise ValueError("path length needs latents of its own: pass path_length=(z, y)")
    k_reg = jax.random.fold_in(rng, 3)
    index = state.step * gan.g_steps if g_index is None else g_index
    z_pl, y_pl = path_length
    state, metrics["g_path_length"] = lazily(
      lazy, index, lambda s: stylegan2.g_regularize(gan, lazy, s, z_pl, y_pl, k_reg), state
    )
    metrics["pl_mean"] = state.extra["pl_mean"]
  if gan.ema_on:
    state = state.replace(extra={**state.extra, "ema": _ema(gan, state, z, y)})
  return state, metrics


def _ema(gan: GAN, state: State, z: Array, y: Array) -> dict[str, PyTree]:
  """The EMA generator after this step's G update: ema_decay per update from
  ema_start_step on, or StyleGAN2's half-life in images (`stylegan2.ema_beta`, with the
  images seen before this step)."""
  ema, g = state.extra["ema"], state.nets["g"]
  if gan.ema_half_life_kimg > 0:
    images_seen = state.step.astype(jnp.float32) * gan.batch_size
    decay = stylegan2.ema_beta(
      gan.batch_size, gan.ema_half_life_kimg, rampup=gan.ema_rampup, images_seen=images_seen
    )
    ema_params = schedules.ema_update(ema["params"], g.params, decay=decay, step=state.step)
  else:
    ema_params = schedules.ema_update(
      ema["params"],
      g.params,
      decay=setting(gan, state, "ema_decay"),
      step=state.step,
      start_step=setting(gan, state, "ema_start_step"),
    )
  if gan.style_based:
    # StyleGAN2's statistic (w_avg) is copied from G, as stylegan2-ada copies G's buffers.
    return {"params": ema_params, "batch_stats": g.batch_stats}
  # The EMA weights' own BatchNorm statistics, gathered the way G's are: the EMA
  # generator in training mode on this step's latents. (G's statistics belong to G's
  # weights; sampled with the EMA weights they would mismatch its activations.)
  _, ema_stats = apply_train(
    gan.generator, NetState(ema_params, ema["batch_stats"], None), ema_params, z, y
  )
  return {"params": ema_params, "batch_stats": ema_stats}


def local_step(
  gan: GAN, state: State, batch: dict[str, Array], with_norms: Array | bool = True
) -> tuple[State, dict]:
  """`d_steps` discriminator updates (one per leading slice of the D arrays), then
  `g_steps` G updates (of g_batch each); or, with update_rule 'simultaneous', one D and one
  G update from the same parameters on the same batch (G's loss on the fakes D judged). On
  this device's shard of `draw`'s batch. Lazy regularizers count their network's updates:
  D update j of step s is s * d_steps + j, G update j is s * g_steps + j.

  The batch's replicated `key` seeds the per-device noise of penalties and instance
  noise. The gradient, update and parameter norms are NaN where `with_norms` is false.
  """
  k_d, k_g = jax.random.split(batch["key"])
  if gan.update_rule == "simultaneous":
    d_state, d_metrics = d_update(
      gan,
      state,
      batch["x_real"][0],
      batch["y_real"][0],
      batch["z_d"][0],
      batch["y_d"][0],
      jax.random.fold_in(k_d, 0),
      with_norms,
      d_index=state.step,
    )
    real_g = (batch["x_real_g"], batch["y_real_g"]) if "x_real_g" in batch else None
    pl = (batch["z_pl"], batch["y_pl"]) if "z_pl" in batch else None
    g_state, g_metrics = g_update(
      gan, state, batch["z_d"][0], batch["y_d"][0], k_g, with_norms, real_g, state.step, pl
    )
    # G's new weights and statistics (its forward on these latents, as in D's update); each
    # lazy regularizer's value from its own network's update.
    extra = g_state.extra
    if "lazy" in extra:
      d_metric = LAZY_METRIC["d"]
      lazy = {**extra["lazy"]}
      if d_metric in lazy:
        lazy[d_metric] = d_state.extra["lazy"][d_metric]
      extra = {**extra, "lazy": lazy}
    state = g_state.replace(nets={"g": g_state.nets["g"], "d": d_state.nets["d"]}, extra=extra)
  else:
    # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop
    # tens of times slower than straight-line code (benchmarks/loop_overhead.py).
    for j in range(gan.d_steps):
      last = j == gan.d_steps - 1
      state, d_metrics = d_update(
        gan,
        state,
        batch["x_real"][j],
        batch["y_real"][j],
        batch["z_d"][j],
        batch["y_d"][j],
        jax.random.fold_in(k_d, j),
        with_norms if last else False,
        d_index=state.step * gan.d_steps + j,
      )
    # d_metrics are those of the last D update, g_metrics of the last G update.
    for j in range(gan.g_steps):
      pick = (lambda x: x) if gan.g_steps == 1 else (lambda x, j=j: x[j])
      real_g = pl = None
      if "x_real_g" in batch:
        real_g = (pick(batch["x_real_g"]), pick(batch["y_real_g"]))
      if "z_pl" in batch:
        pl = (pick(batch["z_pl"]), pick(batch["y_pl"]))
      state, g_metrics = g_update(
        gan,
        state,
        pick(batch["z_g"]),
        pick(batch["y_g"]),
        k_g if gan.g_steps == 1 else jax.random.fold_in(k_g, j),
        with_norms if j == gan.g_steps - 1 else False,
        real_g,
        # G updates counted over the run, as D's: path length is due on every interval-th.
        g_index=state.step * gan.g_steps + j,
        path_length=pl,
      )
  metrics = {
    **d_metrics,
    **g_metrics,
    **diagnostic_norms(
      with_norms,
      {"g_param_norm": state.nets["g"].params, "d_param_norm": state.nets["d"].params},
    ),
  }
  return state.replace(step=state.step + 1), metrics
