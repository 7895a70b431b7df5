"""Sweeps: member names, config overrides, skip/resume of finished members, dry-run commands."""

import json
import os
import shlex
import textwrap

import ml_collections
import pytest

from gan_jax import errors, report, sweep


def base_config() -> ml_collections.ConfigDict:
  # The shape of gan_jax.config.default_config(), small: this test needs no JAX.
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.total_steps = 10
  c.loss = "non_saturating"
  c.model = ml_collections.ConfigDict({"d_norm": "batch", "z_dim": 100})
  c.g_optimizer = ml_collections.ConfigDict({"learning_rate": 2e-4})
  c.d_optimizer = ml_collections.ConfigDict({"learning_rate": 2e-4})
  c.lock()
  return c


SWEEP = [
  {"loss": "hinge", "seed": 2},
  {"seed": 0, "loss": "minimax", "model.d_norm": "layer"},
  {"loss": "minimax", "seed": 1, "model.d_norm": "layer"},
]


def test_names_are_readable_unique_and_deterministic():
  members = sweep.resolve_members(SWEEP)
  names = [m["name"] for m in members]
  # Sorted by the full dotted key (loss < model.d_norm), seed last.
  assert names == [
    "loss=hinge,seed=2",
    "loss=minimax,d_norm=layer,seed=0",
    "loss=minimax,d_norm=layer,seed=1",
  ]
  assert sweep.resolve_members(members) == members  # idempotent
  # Key order in the member dict does not matter; seed comes last.
  assert sweep.overrides_name({"seed": 1, "loss": "hinge"}) == "loss=hinge,seed=1"
  assert sweep.overrides_name({}) == "base"


def test_names_keep_dotted_keys_when_ambiguous_and_are_filesystem_safe():
  members = sweep.resolve_members(
    [
      {"g_optimizer.learning_rate": 1e-4, "d_optimizer.learning_rate": 4e-4},
      {"g_optimizer.learning_rate": 2e-4, "d_optimizer.learning_rate": 2e-4, "loss": "a/b c"},
    ]
  )
  assert members[0]["name"] == "d_optimizer.learning_rate=0.0004,g_optimizer.learning_rate=0.0001"
  assert "/" not in members[1]["name"] and " " not in members[1]["name"]
  assert members[1]["name"].endswith("loss=a_b_c")
  long = sweep.overrides_name({f"key{i}": "x" * 20 for i in range(20)})
  assert len(long) <= sweep.MAX_NAME_LEN


def test_explicit_names_and_duplicates():
  members = sweep.resolve_members([{"name": "mine", "loss": "hinge"}, {"loss": "minimax"}])
  assert members[0] == {"name": "mine", "overrides": {"loss": "hinge"}}
  with pytest.raises(ValueError, match="same overrides"):
    sweep.resolve_members([{"loss": "hinge"}, {"loss": "hinge"}])
  with pytest.raises(ValueError, match="same name"):
    sweep.resolve_members([{"name": "a", "seed": 1}, {"name": "a", "seed": 2}])
  with pytest.raises(ValueError, match="not usable"):
    sweep.resolve_members([{"name": "../up", "seed": 1}])
  with pytest.raises(ValueError, match="non-empty list"):
    sweep.resolve_members([])


def test_member_config_applies_dotted_overrides():
  base = base_config()
  config = sweep.member_config(base, {"loss": "hinge", "model.d_norm": "layer", "seed": 3})
  assert (config.loss, config.model.d_norm, config.seed) == ("hinge", "layer", 3)
  assert (base.loss, base.model.d_norm, base.seed) == ("non_saturating", "batch", 0)  # untouched
  assert config.is_locked


def test_member_config_rejects_unknown_keys_and_bad_values():
  base = base_config()
  with pytest.raises(ValueError) as e:
    sweep.member_config(base, {"model.d_nrom": "layer"}, member="m1")
  message = str(e.value)
  assert "'model.d_nrom'" in message and "'m1'" in message and "model.d_norm" in message
  assert "\n" not in message
  with pytest.raises(ValueError, match="'los'"):
    sweep.member_config(base, {"los": "hinge"})
  with pytest.raises(ValueError, match="'loss.x'"):
    sweep.member_config(base, {"loss.x": 1})
  with pytest.raises(ValueError, match="total_steps"):
    sweep.member_config(base, {"total_steps": "many"})
  with pytest.raises(ValueError, match="sub-config"):
    sweep.member_config(base, {"model": "x"})


