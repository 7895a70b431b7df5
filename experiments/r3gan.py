r"""R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN Baseline",
github.com/brownvc/R3GAN) on MNIST at 32x32, sized for a 2-core CPU.

  python launch.py --config=experiments/r3gan.py

The recipe (gan_jax/models/r3gan.py RECIPE): the relativistic pairing loss (RpGAN) with
zero-centred gradient penalties on real and on generated data (R1 + R2, weight gamma / 2
on the squared gradient norms, config penalty 'r1_r2' with penalty_weight = gamma), and the
normalization-free ResNet of models/r3gan.py (inverted-bottleneck grouped blocks, fix-up
initialization, FIR resampling, no normalization), at CPU width (model.r3gan.*). Adam with
b1 = 0 for G and D and z of 64, as there. The paper's schedules are held at their starting
values: lr 2e-4, b2 0.9, gamma 0.05 (they decay by cosine over 20M images, far beyond a CPU
run); no EMA (its half-life starts at 0 there) and no augmentation (not in gan_jax).
Fakes are paired with real labels as there (fake_labels='real': training_loop.py hands D's
and G's phases each a real batch and its labels, and R3GAN/Trainer.py gives the fakes those
labels); MNIST runs unconditional here, so this matters once --config.conditional=True.
"""

from gan_jax.games import default_config
from gan_jax.models import r3gan


def get_config():
  recipe = r3gan.RECIPE
  config = default_config()
  config.dataset = "mnist"
  config.loss = "relativistic"
  config.penalty = "r1_r2"
  config.penalty_weight = recipe["gamma"]["base"]  # gamma: (gamma / 2) * (R1 + R2), as there
  config.fake_labels = "real"  # the real batch's labels (Trainer.py's Conditions)
  config.batch_size = 64
  config.total_steps = 5000
  config.model.name = "r3gan"
  config.model.image_size = 32
  config.model.z_dim = recipe["z_dim"]
  for opt in (config.g_optimizer, config.d_optimizer):
    opt.learning_rate = recipe["learning_rate"]["base"]
    opt.b1, opt.b2, opt.eps = recipe["b1"], recipe["b2"]["base"], recipe["eps"]
  config.lock()
  return config
