"""Fashion-MNIST's classifier metrics: the in-project classifier of Fashion-MNIST (at least 90%
on the 10,000 official test images), the evaluator that uses it, and its fallback where
Fashion-MNIST is not prepared."""

import logging

import numpy as np
import pytest

from gan_jax.data import datasets as data
from gan_jax.errors import DataUnavailableError
from gan_jax.evaluation import classifier as clf_lib
from gan_jax.evaluation import evaluate as ev


def _fashion_prepared() -> bool:
  try:
    data.resolve_source("fashion_mnist", "auto")
  except DataUnavailableError:
    return False
  return True


@pytest.mark.slow  # trains 6,000 steps (about 3-4 min on 2 CPU cores) unless cached
@pytest.mark.skipif(
  not _fashion_prepared(), reason="needs Fashion-MNIST: python -m gan_jax.prepare fashion_mnist"
)
def test_the_cached_classifier_reaches_90_percent_on_the_10000_test_images():
  clf = clf_lib.get_fashion_mnist_classifier(image_size=28)
  images, labels, _ = data.load_images("fashion_mnist", split="test", size=28)
  assert len(images) == 10_000  # the official test split, not a subset
  accuracy = float((clf.predict(images) == labels).mean())
  assert accuracy >= 0.90
  assert accuracy == pytest.approx(clf.accuracy, abs=1e-4)  # what it stored when trained
  assert clf.name.startswith("fashion_mnist_classifier-") and "-shift0-" in clf.name


def _random_classifier():
  return clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28, name="random")


def test_a_fashion_run_gets_classifier_metrics_from_its_own_classifier(monkeypatch):
  requested = {}

  def fake(**kwargs):
    requested.update(kwargs)
    return _random_classifier()

  monkeypatch.setattr(clf_lib, "get_fashion_mnist_classifier", fake)
  monkeypatch.setattr(clf_lib, "get_classifier", lambda **kw: pytest.fail("the MNIST classifier"))
  real = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
  evaluator = ev.make_evaluator(
    "fashion_mnist", image_size=28, num_samples=40, real_images=real, inception_path=""
  )
  assert requested["image_size"] == 28
  assert set(ev.CLASSIFIER_METRICS) <= set(evaluator.metric_names)
  assert {f"classifier_{m}" for m in ev.PRDC_METRICS} <= set(evaluator.metric_names)
  assert evaluator.info["classifier"] == "random"
  assert evaluator.info["classifier_prdc_features"] == "classifier_penultimate"
  fake_images = np.random.default_rng(1).uniform(-1, 1, (40, 28, 28, 1)).astype(np.float32)
  result = evaluator(lambda n: fake_images[:n])
  # Every metric is that classifier's: what an evaluator handed it directly computes.
  given = ev.make_evaluator(
    "mnist",
    image_size=28,
    num_samples=40,
    real_images=real,
    inception_path="",
    classifier=_random_classifier(),
  )
  assert result == given(lambda n: fake_images[:n])
  assert np.isfinite(result["classifier_fid"])


def test_without_prepared_fashion_mnist_no_classifier_metrics_and_one_log_line(monkeypatch, caplog):
  def unavailable(**kwargs):
    raise DataUnavailableError("dataset 'fashion_mnist' is not prepared")

  monkeypatch.setattr(clf_lib, "get_fashion_mnist_classifier", unavailable)
  real = np.zeros((10, 28, 28, 1), np.uint8)
  with caplog.at_level(logging.INFO):
    evaluator = ev.make_evaluator(
      "fashion_mnist", image_size=28, num_samples=10, real_images=real, inception_path=""
    )
  assert evaluator.metric_names == () and "classifier" not in evaluator.info
  lines = [r.getMessage() for r in caplog.records if "no classifier metrics" in r.getMessage()]
  assert lines == [
    "no classifier metrics for fashion_mnist (its classifier cannot train): "
    "dataset 'fashion_mnist' is not prepared"
  ]
