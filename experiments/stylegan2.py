r"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN")
on MNIST at 32x32, sized for a 2-core CPU.

  python launch.py --config=experiments/stylegan2.py
  python launch.py --mode=sample --workdir=runs/<the run>   # W interpolation, mixing, truncation

The networks of gan_jax/models/stylegan2.py (config 'stylegan2' of NVlabs/stylegan2-ada-
pytorch at CPU widths: W of 256, 128 feature maps at 4-8 px, 64 at 16, 32 at 32; 8 mapping
layers with lr multiplier 0.01) and the paper's training: non-saturating loss, Adam 0.002
(0, 0.99) eps 1e-8 for G and D, batch 32, style mixing with probability 0.9, lazy R1 every
16 D updates and path-length regularization (weight 2) every 4 G updates, each as an update
of its own with weight times interval and Adam's lr and betas scaled by interval /
(interval + 1), and an EMA of G with a half-life of 10k images (ramped up over the first
images, rampup 0.05, as stylegan2-ada). R1's gamma is stylegan2-ada's 'auto' rule,
0.0002 * resolution^2 / batch (0.0064 here; the paper's 10 is for 1024 px FFHQ), and
penalty_weight is that gamma: the R1 term is gamma / 2 * sum ||grad D(x)||^2, ada's loss_Dr1.
Path length runs on latents of its own (ada's Greg phase draws a fresh gen_z), on the G
updates with index % 4 == 0. Conditional runs (--config.conditional=True) draw the fakes'
labels from the training set's, apart from the real batch (fake_labels='data': ada's gen_c,
training_set.get_label of random indices).
Where this config differs: each of ada's iterations runs G's phases (Gmain, Greg) before
D's (Dmain, Dreg); here D's update comes first, then G's.
"""

from gan_jax.games import default_config


def get_config():
  config = default_config()
  config.dataset = "mnist"
  config.loss = "non_saturating"
  config.batch_size = 32
  config.total_steps = 5000
  config.model.name = "stylegan2"
  config.model.image_size = 32
  config.model.z_dim = 256  # z and W alike, as StyleGAN2 (its 512 at full width)
  config.penalty = "r1"
  # gamma itself: penalties.r1_penalty holds the 1/2, so the term is gamma / 2 * ||grad||^2.
  config.penalty_weight = 0.0002 * 32**2 / config.batch_size
  config.fake_labels = "data"  # conditional runs: ada's gen_c, the training set's labels
  config.penalty_interval = 16
  config.style_mixing_prob = 0.9
  config.path_length_weight = 2.0
  config.path_length_interval = 4
  config.ema_half_life_kimg = 10.0
  config.ema_rampup = 0.05
  for opt in (config.g_optimizer, config.d_optimizer):
    opt.learning_rate, opt.b1, opt.b2, opt.eps = 0.002, 0.0, 0.99, 1e-8
  config.lock()
  return config
