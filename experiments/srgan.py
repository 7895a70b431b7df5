r"""SRGAN (Ledig et al. 2017), the second phase: G from the SRResNet run, D alongside.

  python launch.py --config=experiments/srresnet.py --workdir=runs/srresnet   # first
  python launch.py --config=experiments/srgan.py --workdir=runs/srgan
  python launch.py --config=experiments/srgan.py --workdir=runs/srgan \
    --config.sr.pretrained_workdir=runs/srresnet --config.total_steps=200

G starts from the newest checkpoint in sr.pretrained_workdir (runs/srresnet by default) and
minimizes the content loss + 1e-3 x the non-saturating adversarial loss (the paper's
l_X + 10^-3 l_Gen; any objective of losses.py via --config.loss), D (the paper's 8-conv
VGG-style net, width 32 and dense 256 here) is trained alongside; Adam b1 0.9, G at 1e-5 (the
paper: 1e-4, then 1e-5; from our SRResNet, 2e-4 made checkerboard artifacts within 250 steps),
D at 1e-4. The training crops are the paper's 96 px (24 px LR inputs), not SRResNet's 32 px
here: with 32 px crops (8 px LR) the VGG loss raised LPIPS above the SRResNet's (our guess:
G's receptive field mostly sees padding there); at 96 px LPIPS was 0.2116, 0.2069 and 0.2037
at +100, +200 and +300 steps against the SRResNet's 0.2073 (docs/results.md). A step costs
about 2 s on a 2-core CPU, so the default 300 steps take about 11 minutes.
The content loss is the VGG16 feature loss at relu2_2, rescaled by 1/12.75 (gan_jax/content.py):
the paper's SRGAN-VGG22 with VGG16 for VGG19, whose weights are not available offline. Its
VGG54 (here relu5_3, --config.sr.vgg_layer=relu5_3) costs about 3x more per step on the CPU.
LPIPS reads the same VGG16 trunk (relu1_2 ... relu5_3), so a VGG content loss is partly
optimizing the metric: read the lpips column with that in mind. The eval rows carry psnr, ssim,
lpips of G, of bicubic (*_bicubic) and of the SRResNet it started from (*_srresnet).
"""

from experiments import srresnet


def get_config():
  config = srresnet.get_config()
  with config.unlocked():
    config.sr.phase = "srgan"
    config.sr.pretrained_workdir = "runs/srresnet"
    config.sr.content_loss = "vgg"
    config.sr.vgg_layer = "relu2_2"  # see the docstring
    config.loss = "non_saturating"
    config.total_steps = 300
    config.sr.crop = 96  # the paper's; see the docstring
    # The paper's second stage rate; at 2e-4 G left the SRResNet for checkerboard artifacts.
    config.g_optimizer.learning_rate = 1e-5
    config.d_optimizer.learning_rate = 1e-4
    config.sample_every = 100
    config.eval_every = 100
    config.checkpoint_every = 100
    # 48 held-out crops (16 per photo, the 12 of the default are noisy at the third decimal
    # of lpips); bicubic and the SRResNet are measured on the same crops in every row.
    config.sr.eval_crops_per_photo = 16
  return config
