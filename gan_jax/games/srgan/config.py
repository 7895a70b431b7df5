"""The SRGAN game's config block: 4x super-resolution of photographs in two phases.

`CONFIG` (a config.GameConfig) adds `model.srresnet.*` (G and D, declared in
gan_jax/models/srresnet.py) and `sr.*` (the phase, the SRResNet run phase 2 starts from, the
photos, crops, the content loss and the adversarial weight) to the base config.
"""

from __future__ import annotations

import ml_collections

from gan_jax import specs
from gan_jax.config import GameConfig, Rule
from gan_jax.data import sr as sr_data
from gan_jax.errors import DataUnavailableError
from gan_jax.games.srgan import content
from gan_jax.models import srresnet as nets_lib
from gan_jax.models import vgg16

PHASES = ("srresnet", "srgan")


def add_defaults(c: ml_collections.ConfigDict) -> None:
  """The SRGAN game's keys with their defaults (phase 1, SRResNet, on the packages' photos)."""
  c.dataset = sr_data.SR_DATASETS[0]
  c.model.srresnet = nets_lib.default_config()
  c.sr = ml_collections.ConfigDict()
  c.sr.phase = "srresnet"  # 'srresnet' (G alone, content loss) | 'srgan' (G from srresnet + D)
  c.sr.pretrained_workdir = ""  # phase srgan: the SRResNet run whose newest checkpoint G starts at
  # 'auto' | 'packages' | 'packages+mate' | 'div2k' (data/sr.py); resolved in config.json
  c.sr.photos = "auto"
  c.sr.crop = 32  # HR training crop in pixels (the paper: 96); LR crops are crop / 4
  c.sr.eval_crop = 96  # held-out HR crops in pixels
  c.sr.eval_crops_per_photo = 4  # fixed crops of each held-out photo, along its diagonal
  c.sr.content_loss = "pixel"  # 'pixel' (MSE) | 'vgg' (VGG16 features, content.py)
  c.sr.vgg_layer = "relu5_3"  # the VGG16 layer of the 'vgg' content loss
  c.sr.adversarial_weight = 1e-3  # times the objective's g_loss, beside the content loss


SPECS: dict[str, specs.Spec] = {
  **nets_lib.config_specs("model.srresnet"),
  "sr.phase": specs.names(lambda: PHASES),
  "sr.pretrained_workdir": specs.STRING,
  "sr.photos": specs.names(lambda: sr_data.PHOTO_SETS),
  "sr.crop": specs.POSITIVE,
  "sr.eval_crop": specs.POSITIVE,
  "sr.eval_crops_per_photo": specs.integer(1, 64),
  "sr.content_loss": specs.names(lambda: content.CONTENT_LOSSES),
  "sr.vgg_layer": specs.names(lambda: vgg16.FEATURES),
  "sr.adversarial_weight": specs.number(0.0),
}


def _fits(c, n: int) -> str | None:
  del n
  if c.sr.crop % 16:
    return (
      f"sr.crop {c.sr.crop}: the discriminator halves the HR crop four times and G's input is "
      "crop / 4, so it must divide by 16"
    )
  if c.sr.eval_crop % sr_data.FACTOR or c.sr.eval_crop < 20:
    return (
      f"sr.eval_crop {c.sr.eval_crop} must divide by 4 and be at least 20 (SSIM's 11-px window "
      "after the 4-px shave)"
    )
  if c.sr.phase == "srgan" and not c.sr.pretrained_workdir:
    return "sr.phase=srgan starts G from an SRResNet run: set --config.sr.pretrained_workdir=DIR"
  if c.d_steps != 1:
    return "the srgan game makes one D update per G update: drop d_steps"
  if c.num_seeds != 1:
    return "the srgan game trains one seed on resident photos: drop num_seeds"
  try:
    sr_data.resolve_photos(c.sr.photos)
  except DataUnavailableError as e:
    return str(e)
  return None


CONFIG = GameConfig(
  name="srgan",
  add_defaults=add_defaults,
  specs=SPECS,
  datasets=lambda: sr_data.SR_DATASETS,
  rules=(
    Rule(
      ("sr.crop", "sr.eval_crop", "sr.phase", "sr.pretrained_workdir", "sr.photos"),
      _fits,
      {"sr.crop": 40},
    ),
  ),
  structural=("sr.phase",),
  free=("sr.photos",),  # 'auto' is saved resolved, as data.source is
  # A one-block SRResNet on 16-px crops of the photos that ship in registry packages, with
  # experiments/srresnet.py's G (bicubic_skip) and Adam: a launch of that experiment with
  # these networks and crops (tests/test_srgan_game.py) runs the tests' compiled programs.
  tiny={
    "batch_size": 4,
    "model.srresnet.bicubic_skip": True,
    "g_optimizer.b1": 0.9,
    "d_optimizer.b1": 0.9,
    "d_optimizer.learning_rate": 1e-4,
    "model.srresnet.num_blocks": 1,
    "model.srresnet.width": 8,
    "model.srresnet.d_width": 4,
    "model.srresnet.d_dense": 16,
    "sr.crop": 16,
    "sr.eval_crop": 32,
    "sr.eval_crops_per_photo": 1,
    "sr.photos": "packages",
    "total_steps": 4,
    "log_every": 1,
    "sample_every": 100,
    "checkpoint_every": 2,
    "eval_every": -1,
  },
)
