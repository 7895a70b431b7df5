"""Refactorings change no number: the first steps' losses of five experiments, bit for bit.

The fixture was recorded before the training loop became generic (tests/_regression.py);
a change that is meant to change numbers re-records it and says why in its commit.
"""

import json

import _regression
import jaxlib
import pytest


def test_first_steps_losses_are_bitwise_those_recorded():
  with open(_regression.FIXTURE) as f:
    recorded = json.load(f)
  if recorded["jaxlib"] != jaxlib.__version__:
    pytest.skip(
      f"the fixture was recorded with jaxlib {recorded['jaxlib']}, this is "
      f"{jaxlib.__version__}: XLA's code differs between versions (CI pins the version)"
    )
  now = _regression.run_pinned()
  for name, losses in recorded["losses"].items():
    for key, values in losses.items():
      assert now["losses"][name][key] == values, (name, key)
