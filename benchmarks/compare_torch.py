r"""Alternates the PyTorch eager peer and gan_jax's benchmark back to back; prints medians.

  python benchmarks/compare_torch.py --torch_python=/path/to/torch-venv/bin/python --rounds 5

Each round runs the peer (shared/bench/torch_dcgan_reference.py) and then
benchmarks/step_throughput.py with the same batch/size/channels/steps, each in a
fresh process. Shared machines are noisy: only the ratio of medians is quoted.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "..", "shared", "bench", "torch_dcgan_reference.py")


def run(cmd):
  out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
  return json.loads(out.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--torch_python", required=True, help="a python with torch installed")
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--peer", default=PEER)
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
  torch_ips, jax_ips = [], []
  for r in range(a.rounds):
    t = run([a.torch_python, a.peer, *common])
    j = run([sys.executable, "benchmarks/step_throughput.py", *common, *a.extra.split()])
    torch_ips.append(t["images_per_s"])
    jax_ips.append(j["images_per_s"])
    print(
      json.dumps(
        {
          "round": r,
          "torch_images_per_s": t["images_per_s"],
          "gan_jax_images_per_s": j["images_per_s"],
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
