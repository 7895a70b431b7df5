"""Tests for gan_jax.evaluation.modes with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from gan_jax.data import mixtures
from gan_jax.evaluation import modes


def _unit_dirs(rng: np.random.Generator, n: int) -> np.ndarray:
  theta = rng.uniform(0.0, 2.0 * np.pi, size=n)
  return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def test_ring_and_grid_layout():
  ring = mixtures.ring_modes()
  assert ring.shape == (8, 2)
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  np.testing.assert_allclose(ring[2], [0.0, 1.0], atol=1e-12)  # angle 2 pi * 2 / 8
  grid = mixtures.grid_modes()
  assert grid.shape == (25, 2)
  assert set(map(tuple, grid.tolist())) == {
    (float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)
  }
  assert (mixtures.RING_STD, mixtures.GRID_STD) == (0.01, 0.05)


def test_ring_five_of_eight_modes_eighty_percent_high_quality():
  rng = np.random.default_rng(0)
  mus = mixtures.ring_modes()
  std = mixtures.RING_STD
  covered = [0, 1, 3, 4, 6]
  counts = [1000, 500, 500, 250, 250]  # 2,500 points, p_g = .4, .2, .2, .1, .1
  pts = []
  for k, c in zip(covered, counts, strict=True):
    n_hq = c * 4 // 5
    # 80% within 1 std of the mean, 20% at 5 std (still far nearer this mode than any other:
    # neighbouring ring modes are 2 sin(pi/8) ~ 0.77 apart).
    pts.append(mus[k] + std * rng.uniform(0.0, 1.0, size=(n_hq, 1)) * _unit_dirs(rng, n_hq))
    pts.append(mus[k] + 5.0 * std * _unit_dirs(rng, c - n_hq))
  pts = rng.permutation(np.concatenate(pts))

  out = modes.mixture_mode_metrics(pts, mus, std)
  assert out["modes"] == 5
  assert out["high_quality"] == 0.8
  # Each mode keeps 80% of its points as high-quality ones: the same shares among them.
  p = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
  assert out["reverse_kl"] == pytest.approx(np.sum(p * np.log(8 * p)), rel=1e-12)


def test_low_quality_points_count_neither_in_kl_nor_in_modes():
  # Mode 0 only gets points at 5 std: it is not recovered, and, as in PacGAN's code, the
  # KL histogram counts the high-quality points only: all of them on mode 1.
  mus = mixtures.ring_modes()
  std = mixtures.RING_STD
  pts = np.concatenate(
    [
      np.repeat(mus[:1] + [5.0 * std, 0.0], 2, axis=0),
      np.repeat(mus[1:2], 2, axis=0),
    ]
  )
  out = modes.mixture_mode_metrics(pts, mus, std)
  assert out["modes"] == 1
  assert out["high_quality"] == 0.5
  assert out["reverse_kl"] == pytest.approx(np.log(8), rel=1e-12)


def test_high_quality_is_strictly_within_three_std_and_no_quality_has_no_kl():
  mus = mixtures.ring_modes()
  std = mixtures.RING_STD
  on_the_boundary = mus[:1] + [3.0 * std, 0.0]  # the authors count `< 3 std`
  out = modes.mixture_mode_metrics(on_the_boundary * (1 + 1e-9), mus, std)
  assert out["modes"] == 0 and out["high_quality"] == 0.0 and np.isnan(out["reverse_kl"])


def test_uniform_coverage_has_zero_kl():
  grid = mixtures.grid_modes()
  pts = np.repeat(grid, 4, axis=0) + 0.5 * mixtures.GRID_STD
  out = modes.mixture_mode_metrics(pts, grid, mixtures.GRID_STD)
  assert out == {"modes": 25, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_single_mode_has_log_m_kl():
  ring = mixtures.ring_modes()
  pts = np.repeat(ring[5:6], 10, axis=0)
  out = modes.mixture_mode_metrics(pts, ring, mixtures.RING_STD)
  assert out["modes"] == 1
  assert out["high_quality"] == 1.0
  assert out["reverse_kl"] == pytest.approx(np.log(8), rel=1e-12)


def test_triples_to_mode_ids():
  t = np.array([[0, 0, 0], [1, 2, 3], [9, 9, 9]])
  np.testing.assert_array_equal(modes.triples_to_mode_ids(t), [0, 123, 999])
  with pytest.raises(ValueError):
    modes.triples_to_mode_ids(np.array([[0, 10, 0]]))
  with pytest.raises(ValueError):
    modes.triples_to_mode_ids(np.array([[0, 1]]))


def test_stacked_uniform_over_all_modes():
  ids = np.arange(1000)
  triples = np.stack([ids // 100, ids // 10 % 10, ids % 10], axis=1)
  out = modes.stacked_mode_metrics(np.concatenate([triples, triples]))
  assert out["stacked_modes"] == 1000
  assert out["stacked_kl"] == pytest.approx(0.0, abs=1e-12)


def test_stacked_single_triple():
  out = modes.stacked_mode_metrics(np.tile([[3, 1, 4]], (7, 1)))
  assert out["stacked_modes"] == 1
  assert out["stacked_kl"] == pytest.approx(np.log(1000), rel=1e-12)


def test_stacked_known_mixture():
  # Frequencies 1/2, 1/4, 1/4 over three triples.
  t = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [7, 8, 9]])
  out = modes.stacked_mode_metrics(t)
  p = np.array([0.5, 0.25, 0.25])
  assert out["stacked_modes"] == 3
  assert out["stacked_kl"] == pytest.approx(np.sum(p * np.log(1000 * p)), rel=1e-12)
