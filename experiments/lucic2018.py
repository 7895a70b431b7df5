r"""Lucic et al. 2018, "Are GANs Created Equal?": six objectives on MNIST (or Fashion-MNIST).

  python launch.py --config=experiments/lucic2018.py:full --sweep --workdir=runs/lucic_mnist
  python launch.py --config=experiments/lucic2018.py:full --config.dataset=fashion_mnist --sweep
  python launch.py --config=experiments/lucic2018.py:quick --sweep --workdir=runs/lucic_quick

As in their code (google/compare_gan, branch v1): the InfoGAN-style G and D
(models/infogan.py), 28 px, batch 64, z ~ U[-1, 1]^64; 20 epochs where an epoch is 50,000
images, i.e. 15,625 batches; FID of 10,000 samples against the 10,000 test images (the
prepared FID Inception) after every 5 epochs, 4 evaluations. 5 seeds per objective.

Their training step is one D update on one batch, with a G update every disc_iters of them
(abstract_gan.run_single_train_step). Here a step is d_steps D updates and one G update, so
the members with 5 D updates per G update train 15,625 / 5 = 3,125 steps and evaluate every
782: every member sees 15,625 batches and the 5-critic ones make 3,125 G updates, as theirs.

They searched 100 hyperparameter settings per model; the search is not tabulated per data
set, so each objective here takes the setting of the paper that introduced it, a point of
their search space. The protocol therefore reproduces no table of the paper: their FIDs
are of the settings their search found, these of one fixed setting per objective, and the
report header says so. The settings:
  minimax, non_saturating, least_squares  Adam 2e-4, b1 0.5 (DCGAN's), 1 D step
  wasserstein   weight clipping 0.01, 5 D steps, Adam 1e-4, b1 0.5
  wgan_gp       gradient penalty 10, 5 D steps, Adam 1e-4 (0.5, 0.9), no BatchNorm in D
  dragan        DRAGAN penalty 10, 1 D step, Adam 1e-4, b1 0.5
The report ranks by the last FID; the best FID over the evaluations is in each member's
eval rows. The `quick` variant trains 1,000 batches (D updates), 2 seeds, FID on 1,000
samples (against 1,000 test images) at the end only: 1h48m for the six objectives on a
2-core CPU (measured, docs/results.md), where Inception takes about 5 images/s. Its FIDs
are biased upward by the small sample and compare only with each other.
"""

import math

from gan_jax.config import optimizer_config, protocol_header
from gan_jax.games import default_config

BATCH, EPOCH_IMAGES, EPOCHS, EVAL_EPOCHS = 64, 50_000, 20, 5
STEPS, SEEDS = EPOCHS * EPOCH_IMAGES // BATCH, 5  # 15,625 D updates
QUICK_STEPS, QUICK_SEEDS = 1_000, 2
CONFIG_ARGS = ("full", "quick")


def schedule(variant: str, d_steps: int = 1) -> tuple[int, int]:
  """(total_steps, eval_every) of a member making d_steps D updates per step: the protocol's
  D updates (batches) divided by d_steps; evaluations at the first step after each 5 epochs."""
  if variant == "quick":
    return QUICK_STEPS // d_steps, 0
  return STEPS // d_steps, math.ceil(EVAL_EPOCHS * EPOCH_IMAGES / BATCH / d_steps)


def get_config(variant: str = "full"):
  if variant not in CONFIG_ARGS:
    raise ValueError(f"unknown variant {variant!r} of lucic2018.py; use one of {CONFIG_ARGS}")
  quick = variant == "quick"
  config = default_config()
  config.dataset = "mnist"
  config.loss = "non_saturating"
  config.batch_size = BATCH
  config.total_steps, config.eval_every = schedule(variant)
  config.num_seeds = QUICK_SEEDS if quick else SEEDS
  config.model.name = "infogan"
  config.model.image_size = 28
  config.model.z_dim = 64
  config.model.z_prior = "uniform"
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.d_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.eval.num_samples = 1_000 if quick else 10_000
  config.log_every = 250
  config.sample_every = 1_000
  config.checkpoint_every = 1_000
  config.report.primary_metric = "fid"
  config.report.protocol = protocol_header(
    "Lucic et al. 2018, MNIST / Fashion-MNIST FID, one setting per objective (not a table of"
    " the paper: its FIDs come from a search over settings); steps of one D update, 5-critic"
    " members a fifth as many steps of 5",
    steps=config.total_steps,
    seeds=config.num_seeds,
    quick=quick,
    paper_steps=STEPS,
  )
  config.lock()
  return config


def get_sweep(variant: str = "full"):
  total_steps, eval_every = schedule(variant, d_steps=5)
  five_critic = {"d_steps": 5, "total_steps": total_steps, "eval_every": eval_every}
  adam = lambda lr, b2=0.999: {
    "g_optimizer.learning_rate": lr,
    "d_optimizer.learning_rate": lr,
    "g_optimizer.b2": b2,
    "d_optimizer.b2": b2,
  }
  return [
    {"name": "minimax", "loss": "minimax"},
    {"name": "non_saturating", "loss": "non_saturating"},
    {"name": "least_squares", "loss": "least_squares"},
    {
      "name": "wasserstein",
      "loss": "wasserstein",
      "d_weight_clip": 0.01,
      **five_critic,
      **adam(1e-4),
    },
    {
      "name": "wgan_gp",
      "loss": "wasserstein",
      "penalty": "gradient_penalty",
      "penalty_weight": 10.0,
      **five_critic,
      "model.infogan.d_batch_norm": False,
      **adam(1e-4, 0.9),
    },
    {
      "name": "dragan",
      "loss": "non_saturating",
      "penalty": "dragan",
      "penalty_weight": 10.0,
      **adam(1e-4),
    },
  ]
