r"""The DCGAN on MNIST under six objectives, 3 seeds each: one report.

  python launch.py --config=experiments/compare_losses.py --sweep --workdir=runs/compare_losses
  python launch.py --config=experiments/compare_losses.py --sweep_dry_run --workdir=runs/cl

Variants: minimax (saturating), non_saturating, wasserstein with weight clipping
(RMSProp 5e-5, 5 critic steps), wasserstein + gradient penalty (Adam 1e-4 (0, 0.9),
5 critic steps, layer-normalized critic), hinge, least_squares. Each is evaluated
with the classifier metrics (and the Inception metrics where eval.inception_path
holds the weights); the report ranks the variants by classifier_fid.

An in-project comparison, not a table of a paper: Lucic et al.'s six objectives on MNIST
and Fashion-MNIST, with their networks and length, are experiments/lucic2018.py.
"""

from gan_jax.config import optimizer_config
from gan_jax.games import default_config

SEEDS = (0, 1, 2)
_WGAN = {
  "d_weight_clip": 0.01,
  "d_steps": 5,
  "g_optimizer": optimizer_config("rmsprop", 5e-5),
  "d_optimizer": optimizer_config("rmsprop", 5e-5),
}
_WGAN_GP = {
  "penalty": "gradient_penalty",
  "penalty_weight": 10.0,
  "d_steps": 5,
  "model.d_norm": "layer",
  "g_optimizer": optimizer_config("adam", 1e-4, b1=0.0, b2=0.9),
  "d_optimizer": optimizer_config("adam", 1e-4, b1=0.0, b2=0.9),
}
VARIANTS = {
  "minimax": {"loss": "minimax"},
  "non_saturating": {"loss": "non_saturating"},
  "wgan_clip": {"loss": "wasserstein", **_WGAN},
  "wgan_gp": {"loss": "wasserstein", **_WGAN_GP},
  "hinge": {"loss": "hinge"},
  "least_squares": {"loss": "least_squares"},
}


def get_config():
  config = default_config()
  config.total_steps = 3000
  config.eval_every = 1000
  config.lock()
  return config


def _flat(overrides):
  """Sub-config dicts become dotted keys, so every member override is one config key."""
  flat = {}
  for key, value in overrides.items():
    if isinstance(value, dict):
      flat.update({f"{key}.{k}": v for k, v in value.items()})
    else:
      flat[key] = value
  return flat


def get_sweep():
  return [
    {"name": f"{name},seed={seed}", **_flat(overrides), "seed": seed}
    for name, overrides in VARIANTS.items()
    for seed in SEEDS
  ]
