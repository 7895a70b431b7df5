r"""SN-GAN with ResNets (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks", the CIFAR-10 ResNet setting) at 32x32, on MNIST by default.

  python launch.py --config=experiments/sngan_resnet.py
  python launch.py --config=experiments/sngan_resnet.py --config.dataset=cifar10   # prepared

The networks of gan_jax/models/resnet.py at 32 px: G with upsampling residual blocks and
BatchNorm (4 -> 8 -> 16 -> 32), D with the optimized first block, downsampling residual
blocks to 8x8 and two more at 8x8, spectral norm on every D weight, no BatchNorm in D.

The training of the authors' code (pfnet-research/sngan_projection: train.py, updater.py,
configs/sn_cifar10_unconditional.yml): hinge loss, 5 D updates per G update, Adam 2e-4
(0, 0.9) for both, D batches of 64 (real and fake), G batches of 128 fresh latents
(n_gen_samples: `g_batch_size`), and both learning rates falling linearly from the first
iteration to 0 at the last (LinearShift over [iteration_decay_start 0, iteration 50,000],
stepped once per G update: `schedule='linear'`, `decay_start=0` here over total_steps).
With --config.conditional=True (sn_cifar10_conditional.yml) the fakes' labels are uniform
over the classes, in G's and D's updates alike (updater.py's sample_categorical).
Where this config differs:
  - 2,000 steps (10,000 D updates) instead of 50,000, the decay spread over them;
  - widths 64 for G and D (the reference's 256 and 128, at CPU speed; model.resnet.*);
  - in each of the reference's iterations G's update comes first (at i == 0 of the n_dis
    loop), then the 5 D updates; here the 5 D updates come first, then G's, so the run
    starts with D updates and ends with a G update.
"""

from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.dataset = "mnist"
  config.loss = "hinge"
  config.batch_size = 64
  config.d_steps = 5
  config.g_batch_size = 128  # n_gen_samples in configs/sn_cifar10_*.yml: twice D's batch of 64
  config.fake_labels = "uniform"  # conditional runs: updater.py's sample_categorical
  config.total_steps = 2000  # generator updates (10,000 D updates)
  config.model.name = "resnet"
  config.model.image_size = 32
  config.model.z_dim = 128
  config.model.d_spectral_norm = True
  for opt in (config.g_optimizer, config.d_optimizer):
    opt.learning_rate, opt.b1, opt.b2 = 2e-4, 0.0, 0.9
    # Linear decay to 0 over the whole run: the reference's iteration_decay_start 0.
    opt.schedule, opt.decay_start = "linear", 0
  config.lock()
  return config
