r"""The R3GAN objective on the PacGAN 2-D ring: RpGAN + R1 + R2 (Huang et al. 2024).

  python launch.py --config=experiments/rpgan_ring2d.py
  python launch.py --config=experiments/rpgan_ring2d.py --config.num_seeds=5

The ring protocol of experiments/ring2d.py (MLPs, Adam 1e-4 b1 0.8, batch 100) with the
loss of "The GAN is dead; long live the GAN!": the relativistic pairing loss
(D minimizes E softplus(f - r), G E softplus(r - f)) and zero-centred gradient
penalties on both real (R1) and generated (R2) data, gamma/2 E||grad D||^2 each.
gamma = 0.1: of 0.1, 1 and 10, the one that covered all 8 modes with the most
high-quality samples after 3,000 steps (seed 0; not a tuned or published value).
"""

from experiments import ring2d


def get_config():
  config = ring2d.get_config()
  config.loss = "relativistic"
  config.penalty = "r1_r2"
  config.penalty_weight = 0.1
  return config
