"""TensorBoard event files: valid TFRecord framing, readable scalars, no TensorFlow import."""

import glob
import struct
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from gan_jax import writers


def read_events(path):
  events = []
  with open(path, "rb") as f:
    data = f.read()
  pos = 0
  while pos < len(data):
    header = data[pos : pos + 8]
    (length,) = struct.unpack("<Q", header)
    assert struct.unpack("<I", data[pos + 8 : pos + 12])[0] == masked_crc32c(header)
    payload = data[pos + 12 : pos + 12 + length]
    crc = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])[0]
    assert crc == masked_crc32c(payload)
    events.append(event_pb2.Event.FromString(payload))
    pos += 16 + length
  return events


def test_event_file_holds_scalars_images_and_seed_tags(tmp_path):
  w = writers.Writer(str(tmp_path))
  w.write_scalars(3, {"d_loss": 0.5, "note": "text is not a scalar"})
  w.write_scalars(4, {"d_loss": 0.25}, seed=7)
  w.write_image(4, "samples", np.zeros((5, 6, 3), np.uint8))
  w.close()
  (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
  events = read_events(path)
  assert events[0].file_version == "brain.Event:2"
  scalars = [
    (e.step, v.tag, v.simple_value)
    for e in events[1:]
    for v in e.summary.value
    if not v.HasField("image")
  ]
  assert scalars == [(3, "d_loss", 0.5), (4, "d_loss/seed_7", 0.25)]
  (image,) = [v.image for e in events for v in e.summary.value if v.HasField("image")]
  assert (image.height, image.width, image.colorspace) == (5, 6, 3)
  rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert '"seed": 7' in rows[1]


@pytest.mark.slow  # a fresh interpreter
def test_logging_does_not_import_tensorflow(tmp_path):
  code = (
    "import sys; from gan_jax import writers; w = writers.Writer(sys.argv[1]); "
    "w.write_scalars(1, {'a': 1.0}); w.close(); print('tensorflow' in sys.modules)"
  )
  out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
  assert out.stdout.strip() == "False", out.stderr[-2000:]
