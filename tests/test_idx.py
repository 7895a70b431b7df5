"""IDX reading: tiny files written here (raw and gzipped, well-formed and broken), and the real
MNIST / Fashion-MNIST sets when `python -m gan_jax.prepare` has put them in the cache."""

import gzip
import struct

import numpy as np
import pytest

from gan_jax import errors
from gan_jax.data import cache, idx


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
  header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
    f">{array.ndim}I", *array.shape
  )
  return header + array.astype(idx.IDX_DTYPES[code]).tobytes()


def _write(path, payload: bytes, gz: bool = False) -> str:
  path = str(path) + (".gz" if gz else "")
  with open(path, "wb") as f:
    f.write(gzip.compress(payload) if gz else payload)
  return path


@pytest.fixture
def tiny():
  gen = np.random.default_rng(0)
  images = gen.integers(0, 256, (5, 28, 28), dtype=np.uint8)
  labels = np.array([3, 1, 4, 1, 5], np.uint8)
  return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_read_pair_raw_and_gz(tmp_path, tiny, gz):
  images, labels = tiny
  ip = _write(tmp_path / "x-images-idx3-ubyte", _idx_bytes(images), gz)
  lp = _write(tmp_path / "x-labels-idx1-ubyte", _idx_bytes(labels), gz)
  x, y = idx.read_idx_pair(ip, lp)
  assert x.shape == (5, 28, 28, 1) and x.dtype == np.uint8
  assert y.dtype == np.int32
  np.testing.assert_array_equal(x[..., 0], images)
  np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("code", sorted(idx.IDX_DTYPES))
def test_every_type_code_big_endian(tmp_path, code):
  values = np.arange(-3, 9).reshape(3, 4) if code not in (0x08,) else np.arange(12).reshape(3, 4)
  got = idx.read_idx(_write(tmp_path / "a", _idx_bytes(values, code)))
  assert got.dtype == idx.IDX_DTYPES[code].newbyteorder("=") and got.dtype.isnative
  np.testing.assert_array_equal(got, values)


def test_gzip_detected_by_content_not_name(tmp_path, tiny):
  # A gzipped file without the .gz suffix (and raw data named .gz) still reads.
  path = tmp_path / "renamed"
  path.write_bytes(gzip.compress(_idx_bytes(tiny[1])))
  np.testing.assert_array_equal(idx.read_idx(path), tiny[1])


def _one_line_error(fn, *args, match: str):
  with pytest.raises(errors.BadFileError, match=match) as e:
    fn(*args)
  assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
  return str(e.value)


def test_malformed_files_one_line_errors(tmp_path, tiny):
  images, labels = tiny
  good = _idx_bytes(images)
  # Truncated data, truncated header, too short for a header, trailing bytes.
  msg = _one_line_error(idx.read_idx, _write(tmp_path / "t", good[:-7]), match="truncated")
  assert str(tmp_path / "t") in msg and "(5, 28, 28)" in msg
  _one_line_error(idx.read_idx, _write(tmp_path / "h", good[:9]), match="truncated IDX header")
  _one_line_error(idx.read_idx, _write(tmp_path / "s", b"\0\0"), match="too short")
  _one_line_error(idx.read_idx, _write(tmp_path / "x", good + b"\0"), match="trailing bytes")
  # Wrong magic numbers: non-zero first bytes, unknown type code, zero dimensions.
  for name, magic in [("m1", b"\x01\x00\x08\x03"), ("m2", b"\x00\x00\x07\x03")]:
    _one_line_error(
      idx.read_idx, _write(tmp_path / name, magic + good[4:]), match="magic number 0x"
    )
  _one_line_error(idx.read_idx, _write(tmp_path / "m3", b"\0\0\x08\0"), match="not an IDX")
  # A gzip stream cut short, and garbage after a gzip magic.
  gz = gzip.compress(good)
  _one_line_error(idx.read_idx, _write(tmp_path / "g1", gz[: len(gz) // 2]), match="gzip")
  _one_line_error(idx.read_idx, _write(tmp_path / "g2", b"\x1f\x8bnot gzip"), match="gzip")


def test_pair_consistency_errors(tmp_path, tiny):
  images, labels = tiny
  ip = _write(tmp_path / "i", _idx_bytes(images))
  _one_line_error(
    idx.read_idx_pair, ip, _write(tmp_path / "l4", _idx_bytes(labels[:4])), match="5 images but"
  )
  _one_line_error(
    idx.read_idx_pair, ip, _write(tmp_path / "l10", _idx_bytes(labels + 7)), match="label 12"
  )
  # Swapped files: labels where images belong.
  _one_line_error(
    idx.read_idx_pair, _write(tmp_path / "l", _idx_bytes(labels)), ip, match="3-D uint8 images"
  )


def test_load_split_finds_official_names_and_checks_counts(tmp_path, tiny):
  images, labels = tiny
  names = idx.idx_filenames("test")
  assert names == ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
  _one_line_error(idx.load_idx_split, tmp_path, "mnist", "test", match="prepare mnist")
  _write(tmp_path / names[0], _idx_bytes(images))
  _write(tmp_path / names[1], _idx_bytes(labels), gz=True)  # raw and gz mix
  assert idx.find_idx_file(tmp_path, names[1]).endswith(".gz")
  # 5 images are not the official 10,000: refused rather than taken for the full set.
  _one_line_error(idx.load_idx_split, tmp_path, "fashion_mnist", "test", match="10,000")
  with pytest.raises(ValueError, match="dataset"):
    idx.load_idx_split(tmp_path, "cifar10", "test")
  with pytest.raises(ValueError, match="split"):
    idx.load_idx_split(tmp_path, "mnist", "validation")


# --- the prepared sets ----------------------------------------------------------------------

# Pixel sums and per-class counts of the official splits (computed once from the pinned files;
# the class counts are the well-known ones of MNIST and the balanced ones of Fashion-MNIST).
PREPARED = {
  ("mnist", "train"): (
    1_567_298_545,
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
  ),
  ("mnist", "test"): (264_923_200, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
  ("fashion_mnist", "train"): (3_431_114_169, [6000] * 10),
  ("fashion_mnist", "test"): (573_469_082, [1000] * 10),
}


@pytest.mark.slow  # the prepared full data sets
@pytest.mark.parametrize("dataset,split", sorted(PREPARED))
def test_prepared_sets(dataset, split):
  directory = cache.prepared_idx_dir(dataset)
  if directory is None:
    pytest.skip(f"{dataset} is not prepared: run python -m gan_jax.prepare {dataset}")
  images, labels = idx.load_idx_split(directory, dataset, split)
  n = idx.SPLIT_SIZES[split]
  assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
  assert labels.shape == (n,) and labels.dtype == np.int32
  pixel_sum, class_counts = PREPARED[(dataset, split)]
  assert int(images.sum(dtype=np.int64)) == pixel_sum
  assert np.bincount(labels, minlength=10).tolist() == class_counts
