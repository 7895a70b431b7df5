r"""CycleGAN (Zhu et al. 2017) between MNIST (A) and an MNIST-M-style set (B), unpaired, 32 px.

  python launch.py --config=experiments/cyclegan_mnist_m.py
  python launch.py --config=experiments/cyclegan_mnist_m.py --config.total_steps=200 \
    --workdir=runs/cg

The paper's recipe (least-squares adversarial loss, cycle consistency L1 with lambda 10,
identity loss 0.5 lambda, an image pool of 50 per discriminator, Adam 2e-4 b1 0.5, a
constant learning rate for half the run and then a linear decay to 0), on a task whose
translation can be measured offline: B is MNIST-M-style (photos from registry packages, not
Ganin's BSDS500): Ganin & Lempitsky's 2015 construction, built in-project from colour
photographs that ship in registry packages (gan_jax/data/mnist_m.py; the data set
`mnist2mnist_m_packages`), so its numbers are not comparable with results on MNIST-M. The
domains' training images come from disjoint digits. The eval rows carry
label_accuracy_a2b / _b2a (classifiers of the target domain on translated test images),
cycle_error_a / _b, and classifier_fid_a / _b (and fid_a / _b with Inception weights).

Sized for a 2-core CPU: generator width 16 with 6 residual blocks (the paper: 64 and 9 at
256 px), a 1-layer PatchGAN (a 16-px receptive field on 32-px images: the paper's 70 px
on 256 keeps about the same share), batch 8 (the paper: 1; data parallelism needs more).
The reference's least-squares generator term is E(D(G(a)) - 1)^2, twice gan_jax's
least_squares g_loss (1/2 E (f - 1)^2): adversarial_weight 2 keeps the paper's balance
against the cycle term. The game's defaults are the reference's objective too (loss
least_squares, adversarial_weight 2, lambda 10, identity 0.5, pool 50, Adam 2e-4 b1 0.5);
this config sets its own values of those it depends on, so they do not move with them.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config


def get_config():
  config = default_config("cyclegan")
  config.dataset = "mnist2mnist_m_packages"
  config.loss = "least_squares"
  config.batch_size = 8
  config.total_steps = 2000
  config.model.image_size = 32
  config.model.cyclegan.ngf = 16
  config.model.cyclegan.n_blocks = 6
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.d_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.cycle.adversarial_weight = 2.0
  config.log_every = 50
  config.sample_every = 250
  config.eval_every = 1000
  config.checkpoint_every = 500
  config.lock()
  return config
