"""Stacked MNIST (Metz et al. 2017, as PacGAN uses it): three MNIST digits as R, G and B.

A sample stacks three digits drawn independently from the run's MNIST set (any source, at the
run's size) as its channels; its label, the mode, is the digit triple (r, g, b) as the id
100 r + 10 g + b, one of NUM_MODES = 1,000. The mode-counting metrics (evaluation/modes.py)
read these definitions from here. With data.fixed_examples the training set is a fixed set of
triples instead (PacGAN's setting; datasets.load_dataset draws it once).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.data import images

NUM_MODES = 1000  # digit triples (r, g, b), the mode 100 r + 10 g + b


def sample_stacked(arrays, rng, shape):
  """Three digits drawn independently from the resident MNIST set, one per channel; the label
  is the triple's mode id."""
  idx = jax.random.randint(rng, (*shape, 3), 0, arrays["images"].shape[0])
  digits = arrays["images"][idx][..., 0]  # (*shape, 3, H, W)
  x = jnp.moveaxis(digits, -3, -1)
  y = arrays["labels"][idx] @ jnp.array([100, 10, 1], jnp.int32)
  return {"x": images.to_unit_range(x), "y": y}


def sample_fixed_stacked(arrays, rng, shape):
  """Stacked MNIST from a fixed set of digit triples (data.fixed_examples): a row of it."""
  rows = jax.random.randint(rng, shape, 0, arrays["triples"].shape[0])
  idx = arrays["triples"][rows]  # (*shape, 3) digit indices
  digits = arrays["images"][idx][..., 0]
  x = jnp.moveaxis(digits, -3, -1)
  y = arrays["labels"][idx] @ jnp.array([100, 10, 1], jnp.int32)
  return {"x": images.to_unit_range(x), "y": y}
