"""gan_jax.evaluation.prdc against its definitions and a brute-force NumPy implementation."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.evaluation import prdc

HERE = os.path.dirname(__file__)


def brute_force(real, fake, k_pr, k_dc):
  """The definitions on full float64 distance matrices, as the reference compute_prdc does."""
  r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)

  def dist(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

  rr, ff, rf = dist(r, r), dist(f, f), dist(r, f)
  # Row-wise sorted distances include the zero to itself first: index k is the k-th neighbour.
  r_pr, r_dc = np.sort(rr, axis=1)[:, k_pr], np.sort(rr, axis=1)[:, k_dc]
  f_pr = np.sort(ff, axis=1)[:, k_pr]
  return {
    "precision": (rf < r_pr[:, None]).any(axis=0).mean(),
    "recall": (rf < f_pr[None, :]).any(axis=1).mean(),
    "density": (rf < r_dc[:, None]).sum(axis=0).mean() / k_dc,
    "coverage": (rf.min(axis=1) < r_dc).mean(),
    "radii": {k: np.sort(rr, axis=1)[:, k] for k in (k_pr, k_dc)},
  }


def assert_metrics_equal(got, want, atol=1e-6):
  assert set(got) == set(prdc.METRICS)
  assert all(type(v) is float for v in got.values())
  for name in prdc.METRICS:
    assert got[name] == pytest.approx(want[name], abs=atol), name


# (n, m, d, k_pr, k_dc, block_size): blocks smaller than the sets and not dividing them (padding
# and merging across blocks), k = n - 1, unequal sizes, one block larger than the set.
CASES = [
  (120, 120, 6, 3, 5, 32),
  (130, 97, 16, 1, 7, 32),
  (200, 200, 2, 4, 2, 48),
  (6, 6, 3, 5, 5, 8),
  (64, 64, 3, 2, 2, 1024),
]


@pytest.mark.parametrize("n, m, d, k_pr, k_dc, block_size", CASES)
def test_equals_brute_force(n, m, d, k_pr, k_dc, block_size):
  rng = np.random.default_rng(n + m + d)
  real = rng.normal(size=(n, d))
  fake = 1.3 * rng.normal(size=(m, d)) + 0.3  # overlapping, so all four are strictly in (0, 1)
  want = brute_force(real, fake, k_pr, k_dc)
  manifold = prdc.real_manifold(real, ks=(k_pr, k_dc), block_size=block_size)
  for k in (k_pr, k_dc):
    np.testing.assert_allclose(manifold.radii(k), want["radii"][k], rtol=1e-5)
  got = prdc.prdc(manifold, fake, k_pr=k_pr, k_dc=k_dc, allow_unequal_sizes=n != m)
  assert_metrics_equal(got, want)


@pytest.mark.parametrize("d", [6, 16])  # sums of squared differences; the matmul form
def test_identical_sets_give_one(d):
  # Each real ball holds its centre and k - 1 neighbours strictly inside (the k-th lies on the
  # boundary and `<` excludes it), so density is exactly 1 too; <= would give (k + 1) / k.
  x = np.random.default_rng(0).normal(size=(120, d))
  got = prdc.prdc(x, x, block_size=32)
  assert got == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}


def test_far_shifted_set_gives_zero():
  x = np.random.default_rng(1).normal(size=(120, 6))
  got = prdc.prdc(x, x + 100.0, block_size=32)
  assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def _mixture(rng, n, shares, label=None):
  """2-D Gaussians (std 1) with centres 50 apart; rows of class `label` only if given."""
  centres = 50.0 * np.stack([np.arange(len(shares)), np.arange(len(shares)) % 2], axis=1)
  labels = np.repeat(np.arange(len(shares)), (np.asarray(shares) * n).astype(int))
  if label is not None:
    labels = np.full((n,), label)
  return centres[labels] + rng.normal(size=(n, 2)), labels


def test_one_class_of_a_mixture():
  rng = np.random.default_rng(2)
  shares = (0.1, 0.2, 0.3, 0.4)
  real, labels = _mixture(rng, 500, shares)
  manifold = prdc.real_manifold(real, block_size=128)
  # Fresh samples of class 2 only: realistic (precision ~ 1), covering only that class.
  fake, _ = _mixture(rng, 500, shares, label=2)
  got = prdc.prdc(manifold, fake)
  assert_metrics_equal(got, brute_force(real, fake, 3, 5))
  assert got["precision"] > 0.95
  assert 0.27 < got["recall"] <= 0.3
  assert 0.27 < got["coverage"] <= 0.3
  assert 0.8 < got["density"] < 1.2
  # The real rows of class 2 themselves: each is its own nearest neighbour, so exactly.
  subset = prdc.prdc(manifold, real[labels == 2], allow_unequal_sizes=True)
  assert subset["precision"] == 1.0
  assert subset["recall"] == subset["coverage"] == 0.3


def test_reused_manifold_gives_the_same_and_compiles_once():
  rng = np.random.default_rng(3)
  real = rng.normal(size=(120, 6))
  manifold = prdc.real_manifold(real, block_size=32)
  fakes = [rng.normal(size=(120, 6)) + 0.2 * i for i in range(3)]
  cross = prdc._cross_fn(prdc._mesh(None), 32)
  first = prdc.prdc(manifold, fakes[0])
  compiled = cross._cache_size()
  assert first == prdc.prdc(real, fakes[0], block_size=32)  # radii recomputed: the same
  for fake in fakes[1:]:
    assert_metrics_equal(prdc.prdc(manifold, fake), brute_force(real, fake, 3, 5))
  assert cross._cache_size() == compiled


def test_radii_are_cached_for_both_ks_and_read_only():
  manifold = prdc.real_manifold(np.random.default_rng(4).normal(size=(120, 6)), block_size=32)
  assert sorted(manifold.squared_radii) == [prdc.K_PR, prdc.K_DC]
  assert manifold.count == 120
  assert manifold.squared_radii[3].shape == (120,)
  assert np.all(manifold.radii(3) <= manifold.radii(5))
  with pytest.raises(ValueError):
    manifold.squared_radii[3][0] = 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_fake_features_give_nan(bad):
  rng = np.random.default_rng(5)
  manifold = prdc.real_manifold(rng.normal(size=(120, 6)), block_size=32)
  fake = rng.normal(size=(120, 6))
  fake[7, 2] = bad  # 1e300 overflows float32, the precision of the distances
  for real in (manifold, manifold.features):  # with features: NaN before any distance
    got = prdc.prdc(real, fake, block_size=32 if real is not manifold else None)
    assert set(got) == set(prdc.METRICS) and all(np.isnan(v) for v in got.values())


x10 = np.zeros((10, 4))
ERRORS = [
  (lambda: prdc.prdc(x10, x10, k_pr=0), r"k_pr must be >= 1, got 0"),
  (lambda: prdc.prdc(x10, x10, k_dc=-2), r"k_dc must be >= 1, got -2"),
  (lambda: prdc.prdc(x10, x10, k_dc=2.5), r"k_dc must be an int"),
  (lambda: prdc.prdc(x10, x10, k_dc=10), r"k_dc=10 needs more than 10 real samples.*got 10"),
  (lambda: prdc.prdc(x10[:4], x10[:4]), r"k_dc=5 needs more than 5 real samples.*got 4"),
  (
    lambda: prdc.prdc(x10, x10[:3], allow_unequal_sizes=True),
    r"k_pr=3 needs more than 3 fake samples.*got 3",
  ),
  (lambda: prdc.prdc(x10, x10[:9]), r"differ in size \(10 vs 9\).*allow_unequal_sizes=True"),
  (lambda: prdc.prdc(x10, np.zeros((10, 5))), r"differ in dimension: 4 vs 5"),
  (lambda: prdc.prdc(x10[0], x10), r"real features must be \(num_samples, feature_dim\)"),
  (lambda: prdc.prdc(x10, np.zeros((10, 0))), r"fake features have no feature dimensions"),
  (lambda: prdc.prdc(x10, x10.astype(complex)), r"must be real numbers"),
  (lambda: prdc.prdc(x10, x10, block_size=0), r"block_size must be >= 1, got 0"),
  (lambda: prdc.real_manifold(np.full((10, 4), np.nan)), r"real features are not all finite"),
  (lambda: prdc.real_manifold(x10, ks=()), r"ks is empty"),
]


@pytest.mark.parametrize("call, message", ERRORS)
def test_errors_are_one_line(call, message):
  with pytest.raises(prdc.PRDCError, match=message) as info:
    call()
  assert isinstance(info.value, ValueError)
  assert "\n" not in str(info.value)


def test_manifold_without_the_k_or_with_another_block_size_is_refused():
  manifold = prdc.real_manifold(np.random.default_rng(6).normal(size=(120, 6)), block_size=32)
  fake = np.zeros((120, 6))
  with pytest.raises(prdc.PRDCError, match=r"radii for k in \[3, 5\], not \[7\]"):
    prdc.prdc(manifold, fake, k_dc=7)
  with pytest.raises(prdc.PRDCError, match=r"built with block_size=32"):
    prdc.prdc(manifold, fake, block_size=64)


@pytest.mark.slow  # a process of fake devices
def test_four_devices_equal_brute_force(tmp_path):
  # 101 rows on 4 devices in blocks of 16: each device gets 2 blocks, the last ones padded.
  out = tmp_path / "prdc4.npz"
  subprocess.run(
    [sys.executable, os.path.join(HERE, "_parallel_prdc.py"), "4", str(out)],
    check=True,
    capture_output=True,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  saved = np.load(out)
  want = brute_force(saved["real"], saved["fake"], 3, 5)
  assert int(saved["num_devices"]) == 4
  assert_metrics_equal({name: float(saved[name]) for name in prdc.METRICS}, want)
  for k in (3, 5):
    np.testing.assert_allclose(np.sqrt(saved[f"squared_radii{k}"]), want["radii"][k], rtol=1e-5)
  assert all(saved[f"identical_{name}"] == 1.0 for name in prdc.METRICS)
