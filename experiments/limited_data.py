r"""Limited data: no augmentation, DiffAugment, ADA, ADA + LeCam and bCR on 1% of MNIST.

  python launch.py --config=experiments/limited_data.py:quick --sweep --workdir=runs/ld_quick
  python launch.py --config=experiments/limited_data.py:full --sweep --workdir=runs/ld_full
  python launch.py --config=experiments/limited_data.py:cifar10_10pct --workdir=runs/c10_10pct

The question of DiffAugment (Zhao et al. 2020), StyleGAN2-ADA (Karras et al. 2020), bCR
(Zhao et al. 2021) and LeCam (Tseng et al. 2021): with few training images D overfits them,
and augmenting what D sees (or regularizing D toward consistency) keeps G learning. The
variants of `get_sweep` on one fixed subset of 600 MNIST training digits (`data.limit`, the
same subset for every seed and variant), each with 3 seeds, evaluated with the in-project
classifier's FID/KID/precision/recall against the full 10,000-image test split, ranked by
classifier_fid:

  none         a plain non-saturating DCGAN (28 px; D with BatchNorm), Adam 2e-4 (0.5, 0.999)
  diffaugment  DiffAugment's color,translation,cutout on every image D sees (its default)
  ada          StyleGAN2-ADA's bgc pipeline, p adapted toward r_t = 0.6
  ada_lecam    ADA plus LeCam, weight 0.3 (Tseng et al.'s BigGAN CIFAR weight)
  bcr          bCR, lambda_real = lambda_fake = 10 (the paper's), T = translation

`quick`: a DCGAN of base width 32, 1,500 steps of batch 64 (160 passes over the 600
digits), 3 seeds, 2,000 samples per evaluation, at the end only: about 6 minutes per variant
on a 2-core CPU. Its FIDs are biased upward by the small sample and compare only with each
other. `full`: base width 64, 10,000 steps, 5 seeds, 10,000 samples, evaluated every 2,000
steps (an accelerator's run). ADA's speed is stylegan2-ada's (p moves by 1 in 500k images):
at quick's 96,000 images p could move by 0.2 at most, so `quick` sets ada_kimg = 50 (10x
faster), and says so in its report header.

`cifar10_10pct` follows DiffAugment's BigGAN CIFAR-10 10% script
(mit-han-lab/data-efficient-gans, DiffAugment-biggan-cifar/scripts/
DiffAugment-biggan-cifar10-0.1.sh): 5,000 training images, DiffAugment translation,cutout,
batch 50, 4 D steps per G step, Adam 2e-4 both (BigGAN-PyTorch's betas 0, 0.999), EMA of G
from step 1,000 (decay 0.9999), class-conditional, 5,000 epochs of 5,000 images in batches
of 50 x 4 D steps = 125,000 G steps, FID of 10,000 samples. Its published fid10k:
BigGAN 39.78, BigGAN + DiffAugment 22.40 (DiffAugment-biggan-cifar/README.md). Where it
differs: the network is gan_jax's SNGAN ResNet (models/resnet.py: projection D, conditional
BatchNorm in G) rather than BigGAN (no shared embedding, hierarchical z or orthogonal
regularization; N(0, 0.02) init is not used); no mirror augmentation of the data set; FID
is against the CIFAR-10 test split, not the training set's statistics; needs TFDS cifar10
built (`tfds build cifar10`). Drop `augment.policy` for its no-augmentation baseline.
"""

from gan_jax.config import optimizer_config, protocol_header
from gan_jax.games import default_config

SUBSET = 600  # 1% of MNIST's 60,000 training digits
QUICK_STEPS, QUICK_SEEDS, FULL_STEPS, FULL_SEEDS = 1_500, 3, 10_000, 5
CONFIG_ARGS = ("quick", "full", "cifar10_10pct")


def get_config(variant: str = "quick"):
  if variant not in CONFIG_ARGS:
    raise ValueError(f"unknown variant {variant!r} of limited_data.py; use one of {CONFIG_ARGS}")
  if variant == "cifar10_10pct":
    return cifar10_10pct()
  quick = variant == "quick"
  config = default_config("gan")
  config.dataset = "mnist"
  config.data.limit = SUBSET
  config.loss = "non_saturating"
  config.batch_size = 64
  config.total_steps = QUICK_STEPS if quick else FULL_STEPS
  config.num_seeds = QUICK_SEEDS if quick else FULL_SEEDS
  config.model.name = "dcgan"
  config.model.image_size = 28
  config.model.base_filters = 32 if quick else 64
  config.model.z_dim = 64
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.d_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.augment.ada_kimg = 50.0 if quick else 500.0
  config.eval.num_samples = 2_000 if quick else 10_000
  config.eval.inception_path = ""  # the classifier's metrics: Inception on 28-px digits is slow
  config.eval_every = 0 if quick else 2_000
  config.log_every = 100
  config.sample_every = 500 if quick else 2_000
  config.checkpoint_every = 500 if quick else 2_000
  config.report.primary_metric = "classifier_fid"
  ada_speed = f"; ADA's p 10x faster (ada_kimg {config.augment.ada_kimg:g})" if quick else ""
  config.report.protocol = protocol_header(
    f"Limited data: {SUBSET} MNIST training digits (1%), classifier metrics against the full "
    f"test split{ada_speed}",
    steps=config.total_steps,
    seeds=config.num_seeds,
    quick=quick,
    paper_steps=FULL_STEPS,
    paper_seeds=FULL_SEEDS,
    full="the full protocol",  # an in-project protocol: no paper's table
  )
  config.lock()
  return config


def cifar10_10pct():
  config = default_config("gan")
  config.dataset = "cifar10"
  config.data.limit = 5_000
  config.conditional = True
  config.model.name = "resnet"
  config.model.image_size = 32
  config.model.g_conditioning = "cbn"
  config.model.d_conditioning = "projection"
  config.model.d_spectral_norm = True
  config.loss = "hinge"
  config.batch_size = 50
  config.d_steps = 4
  config.total_steps = 125_000
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.0, b2=0.999)
  config.d_optimizer = optimizer_config("adam", 2e-4, b1=0.0, b2=0.999)
  config.ema_decay, config.ema_start_step = 0.9999, 1_000
  config.augment.policy = "diffaugment"
  config.augment.diffaugment = "translation,cutout"
  config.eval.num_samples = 10_000
  config.eval_every = 4_000
  config.log_every = 500
  config.sample_every = 4_000
  config.checkpoint_every = 2_000
  config.report.primary_metric = "fid"
  config.report.protocol = protocol_header(
    "DiffAugment, BigGAN CIFAR-10 10% data (published fid10k 39.78, + DiffAugment 22.40); "
    "here the SNGAN ResNet",
    steps=config.total_steps,
    seeds=config.num_seeds,
    quick=False,
    paper_steps=125_000,
  )
  config.lock()
  return config


def get_sweep(variant: str = "quick"):
  if variant == "cifar10_10pct":
    return [{"name": "diffaugment"}, {"name": "none", "augment.policy": "none"}]
  ada = {"augment.policy": "ada"}
  return [
    {"name": "none"},
    {"name": "diffaugment", "augment.policy": "diffaugment"},
    {"name": "ada", **ada},
    {"name": "ada_lecam", **ada, "augment.lecam_weight": 0.3},
    {"name": "bcr", "augment.bcr_real_weight": 10.0, "augment.bcr_fake_weight": 10.0},
  ]
