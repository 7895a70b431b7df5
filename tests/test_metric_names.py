"""Metrics and data named for what they are: the features precision / recall / density /
coverage were computed on (eval_info and the sweep report's header: not the papers' VGG16
fc2), and the MNIST-M-style data set (its name, its former name's saved configs, the report)."""

import json
import os

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import errors, games, report
from gan_jax import metrics as metrics_lib
from gan_jax.data import mnist_m, unpaired
from gan_jax.evaluation import classifier as clf_lib
from gan_jax.evaluation import evaluate as ev

# --- the evaluator names the features ------------------------------------------------------


def test_every_feature_name_of_the_evaluator_has_a_description():
  names = {ev.PRDC_FEATURES_INCEPTION, ev.PRDC_FEATURES_CLASSIFIER, ev.PRDC_FEATURES_POINTS}
  assert names == set(metrics_lib.PRDC_FEATURES)
  assert "VGG16" in metrics_lib.PRDC_PAPERS_FEATURES and "fc2" in metrics_lib.PRDC_PAPERS_FEATURES


def test_eval_info_names_the_prdc_features_of_each_metric_name():
  ring = ev.make_evaluator("ring", num_samples=100)
  assert set(ev.PRDC_METRICS) <= set(ring.metric_names)
  assert ring.info["prdc_features"] == "points_2d"

  def stub_inception(images):  # any (features, logits) function fits the Inception slot
    x = np.asarray(images, np.float32).reshape(len(images), -1)
    return x[:, ::13], None

  classifier = clf_lib.Classifier(clf_lib.init_params(0, 28), image_size=28, name="random")
  real = np.random.default_rng(0).integers(0, 256, (30, 28, 28, 1), dtype=np.uint8)
  mnist = ev.make_evaluator(
    "mnist",
    image_size=28,
    num_samples=30,
    real_images=real,
    classifier=classifier,
    inception_fn=stub_inception,
  )
  assert mnist.info["prdc_features"] == "inception_pool3"
  assert mnist.info["classifier_prdc_features"] == "classifier_penultimate"
  names = set(mnist.metric_names)
  assert set(ev.PRDC_METRICS) | {f"classifier_{m}" for m in ev.PRDC_METRICS} <= names


# --- the sweep report names them -----------------------------------------------------------


def _member(root, name, rows):
  os.makedirs(root / name)
  with open(root / name / "metrics.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  (root / name / "DONE").write_text("10\n")
  return {"name": name, "overrides": {"seed": int(name[-1])}}


def _header(md_path) -> list[str]:
  text = open(md_path).read()
  return [line for line in text.split("## Variants")[0].splitlines() if line]


def test_the_report_header_names_the_prdc_features_from_eval_info(tmp_path):
  info = {
    "step": 0,
    "event": "eval_info",
    "prdc_features": "inception_pool3",
    "classifier_prdc_features": "classifier_penultimate",
  }
  members = [
    _member(
      tmp_path,
      f"seed={s}",
      [
        {"step": 0, "event": "start", "dataset": "fashion_mnist"},
        info,
        {"step": 10, "precision": 0.5, "recall": 0.4, "classifier_precision": 0.7},
      ],
    )
    for s in (0, 1)
  ]
  out = report.write_report(str(tmp_path), members, plots=False)
  assert out["summary"]["prdc_features"] == {
    "": ["inception_pool3"],
    "classifier_": ["classifier_penultimate"],
  }
  header = _header(out["md"])
  assert (
    "Features: `precision`, `recall`, `density`, `coverage` are computed on the FID "
    "Inception's 2,048-d pool3 features, not on VGG16's 4,096-d fc2 features (Kynkäänniemi "
    "et al. 2019, Naeem et al. 2020): not comparable with published values." in header
  )
  assert (
    "Features: `classifier_precision`, `classifier_recall`, `classifier_density`, "
    "`classifier_coverage` are computed on the in-project classifier's 128-d penultimate "
    "features, not on VGG16's 4,096-d fc2 features (Kynkäänniemi et al. 2019, Naeem et al. "
    "2020): not comparable with published values." in header
  )
  assert not any(line.startswith("Data:") for line in header)


def test_a_report_of_runs_from_before_the_names_still_says_which_features(tmp_path):
  rows = [{"step": 0, "event": "start", "dataset": "ring"}, {"step": 10, "coverage": 0.9}]
  out = report.write_report(str(tmp_path), [_member(tmp_path, "seed=0", rows)], plots=False)
  (line,) = [x for x in _header(out["md"]) if x.startswith("Features:")]
  assert "the 2-D points (ring, grid)" in line and "not comparable" in line


def test_no_features_line_without_prdc_metrics(tmp_path):
  rows = [{"step": 0, "event": "start", "dataset": "mnist"}, {"step": 10, "classifier_fid": 3.0}]
  out = report.write_report(str(tmp_path), [_member(tmp_path, "seed=0", rows)], plots=False)
  assert not any(x.startswith("Features:") for x in _header(out["md"]))


@pytest.mark.parametrize("logged", [unpaired.MNIST_M_TASK, "mnist2mnist_m"])  # now, before
def test_the_report_header_says_the_mnist_m_style_set_is_not_ganins(tmp_path, logged):
  rows = [{"step": 0, "event": "start", "dataset": logged}, {"step": 10, "cycle_error_a": 0.2}]
  out = report.write_report(str(tmp_path), [_member(tmp_path, "seed=0", rows)], plots=False)
  assert _header(out["md"])[2] == (
    "Data: `mnist2mnist_m_packages` is MNIST-M-style (photos from registry packages, not "
    "Ganin's BSDS500)."
  )


# --- the MNIST-M-style data set's name -------------------------------------------------------


def test_the_mnist_m_style_set_is_named_for_what_it_is():
  assert unpaired.MNIST_M_TASK == "mnist2mnist_m_packages"
  assert games.default_config("cyclegan").dataset == unpaired.MNIST_M_TASK
  assert mnist_m.DESCRIPTION == "MNIST-M-style (photos from registry packages, not Ganin's BSDS500)"
  assert mnist_m.__doc__.startswith(f"{mnist_m.DESCRIPTION}, built in-project.")
  assert "mnist2mnist_m" not in unpaired.UNPAIRED_DATASETS


def test_a_new_config_with_the_former_name_fails_naming_the_new_one():
  c = games.default_config("cyclegan")
  c.dataset = "mnist2mnist_m"
  with pytest.raises(errors.ConfigError) as e:
    games.validate(c)
  assert str(e.value) == (
    "dataset 'mnist2mnist_m' was renamed 'mnist2mnist_m_packages': use "
    "--config.dataset=mnist2mnist_m_packages"
  )


def test_a_saved_config_with_the_former_name_loads_and_resumes_as_the_new_one(tmp_path):
  saved = games.default_config("cyclegan").to_dict()
  saved["dataset"] = "mnist2mnist_m"
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loaded = games.load_workdir_config(str(tmp_path))
  assert loaded.dataset == unpaired.MNIST_M_TASK
  games.validate(loaded)
  # Resuming with today's config: no change to report, neither structural nor other.
  assert games.config_changes(saved, games.default_config("cyclegan")) == ([], [])
  assert saved["dataset"] == "mnist2mnist_m"  # the caller's dict is left as it was
  # Without the rename the old name would be a structural change of the data set.
  unrenamed = config_lib.config_changes(
    saved, games.default_config("cyclegan").to_dict(), games.REGISTRY["cyclegan"].config
  )
  assert unrenamed[0] == ["dataset ('mnist2mnist_m' -> 'mnist2mnist_m_packages')"]
