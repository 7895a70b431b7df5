"""Streamed TFDS data (data.stream=True), with mocked TFDS: exact batches, exact resume."""

import json

import numpy as np
import tensorflow_datasets as tfds

from gan_jax import config as config_lib
from gan_jax import data, train


def stream_config():
  c = config_lib.default_config()
  c.dataset, c.data.source, c.data.stream, c.data.download = "mnist", "tfds", True, True
  c.model.base_filters, c.model.image_size, c.batch_size = 4, 28, 8
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 1, 4, 2
  c.num_sample_images, c.eval_every = 4, -1
  return c


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


def test_streamed_training_resumes_exactly_and_fuses(tmp_path, monkeypatch):
  monkeypatch.setattr(data, "_tfds_pipeline", _in_memory_pipeline)
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
    config_lib.validate(c)
  except config_lib.ConfigError as e:
    assert "data.stream=True streams TFDS image sets" in str(e)
  else:
    raise AssertionError("ring with data.stream=True validated")
