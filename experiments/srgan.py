r"""SRGAN (Ledig et al. 2017), the second phase: G from the SRResNet run, D alongside.

  python launch.py --config=experiments/srresnet.py --workdir=runs/srresnet   # first
  python launch.py --config=experiments/srgan.py --workdir=runs/srgan
  python launch.py --config=experiments/srgan.py --workdir=runs/srgan \
    --config.sr.pretrained_workdir=runs/srresnet --config.total_steps=200

G starts from the newest checkpoint in sr.pretrained_workdir (runs/srresnet by default) and
minimizes the content loss + 1e-3 x the non-saturating adversarial loss (the paper's
l_X + 10^-3 l_Gen; any objective of losses.py via --config.loss), D (the paper's 8-conv
VGG-style net, width 32 and dense 256 here) is trained alongside, Adam 1e-4. The content loss
is the VGG16 feature loss at relu5_3, rescaled by 1/12.75 (the paper's VGG54 reads VGG19,
whose weights are not available offline; gan_jax/content.py). The eval rows carry psnr, ssim,
lpips of G, of bicubic (*_bicubic) and of the SRResNet it started from (*_srresnet).
"""

from experiments import srresnet


def get_config():
  config = srresnet.get_config()
  with config.unlocked():
    config.sr.phase = "srgan"
    config.sr.pretrained_workdir = "runs/srresnet"
    config.sr.content_loss = "vgg"
    config.loss = "non_saturating"
    config.total_steps = 1000
    config.sample_every = 250
    config.eval_every = 250
    config.checkpoint_every = 250
  return config
