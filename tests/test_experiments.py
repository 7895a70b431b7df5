"""Every config in experiments/ loads and validates, and so does every member of its sweep."""

import glob
import importlib.util
import os

import pytest

from gan_jax import config as config_lib
from gan_jax import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(
  p for p in glob.glob(os.path.join(ROOT, "experiments", "*.py")) if not p.endswith("__init__.py")
)


def _load(path):
  spec = importlib.util.spec_from_file_location("_exp_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("path", EXPERIMENTS, ids=os.path.basename)
def test_experiment_config_validates(path):
  module = _load(path)
  config = module.get_config()
  config_lib.validate(config)
  # Every experiment documents its command line.
  assert f"--config=experiments/{os.path.basename(path)}" in module.__doc__
  if hasattr(module, "get_sweep"):
    members = sweep.load_sweep(path)
    assert members
    for member in members:
      config_lib.validate(sweep.member_config(config, member["overrides"], member=member["name"]))


def test_the_published_configs_exist():
  names = {os.path.basename(p)[:-3] for p in EXPERIMENTS}
  assert {"dcgan", "wgan_gp", "sngan", "cgan", "ring2d", "grid2d", "stacked_mnist"} <= names
  assert {"compare_losses"} <= names
