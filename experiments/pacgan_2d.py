r"""PacGAN's 2-D mixtures as published (Lin et al. 2018, Table 1): ring and grid, pack 1 to 4.

  python launch.py --config=experiments/pacgan_2d.py:ring --sweep --workdir=runs/pacgan_ring
  python launch.py --config=experiments/pacgan_2d.py:grid --sweep --workdir=runs/pacgan_grid
  python launch.py --config=experiments/pacgan_2d.py:ring_quick --sweep --workdir=runs/ring_quick
  python launch.py --config=experiments/pacgan_2d.py:grid_quick --sweep --workdir=runs/grid_quick

As in the authors' code (github fjxmlzn/PacGAN, synthetic_data_experiments):
  data       a fixed set of 100,000 points drawn once from the mixture (ring: 8 modes on the
             unit circle, std 0.01; grid: 25 modes at {-4,-2,0,2,4}^2, std 0.05); z ~ N(0, I_2)
  G          2 -> 4 x [Dense 400 without bias -> BatchNorm -> ReLU] -> 2
  D          3 maxout layers (200 units, 5 pieces, no normalization) -> 1; input 2m for pack m
  training   non-saturating loss; D and G updated simultaneously, both gradients on the same
             batch (update_rule 'simultaneous', ALI's update); Adam 1e-4, b1 0.8; batch 100
             packed examples (batch_size 100 m); 400 epochs of 1,000 steps = 400,000 steps
  evaluation 2,500 samples from a fixed z: modes (a mode is captured when a sample lies within
             3 std of it), high_quality (the share of samples strictly within 3 std of their
             nearest mode), reverse_kl (the KL of the high-quality samples' mode histogram from
             uniform, as the authors' code computes it)
  seeds      10 per setting, trained in one program (num_seeds); the report gives mean +-
             standard error, the paper's form, beside std and the bootstrap interval

The table: Table 1 of the NeurIPS 2018 paper, "Two measures of mode collapse proposed in [44]
for two synthetic mixtures of Gaussians" (2D-ring and 2D-grid: modes, high quality samples,
reverse KL; GAN, ALI, PacGAN2-4, 10 trials, standard error), as the authors' repository shows
it (synthetic_data_experiments/results/Table1.png). Their Table 2 is Stacked MNIST with
VEEGAN's networks (experiments/pacgan_stacked_mnist.py), Table 3 Stacked MNIST with Unrolled
GAN's smaller discriminators (not reproduced here).

The `_quick` variants (ring_quick, grid_quick) train 10,000 steps and 3 seeds, for a 2-core
CPU: their report header says so, and their numbers are not the paper's protocol.
"""

from gan_jax.config import optimizer_config, protocol_header
from gan_jax.games import default_config

PACKED_BATCH = 100  # packed examples D sees per step
PACKS = (1, 2, 3, 4)
STEPS, SEEDS = 400_000, 10
QUICK_STEPS, QUICK_SEEDS = 10_000, 3
CONFIG_ARGS = ("ring", "grid", "ring_quick", "grid_quick")


def get_config(variant: str = "ring"):
  if variant not in CONFIG_ARGS:
    raise ValueError(f"unknown variant {variant!r} of pacgan_2d.py; use one of {CONFIG_ARGS}")
  dataset, quick = variant.split("_")[0], variant.endswith("_quick")
  steps, seeds = (QUICK_STEPS, QUICK_SEEDS) if quick else (STEPS, SEEDS)
  config = default_config()
  config.dataset = dataset
  config.data.fixed_examples = 100_000
  config.loss = "non_saturating"
  config.update_rule = "simultaneous"
  config.batch_size = PACKED_BATCH
  config.total_steps = steps
  config.num_seeds = seeds
  config.model.name = "mlp"
  config.model.z_dim = 2
  config.model.g_hidden_dim, config.model.g_num_layers, config.model.g_batch_norm = 400, 4, True
  config.model.d_hidden_dim, config.model.d_num_layers = 200, 3
  config.model.d_activation, config.model.maxout_pieces = "maxout", 5
  config.g_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.d_optimizer = optimizer_config("adam", 1e-4, b1=0.8)
  config.eval.num_samples = 2500
  config.log_every = 1000
  config.sample_every = steps // 10
  config.eval_every = steps // 4
  config.checkpoint_every = steps // 20
  config.report.protocol = protocol_header(
    f"PacGAN (Lin et al. 2018) Table 1, 2-D {dataset}",
    steps=steps,
    seeds=seeds,
    quick=quick,
    paper_steps=STEPS,
    paper_seeds=SEEDS,
  )
  config.lock()
  return config


def get_sweep():
  return [{"name": f"pack={m}", "model.pack": m, "batch_size": PACKED_BATCH * m} for m in PACKS]
