"""The declaration of every config value (each game's specs and rules, the base's) and the tests
they generate.

For every key of every registered game: a value of the wrong type and, where the key has a
range or a set of names, a value just outside it; each is refused by `validate` with one line
naming the key. Every rule between keys is tried with the overrides it declares as breaking
it. A sample of keys goes through the command line too (in-process, tests/_launch.py): one
line on stderr, exit 2, and no workdir.
"""

import copy
import json
import random

import _launch  # sibling test modules (pytest puts tests/ on the path)
import ml_collections
import pytest
import test_experiments

from gan_jax import config as config_lib
from gan_jax import errors, games, specs


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


def game_specs():
  """(game, key, spec) for every key of every registered game."""
  for name, spec in games.REGISTRY.items():
    for key, key_spec in spec.config.all_specs().items():
      yield name, key, key_spec


def cases():
  for game, key, spec in game_specs():
    yield pytest.param(game, key, wrong_type(spec), id=f"{game}-{key}-type")
    for i, value in enumerate(just_outside(spec)):
      yield pytest.param(game, key, value, id=f"{game}-{key}-range{i}")


def config_with(game: str, key: str, value) -> ml_collections.ConfigDict:
  """The game's default config with one value set, whatever its type (as a loaded config.json
  may)."""
  tree = games.default_config(game).to_dict()
  node = tree
  *parents, last = key.split(".")
  for part in parents:
    node = node[part]
  node[last] = value
  return ml_collections.ConfigDict(tree)


@pytest.mark.parametrize("game", sorted(games.REGISTRY))
def test_every_key_is_declared(game):
  declared = set(games.REGISTRY[game].config.all_specs())
  assert set(config_lib.flatten(games.default_config(game))) == declared


def test_the_experiments_override_keys_and_add_none():
  for path in test_experiments.EXPERIMENTS:
    config = test_experiments._load(path).get_config()
    declared = set(games.REGISTRY[config.game].config.all_specs())
    assert set(config_lib.flatten(config)) == declared, path


@pytest.mark.parametrize("game,key,value", list(cases()))
def test_a_value_outside_its_declaration_is_one_line(game, key, value):
  with pytest.raises(errors.ConfigError) as e:
    games.validate(config_with(game, key, value))
  message = str(e.value)
  assert key in message and "\n" not in message, message


def rule_cases():
  """(game, rule): the base rules for every game, and each game's own."""
  for name, spec in games.REGISTRY.items():
    for rule in (*config_lib.BASE_RULES, *spec.config.rules):
      yield pytest.param(name, rule, id=f"{name}-{rule.check.__name__}")


@pytest.mark.parametrize("game,rule", list(rule_cases()))
def test_every_rule_refuses_its_example(game, rule, tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))
  assert games.validate(games.default_config(game), num_devices=rule.num_devices) is None
  config = games.default_config(game)
  config.update_from_flattened_dict(copy.deepcopy(rule.example))
  problem = rule.check(config, rule.num_devices)
  assert problem and "\n" not in problem
  with pytest.raises(errors.ConfigError) as e:
    games.validate(config, num_devices=rule.num_devices)
  assert str(e.value) == problem


def test_an_unknown_or_missing_key_is_one_line():
  tree = games.default_config().to_dict()
  tree["model"]["bogus"] = 1
  with pytest.raises(errors.ConfigError, match="unknown config key 'model.bogus'"):
    games.validate(ml_collections.ConfigDict(tree))
  tree = games.default_config().to_dict()
  del tree["eval"]["batch_size"]
  with pytest.raises(errors.ConfigError, match="'eval.batch_size' is missing"):
    games.validate(ml_collections.ConfigDict(tree))


def test_a_game_switched_on_the_command_line_or_a_dataset_of_another_game_is_one_line():
  config = games.default_config("gan")
  config.game = "cyclegan"
  with pytest.raises(errors.ConfigError) as e:
    games.validate(config)
  assert str(e.value).startswith("config.game is 'cyclegan' but the config holds the gan game")
  config = games.default_config("gan")
  config.dataset = "mnist2mnist_m"
  with pytest.raises(errors.ConfigError) as e:
    games.validate(config)
  assert str(e.value).startswith("dataset 'mnist2mnist_m' is the cyclegan game's, not gan's")


def _flag(value) -> str:
  return str(value)


# A fixed sample of keys (a different one would be as good): the command line's path.
_LAUNCH_SAMPLE = random.Random(0).sample(sorted(games.REGISTRY["gan"].config.all_specs()), 6)


@pytest.mark.parametrize("key", _LAUNCH_SAMPLE)
def test_launch_refuses_a_bad_value_in_one_line_before_the_workdir(key, tmp_path):
  spec = games.REGISTRY["gan"].config.all_specs()[key]
  values = [wrong_type(spec), *just_outside(spec)]
  if spec.kind is str and spec.choices is None:  # any string parses: the type is kept
    values = values[1:]
  for value in values:
    workdir = tmp_path / "run"
    result = _launch.launch(
      "--config=experiments/dcgan.py", f"--workdir={workdir}", f"--config.{key}={_flag(value)}"
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (key, value, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), (key, value, result.stderr[-2000:])
    assert not workdir.exists()


def test_a_config_json_from_before_the_games_blocks_resumes_and_loads(tmp_path):
  # Until the games owned their blocks, every config.json held every game's keys.
  saved = games.default_config("gan").to_dict()
  saved["cycle"] = games.default_config("cyclegan").cycle.to_dict()
  saved["sr"] = games.default_config("srgan").sr.to_dict()
  saved["data"]["mnist_m_seed"] = 0
  assert games.config_changes(saved, games.default_config("gan")) == ([], [])
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loaded = games.load_workdir_config(str(tmp_path))
  assert config_lib.flatten(loaded) == config_lib.flatten(games.default_config("gan"))


def test_another_games_saved_config_is_a_structural_change():
  saved = games.default_config("cyclegan").to_dict()
  structural, _ = games.config_changes(saved, games.default_config("gan"))
  assert structural == ["game ('cyclegan' -> 'gan')"]
