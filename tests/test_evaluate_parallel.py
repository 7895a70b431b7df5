"""Feature extraction is data-parallel: 4 devices give the features of 1 device."""

import numpy as np
import pytest


@pytest.mark.slow  # two processes of fake devices
def test_classifier_features_on_four_devices_equal_one(states_on):
  one, four = states_on("_parallel_features.py")
  assert one["features"].shape == (50, 128)
  for key in ("features", "logits"):
    np.testing.assert_allclose(one[key], four[key], rtol=1e-5, atol=1e-5)
