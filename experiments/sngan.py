r"""SN-GAN (Miyato et al. 2018) on MNIST: hinge loss, spectrally normalized discriminator.

  python launch.py --config=experiments/sngan.py

No BatchNorm in the discriminator (spectral norm is its normalization);
Adam 2e-4 (0.5, 0.999), one D step per G step (the DCGAN setting of the paper).
"""

from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.loss = "hinge"
  config.model.d_spectral_norm = True
  config.model.d_norm = "none"
  config.lock()
  return config
