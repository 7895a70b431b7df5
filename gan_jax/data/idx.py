"""The IDX format of MNIST and Fashion-MNIST, read with numpy alone (no JAX, no TFDS).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order, big-endian. Both data sets
ship four such files, raw or gzipped, with the official train/test splits:

    train-images-idx3-ubyte  (60,000 x 28 x 28 uint8)   train-labels-idx1-ubyte  (60,000 uint8)
    t10k-images-idx3-ubyte   (10,000 x 28 x 28 uint8)   t10k-labels-idx1-ubyte   (10,000 uint8)

`python -m gan_jax.prepare mnist fashion_mnist` puts them in the cache; `load_idx_split` reads a
directory of them. Every malformed file (truncated, corrupt gzip, wrong magic number, counts
that disagree) raises `errors.BadFileError` with one line naming the file.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from gan_jax.errors import BadFileError

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES = {
  0x08: np.dtype(">u1"),
  0x09: np.dtype(">i1"),
  0x0B: np.dtype(">i2"),
  0x0C: np.dtype(">i4"),
  0x0D: np.dtype(">f4"),
  0x0E: np.dtype(">f8"),
}
IDX_DATASETS = ("mnist", "fashion_mnist")
SPLITS = ("train", "test")
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"


def idx_filenames(split: str) -> tuple[str, str]:
  """The official (images, labels) file names of `split`, without the optional `.gz`."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  prefix = SPLIT_PREFIX[split]
  return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _read_bytes(path: str) -> bytes:
  # Detect gzip by content, not by name: a renamed file still reads (or fails) correctly.
  with open(path, "rb") as f:
    raw = f.read()
  if not raw.startswith(_GZIP_MAGIC):
    return raw
  try:
    return gzip.decompress(raw)
  except (EOFError, OSError, zlib.error) as e:
    raise BadFileError(f"{path}: corrupt or truncated gzip data ({e})") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
  """Decode the bytes of one IDX file into a native-endian array; `name` labels errors."""
  if len(data) < 4:
    raise BadFileError(f"{name}: {len(data)} bytes, too short for an IDX header")
  zero, code, ndim = data[:2], data[2], data[3]
  if zero != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
    raise BadFileError(
      f"{name}: not an IDX file (magic number 0x{data[:4].hex()}, expected 0x0000TTNN with a "
      f"type code TT in {sorted(f'{c:02x}' for c in IDX_DTYPES)} and NN >= 1 dimensions)"
    )
  header = 4 + 4 * ndim
  if len(data) < header:
    raise BadFileError(f"{name}: truncated IDX header ({len(data)} of {header} bytes)")
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
  dtype = IDX_DTYPES[code]
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  got = len(data) - header
  if got != expected:
    what = "truncated" if got < expected else "has trailing bytes"
    raise BadFileError(
      f"{name}: {what}: {got:,} data bytes for shape {shape} of {dtype.name}, expected {expected:,}"
    )
  return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Read one IDX file, raw or gzipped, into a native-endian numpy array."""
  path = os.fspath(path)
  return parse_idx(_read_bytes(path), path)


def read_idx_pair(
  images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 images NHW1, int32 labels) from an images file and its labels file.

  Checks what a mix-up would break: 3-D uint8 images, 1-D uint8 labels, equal counts, labels
  below NUM_CLASSES.
  """
  images, labels = read_idx(images_path), read_idx(labels_path)
  if images.ndim != 3 or images.dtype != np.uint8:
    raise BadFileError(
      f"{os.fspath(images_path)}: expected 3-D uint8 images, got {images.dtype} {images.shape}"
    )
  if labels.ndim != 1 or labels.dtype != np.uint8:
    raise BadFileError(
      f"{os.fspath(labels_path)}: expected 1-D uint8 labels, got {labels.dtype} {labels.shape}"
    )
  if len(images) != len(labels):
    raise BadFileError(
      f"{os.fspath(images_path)} holds {len(images):,} images but {os.fspath(labels_path)} "
      f"{len(labels):,} labels"
    )
  if labels.size and labels.max() >= NUM_CLASSES:
    raise BadFileError(
      f"{os.fspath(labels_path)}: label {int(labels.max())} is not below {NUM_CLASSES}"
    )
  return images[..., None], labels.astype(np.int32)


def find_idx_file(directory: str | os.PathLike, name: str) -> str | None:
  """`directory/name` or `directory/name.gz`, whichever exists (raw first), else None."""
  for candidate in (name, name + ".gz"):
    path = os.path.join(os.fspath(directory), candidate)
    if os.path.isfile(path):
      return path
  return None


def load_idx_split(
  directory: str | os.PathLike, dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray]:
  """The official `split` of `dataset` ('mnist' or 'fashion_mnist') from a directory of IDX files.

  Returns (uint8 images (N, 28, 28, 1), int32 labels (N,)) with N = 60,000 (train) or 10,000
  (test): a file with another count is refused, so a partial or substituted set is never
  mistaken for the full one.
  """
  if dataset not in IDX_DATASETS:
    raise ValueError(f"dataset must be one of {IDX_DATASETS}, got {dataset!r}")
  paths = []
  for name in idx_filenames(split):
    path = find_idx_file(directory, name)
    if path is None:
      raise BadFileError(
        f"{dataset} {split}: {name}[.gz] not found in {os.fspath(directory)}; run "
        f"`python -m gan_jax.prepare {dataset}`"
      )
    paths.append(path)
  images, labels = read_idx_pair(*paths)
  want = SPLIT_SIZES[split]
  if len(images) != want or images.shape[1:3] != IMAGE_SHAPE:
    raise BadFileError(
      f"{paths[0]}: {dataset} {split} should hold {want:,} images of {IMAGE_SHAPE}, got "
      f"{len(images):,} of {images.shape[1:3]}"
    )
  return images, labels
