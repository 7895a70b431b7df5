r"""Stacked MNIST (1,000 modes): a DCGAN with z 100 and 64 base filters, batch 64, Adam 2e-4 b1 0.5.

  python launch.py --config=experiments/stacked_mnist.py
  python launch.py --config=experiments/stacked_mnist.py --sweep --workdir=runs/stacked_sweep

Each image stacks three random MNIST digits as R, G, B. Evaluated on 26,000
samples: each channel is read by the in-project MNIST classifier and
stacked_modes counts the distinct digit triples, stacked_kl their KL to uniform.
The sweep crosses the objectives with pack in {1, 2, 3, 4}; as in PacGAN, a packed
discriminator still sees 64 (packed) examples per step: batch_size = 64 m.

An in-project setting (gan_jax's DCGAN, 20,000 steps, one seed), not a table of a paper:
PacGAN's Table 2 (Stacked MNIST with VEEGAN's networks) is experiments/pacgan_stacked_mnist.py;
its Table 3 (Unrolled GAN's networks, D 1/4 and 1/2 of G) is not reproduced.
"""

from gan_jax.games import default_config
from gan_jax.sweep import pack_sweep

OBJECTIVES = ("non_saturating", "minimax", "wasserstein", "hinge", "least_squares")
BATCH = 64  # (packed) discriminator examples per step


def get_config():
  config = default_config()
  config.dataset = "stacked_mnist"
  config.loss = "non_saturating"
  config.batch_size = BATCH
  config.total_steps = 20000
  config.model.z_dim = 100
  config.model.base_filters = 64
  config.eval.num_samples = 26000
  config.eval_every = 5000
  config.lock()
  return config


def get_sweep():
  return pack_sweep(OBJECTIVES, (1, 2, 3, 4), BATCH)
