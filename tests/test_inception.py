"""Tests of the FID Inception (random weights: no download, no torch).

InceptionV3 at 299x299 is heavy on a small CPU, so every full forward pass goes through one
module-level jitted function at one batch size (compiled once).
"""

import hashlib
import sys

import jax
import numpy as np
import pytest
from flax import traverse_util

from gan_jax.evaluation import convert_inception
from gan_jax.evaluation import inception as inc

BATCH = 3


@pytest.fixture(scope="module")
def variables():
  return inc.random_inception_variables(jax.random.key(0))


@pytest.fixture(scope="module")
def feature_fn(variables):
  return inc.make_inception_fn(variables, batch_size=BATCH)


@pytest.fixture(scope="module")
def images():
  # CIFAR-sized images in the public [-1, 1] range.
  return np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)


# --- network --------------------------------------------------------------------------------


@pytest.mark.slow  # InceptionV3 at 299 px
def test_output_shapes(feature_fn, variables, images):
  out = feature_fn(images[:2])
  assert out.pool.shape == (2, inc.POOL_DIM) and out.logits.shape == (2, inc.NUM_CLASSES)
  assert out.pool.dtype == np.float32
  assert np.all(np.isfinite(out.pool)) and np.all(np.isfinite(out.logits))
  # He-initialised random weights keep activations O(1): the comparisons below are not vacuous.
  assert 1e-2 < out.pool.std() < 1e3
  # The logits are the fc layer on the pool features.
  fc = variables["params"]["fc"]
  expected = np.asarray(out.pool, np.float64) @ np.asarray(fc["kernel"]) + np.asarray(fc["bias"])
  np.testing.assert_allclose(out.logits, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.slow  # InceptionV3 at 299 px: over 5 s
def test_empty_input(feature_fn, images):
  out = feature_fn(images[:0])
  assert out.pool.shape == (0, inc.POOL_DIM) and out.logits.shape == (0, inc.NUM_CLASSES)


@pytest.mark.slow  # InceptionV3 at 299 px: over 10 s
def test_batching_invariance(feature_fn, images):
  together = feature_fn(images)  # one batch of exactly BATCH images
  alone = [feature_fn(images[i : i + 1]) for i in range(3)]  # each padded to BATCH
  split = feature_fn(np.concatenate([images, images[:1]]))  # two batches, the last padded
  for name in ("pool", "logits"):
    ref = getattr(together, name)
    scale = np.abs(ref).max()
    one_by_one = np.concatenate([getattr(o, name) for o in alone])
    np.testing.assert_allclose(one_by_one, ref, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(getattr(split, name)[:3], ref, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(getattr(split, name)[3], ref[0], rtol=0, atol=1e-5 * scale)


def test_pools_match_torch_semantics():
  x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3) % 7 - 3
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=np.nan)
  windows = np.stack([padded[:, i : i + 4, j : j + 5] for i in range(3) for j in range(3)], axis=0)
  # count_include_pad=False: average over the pixels that exist.
  np.testing.assert_allclose(inc._avg_pool_3x3_same(x), np.nanmean(windows, 0), rtol=1e-6)
  # torch's max_pool2d pads with -inf, so padding never wins.
  pooled = inc.nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
  np.testing.assert_array_equal(pooled, np.nanmax(windows, 0))
  # MaxPool2d(3, stride=2) without padding: 73 = (147 - 3) // 2 + 1.
  assert inc._max_pool_3x3_stride2(np.zeros((1, 147, 147, 1), np.float32)).shape[1] == 73


# --- preprocessing --------------------------------------------------------------------------


def _torch_bilinear_reference(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
  """Half-pixel-centre bilinear, as torch's upsample_bilinear2d (align_corners=False): each
  output pixel mixes its 4 source neighbours; the source index is clamped at 0 and the right /
  bottom neighbour at the last pixel."""
  _, h, w, _ = x.shape

  def source(i, in_size, out_size):
    s = max((i + 0.5) * in_size / out_size - 0.5, 0.0)
    i0 = min(int(np.floor(s)), in_size - 1)
    return i0, min(i0 + 1, in_size - 1), s - i0

  y0, y1, ly = map(np.array, zip(*[source(i, h, out_h) for i in range(out_h)], strict=True))
  x0, x1, lx = map(np.array, zip(*[source(i, w, out_w) for i in range(out_w)], strict=True))
  ly, lx = ly[None, :, None, None], lx[None, None, :, None]
  x = x.astype(np.float64)
  top = (1 - lx) * x[:, y0][:, :, x0] + lx * x[:, y0][:, :, x1]
  bottom = (1 - lx) * x[:, y1][:, :, x0] + lx * x[:, y1][:, :, x1]
  return (1 - ly) * top + ly * bottom


def test_resize_tiny_known_values():
  # torch: F.interpolate([[0, 1]], size=4, mode="linear"/"bilinear") == [0, .25, .75, 1].
  x = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
  np.testing.assert_allclose(inc.resize_bilinear(x, (1, 4))[0, 0, :, 0], [0, 0.25, 0.75, 1])


@pytest.mark.parametrize("in_hw", [(32, 32), (28, 28), (5, 9)])
def test_resize_upsampling_matches_reference(in_hw):
  x = np.random.default_rng(1).uniform(-1, 1, (2, *in_hw, 3)).astype(np.float32)
  got = np.asarray(inc.resize_bilinear_299(x))
  assert got.shape == (2, 299, 299, 3)
  np.testing.assert_allclose(got, _torch_bilinear_reference(x, 299, 299), rtol=0, atol=1e-5)
  # For upsampling jax.image.resize (linear, half-pixel) agrees; it is only downsampling where
  # its antialiasing departs from torch.
  np.testing.assert_allclose(got, jax.image.resize(x, (2, 299, 299, 3), "linear"), atol=1e-5)


def test_resize_downsampling_matches_reference_without_antialias():
  x = np.random.default_rng(2).uniform(-1, 1, (1, 17, 13, 1)).astype(np.float32)
  got = np.asarray(inc.resize_bilinear(x, (7, 5)))
  np.testing.assert_allclose(got, _torch_bilinear_reference(x, 7, 5), rtol=0, atol=1e-6)


def test_preprocess_grayscale_and_identity():
  gray = np.random.default_rng(3).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
  np.testing.assert_array_equal(
    inc.preprocess_images(gray), inc.preprocess_images(np.repeat(gray, 3, axis=-1))
  )
  full = np.random.default_rng(4).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
  np.testing.assert_array_equal(inc.preprocess_images(full), full)
  with pytest.raises(ValueError, match="channels"):
    inc.preprocess_images(np.zeros((1, 8, 8, 4), np.float32))
  with pytest.raises(ValueError, match="float images"):
    inc.preprocess_images(np.zeros((1, 8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match="NHWC"):
    inc.preprocess_images(np.zeros((8, 8, 3), np.float32))


# --- conversion from the torch checkpoint ---------------------------------------------------


def _torch_conv_specs() -> list[tuple[str, int, int, int, int]]:
  """(module, in, out, kh, kw) of every BasicConv2d, written from torchvision's Inception3 and
  pytorch-fid's fid_inception_v3 (independently of the Flax module)."""
  specs = []

  def conv(name, cin, cout, k):
    kh, kw = (k, k) if isinstance(k, int) else k
    specs.append((name, cin, cout, kh, kw))

  conv("Conv2d_1a_3x3", 3, 32, 3)
  conv("Conv2d_2a_3x3", 32, 32, 3)
  conv("Conv2d_2b_3x3", 32, 64, 3)
  conv("Conv2d_3b_1x1", 64, 80, 1)
  conv("Conv2d_4a_3x3", 80, 192, 3)
  for name, cin, pool_features in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64)] + [
    ("Mixed_5d", 288, 64)
  ]:
    conv(f"{name}.branch1x1", cin, 64, 1)
    conv(f"{name}.branch5x5_1", cin, 48, 1)
    conv(f"{name}.branch5x5_2", 48, 64, 5)
    conv(f"{name}.branch3x3dbl_1", cin, 64, 1)
    conv(f"{name}.branch3x3dbl_2", 64, 96, 3)
    conv(f"{name}.branch3x3dbl_3", 96, 96, 3)
    conv(f"{name}.branch_pool", cin, pool_features, 1)
  conv("Mixed_6a.branch3x3", 288, 384, 3)
  conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1)
  conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3)
  conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
  for name, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
    conv(f"{name}.branch1x1", 768, 192, 1)
    conv(f"{name}.branch7x7_1", 768, c7, 1)
    conv(f"{name}.branch7x7_2", c7, c7, (1, 7))
    conv(f"{name}.branch7x7_3", c7, 192, (7, 1))
    conv(f"{name}.branch7x7dbl_1", 768, c7, 1)
    conv(f"{name}.branch7x7dbl_2", c7, c7, (7, 1))
    conv(f"{name}.branch7x7dbl_3", c7, c7, (1, 7))
    conv(f"{name}.branch7x7dbl_4", c7, c7, (7, 1))
    conv(f"{name}.branch7x7dbl_5", c7, 192, (1, 7))
    conv(f"{name}.branch_pool", 768, 192, 1)
  conv("Mixed_7a.branch3x3_1", 768, 192, 1)
  conv("Mixed_7a.branch3x3_2", 192, 320, 3)
  conv("Mixed_7a.branch7x7x3_1", 768, 192, 1)
  conv("Mixed_7a.branch7x7x3_2", 192, 192, (1, 7))
  conv("Mixed_7a.branch7x7x3_3", 192, 192, (7, 1))
  conv("Mixed_7a.branch7x7x3_4", 192, 192, 3)
  for name, cin in [("Mixed_7b", 1280), ("Mixed_7c", 2048)]:
    conv(f"{name}.branch1x1", cin, 320, 1)
    conv(f"{name}.branch3x3_1", cin, 384, 1)
    conv(f"{name}.branch3x3_2a", 384, 384, (1, 3))
    conv(f"{name}.branch3x3_2b", 384, 384, (3, 1))
    conv(f"{name}.branch3x3dbl_1", cin, 448, 1)
    conv(f"{name}.branch3x3dbl_2", 448, 384, 3)
    conv(f"{name}.branch3x3dbl_3a", 384, 384, (1, 3))
    conv(f"{name}.branch3x3dbl_3b", 384, 384, (3, 1))
    conv(f"{name}.branch_pool", cin, 192, 1)
  return specs


