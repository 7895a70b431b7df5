r"""Class-conditional DCGAN on MNIST (32x32): G(z, y) and a projection D(x, y).

  python launch.py --config=experiments/cgan.py --workdir=runs/cgan
  python launch.py --config=experiments/cgan.py --config.model.g_conditioning=cbn \
      --config.model.d_conditioning=concat --workdir=runs/cgan_cbn

The generator gets a learned label embedding concatenated to z ('concat'; 'cbn' =
conditional BatchNorm, per-class scale and offset); the discriminator adds the
projection term <embed(y), phi(x)> to its logit (Miyato & Koyama 2018; 'concat' =
the label embedding as extra input channels). Fake labels are uniform over the 10
digits. samples/step_N.png is a per-class grid: row r shows digit r, and each
column keeps one latent across the rows.
"""

from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.conditional = True
  config.loss = "non_saturating"
  config.dataset = "mnist"
  config.model.g_conditioning = "concat"
  config.model.d_conditioning = "projection"
  config.total_steps = 5000
  config.lock()
  return config
