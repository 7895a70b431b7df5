r"""PacGAN's Stacked MNIST in the VEEGAN setting, as published (Lin et al. 2018, Table 2).

  python launch.py --config=experiments/pacgan_stacked_mnist.py:full --sweep --workdir=runs/sm
  python launch.py --config=experiments/pacgan_stacked_mnist.py:quick --sweep --workdir=runs/smq

As in the authors' code (github fjxmlzn/PacGAN, stacked_MNIST_experiments):
  data       128,000 images, each three digits drawn uniformly from all 70,000 MNIST digits
             (train + test), stacked as R, G, B (28x28x3), drawn once (data.fixed_examples)
  networks   models/veegan.py: DCGAN of width 64, 5x5 kernels; G z -> 2x2x512 -> 4x4x256 ->
             7x7x128 -> 14x14x64 -> 28x28x3; D 64 -> 128 -> 256 -> 512 -> 1, BatchNorm after
             the first layer, leaky ReLU 0.2; z ~ U[-1, 1]^100
  training   non-saturating loss, Adam 2e-4, b1 0.5, batch 64 packed examples (64 m), two G
             updates per D update (g_steps 2), 50 epochs = 100,000 steps
  evaluation 26,000 samples; each channel read by the in-project MNIST classifier:
             stacked_modes (of 1,000) and stacked_kl (to uniform)
  seeds      10 per setting (num_seeds), pack 1 to 4 (the sweep)

The table: Table 2 of the NeurIPS 2018 paper, "Two measures of mode collapse proposed in [44]
for the stacked MNIST dataset" (modes of 1,000 and KL; DCGAN, ALI, Unrolled GAN, VEEGAN as
VEEGAN published them, then DCGAN and PacDCGAN2-4 of the authors' code, 10 trials, standard
error), as the authors' repository shows it (stacked_MNIST_experiments/results/Table2.png;
its pretrained models are "VEEGAN experiment (Figure 3 and Table 2)"). Their Table 3 is the
Unrolled GAN setting with D 1/4 and 1/2 of G's size, 50 trials: not reproduced here.

The evaluation classifier (3,000 steps on full MNIST, evaluate.STACKED_CLASSIFIER_STEPS)
reaches 99.33% on the MNIST test set, as the paper's 99%+. The `quick` variant trains 100
steps and 2 seeds for a 2-core CPU: 40m30s for its four packs there (measured 2026-12-04,
a smoke run: no digits yet after 100 steps, docs/results.md); its report header says so.
At full length one pack's 10 seeds take 28 h per 10,000 steps there: the protocol needs an
accelerator.
"""

from gan_jax.config import optimizer_config, protocol_header
from gan_jax.games import default_config

PACKED_BATCH = 64
PACKS = (1, 2, 3, 4)
STEPS, SEEDS = 100_000, 10
QUICK_STEPS, QUICK_SEEDS = 100, 2
CONFIG_ARGS = ("full", "quick")


def get_config(variant: str = "full"):
  if variant not in CONFIG_ARGS:
    raise ValueError(
      f"unknown variant {variant!r} of pacgan_stacked_mnist.py; use one of {CONFIG_ARGS}"
    )
  quick = variant == "quick"
  steps, seeds = (QUICK_STEPS, QUICK_SEEDS) if quick else (STEPS, SEEDS)
  config = default_config()
  config.dataset = "stacked_mnist"
  config.data.fixed_examples = 128_000
  config.loss = "non_saturating"
  config.g_steps = 2
  config.batch_size = PACKED_BATCH
  config.total_steps = steps
  config.num_seeds = seeds
  config.model.name = "veegan"
  config.model.image_size = 28
  config.model.z_dim = 100
  config.model.z_prior = "uniform"
  config.g_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.d_optimizer = optimizer_config("adam", 2e-4, b1=0.5)
  config.eval.num_samples = 26_000
  config.log_every = 500
  config.sample_every = steps // 10
  config.eval_every = steps // 2
  # Two seeds' states are about 0.2 GB: the quick variant saves twice, not 20 times.
  config.checkpoint_every = steps // (2 if quick else 20)
  config.report.protocol = protocol_header(
    "PacGAN (Lin et al. 2018) Table 2, Stacked MNIST (VEEGAN setting)",
    steps=steps,
    seeds=seeds,
    quick=quick,
    paper_steps=STEPS,
    paper_seeds=SEEDS,
  )
  config.lock()
  return config


def get_sweep():
  return [{"name": f"pack={m}", "model.pack": m, "batch_size": PACKED_BATCH * m} for m in PACKS]
