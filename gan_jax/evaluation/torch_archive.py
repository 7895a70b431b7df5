"""Read torch's zip serialization (TorchScript `.pt`, `torch.save` `.pth`) without torch.

Both formats are a zip with one top folder (`archive/`, or the module's name for TorchScript):

    <top>/data.pkl      a pickle of the object tree (modules, dicts, tensors)
    <top>/data/<key>    the raw little-endian bytes of each tensor storage
    <top>/code/...      TorchScript only: the modules' forward code, as Python-like source

In data.pkl a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
and a storage is a persistent id `('storage', torch.FloatStorage, key, location, numel)`.
`read_torch_archive` unpickles with a restricted Unpickler that knows only these few globals
(anything else is refused, so a hostile pickle cannot run code), turns storages into numpy
arrays read from `data/<key>` and tensors into numpy views with torch's strides, and gives
TorchScript modules back as `ScriptObject`s holding their attributes.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from gan_jax.errors import BadFileError

# torch storage class name -> numpy dtype of its elements. bfloat16 has no numpy dtype: its
# storages are read as uint16 and widened to float32 (exactly) in `persistent_load`.
STORAGE_DTYPES = {
  "FloatStorage": np.dtype("<f4"),
  "DoubleStorage": np.dtype("<f8"),
  "HalfStorage": np.dtype("<f2"),
  "BFloat16Storage": np.dtype("<u2"),
  "LongStorage": np.dtype("<i8"),
  "IntStorage": np.dtype("<i4"),
  "ShortStorage": np.dtype("<i2"),
  "CharStorage": np.dtype("i1"),
  "ByteStorage": np.dtype("u1"),
  "BoolStorage": np.dtype("?"),
}


class ScriptObject:
  """A TorchScript module (or other `__torch__` class) read from data.pkl.

  `torch_type` is its TorchScript class, e.g. "__torch__.inceptionv3.Conv2dLayer";
  `attributes` the pickled state: submodules, parameters (numpy arrays) and constants.
  """

  torch_type = "__torch__"

  def __init__(self, attributes: dict[str, Any] | None = None):
    self.attributes = dict(attributes or {})

  def __setstate__(self, state: Any) -> None:
    if not isinstance(state, dict):
      raise pickle.UnpicklingError(f"{self.torch_type}: unexpected state {type(state).__name__}")
    self.attributes = state

  def __getitem__(self, name: str) -> Any:
    return self.attributes[name]

  def __repr__(self) -> str:
    return f"ScriptObject({self.torch_type}, {sorted(self.attributes)})"


class _StorageType:
  def __init__(self, name: str):
    self.name = name


def _script_class(module: str, name: str) -> type:
  return type(name, (ScriptObject,), {"torch_type": f"{module}.{name}"})


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad, backward_hooks, *_):
  del requires_grad, backward_hooks  # training-time state, meaningless for numpy
  size, stride = tuple(size), tuple(stride)
  n = int(np.prod(size, dtype=np.int64))
  if n == 0:
    return np.zeros(size, storage.dtype)
  # The furthest element the view touches must lie inside the storage.
  last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
  if storage_offset < 0 or last >= storage.size or min(stride, default=0) < 0:
    raise pickle.UnpicklingError(
      f"tensor of size {size}, stride {stride}, offset {storage_offset} does not fit its "
      f"storage of {storage.size} elements"
    )
  item = storage.itemsize
  view = np.lib.stride_tricks.as_strided(
    storage[storage_offset:], size, tuple(st * item for st in stride), writeable=False
  )
  return np.array(view)  # own, C-contiguous copy


def _rebuild_parameter(data, requires_grad, backward_hooks, *_):
  del requires_grad, backward_hooks
  return data


def _restore_type_tag(value, type_str):
  del type_str
  return value


# The only globals data.pkl may name (besides `__torch__.*` classes and storage types).
_ALLOWED = {
  ("collections", "OrderedDict"): collections.OrderedDict,
  ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
  ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
  ("torch.jit._pickle", "build_intlist"): list,
  ("torch.jit._pickle", "build_doublelist"): list,
  ("torch.jit._pickle", "build_boollist"): list,
  ("torch.jit._pickle", "build_tensorlist"): list,
  ("torch.jit._pickle", "build_strlist"): list,
  ("torch.jit._pickle", "restore_type_tag"): _restore_type_tag,
}


class _Unpickler(pickle.Unpickler):
  def __init__(self, file, archive: zipfile.ZipFile, top: str):
    super().__init__(file)
    self._archive = archive
    self._top = top
    self._storages: dict[str, np.ndarray] = {}
    self._classes: dict[tuple[str, str], type] = {}

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(name)
    if module == "__torch__" or module.startswith("__torch__."):
      key = (module, name)
      if key not in self._classes:
        self._classes[key] = _script_class(module, name)
      return self._classes[key]
    raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

  def persistent_load(self, pid: Any) -> np.ndarray:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
    _, storage_type, key, _location, numel = pid
    if not isinstance(storage_type, _StorageType):
      raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
    if key not in self._storages:
      dtype = STORAGE_DTYPES[storage_type.name]
      try:
        raw = self._archive.read(f"{self._top}data/{key}")
      except KeyError:
        raise pickle.UnpicklingError(f"storage {key} missing from the archive") from None
      if len(raw) < numel * dtype.itemsize:
        raise pickle.UnpicklingError(
          f"storage {key}: {len(raw)} bytes for {numel} elements of {dtype.name}"
        )
      storage = np.frombuffer(raw, dtype, count=numel)
      if storage_type.name == "BFloat16Storage":
        storage = (storage.astype(np.uint32) << 16).view(np.float32)
      self._storages[key] = storage
    return self._storages[key]


def _top_folder(archive: zipfile.ZipFile, path: str) -> str:
  tops = [n[: -len("data.pkl")] for n in archive.namelist() if n.endswith("/data.pkl")]
  tops = [t for t in tops if t.count("/") == 1]
  if len(tops) != 1:
    raise BadFileError(f"{path}: not a torch zip archive (no single <top>/data.pkl)")
  return tops[0]


def read_torch_archive(path: str | os.PathLike) -> Any:
  """Unpickle data.pkl of a torch zip archive into numpy arrays and `ScriptObject`s.

  Raises errors.BadFileError (one line) for anything that is not such an archive or that
  names globals beyond tensors, storages, OrderedDict and TorchScript classes.
  """
  path = os.fspath(path)
  try:
    with zipfile.ZipFile(path) as archive:
      top = _top_folder(archive, path)
      with archive.open(top + "data.pkl") as f:
        return _Unpickler(io.BytesIO(f.read()), archive, top).load()
  except BadFileError:
    raise
  except (zipfile.BadZipFile, OSError, EOFError) as e:
    raise BadFileError(f"{path}: not a readable torch zip archive ({e})") from None
  except pickle.UnpicklingError as e:
    raise BadFileError(f"{path}: {e}") from None
  except Exception as e:  # a corrupt data.pkl can fail in any of pickle's opcodes
    raise BadFileError(f"{path}: corrupt data.pkl ({type(e).__name__}: {e})") from None


def read_archive_code(path: str | os.PathLike) -> dict[str, str]:
  """The TorchScript source files of the archive, {path under code/: text} (for inspection)."""
  with zipfile.ZipFile(os.fspath(path)) as archive:
    top = _top_folder(archive, os.fspath(path))
    prefix = top + "code/"
    return {
      n[len(prefix) :]: archive.read(n).decode()
      for n in archive.namelist()
      if n.startswith(prefix) and n.endswith(".py")
    }


def script_modules(root: ScriptObject, prefix: str = "") -> dict[str, ScriptObject]:
  """{dotted name: ScriptObject} of `root` and every module under it, in attribute order."""
  out = {prefix.rstrip("."): root}
  for name, value in root.attributes.items():
    if isinstance(value, ScriptObject):
      out.update(script_modules(value, f"{prefix}{name}."))
  return out
