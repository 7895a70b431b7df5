r"""Inception features of real MNIST with the prepared weights: time, and FID test vs train.

  python -m gan_jax.prepare mnist inception
  python benchmarks/mnist_inception_fid.py [--num=10000] [--size=32] [--batch_size=500]
                                           [--stats_dir=DIR]

Digits from the prepared IDX files are resized to --size (images.resize_images, as training
does), then `inception.make_inception_fn` (prepared weights, their preprocessing) extracts pool
features of the first --num test and the first --num train digits. Prints the extraction time
(wall and process CPU seconds, i.e. the one-core equivalent; compilation timed apart), FID(test,
train[:num]) with stats.frechet_distance, and FID(train, train), which must be 0. --stats_dir
also writes both statistics as FID .npz files (fid_stats.save_fid_stats).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from gan_jax.data import cache, idx
from gan_jax.data import images as images_lib
from gan_jax.evaluation import fid_stats, inception, stats


def timed_features(fn, images: np.ndarray) -> tuple[np.ndarray, float, float]:
  wall, cpu = time.perf_counter(), time.process_time()
  pool = fn(images).pool
  return pool, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num", type=int, default=10_000)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--batch_size", type=int, default=500)
  parser.add_argument("--stats_dir", default="")
  args = parser.parse_args()
  mnist_dir, weights_path = cache.prepared_idx_dir("mnist"), cache.prepared_inception_path()
  if not (mnist_dir and weights_path):
    raise SystemExit("run `python -m gan_jax.prepare mnist inception` first")
  weights = inception.load_inception_weights(weights_path)
  fn = inception.make_inception_fn(
    weights.variables, batch_size=args.batch_size, preprocess=weights.preprocess
  )
  sets = {}
  for split in ("test", "train"):
    images, _ = idx.load_idx_split(mnist_dir, "mnist", split)
    images = images_lib.resize_images(images[: args.num], args.size)
    sets[split] = images.astype(np.float32) / 127.5 - 1.0  # data's [-1, 1] convention

  _, wall, cpu = timed_features(fn, sets["test"][: args.batch_size])
  print(f"compile + first batch of {args.batch_size}: {wall:.1f} s wall, {cpu:.1f} s CPU")
  feats = {}
  for split, images in sets.items():
    feats[split], wall, cpu = timed_features(fn, images)
    print(
      f"{split}: {len(images):,} images at {args.size} px, batch {args.batch_size}: "
      f"{wall:.1f} s wall ({len(images) / wall:.1f} images/s), {cpu:.1f} s CPU "
      f"({len(images) / cpu:.1f} images per CPU-second)"
    )
  gauss = {split: stats.gaussian_from_features(f) for split, f in feats.items()}
  fid = stats.frechet_distance(*gauss["test"], *gauss["train"])
  self_fid = stats.frechet_distance(*gauss["train"], *gauss["train"])
  print(f"FID(mnist test[:{args.num}], train[:{args.num}]) = {fid:.4f}")
  print(f"FID(train[:{args.num}], itself) = {self_fid:.3g}")
  if args.stats_dir:
    for split, (mu, sigma) in gauss.items():
      path = os.path.join(args.stats_dir, f"mnist_{split}{args.num}_{args.size}px.npz")
      meta = {
        "dataset": "mnist",
        "split": split,
        "num_images": len(feats[split]),
        "size": args.size,
      }
      fid_stats.save_fid_stats(path, mu, sigma, metadata={**meta, **weights.metadata})
      print(f"wrote {path}")


if __name__ == "__main__":
  main()
