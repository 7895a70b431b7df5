r"""WGAN (Arjovsky et al. 2017) on MNIST: weight clipping 0.01, 5 critic steps, RMSProp 5e-5.

  python launch.py --config=experiments/wgan.py

The critic has no BatchNorm-free requirement with clipping; as in the paper's
DCGAN critic, BatchNorm stays on.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.loss = "wasserstein"
  config.d_weight_clip = 0.01
  config.d_steps = 5
  config.batch_size = 64
  config.total_steps = 5000
  config.g_optimizer = optimizer_config("rmsprop", 5e-5)
  config.d_optimizer = optimizer_config("rmsprop", 5e-5)
  config.lock()
  return config
