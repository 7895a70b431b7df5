"""Convert pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` to a Flax .npz.

  python -m gan_jax.evaluation.convert_inception \
    --pth=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

Only reading the .pth needs torch (imported inside `load_torch_state_dict`); the name/layout
mapping (`convert_state_dict`, `to_torch_state_dict`) is pure numpy so it is tested without torch.

Mapping (the Flax module keeps torch's module names, so only the leaf changes):
  X.conv.weight (O, I, kh, kw)  -> params/X/conv/kernel (kh, kw, I, O)
  X.bn.weight / X.bn.bias       -> params/X/bn/scale / params/X/bn/bias
  X.bn.running_mean / _var      -> batch_stats/X/bn/mean / batch_stats/X/bn/var
  fc.weight (1008, 2048)        -> params/fc/kernel (2048, 1008)
  fc.bias                       -> params/fc/bias
`X.bn.num_batches_tracked` (a training counter) is ignored.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from flax import traverse_util

from gan_jax.evaluation import inception

# torch leaf name -> (collection, flax leaf name)
_LEAF_MAP = {
  "conv.weight": ("params", "conv", "kernel"),
  "bn.weight": ("params", "bn", "scale"),
  "bn.bias": ("params", "bn", "bias"),
  "bn.running_mean": ("batch_stats", "bn", "mean"),
  "bn.running_var": ("batch_stats", "bn", "var"),
}
_IGNORED_SUFFIXES = ("num_batches_tracked",)


def _flax_path(torch_name: str) -> tuple[str, ...]:
  """Map a torch state_dict key to a flat Flax variable path; KeyError if unknown."""
  if torch_name == "fc.weight":
    return ("params", "fc", "kernel")
  if torch_name == "fc.bias":
    return ("params", "fc", "bias")
  parts = torch_name.split(".")
  leaf = ".".join(parts[-2:])
  if len(parts) < 3 or leaf not in _LEAF_MAP:
    raise KeyError(torch_name)
  collection, sub, name = _LEAF_MAP[leaf]
  return (collection, *parts[:-2], sub, name)


def _to_flax_layout(path: tuple[str, ...], value: np.ndarray) -> np.ndarray:
  if path[-2:] == ("conv", "kernel"):
    return np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
  if path == ("params", "fc", "kernel"):
    return np.transpose(value)  # (out, in) -> (in, out)
  return value


def convert_state_dict(state_dict: Mapping[str, Any]) -> inception.Variables:
  """torch state_dict of the FID Inception (name -> numpy array) -> Flax variables.

  Strict: every torch tensor must map to a variable and every variable must be filled with the
  right shape, else ValueError (catches a wrong checkpoint, e.g. torchvision's Inception).
  """
  flat: dict[tuple[str, ...], np.ndarray] = {}
  unknown = []
  for name, value in state_dict.items():
    if name.endswith(_IGNORED_SUFFIXES):
      continue
    try:
      path = _flax_path(name)
    except KeyError:
      unknown.append(name)
      continue
    flat[path] = np.ascontiguousarray(_to_flax_layout(path, np.asarray(value, np.float32)))
  if unknown:
    raise ValueError(
      f"{len(unknown)} state_dict entries are not part of the FID InceptionV3 "
      f"(e.g. {unknown[:3]}); is this pytorch-fid's {inception.DEFAULT_FILENAME}?"
    )
  variables = traverse_util.unflatten_dict(flat)
  inception.check_variables(variables)
  return variables


def to_torch_state_dict(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Inverse of `convert_state_dict` (without num_batches_tracked), e.g. to load into torch."""
  inverse = {v: k for k, v in _LEAF_MAP.items()}
  out = {}
  for path, value in traverse_util.flatten_dict(dict(variables)).items():
    value = np.asarray(value, np.float32)
    if path[:2] == ("params", "fc"):
      out[f"fc.{'weight' if path[2] == 'kernel' else 'bias'}"] = (
        np.transpose(value) if path[2] == "kernel" else value
      )
      continue
    collection, *modules, sub, name = path
    leaf = inverse[(collection, sub, name)]
    if leaf == "conv.weight":
      value = np.transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW
    out[".".join([*modules, leaf])] = np.ascontiguousarray(value)
  return out


def load_torch_state_dict(pth_path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Read a .pth state_dict into numpy arrays (needs torch)."""
  try:
    import torch
  except ImportError as e:
    raise ImportError(
      "converting the .pth needs PyTorch: `pip install torch` (CPU build is enough)"
    ) from e
  try:
    state_dict = torch.load(os.fspath(pth_path), map_location="cpu", weights_only=True)
  except TypeError:  # torch < 1.13 has no weights_only
    state_dict = torch.load(os.fspath(pth_path), map_location="cpu")
  if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
    state_dict = state_dict["state_dict"]
  return {k: v.detach().cpu().numpy() for k, v in state_dict.items()}


def convert_file(pth_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
  """.pth (torch) -> .npz readable by `inception.load_inception_params`."""
  variables = convert_state_dict(load_torch_state_dict(pth_path))
  inception.save_inception_params(variables, out_path)


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def check_pth_digest(path: str | os.PathLike, prefix: str = inception.SHA256_PREFIX) -> None:
  """Raise ValueError unless the file's SHA-256 starts with `prefix` (the file name's hash)."""
  digest = _sha256(os.fspath(path))
  if not digest.startswith(prefix):
    raise ValueError(
      f"{os.fspath(path)!r} has SHA-256 {digest}, expected one starting with {prefix}: "
      "corrupt or wrong file"
    )


def download_inception(
  dest_dir: str | os.PathLike, *, url: str = inception.DEFAULT_URL, timeout: float = 60.0
) -> str:
  """Download the pytorch-fid weights into `dest_dir`, verify and convert them; return the .npz.

  Idempotent: an existing .npz in `dest_dir` is returned as is, an existing .pth is reused.
  The conversion needs torch (`pip install torch`); nothing else in gan_jax does.
  """
  dest_dir = os.fspath(dest_dir)
  os.makedirs(dest_dir, exist_ok=True)
  npz_path = os.path.join(dest_dir, inception.DEFAULT_NPZ_FILENAME)
  if os.path.isfile(npz_path):
    return npz_path
  pth_path = os.path.join(dest_dir, os.path.basename(url))
  if not os.path.isfile(pth_path):
    fd, tmp = tempfile.mkstemp(suffix=".part", dir=dest_dir)
    try:
      # timeout bounds each blocking socket operation, so a dead network fails fast.
      with urllib.request.urlopen(url, timeout=timeout) as response, os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(response, f)
      check_pth_digest(tmp)
      os.replace(tmp, pth_path)
    except BaseException:
      if os.path.exists(tmp):
        os.remove(tmp)
      raise
  else:
    check_pth_digest(pth_path)
  convert_file(pth_path, npz_path)
  return npz_path


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pth", required=True, help=f"path to {inception.DEFAULT_FILENAME}")
  parser.add_argument("--out", required=True, help="output .npz path")
  parser.add_argument(
    "--skip_hash_check",
    action="store_true",
    help=f"do not require the SHA-256 to start with {inception.SHA256_PREFIX}",
  )
  args = parser.parse_args(argv)
  try:
    import torch  # noqa: F401
  except ImportError:
    print("error: converting needs PyTorch; run `pip install torch`", file=sys.stderr)
    return 1
  if not args.skip_hash_check:
    inception.check_pth_digest(args.pth)
  convert_file(args.pth, args.out)
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
