"""The command line: bad input gives one line on stderr, exit code 2, and no workdir.

The launches run in this process (gan_jax.launcher.run, tests/_launch.py), except the one
that needs fake devices: a process of its own."""

import json
import os
import subprocess
import sys

import _fake_devices  # sibling helper modules (pytest puts tests/ on the path)
import _launch
import pytest


def launch(*args, workdir, devices=1):
  args = ["--config=experiments/dcgan.py", f"--workdir={workdir}", *args]
  # No TFDS data (as on a fresh machine), whatever this machine has prepared.
  env = {"TFDS_DATA_DIR": os.path.join(os.path.dirname(workdir), "no_tfds")}
  if devices > 1:  # the device count is fixed when JAX starts: a process of its own
    env["XLA_FLAGS"] = _fake_devices.xla_flags(devices)
    return _launch.subprocess_launch(*args, env=env)
  return _launch.launch(*args, env=env)


@pytest.mark.parametrize(
  "override,expected",
  [
    (
      "--config.loss=bogus",
      "unknown loss 'bogus'; valid: minimax, non_saturating, wasserstein, hinge, least_squares",
    ),
    ("--config.dataset=bogus", "valid: mnist, fashion_mnist, cifar10"),
    ("--config.model.name=bogus", "valid: dcgan, mlp"),
    ("--config.los=hinge", 'Did you mean "loss"'),
    pytest.param("--config.batch_size=63", "does not divide", marks=pytest.mark.slow),
    ("--config.d_steps=0", "d_steps must be an integer >= 1"),
    ("--config.model.image_size=48", "not supported by dcgan"),
    ("--config.g_optimizer.name=adamw", "valid: adam, rmsprop, sgd"),
    ("--config.total_steps=-5", "total_steps must be an integer >= 1"),
    ("--config.num_seeds=0", "num_seeds must be an integer >= 1"),
    ("--config.conditional=True --config.dataset=celeb_a", "needs class labels"),
    ("--sweep_only=pack=1", "add --sweep or --sweep_dry_run"),
    # The examples of the issue that asked for one declaration of every value.
    ("--config.eval.num_samples=1", "eval.num_samples must be an integer >= 2"),
    ("--config.num_sample_images=0", "num_sample_images must be an integer >= 1"),
    ("--config.data.source=tfds", "tfds build mnist"),
    ("--config.model.d_norm=bogus", "unknown model.d_norm 'bogus'"),
  ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, override, expected):
  workdir = tmp_path / "run"
  # A batch of 63 needs more than one device to be wrong.
  devices = 2 if override == "--config.batch_size=63" else 1
  result = launch(*override.split(), workdir=workdir, devices=devices)
  assert result.returncode == 2, result.stderr[-2000:]
  # One line on stderr, and nothing else: no traceback, no log lines.
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-2000:]
  assert expected in lines[0]
  assert not workdir.exists()


TINY_RING = [
  "--config=experiments/gan2d.py",
  "--config.model.g_hidden_dim=8",
  "--config.model.d_hidden_dim=8",
  "--config.total_steps=2",
  "--config.log_every=1",
  "--config.eval_every=-1",
]


def run(*args, env=None):
  return _launch.launch(*args, env=env)


@pytest.mark.slow  # a whole run: over 20 s
def test_every_switch_from_the_command_line(tmp_path):
  """The stabilizers and the conditional GAN, all at once, as command-line overrides, through
  the whole run. With one objective: every objective trains with the switches in
  tests/test_stabilizers.py (test_all_switches_with_every_objective)."""
  switches = [
    "--config.penalty=gradient_penalty",
    "--config.model.d_spectral_norm=True",
    "--config.model.d_minibatch=stddev",
    "--config.model.pack=2",
    "--config.batch_size=64",
    "--config.instance_noise_std=0.1",
    "--config.instance_noise_anneal_steps=10",
    "--config.ema_decay=0.9",
    "--config.g_optimizer.grad_clip_norm=1.0",
    "--config.d_optimizer.name=rmsprop",
    "--config.d_steps=2",
    "--config.conditional=True",
    "--config.model.g_conditioning=cbn",
    "--config.model.d_conditioning=concat",
    "--config.loss=non_saturating",
    "--config.real_label=0.9",  # label smoothing: an objective that reads real_label
  ]
  workdir = tmp_path / "run"
  result = run(*TINY_RING, *switches, f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  last = [r for r in rows if "d_loss" in r][-1]
  assert last["step"] == 2 and "d_penalty" in last
  saved = json.load(open(workdir / "config.json"))
  assert saved["conditional"] and saved["model"]["pack"] == 2


def snapshot(workdir):
  return {
    os.path.join(root, n): os.path.getmtime(os.path.join(root, n))
    for root, _, names in os.walk(workdir)
    for n in names
  }


def one_error_line(result):
  lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
  return lines[0]


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_resume_with_other_shapes_is_refused_and_workdir_untouched(tmp_path):
  workdir = str(tmp_path / "run")
  assert run(*TINY_RING, f"--workdir={workdir}").returncode == 0
  before = snapshot(workdir)
  result = run(*TINY_RING, "--config.model.g_hidden_dim=16", f"--workdir={workdir}")
  assert result.returncode == 2
  line = one_error_line(result)
  assert "model.g_hidden_dim (8 -> 16)" in line and "--allow_config_change" in line
  assert snapshot(workdir) == before


def test_dataset_not_available_offline(tmp_path):
  env = {"TFDS_DATA_DIR": str(tmp_path / "empty_tfds")}
  workdir = tmp_path / "run"
  result = run(
    "--config=experiments/dcgan.py", "--config.dataset=cifar10", f"--workdir={workdir}", env=env
  )
  assert result.returncode == 2
  assert "tfds build cifar10" in one_error_line(result)
  assert not workdir.exists()


@pytest.mark.slow  # a fresh interpreter importing JAX and TensorFlow: over 8 s
def test_a_launch_imports_tensorflow_without_keras():
  # The launcher keeps Keras out of TensorFlow's import (a third of its time); checked in a
  # process whose environment does not already say so, as a user's shell does not.
  script = (
    "import sys; from gan_jax import launcher; "
    "code = launcher.run(['launch.py', '--mode=sample']); import tensorflow; "
    "print(code, sorted(m for m in ('keras', 'sklearn', 'pandas') if m in sys.modules))"
  )
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  result = subprocess.run(
    [sys.executable, "-c", script], cwd=_launch.ROOT, env=env, capture_output=True, text=True
  )
  assert result.stdout.split("\n")[-2] == "2 []", result.stderr[-3000:]


@pytest.mark.slow  # a 20-step run: over 10 s
def test_divergence_exits_non_zero_naming_step_and_quantity(tmp_path):
  result = run(
    *TINY_RING,
    "--config.loss=wasserstein",
    "--config.d_optimizer.name=sgd",
    "--config.d_optimizer.learning_rate=1e30",
    "--config.total_steps=20",
    f"--workdir={tmp_path}",
  )
  assert result.returncode == 1
  line = one_error_line(result)
  assert "non-finite" in line and "at step" in line and "last good checkpoint" in line
