r"""PacGAN's 2-D grid (Lin et al. 2018), short: 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05.

  python launch.py --config=experiments/grid2d.py
  python launch.py --config=experiments/grid2d.py --sweep --workdir=runs/grid2d_sweep

Same networks, optimizer and evaluation as experiments/ring2d.py. Not a table of the paper
either: its Table 1 (2D-grid) protocol is experiments/pacgan_2d.py:grid.
"""

from experiments import ring2d


def get_config():
  config = ring2d.get_config()
  with config.unlocked():
    config.dataset = "grid"
  return config


get_sweep = ring2d.get_sweep
