r"""WGAN-GP (Gulrajani et al. 2017) on MNIST: penalty 10, 5 critic steps, Adam 1e-4 (0, 0.9).

  python launch.py --config=experiments/wgan_gp.py

The critic uses layer normalization instead of BatchNorm, as the paper
recommends: the penalty is taken per example, which batch statistics would couple.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.loss = "wasserstein"
  config.penalty = "gradient_penalty"
  config.penalty_weight = 10.0
  config.d_steps = 5
  config.model.d_norm = "layer"
  config.g_optimizer = optimizer_config("adam", 1e-4, b1=0.0, b2=0.9)
  config.d_optimizer = optimizer_config("adam", 1e-4, b1=0.0, b2=0.9)
  config.lock()
  return config