class FakeTrain:
  """Writes a short metrics.jsonl whose values encode the member, and counts its calls."""

  def __init__(self, fail_on: str | None = None):
    self.calls: list[str] = []
    self.fail_on = fail_on

  def __call__(self, config, workdir):
    name = os.path.basename(workdir)
    self.calls.append(name)
    if name == self.fail_on:
      raise RuntimeError("diverged")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps({"step": 0, "event": "start"}) + "\n")
      for step in range(1, config.total_steps + 1):
        row = {"step": step, "d_loss": 1.0 / step, "g_loss": float(config.seed)}
        f.write(json.dumps(row) + "\n")
    return {"d_loss": 1.0 / config.total_steps}


def test_run_sweep_runs_each_member_once_then_skips(tmp_path):
  members = sweep.resolve_members(SWEEP)
  train = FakeTrain()
  results = sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=train)
  assert train.calls == [m["name"] for m in members]
  assert [r["status"] for r in results] == ["done"] * 3
  for m in members:
    assert (tmp_path / m["name"] / "DONE").read_text().strip() == "10"
  recorded = json.loads((tmp_path / "sweep.json").read_text())
  assert recorded["members"] == members

  again = FakeTrain()
  results = sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=again)
  assert again.calls == []
  assert [r["status"] for r in results] == ["skipped"] * 3


def test_run_sweep_reruns_unfinished_and_raised_total_steps(tmp_path):
  members = sweep.resolve_members(SWEEP)
  sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=FakeTrain())
  os.remove(tmp_path / members[1]["name"] / "DONE")  # as if killed before it finished
  train = FakeTrain()
  sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=train)
  assert train.calls == [members[1]["name"]]

  longer = base_config()
  longer.total_steps = 20
  train = FakeTrain()
  sweep.run_sweep(longer, members, str(tmp_path), train_fn=train)
  assert train.calls == [m["name"] for m in members]
  assert (tmp_path / members[0]["name"] / "DONE").read_text().strip() == "20"


def test_run_sweep_keeps_going_past_a_failed_member_and_reports(tmp_path):
  members = sweep.resolve_members(SWEEP)
  train = FakeTrain(fail_on=members[0]["name"])
  results = sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=train)
  assert [r["status"] for r in results] == ["failed", "done", "done"]
  assert "diverged" in results[0]["error"]
  assert not (tmp_path / members[0]["name"] / "DONE").exists()
  report.write_report(str(tmp_path), members)  # the failed member does not stop the report
  assert (tmp_path / "report.md").exists() and (tmp_path / "report.csv").exists()
  with pytest.raises(RuntimeError, match="diverged"):
    sweep.run_sweep(base_config(), members, str(tmp_path), train_fn=train, keep_going=False)


def test_run_sweep_checks_every_member_before_training(tmp_path):
  train = FakeTrain()
  with pytest.raises(ValueError, match="'model.bogus'"):
    sweep.run_sweep(
      base_config(),
      [{"loss": "hinge"}, {"model.bogus": 1}],
      str(tmp_path),
      train_fn=train,
    )
  assert train.calls == []


def test_run_sweep_validates_every_member_first_keeping_the_error_type(tmp_path):
  class ConfigError(ValueError):
    pass

  def validate(config):
    if config.loss == "bogus":
      raise ConfigError("unknown loss 'bogus'")

  train = FakeTrain()
  with pytest.raises(ConfigError, match="sweep member 'loss=bogus': unknown loss"):
    sweep.run_sweep(
      base_config(),
      [{"loss": "hinge"}, {"loss": "bogus"}],
      str(tmp_path),
      train_fn=train,
      validate_fn=validate,
    )
  assert train.calls == []


def test_a_preemption_stops_the_sweep(tmp_path):
  calls = []

  def train(config, workdir):
    calls.append(workdir)
    raise errors.Preempted("received SIGTERM", 15)

  with pytest.raises(errors.Preempted):
    sweep.run_sweep(base_config(), SWEEP, str(tmp_path), train_fn=train)
  assert len(calls) == 1


def test_dry_run_commands_one_parseable_command_per_member():
  members = sweep.resolve_members(SWEEP + [{"loss": "it's odd", "g_optimizer.learning_rate": 1e-5}])
  commands = sweep.dry_run_commands(
    "experiments/dcgan.py", members, "runs/sw", ["--config.total_steps=300", "batch_size=32"]
  )
  assert len(commands) == len(members)
  for command, member in zip(commands, members, strict=True):
    args = shlex.split(command)
    assert args[:3] == ["python", "launch.py", "--config=experiments/dcgan.py"]
    assert args[3] == f"--workdir=runs/sw/{member['name']}"
    assert args[4:6] == ["--config.total_steps=300", "--config.batch_size=32"]
    assert len(args) == 6 + len(member["overrides"])
  last = shlex.split(commands[-1])
  assert "--config.loss=it's odd" in last
  assert "--config.g_optimizer.learning_rate=1e-05" in last