def _fake_torch_state_dict(seed: int = 5) -> dict[str, np.ndarray]:
  gen = np.random.default_rng(seed)
  sd = {}
  for name, cin, cout, kh, kw in _torch_conv_specs():
    sd[f"{name}.conv.weight"] = (
      gen.standard_normal((cout, cin, kh, kw)) / np.sqrt(cin * kh * kw) * 1.4
    ).astype(np.float32)
    sd[f"{name}.bn.weight"] = gen.uniform(0.5, 1.5, cout).astype(np.float32)
    sd[f"{name}.bn.bias"] = (0.1 * gen.standard_normal(cout)).astype(np.float32)
    sd[f"{name}.bn.running_mean"] = (0.1 * gen.standard_normal(cout)).astype(np.float32)
    sd[f"{name}.bn.running_var"] = gen.uniform(0.5, 1.5, cout).astype(np.float32)
    sd[f"{name}.bn.num_batches_tracked"] = np.array(0, np.int64)
  sd["fc.weight"] = (gen.standard_normal((1008, 2048)) / 45).astype(np.float32)
  sd["fc.bias"] = np.zeros(1008, np.float32)
  return sd


def test_the_network_has_the_fid_inception_size():
  # torchvision's inception_v3(aux_logits=False) has 23,834,568 parameters with 1000 classes;
  # 1008 classes add 8 * (2048 + 1). (The hand-written spec above is checked against the
  # network, shape by shape, in the next test.)
  params = inc.inception_variable_shapes()["params"]
  assert sum(int(np.prod(v.shape)) for v in jax.tree.leaves(params)) == 23_834_568 + 8 * 2049


