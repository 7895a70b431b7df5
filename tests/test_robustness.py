"""Runs that survive: kill -9 and resume bit-identically, SIGTERM, corrupt checkpoints, NaN."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax import errors, games, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_2D = [
  "--config=experiments/gan2d.py",
  "--config.model.g_hidden_dim=16",
  "--config.model.d_hidden_dim=16",
  "--config.model.g_num_layers=2",
  "--config.checkpoint_every=1",
  "--config.keep_checkpoints=2",
  "--config.log_every=5",
  "--config.sample_every=1000",
  "--config.eval_every=-1",  # about training and resuming: no evaluation
]
TOTAL = 40


def start(workdir, *extra):
  cmd = [
    sys.executable,
    "launch.py",
    *TINY_2D,
    f"--config.total_steps={TOTAL}",
    f"--workdir={workdir}",
    *extra,
  ]
  # The launches inherit the suite's cache settings (conftest.py: every compiled program to
  # the persistent cache), so the later launches of the same config load all their programs.
  return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def checkpoint_steps(workdir):
  d = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def wait_for_checkpoint(proc, workdir, at_least, timeout=240):
  t = time.time()
  while time.time() - t < timeout:
    if proc.poll() is not None:
      return False
    if any(s >= at_least for s in checkpoint_steps(workdir)):
      return True
    time.sleep(0.01)
  raise TimeoutError("no checkpoint appeared")


def final_state(workdir):
  config = games.load_workdir_config(workdir)
  *_, state, _, step = train.setup(config, workdir, for_training=False)
  return step, jax.device_get(state)


def assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def training_rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["step"] for r in map(json.loads, f) if "d_loss" in r]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  proc = start(workdir)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return final_state(workdir)


@pytest.mark.slow  # kill -9 and SIGTERM need launches in processes of their own
def test_killed_and_preempted_runs_resume_bit_identically(reference, tmp_path):
  """One run stopped three times (kill -9, SIGTERM, kill -9 at random steps) ends where
  the uninterrupted run ends, bit for bit, with each logged step in metrics.jsonl once."""
  ref_step, ref_state = reference
  assert ref_step == TOTAL
  workdir = str(tmp_path / "interrupted")
  rng = random.Random(0)
  stops = sorted(rng.sample(range(1, TOTAL - 5), 3))
  for stop_after, sig in zip(stops, (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL), strict=True):
    proc = start(workdir)
    assert wait_for_checkpoint(proc, workdir, stop_after), "run ended before it could be stopped"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    if sig == signal.SIGTERM:  # preemption: finish the step, checkpoint it, one line, exit
      assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
      lines = [line for line in err.splitlines() if line.startswith("stopped:")]
      assert len(lines) == 1 and "SIGTERM" in lines[0], err[-3000:]
      stopped_at = int(lines[0].split("at step ")[1].split(":")[0])
      assert checkpoint_steps(workdir)[-1] == stopped_at
    else:
      assert proc.returncode == -signal.SIGKILL
  resumed = start(workdir)
  _, err = resumed.communicate(timeout=600)
  assert resumed.returncode == 0, err[-3000:]
  step, state = final_state(workdir)
  assert step == TOTAL
  assert_bitwise_equal(state, ref_state)
  rows = training_rows(workdir)
  assert rows == list(range(5, TOTAL + 1, 5)), rows


def tiny_ring(total_steps=4, **overrides):
  c = games.default_config()
  c.dataset, c.model.name, c.model.z_dim, c.batch_size = "ring", "mlp", 2, 16
  c.model.g_hidden_dim = c.model.d_hidden_dim = 8
  c.total_steps, c.log_every, c.sample_every, c.checkpoint_every = total_steps, 2, 1000, 2
  c.eval_every = -1  # about training and resuming: no evaluation
  for k, v in overrides.items():
    c[k] = v
  return c


@pytest.mark.slow  # a training run: over 10 s
def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, caplog):
  workdir = str(tmp_path)
  train.train_and_evaluate(tiny_ring(4), workdir)
  assert checkpoint_steps(workdir) == [2, 4]
  for root, _, files in os.walk(os.path.join(workdir, "checkpoints", "4")):
    for name in files:
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(max(os.path.getsize(f.name) // 2, 1))
        f.write(b"\x00garbage")
  # A save killed mid-write leaves a temporary directory behind: it must be ignored.
  os.makedirs(os.path.join(workdir, "checkpoints", "6.orbax-checkpoint-tmp-1"))
  train.train_and_evaluate(tiny_ring(6), workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    starts = [r["step"] for r in map(json.loads, f) if r.get("event") == "start"]
  assert starts == [0, 2]
  assert 6 in checkpoint_steps(workdir)


@pytest.mark.slow  # over 3 s with a cold compilation cache
def test_non_finite_loss_stops_with_step_and_quantity(tmp_path):
  workdir = str(tmp_path)
  c = tiny_ring(20, loss="wasserstein")
  c.d_optimizer.name, c.d_optimizer.learning_rate = "sgd", 1e30
  c.checkpoint_every = 1
  # The first update (lr 1e30) overflows the second step's logits.
  with pytest.raises(errors.NonFiniteError, match=r"non-finite \w+.* at step 2\b"):
    train.train_and_evaluate(c, workdir)
  assert checkpoint_steps(workdir) == [1]  # the last good step's, not the non-finite one's
  for step in checkpoint_steps(workdir):  # every checkpoint that was kept is finite
    c2 = tiny_ring(step, loss="wasserstein")
    c2.d_optimizer.name, c2.d_optimizer.learning_rate = "sgd", 1e30
    *_, state, _, restored = train.setup(c2, workdir, for_training=False)
    assert restored == step
    leaves = jax.tree.leaves({k: n.params for k, n in state.nets.items()})
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)


@pytest.mark.slow  # training runs: over 10 s
def test_resume_with_other_shapes_names_keys_unless_allowed(tmp_path):
  workdir = str(tmp_path)
  train.train_and_evaluate(tiny_ring(2), workdir)
  c = tiny_ring(4)
  c.model.g_hidden_dim = 12
  with pytest.raises(errors.WorkdirError, match=r"model.g_hidden_dim \(8 -> 12\)"):
    train.train_and_evaluate(c, workdir)
  train.train_and_evaluate(c, workdir, allow_config_change=True)
  assert checkpoint_steps(workdir) == [2, 4]
  assert any(n.startswith("checkpoints_replaced_") for n in os.listdir(workdir))


# What another thread writes to stderr once the line is out (JAX's coordination agent logs a
# lost peer as a C++ fatal error, from a thread of its own) stands here just before the exit.
_CLUSTER_LOST_THEN_ANOTHER_WRITE = """
import os, sys
sys.path.insert(0, sys.argv[1])
from gan_jax import errors
exit_now = os._exit
def written_at_the_last_moment(code):
  os.write(2, b"F1207 client.h:80] Terminating process because the JAX distributed service...\\n")
  exit_now(code)
os._exit = written_at_the_last_moment
errors.tag_process(1, 2)
errors.cluster_lost("Gloo AllGather failed: Connection closed by peer\\nsecond line")
"""


def test_a_lost_peer_is_the_last_line_of_stderr_whatever_else_writes_there():
  result = subprocess.run(
    [sys.executable, "-c", _CLUSTER_LOST_THEN_ANOTHER_WRITE, ROOT],
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode == errors.EXIT_CLUSTER_LOST, result.stderr[-2000:]
  assert result.stderr.splitlines() == [
    "error (process 1/2): another process of the cluster stopped or cannot be reached (Gloo "
    "AllGather failed: Connection closed by peer); this one stops too: " + errors.RESTART_ALL
  ]
