"""The 2-D Gaussian mixtures of the mode-collapse protocols: their definitions and samplers.

    ring   8 modes on the unit circle, std 0.01
    grid   25 modes at {-4, -2, 0, 2, 4}^2, std 0.05

as PacGAN (Lin et al. 2018) uses them, after VEEGAN and Unrolled GAN. The definitions (mode
means and std) belong to the data; the mode-counting metrics (evaluation/modes.py) and the
evaluator's real set read them from here. A run samples afresh from the density at every step,
or, with data.fixed_examples, draws uniformly from a fixed set of points (datasets.load_dataset).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

RING_STD = 0.01
GRID_STD = 0.05


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
  """Mode means (num_modes, 2): radius * (cos 2 pi i / M, sin 2 pi i / M)."""
  angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes() -> np.ndarray:
  """Mode means (25, 2) at {-4, -2, 0, 2, 4}^2 (row-major in x, then y)."""
  axis = np.arange(-4.0, 5.0, 2.0)
  xs, ys = np.meshgrid(axis, axis, indexing="ij")
  return np.stack([xs.ravel(), ys.ravel()], axis=1)


# name -> (the mode means' constructor, the std of every mode)
MIXTURES = {
  "ring": (ring_modes, RING_STD),
  "grid": (grid_modes, GRID_STD),
}


# --- in the step ----------------------------------------------------------------------------


def sample_mixture(arrays, rng, shape):
  """Points drawn afresh from the density: a mode uniformly, then Gaussian noise of its std."""
  k_mode, k_noise = jax.random.split(rng)
  centers = arrays["modes"]
  y = jax.random.randint(k_mode, shape, 0, centers.shape[0])
  noise = jax.random.normal(k_noise, (*shape, centers.shape[1]), jnp.float32)
  return {"x": centers[y] + arrays["std"] * noise, "y": y}


def sample_points(arrays, rng, shape):
  """A 2-D mixture's fixed training set (data.fixed_examples): points drawn uniformly."""
  rows = jax.random.randint(rng, shape, 0, arrays["points"].shape[0])
  return {"x": arrays["points"][rows], "y": arrays["labels"][rows]}