@pytest.mark.slow  # over 5 s
def test_convert_state_dict_round_trip(feature_fn, images):
  sd = _fake_torch_state_dict()
  variables = convert_inception.convert_state_dict(sd)
  got = {k: v.shape for k, v in traverse_util.flatten_dict(variables, sep="/").items()}
  want = {
    k: v.shape
    for k, v in traverse_util.flatten_dict(inc.inception_variable_shapes(), sep="/").items()
  }
  assert got == want
  # Layout: torch OIHW -> flax HWIO, fc (out, in) -> (in, out); BN leaves renamed.
  w = sd["Mixed_6b.branch7x7_2.conv.weight"]  # (128, 128, 1, 7)
  k = variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
  assert k.shape == (1, 7, 128, 128) and k[0, 5, 3, 17] == w[17, 3, 0, 5]
  assert variables["params"]["fc"]["kernel"][100, 7] == sd["fc.weight"][7, 100]
  np.testing.assert_array_equal(
    variables["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
    sd["Mixed_7c.branch_pool.bn.running_var"],
  )
  np.testing.assert_array_equal(
    variables["params"]["Conv2d_1a_3x3"]["bn"]["scale"], sd["Conv2d_1a_3x3.bn.weight"]
  )
  # The inverse gives back the state_dict.
  back = convert_inception.to_torch_state_dict(variables)
  expected = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
  assert back.keys() == expected.keys()
  for name in expected:
    np.testing.assert_array_equal(back[name], expected[name])
  # The converted variables run through the (already compiled) network.
  out = inc.make_inception_fn(variables, batch_size=BATCH)(images)
  assert out.pool.shape == (3, 2048) and np.all(np.isfinite(out.logits))


def test_convert_state_dict_rejects_wrong_checkpoints():
  sd = _fake_torch_state_dict()
  with pytest.raises(ValueError, match="not part of the FID InceptionV3"):
    convert_inception.convert_state_dict({**sd, "AuxLogits.fc.weight": np.zeros((1000, 768))})
  del sd["Mixed_5b.branch_pool.bn.running_var"]
  with pytest.raises(ValueError, match="missing"):
    convert_inception.convert_state_dict(sd)
  sd = _fake_torch_state_dict()
  sd["fc.weight"] = sd["fc.weight"][:1000]  # torchvision's 1000 classes
  with pytest.raises(ValueError, match="wrong shapes"):
    convert_inception.convert_state_dict(sd)


def test_converter_cli_without_torch(tmp_path, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails, installed or not
  rc = convert_inception.main([f"--pth={tmp_path / 'x.pth'}", f"--out={tmp_path / 'x.npz'}"])
  assert rc == 1 and "pip install torch" in capsys.readouterr().err


# --- weight files ---------------------------------------------------------------------------


def test_load_missing_file_says_how_to_get_weights(tmp_path):
  with pytest.raises(FileNotFoundError, match="download_inception") as e:
    inc.load_inception_params(tmp_path / "nope.npz")
  assert "convert_inception" in str(e.value)


def test_load_corrupt_or_wrong_file(tmp_path):
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"not a zip")
  with pytest.raises(ValueError, match="could not read"):
    inc.load_inception_params(bad)
  wrong = tmp_path / "wrong.npz"
  np.savez(wrong, **{"params/fc/kernel": np.zeros((3, 3), np.float32)})
  with pytest.raises(ValueError, match="missing"):
    inc.load_inception_params(wrong)


def test_save_load_round_trip(tmp_path, variables):
  path = tmp_path / "inception.npz"
  inc.save_inception_params(variables, path)
  loaded = inc.load_inception_params(path)
  assert jax.tree.structure(loaded) == jax.tree.structure(variables)
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables), strict=True):
    np.testing.assert_array_equal(a, b)


def test_pth_digest_check(tmp_path):
  f = tmp_path / "w.pth"
  f.write_bytes(b"weights")
  digest = hashlib.sha256(b"weights").hexdigest()
  convert_inception.check_pth_digest(f, prefix=digest[:8])
  with pytest.raises(ValueError, match="corrupt or wrong"):
    convert_inception.check_pth_digest(
      f, prefix="00000000" if digest[:8] != "00000000" else "11111111"
    )


def test_download_reuses_existing_npz(tmp_path):
  # No network in tests: an already-converted file short-circuits the download.
  existing = tmp_path / inc.DEFAULT_NPZ_FILENAME
  existing.write_bytes(b"")
  assert convert_inception.download_inception(tmp_path) == str(existing)
