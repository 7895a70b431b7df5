"""Feature extraction is data-parallel: 4 devices give the features of 1 device."""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(__file__)


def test_classifier_features_on_four_devices_equal_one(tmp_path):
  outs = []
  for n in (1, 4):
    out = tmp_path / f"features{n}.npz"
    subprocess.run(
      [sys.executable, os.path.join(HERE, "_parallel_features.py"), str(n), str(out)],
      check=True,
      capture_output=True,
      env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    outs.append(np.load(out))
  assert outs[0]["features"].shape == (50, 128)
  for key in ("features", "logits"):
    np.testing.assert_allclose(outs[0][key], outs[1][key], rtol=1e-5, atol=1e-5)
