r"""SN-GAN with ResNets (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks", the CIFAR-10 ResNet setting) at 32x32, on MNIST by default.

  python launch.py --config=experiments/sngan_resnet.py
  python launch.py --config=experiments/sngan_resnet.py --config.dataset=cifar10   # prepared

The networks of gan_jax/models/resnet.py: G with upsampling residual blocks and BatchNorm
(4 -> 8 -> 16 -> 32), D with the optimized first block, downsampling residual blocks to
8x8 and two more at 8x8, spectral norm on every D weight, no BatchNorm in D. Hinge loss,
5 D updates per G update, Adam 2e-4 (0, 0.9) for both, batch 64, as the paper's setting
(C). Widths are 64 for G and D (the paper's 256 and 128 at CPU speed; model.resnet.*).
"""

from gan_jax.config import default_config


def get_config():
  config = default_config()
  config.dataset = "mnist"
  config.loss = "hinge"
  config.batch_size = 64
  config.d_steps = 5
  config.total_steps = 2000  # generator updates (10,000 D updates)
  config.model.name = "resnet"
  config.model.image_size = 32
  config.model.z_dim = 128
  config.model.d_spectral_norm = True
  for opt in (config.g_optimizer, config.d_optimizer):
    opt.learning_rate, opt.b1, opt.b2 = 2e-4, 0.0, 0.9
  config.lock()
  return config
