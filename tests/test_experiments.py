"""Every config in experiments/ loads and validates, and so does every member of its sweep."""

import copy
import glob
import importlib.util
import os
import re

import pytest

from gan_jax import errors, games, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(
  p for p in glob.glob(os.path.join(ROOT, "experiments", "*.py")) if not p.endswith("__init__.py")
)


def _load(path):
  spec = importlib.util.spec_from_file_location("_exp_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _validated(config):
  """The config, validated; where only its data set is not prepared here (e.g. TFDS cifar10,
  which no registry package ships), validated as it would be with TFDS allowed to download:
  every other value is still checked."""
  try:
    games.validate(config)
  except errors.ConfigError as e:
    if "is not prepared" not in str(e):
      raise
    config = copy.deepcopy(config)
    with config.unlocked():
      config.data.download = True
    games.validate(config)
  return config


@pytest.mark.parametrize("path", EXPERIMENTS, ids=os.path.basename)
def test_experiment_config_validates(path):
  module = _load(path)
  # A file of several variants (`--config=experiments/X.py:VARIANT`) names them in CONFIG_ARGS.
  variants = getattr(module, "CONFIG_ARGS", (None,))
  for variant in variants:
    config = module.get_config() if variant is None else module.get_config(variant)
    config = _validated(config)
    # Every experiment documents its command line, each variant of it its own.
    name = os.path.basename(path) + (f":{variant}" if variant else "")
    assert re.search(rf"--config=experiments/{re.escape(name)}(\s|$)", module.__doc__), name
    if hasattr(module, "get_sweep"):
      members = sweep.load_sweep(f"{path}:{variant}" if variant else path)
      assert members
      for member in members:
        overrides = member["overrides"]
        games.validate(sweep.member_config(config, overrides, member=member["name"]))
  if variants != (None,):
    with pytest.raises(ValueError, match="unknown variant"):
      module.get_config("no_such_variant")


def test_the_published_configs_exist():
  names = {os.path.basename(p)[:-3] for p in EXPERIMENTS}
  assert {"dcgan", "wgan_gp", "sngan", "cgan", "ring2d", "grid2d", "stacked_mnist"} <= names
  assert {"compare_losses"} <= names
