r"""The R3GAN objective on Stacked MNIST: RpGAN + R1 + R2 (Huang et al. 2024), 1,000 modes.

  python launch.py --config=experiments/rpgan_stacked_mnist.py

The Stacked MNIST setting of experiments/stacked_mnist.py (DCGAN, batch 64, Adam 2e-4
b1 0.5) with the loss of "The GAN is dead; long live the GAN!": the relativistic pairing
loss and zero-centred gradient penalties on real (R1) and generated (R2) data,
gamma/2 E||grad D||^2 each, gamma = 1 (a middle value for [-1, 1] images, not tuned
here). The discriminator's BatchNorm couples the samples of a batch, so its per-sample
input gradients are approximate (see gan_jax/penalties.py); R3GAN itself uses a
normalization-free network, experiments/r3gan.py.
"""

from experiments import stacked_mnist


def get_config():
  config = stacked_mnist.get_config()
  config.loss = "relativistic"
  config.penalty = "r1_r2"
  config.penalty_weight = 1.0
  return config
