r"""SRResNet (Ledig et al. 2017), the first phase of SRGAN: G alone on pixel MSE, 4x SR.

  python launch.py --config=experiments/srresnet.py --workdir=runs/srresnet
  python launch.py --config=experiments/srresnet.py --workdir=runs/srresnet \
    --config.total_steps=200          # a short run
  python -m gan_jax.prepare mate_backgrounds   # optional: 12 more photos (sr.photos='auto')

Then the SRGAN phase starts from this run's newest checkpoint (experiments/srgan.py).

The paper's recipe scaled to a 2-core CPU: Adam 2e-4 (the paper: 1e-4 for 10^6 steps; b1
0.9), batch 16 of random HR crops (32 px here, 96 in the paper) with their MATLAB-bicubic x4
LR inputs (gan_jax/data/imresize.py), G with 4 residual blocks of width 32 (the paper: 16 of 64;
model.srresnet.*), and, not the paper's, G = bicubic(LR) + the network's residual
(model.srresnet.bicubic_skip): the paper's G, which must first learn to reproduce the image,
was at 27.9 dB after 5,000 steps here (10 min) against bicubic's 32.3;
--config.model.srresnet.bicubic_skip=False trains it.

The photos ship in registry packages (gan_jax/data/sr.py): scikit-image, scikit-learn and
matplotlib's, plus Debian's mate-backgrounds where prepared; the held-out photos are never
cropped for training. The eval rows carry psnr, ssim, lpips of G and psnr_bicubic,
ssim_bicubic, lpips_bicubic; the pictures (samples/step_N.png) show LR (nearest) | bicubic |
G | HR for held-out crops.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config


def get_config():
  config = default_config("srgan")
  config.dataset = "sr_photos"
  config.sr.phase = "srresnet"
  config.sr.content_loss = "pixel"
  config.model.srresnet.bicubic_skip = True  # see the docstring
  config.batch_size = 16
  config.total_steps = 5000
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.9)
  config.d_optimizer = optimizer_config("adam", 1e-4, b1=0.9)
  config.log_every = 50
  config.sample_every = 1000
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.lock()
  return config
