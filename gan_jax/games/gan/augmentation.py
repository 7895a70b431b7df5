"""Limited-data training in the GAN's step: what D sees augmented, ADA's p, bCR and LeCam.

The pure pieces are gan_jax/augment.py; this module holds the game's side:

  augment.policy = 'diffaugment'  every image D judges, real or generated, in D's update, G's
                                  update and the penalties' inputs, goes through DiffAugment's
                                  `augment.diffaugment` transforms (Zhao et al. 2020), drawn
                                  afresh for each batch from the step's key;
  augment.policy = 'ada'          the same places through StyleGAN2-ADA's pipeline
                                  (Karras et al. 2020), each transform with probability p;
                                  p lives in the state (`extra['ada']`) and moves every
                                  `ada_interval` D updates by sign(r_t - ada_target) *
                                  batch * interval / (ada_kimg * 1000), r_t the mean of
                                  sign(D(augmented real)) over the interval, clamped to [0, 1];
  augment.bcr_*_weight > 0        balanced consistency regularization (Zhao et al. 2021) in D's
                                  loss: D(x) against D(T(x)) for the real and the generated
                                  batch, T DiffAugment's `augment.bcr_transforms`;
  augment.lecam_weight > 0        LeCam regularization (Tseng et al. 2021) in D's loss, its
                                  anchors (decay `lecam_decay`) in the state (`extra['lecam']`).

With every switch off nothing here enters the step: its program is today's. The draws are
per device (`device_key`), as the penalties' and instance noise's are, so a step on N devices
is another (equally valid) draw than on one.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import augment
from gan_jax.game import State, global_mean

Array = jax.Array
POLICIES = ("none", "diffaugment", "ada")


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """The limited-data switches of one config (see the module docstring)."""

  policy: str = "none"
  diffaugment: str = "color,translation,cutout"
  ada_spec: str = "bgc"
  ada_p: float = 0.0  # p at the start
  ada_target: float = 0.6  # 0: p stays at ada_p (fixed augmentation)
  ada_interval: int = 4  # D updates between adjustments of p
  ada_kimg: float = 500.0  # thousands of real images for p to move by 1
  bcr_real_weight: float = 0.0
  bcr_fake_weight: float = 0.0
  bcr_transforms: str = "translation"
  lecam_weight: float = 0.0
  lecam_decay: float = 0.99

  @property
  def on(self) -> bool:
    return self.policy != "none"

  @property
  def ada(self) -> bool:
    return self.policy == "ada"

  @property
  def bcr(self) -> bool:
    return self.bcr_real_weight > 0 or self.bcr_fake_weight > 0

  @property
  def lecam(self) -> bool:
    return self.lecam_weight > 0


def from_config(config: ml_collections.ConfigDict) -> Augmentation:
  return Augmentation(**config.augment.to_dict())


def init_extra(aug: Augmentation) -> dict:
  """The state's entries for ADA's p and LeCam's anchors (none when they are off)."""
  extra = {}
  zero = jnp.zeros((), jnp.float32)
  if aug.ada:
    extra["ada"] = {"p": jnp.asarray(aug.ada_p, jnp.float32), "sign_sum": zero, "count": zero}
  if aug.lecam:
    extra["lecam"] = augment.lecam_init()._asdict()
  return extra


def augmenter(aug: Augmentation, state: State):
  """`apply(x, key) -> x'`: what D sees of a batch x under this config's policy."""
  if aug.policy == "diffaugment":
    return lambda x, key: augment.diff_augment(x, key, aug.diffaugment)
  if aug.ada:
    spec = augment.ADA_SPECS[aug.ada_spec]
    return lambda x, key: augment.ada_augment(x, key, state.extra["ada"]["p"], spec)
  return lambda x, key: x


def consistency(aug: Augmentation, d_fn, real: Array, fake: Array, real_logits, fake_logits, key):
  """bCR's term for D's loss: D on T(real) and T(fake) against the logits of D's own update.
  `d_fn(x, which)` is D in its update's mode on the real ('real') or generated batch."""
  k_real, k_fake = jax.random.split(key)
  transform = lambda x, k: augment.diff_augment(x, k, aug.bcr_transforms)
  return augment.bcr_penalty(
    real_logits,
    d_fn(transform(real, k_real), "real"),
    fake_logits,
    d_fn(transform(fake, k_fake), "fake"),
    real_weight=aug.bcr_real_weight,
    fake_weight=aug.bcr_fake_weight,
  )


def lecam(aug: Augmentation, state: State, real_logits: Array, fake_logits: Array):
  """(LeCam's weighted term for D's loss, the anchors after this update)."""
  anchors = augment.LecamAnchors(**state.extra["lecam"])
  anchors = augment.lecam_update(
    anchors, global_mean(real_logits), global_mean(fake_logits), aug.lecam_decay
  )
  penalty = augment.lecam_penalty(real_logits, fake_logits, anchors.real, anchors.fake)
  return aug.lecam_weight * penalty, anchors


def ada_after_d_update(aug: Augmentation, state: State, real_logits: Array, d_index, batch: int):
  """ADA's bookkeeping after D update `d_index` (0-based): this update's mean sign of
  D(augmented real) joins the interval's; at the interval's end p moves and the sums
  restart. Returns the new extra['ada']."""
  ada = state.extra["ada"]
  sign_sum = ada["sign_sum"] + global_mean(jnp.sign(real_logits))
  count = ada["count"] + 1.0
  if aug.ada_target <= 0:  # fixed p
    return {**ada, "sign_sum": sign_sum, "count": count}
  due = (d_index + 1) % aug.ada_interval == 0
  moved = augment.ada_update(
    ada["p"],
    sign_sum,
    count,
    batch_images=batch,
    interval=aug.ada_interval,
    target=aug.ada_target,
    speed_kimg=aug.ada_kimg,
  )
  zero = jnp.zeros((), jnp.float32)
  return {
    "p": jnp.where(due, moved, ada["p"]),
    "sign_sum": jnp.where(due, zero, sign_sum),
    "count": jnp.where(due, zero, count),
  }
