"""`launch.py --sweep` end to end: two variants x two seeds -> report.md/csv and plots;
a second invocation trains nothing; --sweep_only picks members. The launches run in this
process (gan_jax.launcher.run, tests/_launch.py)."""

import json
import os
import textwrap

import _launch  # a sibling helper module (pytest puts tests/ on the path)
import pytest

CONFIG = textwrap.dedent(
  """
  from gan_jax.games import default_config

  def get_config():
    c = default_config()
    c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 16
    c.model.g_hidden_dim = c.model.d_hidden_dim = 8
    c.model.g_num_layers = c.model.d_num_layers = 1
    c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 4, 4
    c.eval.num_samples = 100
    c.lock()
    return c

  def get_sweep():
    return [{"loss": loss, "seed": seed} for loss in ("hinge", "least_squares") for seed in (0, 1)]
  """
)


def _sweep(config_path, workdir, *extra):
  return _launch.launch(f"--config={config_path}", "--sweep", f"--workdir={workdir}", *extra)


def _rows(path):
  with open(path) as f:
    return f.read()


@pytest.mark.slow  # a sweep of runs: over 20 s
def test_sweep_reports_and_does_not_retrain(tmp_path):
  config_path = tmp_path / "tiny_sweep.py"
  config_path.write_text(CONFIG)
  workdir = tmp_path / "sweep"
  first = _sweep(config_path, workdir)
  assert first.returncode == 0, first.stderr[-2000:]
  members = ["loss=hinge,seed=0", "loss=hinge,seed=1", "loss=least_squares,seed=0"]
  members.append("loss=least_squares,seed=1")
  for m in members:
    assert os.path.exists(workdir / m / "DONE")
  report = (workdir / "report.md").read_text()
  assert "loss=hinge" in report and "loss=least_squares" in report
  csv = (workdir / "report.csv").read_text().splitlines()
  assert csv[0].startswith("variant,metric,n,mean,std,ci_low,ci_high")
  assert any(line.startswith("loss=hinge,modes,2,") for line in csv)
  plots = os.listdir(workdir / "plots")
  assert "modes_final.png" in plots and "modes_vs_step.png" in plots
  before = {m: _rows(workdir / m / "metrics.jsonl") for m in members}

  second = _sweep(config_path, workdir)
  assert second.returncode == 0, second.stderr[-2000:]
  assert {m: _rows(workdir / m / "metrics.jsonl") for m in members} == before  # no retraining
  assert "4/4 members done" in second.stdout

  only = _sweep(config_path, tmp_path / "only", "--sweep_only=least_squares,seed=1")
  assert only.returncode == 0, only.stderr[-2000:]
  assert os.path.exists(tmp_path / "only" / "loss=least_squares,seed=1" / "DONE")
  assert not os.path.exists(tmp_path / "only" / "loss=hinge,seed=0")
  recorded = json.loads((tmp_path / "only" / "sweep.json").read_text())
  assert [m["name"] for m in recorded["members"]] == ["loss=least_squares,seed=1"]

  bad = _sweep(config_path, tmp_path / "bad", "--sweep_only=pack=9")
  assert bad.returncode == 2 and "matches no sweep member" in bad.stderr
  assert len(bad.stderr.strip().splitlines()) == 1


def test_a_config_variant_reaches_the_sweep_commands(tmp_path):
  # config_flags' ':ARG' picks a variant of the file; get_sweep() is read from the file.
  path = "experiments/pacgan_2d.py:ring_quick"
  result = _launch.launch(f"--config={path}", "--sweep_dry_run", f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  commands = result.stdout.strip().splitlines()
  assert len(commands) == 4 and all(f"--config={path} " in c for c in commands)
  assert "--config.model.pack=4 --config.batch_size=400" in commands[-1]
