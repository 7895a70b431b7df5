r"""The PyTorch eager peer's model and step on any torch device (e.g. CUDA).

shared/bench/torch_dcgan_reference.py is the peer; it runs on the CPU only. This
script imports its `generator` and `discriminator` unchanged and runs the same
step (shared/bench/README.md) with the data set, the index draws and the noise on
`--device`, synchronizing before reading the clock.

  python benchmarks/torch_peer_device.py --device cuda --steps 300 --batch 64

Prints one JSON line with the peer's fields (steps_per_s, images_per_s).
"""

import argparse
import importlib.util
import json
import os
import time

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "..", "shared", "bench", "torch_dcgan_reference.py")


def load_peer(path: str):
  if not os.path.exists(path):
    raise SystemExit(f"Peer not found at {path}; pass --peer=/path/to/torch_dcgan_reference.py.")
  spec = importlib.util.spec_from_file_location("torch_dcgan_reference", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def synchronize(device: torch.device) -> None:
  if device.type == "cuda":
    torch.cuda.synchronize(device)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--device", default="cuda")
  p.add_argument("--peer", default=PEER)
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--warmup", type=int, default=10)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--z_dim", type=int, default=100)
  a = p.parse_args()
  peer = load_peer(a.peer)
  device = torch.device(a.device)
  torch.manual_seed(0)
  g = peer.generator(a.z_dim, a.size, a.channels).to(device)
  d = peer.discriminator(a.size, a.channels).to(device)
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  data = torch.rand(4096, a.channels, a.size, a.size, device=device) * 2 - 1
  ones = torch.ones(a.batch, 1, device=device)
  zeros = torch.zeros(a.batch, 1, device=device)

  def step():
    real = data[torch.randint(0, data.shape[0], (a.batch,), device=device)]
    fake = g(torch.randn(a.batch, a.z_dim, device=device))
    opt_d.zero_grad(set_to_none=True)
    loss_d = bce(d(real), ones) + bce(d(fake.detach()), zeros)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    loss_g = bce(d(g(torch.randn(a.batch, a.z_dim, device=device))), ones)
    loss_g.backward()
    opt_g.step()
    return loss_d, loss_g

  for _ in range(a.warmup):
    step()
  synchronize(device)
  t = time.perf_counter()
  for _ in range(a.steps):
    step()
  synchronize(device)
  dt = time.perf_counter() - t
  print(
    json.dumps(
      {
        "impl": "torch",
        "device": str(device),
        "torch": torch.__version__,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "batch": a.batch,
        "steps_per_s": a.steps / dt,
        "images_per_s": a.steps * a.batch / dt,
        "ms_per_step": 1000 * dt / a.steps,
      }
    )
  )


if __name__ == "__main__":
  main()
