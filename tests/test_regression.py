"""Refactorings change no number: the first steps' losses of five experiments.

The fixture was recorded before the training loop became generic (tests/_regression.py);
a change that is meant to change numbers re-records it and says why in its commit. On a
CPU the fixture holds, the losses must be the same bits. On another CPU XLA's library
kernels may round differently, and Adam's first, sign-like update turns a last-bit
difference into one of about 1e-3 within a few steps (2e-3 at most between the CPUs
recorded so far); there D's first loss, before any update, must agree to float32 rounding
and the first `OTHER_CPU_STEPS` steps to `OTHER_CPU_RTOL`, far tighter than a change of a
loss, a network or an optimizer moves them. There only those steps are run.
"""

import json

import _regression
import jaxlib
import numpy as np
import pytest

OTHER_CPU_STEPS = 5
OTHER_CPU_RTOL = 1e-2


@pytest.mark.slow  # five experiments in processes of their own, one per CPU
def test_first_steps_losses_are_those_recorded():
  with open(_regression.FIXTURE) as f:
    recorded = json.load(f)
  if recorded["jaxlib"] != jaxlib.__version__:
    pytest.skip(
      f"the fixture was recorded with jaxlib {recorded['jaxlib']}, this is "
      f"{jaxlib.__version__}: XLA's code differs between versions (CI pins the version)"
    )
  machines = recorded["machines"]
  here = _regression.cpu_fingerprint() in machines
  now = _regression.run_pinned(_regression.NUM_STEPS if here else OTHER_CPU_STEPS)
  if here:
    for name, losses in machines[now["cpu"]].items():
      for key, values in losses.items():
        assert now["losses"][name][key] == values, (now["cpu"], name, key)
    return
  for cpu, fixture in machines.items():
    for name, losses in fixture.items():
      for key, values in losses.items():
        got = now["losses"][name][key]  # OTHER_CPU_STEPS of them
        want = values[:OTHER_CPU_STEPS]
        if key == "d_loss":
          np.testing.assert_allclose(got[0], want[0], rtol=1e-6, err_msg=f"{cpu} {name}")
        np.testing.assert_allclose(got, want, rtol=OTHER_CPU_RTOL, err_msg=f"{cpu} {name} {key}")
