"""The command line: bad input gives one line on stderr, exit code 2, and no workdir."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch(*args, workdir):
  cmd = [
    sys.executable,
    "launch.py",
    "--config=experiments/dcgan.py",
    f"--workdir={workdir}",
    *args,
  ]
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
  "override,expected",
  [
    (
      "--config.loss=bogus",
      "valid losses: minimax, non_saturating, wasserstein, hinge, least_squares",
    ),
    ("--config.dataset=bogus", "valid datasets: mnist, fashion_mnist, cifar10"),
    ("--config.model.name=bogus", "valid models: dcgan, mlp"),
    ("--config.los=hinge", 'Did you mean "loss"'),
    ("--config.batch_size=63", "does not divide"),
    ("--config.d_steps=0", "d_steps must be >= 1"),
    ("--config.model.image_size=48", "not supported by dcgan"),
    ("--config.g_optimizer.name=adamw", "valid optimizers: adam, rmsprop, sgd"),
    ("--config.total_steps=-5", "total_steps must be positive"),
  ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, override, expected):
  workdir = tmp_path / "run"
  if override == "--config.batch_size=63":  # needs more than one device to be wrong
    env_devices = "--xla_force_host_platform_device_count=2"
    os.environ["XLA_FLAGS"] = env_devices
  try:
    result = launch(override, workdir=workdir)
  finally:
    os.environ.pop("XLA_FLAGS", None)
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert not workdir.exists()
