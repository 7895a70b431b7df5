"""Generators and discriminators (Flax Linen), one module per family; the registry is a dict.

  dcgan   DCGAN for 28, 32 and 64 px images, 1 or 3 channels (models/dcgan.py)
  mlp     MLPs for 2-D points, the PacGAN protocol (models/mlp.py)
  stylegan2  StyleGAN2's mapping + skip synthesis G and residual D (models/stylegan2.py)
  resnet  SNGAN's ResNet G and D at 32 and 64 px, optional spectral norm (models/resnet.py)
  r3gan   R3GAN's normalization-free ResNet G and D (models/r3gan.py)
  infogan Lucic et al. 2018's InfoGAN-style G and D, 28 px (models/infogan.py, compare_gan v1)
  veegan  PacGAN's Stacked MNIST DCGAN, 5x5 kernels, 28 px (models/veegan.py)

A family's `build(model_config, channels, axis_name, num_classes)` returns its
(generator, discriminator) pair; shared pieces live in models/common.py. A family with
keys of its own declares them with `common.family_config` (its CONFIG, under
model.<name>); FAMILY_CONFIGS lists them.

CycleGAN's four networks (ResNet generators G, F and PatchGAN discriminators D_A, D_B) are
not a (generator, discriminator) pair, so they are not in MODELS: `cyclegan.build(model,
channels_a, channels_b)` (models/cyclegan.py) returns them.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import ml_collections

from gan_jax.models import (  # noqa: F401 - cyclegan: see above
  common,
  cyclegan,
  dcgan,
  infogan,
  mlp,
  r3gan,
  resnet,
  stylegan2,
  veegan,
)

MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
  "dcgan": dcgan.build,
  "mlp": mlp.build,
  "stylegan2": stylegan2.build,
  "resnet": resnet.build,
  "r3gan": r3gan.build,
  "infogan": infogan.build,
  "veegan": veegan.build,
}

# The families' own config keys (model.<key>.*), declared once in each family's module.
FAMILY_CONFIGS: tuple[common.SubConfig, ...] = (
  stylegan2.CONFIG,
  resnet.CONFIG,
  r3gan.CONFIG,
  infogan.CONFIG,
  veegan.CONFIG,
)


def make_models(
  model: ml_collections.ConfigDict,
  *,
  channels: int,
  axis_name: str | None = None,
  num_classes: int = 0,
) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from the config's `model` sub-config.

  num_classes > 0 builds a class-conditional pair: both then take int labels y,
  `G(z, y)` and `D(x, y)`, conditioned as model.g_conditioning / d_conditioning say.
  """
  if model.name not in MODELS:
    raise ValueError(f"unknown model {model.name!r}; valid models: {', '.join(MODELS)}")
  return MODELS[model.name](model, channels, axis_name, num_classes)
