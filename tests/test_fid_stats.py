"""FID statistics files (mu, sigma) in the TTUR / pytorch-fid layout, and FID(x, x) = 0."""

import numpy as np
import pytest

from gan_jax import errors
from gan_jax.evaluation import fid_stats, stats


@pytest.fixture
def features():
  # Correlated, non-negative features like Inception pool outputs, n > d.
  gen = np.random.default_rng(0)
  return np.maximum(gen.standard_normal((400, 32)) @ gen.standard_normal((32, 32)), 0)


def test_round_trip_and_self_fid_zero(tmp_path, features):
  mu, sigma = stats.gaussian_from_features(features)
  path = tmp_path / "real_stats"  # no .npz suffix: written under exactly this name
  fid_stats.save_fid_stats(path, mu, sigma, metadata={"dataset": "mnist", "num_images": 400})
  loaded = fid_stats.load_fid_stats(path)
  np.testing.assert_array_equal(loaded.mu, mu)
  np.testing.assert_array_equal(loaded.sigma, sigma)
  assert loaded.mu.dtype == np.float64 and loaded.sigma.dtype == np.float64
  assert loaded.metadata == {"dataset": "mnist", "num_images": "400"}
  # A set against itself: 0 up to rounding, relative to the size of the terms.
  fid = stats.frechet_distance(loaded.mu, loaded.sigma, mu, sigma)
  assert abs(fid) < 1e-9 * np.trace(sigma)
  assert stats.frechet_distance_from_features(features[::-1], features) == pytest.approx(
    0, abs=1e-9 * np.trace(sigma)
  )
  # ...and a shifted set is not.
  shifted = stats.frechet_distance(mu + 1.0, sigma, mu, sigma)
  assert shifted == pytest.approx(mu.shape[0], rel=1e-9)


def test_reads_files_written_by_other_fid_code(tmp_path, features):
  mu, sigma = stats.gaussian_from_features(features)
  # pytorch-fid --save-stats / TTUR: np.savez(path, mu=mu, sigma=sigma), often float32.
  path = tmp_path / "ttur.npz"
  np.savez(path, mu=mu.astype(np.float32), sigma=sigma.astype(np.float32))
  loaded = fid_stats.load_fid_stats(path)
  np.testing.assert_allclose(loaded.sigma, sigma, rtol=1e-6)
  assert loaded.metadata == {}
  # Ours are readable the same way: plain mu and sigma arrays.
  ours = tmp_path / "ours.npz"
  fid_stats.save_fid_stats(ours, mu, sigma, metadata={"network": "x"})
  with np.load(ours) as f:
    np.testing.assert_array_equal(f["mu"], mu)
    np.testing.assert_array_equal(f["sigma"], sigma)


def test_malformed_files_are_one_line_errors(tmp_path):
  cases = {
    "missing.npz": None,
    "junk.npz": b"not a zip",
    "no_sigma.npz": {"mu": np.zeros(3)},
    "shapes.npz": {"mu": np.zeros(3), "sigma": np.zeros((3, 2))},
    "nan.npz": {"mu": np.array([np.nan, 0.0]), "sigma": np.eye(2)},
  }
  for name, content in cases.items():
    path = tmp_path / name
    if isinstance(content, bytes):
      path.write_bytes(content)
    elif content is not None:
      np.savez(path, **content)
    with pytest.raises(errors.BadFileError) as e:
      fid_stats.load_fid_stats(path)
    assert name in str(e.value) and "\n" not in str(e.value)
  with pytest.raises(errors.BadFileError, match="not"):
    fid_stats.save_fid_stats(tmp_path / "x.npz", np.zeros(3), np.zeros((2, 2)))
