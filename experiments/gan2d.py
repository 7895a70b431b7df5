r"""A GAN on a 2-D mixture of Gaussians ('ring': 8 modes, or 'grid': 25) with MLPs.

  python launch.py --config=experiments/gan2d.py
  python launch.py --config=experiments/gan2d.py --config.dataset=grid

Generator: 4 x (400 units, BatchNorm, ReLU); discriminator: 3 maxout layers of
200 units with 5 pieces; z 2-D standard normal; Adam 1e-4, b1 0.8; batch 100.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.loss = "non_saturating"
  config.dataset = "ring"
  config.batch_size = 100
  config.total_steps = 5000
  config.model.name = "mlp"
  config.model.z_dim = 2
  config.g_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.d_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.log_every = 250
  config.sample_every = 1000
  config.eval.num_samples = 2500  # the PacGAN protocol
  config.lock()
  return config