def test_config_overrides_from_argv():
  argv = ["launch.py", "--config=x.py", "--config.loss=hinge", "--config.seed", "3", "--sweep"]
  assert sweep.config_overrides_from_argv(argv) == ["--config.loss=hinge", "--config.seed=3"]


def test_load_sweep(tmp_path):
  with_sweep = tmp_path / "with_sweep.py"
  with_sweep.write_text(
    textwrap.dedent(
      """
      from gan_jax import sweep  # imports of the package work inside a config file

      def get_config():
        return None

      def get_sweep():
        return [{"loss": loss, "seed": s} for loss in ("hinge", "minimax") for s in (0, 1)]
      """
    )
  )
  members = sweep.load_sweep(str(with_sweep))
  assert [m["name"] for m in members] == [
    "loss=hinge,seed=0",
    "loss=hinge,seed=1",
    "loss=minimax,seed=0",
    "loss=minimax,seed=1",
  ]
  assert members[2]["overrides"] == {"loss": "minimax", "seed": 0}

  without = tmp_path / "without.py"
  without.write_text("def get_config():\n  return None\n")
  with pytest.raises(ValueError, match="defines no get_sweep") as e:
    sweep.load_sweep(str(without))
  assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="not found"):
    sweep.load_sweep(str(tmp_path / "missing.py"))


def test_select_members_by_regex():
  members = sweep.resolve_members(
    [{"loss": loss, "model.pack": pack} for loss in ("hinge", "wasserstein") for pack in (1, 2)]
  )
  chosen = sweep.select_members(members, "pack=1")
  assert [m["overrides"] for m in chosen] == [
    {"loss": "hinge", "model.pack": 1},
    {"loss": "wasserstein", "model.pack": 1},
  ]
  assert len(sweep.select_members(members, "loss=(hinge|wasserstein),pack=2")) == 2
  with pytest.raises(errors.SweepError, match="matches no sweep member"):
    sweep.select_members(members, "pack=7")
  with pytest.raises(errors.SweepError, match="not a regular expression"):
    sweep.select_members(members, "(")


def test_overlapping_seed_ranges_are_refused():
  members = sweep.resolve_members([{"loss": "hinge", "seed": s} for s in (0, 1, 2)])
  sweep.check_seed_overlap(members, 1)
  with pytest.raises(errors.SweepError, match="both train seed 1"):
    sweep.check_seed_overlap(members, 2)
  sweep.check_seed_overlap(sweep.select_members(members, "seed=0$"), 3)
  spaced = sweep.resolve_members([{"loss": "hinge", "seed": s} for s in (0, 3)])
  sweep.check_seed_overlap(spaced, 3)
  other_variants = sweep.resolve_members(
    [{"loss": loss, "seed": 0} for loss in ("hinge", "minimax")]
  )
  sweep.check_seed_overlap(other_variants, 5)


def test_load_sweep_hands_get_sweep_the_config_files_variant(tmp_path):
  path = tmp_path / "variants.py"
  path.write_text(
    textwrap.dedent(
      """
      def get_config(variant="full"):
        return None

      def get_sweep(variant="full"):
        steps = 10 if variant == "quick" else 1000
        return [{"name": "a", "total_steps": steps}]
      """
    )
  )
  assert sweep.load_sweep(f"{path}:quick")[0]["overrides"]["total_steps"] == 10
  assert sweep.load_sweep(f"{path}:full")[0]["overrides"]["total_steps"] == 1000
  assert sweep.load_sweep(str(path))[0]["overrides"]["total_steps"] == 1000
  plain = tmp_path / "plain.py"
  plain.write_text("def get_sweep():\n  return [{'loss': 'hinge'}]\n")
  assert sweep.load_sweep(f"{plain}:anything")[0]["overrides"] == {"loss": "hinge"}


def test_shadowed_overrides_name_the_members_that_set_the_key():
  members = sweep.resolve_members([{"name": "a", "total_steps": 5}, {"name": "b", "loss": "hinge"}])
  lines = sweep.shadowed_overrides(members, ["--config.total_steps=9", "--config.seed=1"])
  assert len(lines) == 1 and "--config.total_steps" in lines[0] and "member(s) a:" in lines[0]
  assert sweep.shadowed_overrides(members, ["--config.seed=1"]) == []
