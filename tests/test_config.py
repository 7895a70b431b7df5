"""The declaration of every config value (config.SPECS, config.RULES) and the test it generates.

For every key: a value of the wrong type and, where the key has a range or a set of names,
a value just outside it; each is refused by `validate` with one line naming the key. Every
rule between keys is tried with the overrides it declares as breaking it. A sample of keys
goes through launch.py too: one line on stderr, exit 2, and no workdir.
"""

import copy
import random
import subprocess
import sys

import ml_collections
import pytest
import test_experiments  # a sibling test module (pytest puts tests/ on the path)

from gan_jax import config as config_lib
from gan_jax import errors, specs

ROOT = test_experiments.ROOT


def wrong_type(spec: specs.Spec):
  return {int: "abc", float: "abc", bool: "yes", str: 3}[spec.kind]


def just_outside(spec: specs.Spec) -> list:
  """Values just outside the declared range or set of names."""
  if spec.choices is not None:
    return ["bogus_name"]
  out = []
  step = 1 if spec.kind is int else 1e-6
  if spec.low is not None:
    out.append(spec.low if spec.open_low else spec.low - step * max(1, abs(spec.low)))
  if spec.high is not None:
    out.append(spec.high if spec.open_high else spec.high + step * max(1, abs(spec.high)))
  return [spec.kind(v) for v in out]


def cases():
  for key, spec in config_lib.SPECS.items():
    yield pytest.param(key, wrong_type(spec), id=f"{key}-type")
    for i, value in enumerate(just_outside(spec)):
      yield pytest.param(key, value, id=f"{key}-range{i}")


def config_with(key: str, value) -> ml_collections.ConfigDict:
  """default_config() with one value set, whatever its type (as a loaded config.json may)."""
  tree = config_lib.default_config().to_dict()
  node = tree
  *parents, last = key.split(".")
  for part in parents:
    node = node[part]
  node[last] = value
  return ml_collections.ConfigDict(tree)


def test_every_key_is_declared():
  assert set(config_lib.flatten(config_lib.default_config())) == set(config_lib.SPECS)
  for path in test_experiments.EXPERIMENTS:  # the experiments override keys, they add none
    config = test_experiments._load(path).get_config()
    assert set(config_lib.flatten(config)) == set(config_lib.SPECS), path


@pytest.mark.parametrize("key,value", list(cases()))
def test_a_value_outside_its_declaration_is_one_line(key, value):
  with pytest.raises(errors.ConfigError) as e:
    config_lib.validate(config_with(key, value))
  message = str(e.value)
  assert key in message and "\n" not in message, message


def test_the_generated_cases_cover_every_key_and_range():
  ids = [c.id for c in cases()]
  ranged = sum(
    bool(s.choices) or s.low is not None or s.high is not None for s in config_lib.SPECS.values()
  )
  assert len(ids) > len(config_lib.SPECS) + ranged  # a type case per key, a range case or two


@pytest.mark.parametrize("rule", config_lib.RULES, ids=lambda r: r.check.__name__)
def test_every_rule_refuses_its_example(rule, tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))
  config = config_lib.default_config()
  config.update_from_flattened_dict(copy.deepcopy(rule.example))
  assert config_lib.validate(config_lib.default_config(), num_devices=rule.num_devices) is None
  problem = rule.check(config, rule.num_devices)
  assert problem and "\n" not in problem
  with pytest.raises(errors.ConfigError) as e:
    config_lib.validate(config, num_devices=rule.num_devices)
  assert str(e.value) == problem


def test_an_unknown_or_missing_key_is_one_line():
  tree = config_lib.default_config().to_dict()
  tree["model"]["bogus"] = 1
  with pytest.raises(errors.ConfigError, match="unknown config key 'model.bogus'"):
    config_lib.validate(ml_collections.ConfigDict(tree))
  tree = config_lib.default_config().to_dict()
  del tree["eval"]["batch_size"]
  with pytest.raises(errors.ConfigError, match="'eval.batch_size' is missing"):
    config_lib.validate(ml_collections.ConfigDict(tree))


def _flag(value) -> str:
  return str(value)


# A fixed sample of keys (a different one would be as good): the command line's path.
_LAUNCH_SAMPLE = random.Random(0).sample(sorted(config_lib.SPECS), 6)


@pytest.mark.parametrize("key", _LAUNCH_SAMPLE)
def test_launch_refuses_a_bad_value_in_one_line_before_the_workdir(key, tmp_path):
  spec = config_lib.SPECS[key]
  values = [wrong_type(spec), *just_outside(spec)]
  if spec.kind is str and spec.choices is None:  # any string parses: the type is kept
    values = values[1:]
  for value in values:
    workdir = tmp_path / "run"
    result = subprocess.run(
      [
        sys.executable,
        "launch.py",
        "--config=experiments/dcgan.py",
        f"--workdir={workdir}",
        f"--config.{key}={_flag(value)}",
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (key, value, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), (key, value, result.stderr[-2000:])
    assert not workdir.exists()
