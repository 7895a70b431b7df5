r"""PacGAN's 2-D ring (Lin et al. 2018) in a short setting: 8 Gaussians, radius 1, std 0.01.

  python launch.py --config=experiments/ring2d.py
  python launch.py --config=experiments/ring2d.py --sweep --workdir=runs/ring2d_sweep

G: z 2-D standard normal, 4 hidden layers of 400 units with BatchNorm and ReLU.
D: 3 hidden layers of 200 maxout units with 5 pieces, linear output.
Adam 1e-4, b1 0.8, batch 100; evaluated on 2,500 samples (modes, high_quality,
reverse_kl). The sweep crosses the objectives with pack in {1, 2, 3, 4}. As in
PacGAN, a packed discriminator still sees 100 (packed) examples per step, so a
member with pack m draws batch_size = 100 m samples.

Not a table of the paper: the networks, optimizer and evaluation of its Table 1 (2D-ring),
but 10,000 steps, one seed, data drawn afresh and D and G updated in turn. The table's own
protocol is experiments/pacgan_2d.py:ring.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config
from gan_jax.sweep import pack_sweep

OBJECTIVES = ("non_saturating", "minimax", "wasserstein", "hinge", "least_squares")
BATCH = 100  # (packed) discriminator examples per step


def get_config():
  config = default_config()
  config.dataset = "ring"
  config.loss = "non_saturating"
  config.batch_size = BATCH
  config.total_steps = 10000
  config.model.name = "mlp"
  config.model.z_dim = 2
  config.model.g_hidden_dim, config.model.g_num_layers, config.model.g_batch_norm = 400, 4, True
  config.model.d_hidden_dim, config.model.d_num_layers = 200, 3
  config.model.d_activation, config.model.maxout_pieces = "maxout", 5
  config.g_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.d_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.eval.num_samples = 2500
  config.log_every = 500
  config.sample_every = 2000
  config.eval_every = 2000
  config.checkpoint_every = 2000
  config.lock()
  return config


def get_sweep():
  return pack_sweep(OBJECTIVES, (1, 2, 3, 4), BATCH)
