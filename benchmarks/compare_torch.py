r"""Alternates the PyTorch eager peer and gan_jax's benchmark back to back; prints medians.

  python benchmarks/compare_torch.py --torch_python=/path/to/torch-venv/bin/python --rounds 5

Each round runs the peer (shared/bench/torch_dcgan_reference.py) and then
benchmarks/step_throughput.py with the same batch/size/channels/steps, each in a
fresh process. Shared machines are noisy: only the ratio of medians is quoted.

On a GPU, `--peer_device=cuda` runs the peer's model and step on CUDA
(benchmarks/torch_peer_device.py) and gan_jax on JAX's default backend:

  python benchmarks/compare_torch.py --torch_python=python3 --peer_device=cuda --steps 300
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "..", "shared", "bench", "torch_dcgan_reference.py")
DEVICE_PEER = os.path.join(ROOT, "benchmarks", "torch_peer_device.py")


def run(cmd):
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
  if proc.returncode:
    sys.stderr.write(proc.stderr[-4000:])
    raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode} (its stderr is above).")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--torch_python", required=True, help="a python with torch installed")
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--peer", default=PEER)
  p.add_argument(
    "--peer_device",
    default="cpu",
    help="cpu: the peer script itself; else its model and step on this torch device",
  )
  p.add_argument("--extra", default="", help="extra flags for step_throughput.py")
  a = p.parse_args()
  common = [
    "--steps",
    str(a.steps),
    "--batch",
    str(a.batch),
    "--size",
    str(a.size),
    "--channels",
    str(a.channels),
  ]
  if a.peer_device == "cpu":
    peer = [a.torch_python, a.peer]
  else:
    peer = [a.torch_python, DEVICE_PEER, "--peer", a.peer, "--device", a.peer_device]
  torch_ips, jax_ips = [], []
  for r in range(a.rounds):
    t = run([*peer, *common])
    j = run([sys.executable, "benchmarks/step_throughput.py", *common, *a.extra.split()])
    torch_ips.append(t["images_per_s"])
    jax_ips.append(j["images_per_s"])
    print(
      json.dumps(
        {
          "round": r,
          "torch_images_per_s": t["images_per_s"],
          "gan_jax_images_per_s": j["images_per_s"],
          "gan_jax": j,
          "torch": t,
        }
      ),
      flush=True,
    )
  print(
    json.dumps(
      {
        "torch_median_images_per_s": statistics.median(torch_ips),
        "gan_jax_median_images_per_s": statistics.median(jax_ips),
        "ratio": statistics.median(jax_ips) / statistics.median(torch_ips),
        "rounds": a.rounds,
        "batch": a.batch,
      }
    )
  )


if __name__ == "__main__":
  main()
