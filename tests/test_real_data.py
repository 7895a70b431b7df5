"""The full data sets and the real FID, where `python -m gan_jax.prepare` prepared them (CI
does, in .ci/prepare): 'auto' trains on 60,000 images, FID and KID appear in the eval rows,
and every seed is scored against one reference with one classifier."""

import json
import os

import numpy as np
import pytest

from gan_jax import games, parallel, train
from gan_jax.data import cache
from gan_jax.data import datasets as data
from gan_jax.evaluation import features, fid_stats, prdc, stats

needs_data = pytest.mark.skipif(
  cache.prepared_idx_dir("mnist") is None or cache.prepared_idx_dir("fashion_mnist") is None,
  reason="needs the prepared IDX files: python -m gan_jax.prepare mnist fashion_mnist",
)
needs_inception = pytest.mark.skipif(
  cache.prepared_inception_path() is None,
  reason="needs the prepared Inception weights: python -m gan_jax.prepare inception",
)


def whole_counts(metrics: dict, prefix: str, n: int) -> None:
  """Precision, recall and coverage count points out of n, density neighbours out of K_DC n
  (sets of n real and n fake features): each times its denominator is a whole number."""
  for name, denominator in (("precision", n), ("recall", n), ("coverage", n)):
    count = metrics[prefix + name] * denominator
    assert abs(count - round(count)) < 1e-6, (prefix + name, metrics[prefix + name])
  neighbours = metrics[prefix + "density"] * prdc.K_DC * n
  assert abs(neighbours - round(neighbours)) < 1e-6, (prefix + "density", neighbours)


@pytest.mark.slow  # the prepared full data sets
@needs_data
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_auto_trains_on_the_60000_prepared_images(name, tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # no TFDS: the prepared IDX files serve
  c = games.default_config()
  c.dataset = name
  ds = data.load_dataset(c)
  assert ds.source == "idx" and ds.num_examples == 60_000 and ds.num_classes == 10
  assert ds.example_shape == (32, 32, 1)
  assert np.bincount(ds.arrays["labels"]).sum() == 60_000


def _evaluation_info(seed: int, tmp_path) -> dict:
  c = games.default_config()
  c.seed, c.model.base_filters, c.model.image_size = seed, 4, 28
  c.eval.num_samples, c.eval.batch_size = 16, 16
  return train.make_game(c).make_evaluation(parallel.local_mesh()).info


@pytest.mark.slow
@needs_data
@needs_inception
def test_two_seeds_share_one_reference_and_one_classifier(tmp_path):
  a, b = _evaluation_info(0, tmp_path), _evaluation_info(1, tmp_path)
  assert a == b
  assert a["eval_reference_classifier"] and a["eval_reference_inception"] and a["classifier"]
  # The reference statistics are an FID-statistics .npz (mu, sigma) that other tools read.
  loaded = fid_stats.load_fid_stats(a["eval_reference_stats"])
  assert loaded.mu.shape == (2048,) and loaded.sigma.shape == (2048, 2048)
  assert "mnist test split (16 images, idx)" in a["eval_reference"]


@pytest.mark.slow
@needs_data
@needs_inception
def test_fid_and_kid_in_the_final_eval_row(tmp_path):
  c = games.default_config()
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.total_steps, c.log_every, c.eval_every = 2, 1, 0
  c.eval.num_samples, c.eval.batch_size = 16, 16
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(c, workdir)
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["data"]["source"] == "idx" and saved["data"]["examples"] == 60_000
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  final = [r for r in rows if "fid" in r][-1]
  for key in ("fid", "kid", "classifier_fid", "classifier_kid"):
    assert np.isfinite(final[key]), key
  for prefix in ("", "classifier_"):  # fidelity and diversity apart, in both feature spaces
    whole_counts(final, prefix, c.eval.num_samples)
  assert "inception_score" not in final  # fid-helper's network has no classifier head


def test_fid_of_a_set_against_itself_is_zero():
  x = np.random.default_rng(0).normal(size=(500, 8))
  mu, sigma = stats.gaussian_from_features(x)
  assert abs(stats.frechet_distance(mu, sigma, mu, sigma)) < 1e-8
  summary = features.summarize([x], lambda f: (f, None), len(x))
  generic = features.compare_summaries(summary, summary)
  assert abs(generic["fd"]) < 1e-8 and np.isnan(generic["score"])


@pytest.mark.slow  # two evaluations: over 5 s
def test_precision_recall_in_classifier_and_2d_eval_rows(tmp_path):
  """Without Inception weights: the classifier features' four metrics; on a 2-D mixture,
  the points' own, beside the mode counts."""
  c = games.default_config()
  c.model.base_filters, c.model.image_size = 4, 28
  c.eval.inception_path = ""
  # test_fid_and_kid_in_the_final_eval_row's data and sizes: its generator's and
  # classifier's programs (batches of 16 at 28 px), compiled there, are the persistent
  # cache's here, and its classifier (the prepared one where MNIST is prepared, else the
  # 5,000 digits' own, trained here) is this test's.
  c.eval.num_samples, c.eval.batch_size = 16, 16
  evaluation = train.make_game(c).make_evaluation(parallel.local_mesh())
  state = train.init_run_state(c, train.make_game(c))
  metrics = evaluation.evaluate(state)
  whole_counts(metrics, "classifier_", c.eval.num_samples)
  ring = games.default_config()
  ring.dataset, ring.model.name, ring.model.z_dim, ring.batch_size = "ring", "mlp", 2, 16
  ring.eval.num_samples = 500
  game = train.make_game(ring)
  metrics = game.make_evaluation(parallel.local_mesh()).evaluate(train.init_run_state(ring, game))
  assert {"modes", "high_quality", "precision", "recall", "coverage"} <= set(metrics)
  # An untrained generator puts its points near the origin, far from the ring: low recall.
  assert metrics["recall"] < 0.2
  for name in ("precision", "recall", "coverage"):  # points out of 500
    assert abs(metrics[name] * 500 - round(metrics[name] * 500)) < 1e-6, name
  assert metrics["modes"] == round(metrics["modes"])  # a count of the ring's 8 modes
