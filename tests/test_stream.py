"""Streamed TFDS data (data.stream=True), with mocked TFDS: exact batches, exact resume."""

import json
import os
import shutil

import _fake_devices  # a sibling helper module (pytest puts tests/ on the path)
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import config as config_lib
from gan_jax import games, train
from gan_jax.data import datasets as data
from gan_jax.data import images as images_lib

# The MNIST builder here has no dataset_info.json: TFDS would leave a directory in /tmp per use.
pytestmark = pytest.mark.usefixtures("temporary_files_in_tmp_path")


def stream_config():
  c = games.default_config()
  c.dataset, c.data.source, c.data.stream, c.data.download = "mnist", "tfds", True, True
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 1, 4, 2
  c.num_sample_images, c.eval_every = 4, -1
  return c


@pytest.mark.slow  # over 10 s
def test_stream_batches_and_their_resumption():
  with tfds.testing.mock_data(num_examples=40):
    ds = data.load_dataset(stream_config())
    assert ds.arrays == {} and ds.example_shape == (28, 28, 1) and ds.num_classes == 10
    stream = ds.stream(0)
    first = [next(stream) for _ in range(5)]
    later = ds.stream(3)
    resumed = [next(later) for _ in range(2)]
  assert first[0]["images"].shape == (1, 8, 28, 28, 1) and first[0]["images"].dtype == np.uint8
  assert first[0]["labels"].shape == (1, 8)
  for a, b in zip(first[3:], resumed, strict=True):
    np.testing.assert_array_equal(a["images"], b["images"])
  # Shuffled, and every batch fresh: the 40 examples are not replayed in file order.
  assert not np.array_equal(first[0]["images"], first[4]["images"])


def _rows(workdir):
  return [json.loads(line) for line in open(workdir / "metrics.jsonl") if '"d_loss"' in line]


def _in_memory_pipeline(name, *, split, size, data_dir, download):
  """40 fixed random digits as the TFDS pipeline (mock_data would also redirect Orbax's paths)."""
  import tensorflow as tf

  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, (40, size, size, 1)).astype(np.uint8)
  labels = rng.randint(0, 10, 40).astype(np.int32)
  return tf.data.Dataset.from_tensor_slices((images, labels))


@pytest.mark.slow  # training runs: over 10 s
def test_streamed_training_resumes_exactly_and_fuses(tmp_path, monkeypatch):
  monkeypatch.setattr(images_lib, "_tfds_pipeline", _in_memory_pipeline)
  train.train_and_evaluate(stream_config(), str(tmp_path / "straight"))
  c = stream_config()
  c.total_steps = 2
  train.train_and_evaluate(c, str(tmp_path / "resumed"))
  train.train_and_evaluate(stream_config(), str(tmp_path / "resumed"))
  c = stream_config()
  c.steps_per_dispatch = 2
  train.train_and_evaluate(c, str(tmp_path / "fused"))
  straight = _rows(tmp_path / "straight")
  assert [r["step"] for r in straight] == [1, 2, 3, 4]
  resumed = {r["step"]: r for r in _rows(tmp_path / "resumed")}
  for row in straight:
    assert resumed[row["step"]]["d_loss"] == row["d_loss"]
    assert resumed[row["step"]]["g_loss"] == row["g_loss"]
  fused = {r["step"]: r for r in _rows(tmp_path / "fused")}
  for step in (2, 4):
    np.testing.assert_allclose(fused[step]["d_loss"], straight[step - 1]["d_loss"], rtol=1e-5)


def test_stream_only_for_tfds_image_sets():
  c = stream_config()
  c.dataset, c.model.name = "ring", "mlp"
  try:
    games.validate(c)
  except config_lib.ConfigError as e:
    assert "data.stream=True streams TFDS image sets" in str(e)
  else:
    raise AssertionError("ring with data.stream=True validated")


@pytest.mark.slow  # over 5 s
def test_each_process_streams_a_disjoint_part_of_the_global_batch(monkeypatch):
  monkeypatch.setattr(images_lib, "_tfds_pipeline", _in_memory_pipeline)
  kwargs = dict(size=28, batch_size=8, d_steps=1, seed=0, data_dir="", download=False)
  parts = [
    next(images_lib.tfds_stream("mnist", process_index=i, process_count=2, **kwargs)(0))
    for i in range(2)
  ]
  assert [p["images"].shape for p in parts] == [(1, 4, 28, 28, 1)] * 2
  # The 40 digits are distinct; the two shards (even and odd examples) share none.
  flat = [p["images"].reshape(4, -1) for p in parts]
  assert not {r.tobytes() for r in flat[0]} & {r.tobytes() for r in flat[1]}
  with pytest.raises(ValueError, match="does not split over 3 processes"):
    images_lib.tfds_stream("mnist", process_index=0, process_count=3, **kwargs)


def _two_processes(workdir, steps):
  import socket
  import subprocess
  import sys

  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = {**os.environ, "XLA_FLAGS": _fake_devices.xla_flags(2)}
  script = os.path.join(os.path.dirname(__file__), "_stream_process.py")
  procs = [
    subprocess.Popen(
      [sys.executable, script, str(port), "2", str(i), str(workdir), str(steps)],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]


@pytest.mark.slow  # two processes
def test_two_processes_stream_their_shards_and_resume_exactly(tmp_path):
  workdir = tmp_path / "run"
  _two_processes(workdir, 4)
  straight = _rows(workdir)
  assert [r["step"] for r in straight] == [1, 2, 3, 4]
  # Without its last checkpoint the run resumes from step 2 and streams steps 3 and 4 again.
  shutil.rmtree(workdir / "checkpoints" / "4")
  _two_processes(workdir, 4)
  resumed = _rows(workdir)
  starts = [json.loads(line) for line in open(workdir / "metrics.jsonl") if '"event"' in line]
  assert [r["step"] for r in starts if r["event"] == "start"] == [0, 2]
  assert [(r["step"], r["d_loss"], r["g_loss"]) for r in resumed] == [
    (r["step"], r["d_loss"], r["g_loss"]) for r in straight
  ]
