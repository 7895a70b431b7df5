"""Lazy regularization: a regularizer as data, applied as an update of its own every N updates.

StyleGAN2 (Appendix B; stylegan2-ada training_loop.py's 'Dreg' / 'Greg' phases) runs R1
every 16 D updates and path length every 4 G updates, but nothing here is StyleGAN2's:
the D penalty of any family runs lazily when penalty_interval > 1. So the schedule, the
optimizer it implies and the switch that runs an update where it is due live apart from
the StyleGAN2 pieces (games/gan/stylegan2.py), below the GAN they configure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

import jax
import ml_collections
import optax

from gan_jax import parallel
from gan_jax.game import State, make_optimizer

Array = jax.Array

# The metric of a lazy regularizer, by network: its value at its last application.
LAZY_METRIC = {"d": "d_penalty", "g": "g_path_length"}


@dataclasses.dataclass(frozen=True)
class LazyRegularization:
  """A regularizer applied lazily, every `interval`-th update of network `net` (StyleGAN2,
  Appendix B; stylegan2-ada training_loop.py's 'Greg' / 'Dreg' phases).

  On those updates its loss is `weight * interval` (`scaled_weight`), so its average pull
  is that of `weight` every update. The network's optimizer then takes interval + 1
  gradient steps per `interval` updates, so its Adam runs with c = interval / (interval+1):
  learning rate lr * c and betas beta ** c (`adam`), which keeps the decay per update.
  """

  name: str  # 'r1' | 'path_length'
  net: str  # 'd' | 'g'
  interval: int
  weight: float

  @property
  def ratio(self) -> float:
    return self.interval / (self.interval + 1)

  @property
  def scaled_weight(self) -> float:
    return self.weight * self.interval

  def adam(self, learning_rate: float, b1: float, b2: float) -> tuple[float, float, float]:
    c = self.ratio
    return learning_rate * c, b1**c, b2**c

  def updates_per_step(self, updates: int) -> Fraction:
    """The network's optimizer updates per training step with `updates` main ones: the
    regularizer's own update follows main update i (counted over the run) where i %
    interval == 0, so interval steps hold updates * (interval + 1) optimizer updates, and
    count * interval // (updates * (interval + 1)) is the step of each (make_optimizer)."""
    return Fraction(updates * (self.interval + 1), self.interval)

  def due(self, step):
    """Whether update `step` (0-based, int or array) carries this regularizer."""
    return step % self.interval == 0


def lazy_regularizers(config: ml_collections.ConfigDict) -> tuple[LazyRegularization, ...]:
  """The config's lazy regularizers: the D penalty every penalty_interval D updates (when
  above 1; weight penalty_weight on penalties.PENALTIES[penalty], whose R1 holds the 1/2,
  so the term is penalty_weight / 2 * E ||grad D(x)||^2: penalty_weight is StyleGAN2's
  gamma) and path length every path_length_interval G updates."""
  lazy = []
  if config.penalty != "none" and config.penalty_interval > 1:
    lazy.append(
      LazyRegularization(config.penalty, "d", config.penalty_interval, config.penalty_weight)
    )
  if config.path_length_weight > 0:
    lazy.append(
      LazyRegularization("path_length", "g", config.path_length_interval, config.path_length_weight)
    )
  return tuple(lazy)


def lazy_optimizer(
  cfg: ml_collections.ConfigDict,
  reg: LazyRegularization | None,
  *,
  total_steps: int,
  updates: int = 1,
) -> optax.GradientTransformation:
  """The optimizer of a network that makes `updates` updates per training step; one with a
  lazy regularizer takes interval + 1 steps per interval updates, so its Adam runs with
  StyleGAN2's lr * c and betas ** c, and its schedule counts those extra updates."""
  if reg is None:
    return make_optimizer(cfg, total_steps=total_steps, updates_per_step=updates)
  scaled = ml_collections.ConfigDict(cfg.to_dict())
  scaled.learning_rate, scaled.b1, scaled.b2 = reg.adam(cfg.learning_rate, cfg.b1, cfg.b2)
  return make_optimizer(
    scaled, total_steps=total_steps, updates_per_step=reg.updates_per_step(updates)
  )


def lazily(
  reg: LazyRegularization,
  index: Array,
  update: Callable[[State], tuple[State, Array]],
  state: State,
) -> tuple[State, Array]:
  """`update(state) -> (state, value)` on the updates where `reg` is due (index % interval
  == 0), the state unchanged on the others; returns the state and the value of the last
  application (kept in extra['lazy'])."""
  metric = LAZY_METRIC[reg.net]

  def apply(s: State) -> State:
    s, value = update(s)
    return s.replace(extra={**s.extra, "lazy": {**s.extra["lazy"], metric: value}})

  # Both branches must return one type: statistics and values that every device holds
  # alike but typed varying (parallel.mean) are made invariant going in and coming out.
  update_invariant = lambda s: parallel.invariant(apply(s))
  state = jax.lax.cond(reg.due(index), update_invariant, lambda s: s, parallel.invariant(state))
  return state, state.extra["lazy"][metric]
