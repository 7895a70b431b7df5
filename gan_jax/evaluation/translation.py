"""How well an MNIST <-> MNIST-M translator keeps the digit, and the untranslated baselines.

The digit labels are known on both sides, so translation is measured, not looked at:

  label preservation  the MNIST classifier's accuracy on F(b) for MNIST-M test images b, and
                      the MNIST-M classifier's accuracy on G(a) for MNIST test images a
  cycle error         mean |F(G(a)) - a| and mean |G(F(b)) - b| on the test splits ([-1, 1]
                      units, the cycle loss)

A 3-channel image is read by the MNIST classifier through its BT.601 luma (what PIL's
convert('L') computes; the weights sum to 1, so gray-replicated RGB maps to its gray value
exactly), and a 1-channel image by the MNIST-M classifier as gray repeated over R, G, B.

`untranslated_baselines` gives the numbers a translator must beat: each classifier on the
other domain's raw test images. Run it with

  python -m gan_jax.evaluation.translation [--image_size=28] [--seed=0]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import datasets as data_lib
from gan_jax.data import mnist_m
from gan_jax.evaluation import classifier as clf_lib

Array = jax.Array


def to_channels(images: Any, channels: int) -> Any:
  """Images (N, H, W, 1 or 3), uint8 or float, with `channels` channels: RGB -> gray by BT.601
  luma, gray -> RGB by repetition; unchanged when they already have them."""
  c = images.shape[-1]
  if c == channels:
    return images
  if c == 1 and channels == 3:
    return jnp.repeat(jnp.asarray(images), 3, axis=-1)
  if c == 3 and channels == 1:
    if np.asarray(images).dtype == np.uint8:
      return mnist_m.to_grayscale(np.asarray(images))
    return jnp.asarray(images) @ jnp.asarray(mnist_m.LUMA, jnp.float32)[:, None]
  raise ValueError(f"cannot read {c}-channel images as {channels}-channel ones")


def label_accuracy(classifier: clf_lib.Classifier, images: Any, labels: Any) -> float:
  """The fraction of `images` (in [-1, 1] or uint8; converted to the classifier's channels)
  that `classifier` labels as `labels`."""
  predicted = classifier.predict(to_channels(images, classifier.channels))
  return float((predicted == np.asarray(labels)).mean())


def cycle_error(x: Array, x_rec: Array) -> float:
  """mean |x - x_rec| (both in [-1, 1]): the cycle loss as an evaluation number."""
  # The cycle loss's formula, written here: evaluation reads no game's module.
  return float(jnp.mean(jnp.abs(jnp.asarray(x, jnp.float32) - jnp.asarray(x_rec, jnp.float32))))


def untranslated_baselines(
  *,
  image_size: int = 28,
  seed: int = 0,
  mnist_m_seed: int = 0,
  data_source: str = "auto",
  data_dir: str = "",
) -> dict[str, Any]:
  """Both classifiers on both domains' raw test images (the classifiers are trained and cached
  on first use)."""
  mnist_clf = clf_lib.get_classifier(
    image_size=image_size, data_source=data_source, data_dir=data_dir, seed=seed
  )
  mnist_m_clf = clf_lib.get_mnist_m_classifier(
    image_size=image_size,
    data_source=data_source,
    data_dir=data_dir,
    seed=seed,
    mnist_m_seed=mnist_m_seed,
  )
  digits, labels, source = data_lib.load_images(
    "mnist", split="test", size=image_size, source=data_source, data_dir=data_dir
  )
  blended, _ = mnist_m.load_mnist_m("test", digits, labels, seed=mnist_m_seed)
  return {
    "digits_source": source,
    "test_examples": len(labels),
    "image_size": image_size,
    "mnist_classifier_on_mnist": label_accuracy(mnist_clf, digits, labels),
    "mnist_classifier_on_mnist_m_gray": label_accuracy(mnist_clf, blended, labels),
    "mnist_m_classifier_on_mnist_m": label_accuracy(mnist_m_clf, blended, labels),
    "mnist_m_classifier_on_mnist_rgb": label_accuracy(mnist_m_clf, digits, labels),
  }


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--image_size", type=int, default=28)
  parser.add_argument("--seed", type=int, default=0, help="classifier training seed")
  parser.add_argument("--mnist_m_seed", type=int, default=0)
  parser.add_argument("--data_source", default="auto")
  parser.add_argument("--data_dir", default="")
  args = parser.parse_args(argv)
  result = untranslated_baselines(
    image_size=args.image_size,
    seed=args.seed,
    mnist_m_seed=args.mnist_m_seed,
    data_source=args.data_source,
    data_dir=args.data_dir,
  )
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
