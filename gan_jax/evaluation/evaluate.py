"""The metrics of generated samples: of an image set through one feature network, and per data set.

    ring / grid      modes, high_quality, reverse_kl               (PacGAN protocol, modes.py)
                     + precision, recall, density, coverage on the 2-D points themselves
    mnist,           classifier_fid, classifier_kid(_std), classifier_score(_std) and
    fashion_mnist    classifier_precision/_recall/_density/_coverage (the in-project MNIST or
                     Fashion-MNIST classifier; Fashion-MNIST's only where it is prepared)
                     (+ fid, kid(_std), inception_score(_std) and precision, recall, density,
                     coverage when Inception weights are given)
    stacked_mnist    stacked_modes, stacked_kl                      (per-channel digit classifier)
    cifar10, celeb_a fid, kid(_std), inception_score(_std), precision, recall, density,
                     coverage, only with Inception weights

Precision/recall/density/coverage (prdc.py) are computed on whichever features are at hand:
Inception's 2,048-d pool3 features (unprefixed names), the classifier's 128-d penultimate
features (classifier_*), the points (2-D mixtures). Kynkäänniemi et al. 2019 and Naeem et al.
2020 publish theirs on VGG16's 4,096-d fc2 features: these are not comparable with published
values. The evaluator's `info` names the features (prdc_features, classifier_prdc_features),
and the sweep report repeats it.

Reference ("real") sets: for MNIST and Fashion-MNIST the *test* split, which neither the
classifier nor the GAN was trained on, so a generator is not rewarded for reproducing training
images and the classifier's features of the reference are not sharpened by its own overfitting.
On the offline subset that is 500 digits (full MNIST and Fashion-MNIST: 10,000); the Fréchet
distance of a small sample is biased upwards, so compare numbers only at equal reference and
sample sizes. For the Inception-only sets the reference is a random subset (num_samples) of
the *train* split, the usual convention of CIFAR-10 / CelebA FID.

The classifier (classifier.py) is trained at the generator's image size on the same MNIST (or
Fashion-MNIST) source as the run, so real and generated images reach it through the same
pipeline; Fashion-MNIST's trains on the full prepared set only (no offline subset exists), and
without it a Fashion-MNIST run has the Inception metrics alone (one log line says so). Its
features are unnormalised ReLU activations, so classifier_fid / classifier_kid are in their own
units (KID's cubic kernel makes classifier_kid large: hundreds for noise images), comparable
only between runs with the same classifier, reference set and sample count. Typical values on
the offline subset (500 reference digits, 32 px): real train digits 2.4, uniform noise ~870.

`evaluate_images` / `evaluate_against` score one image set against another through one feature
network; `make_evaluator` builds a run's `Evaluator`, which picks the metrics of its data set.
The pieces live beside it: features.py (streaming feature summaries: memory does not grow with
the number of samples), references.py (the cached reference statistics), inception_loader.py
(the run's Inception network), modes.py (mode counting), prdc.py, stats.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
from absl import logging

from gan_jax.data import cache, mixtures
from gan_jax.data import datasets as data_lib
from gan_jax.errors import DataUnavailableError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import features, prdc, references, stats
from gan_jax.evaluation import modes as modes_lib
from gan_jax.evaluation.features import (
  CHUNK_SIZE,
  KID_SUBSET_SIZE,
  KID_SUBSETS,
  MAX_KID_FEATURES,
  NUM_SCORE_SPLITS,
  FeatureFn,
  FeatureSummary,
)
from gan_jax.evaluation.inception_loader import inception_batch_size, load_inception
from gan_jax.evaluation.references import EVALUATOR_SEED

MIXTURE_METRICS = ("modes", "high_quality", "reverse_kl")
# Fidelity and diversity apart (prdc.py): on Inception features as named, on the classifier's
# with a "classifier_" prefix, on the points themselves for the 2-D mixtures.
PRDC_METRICS = prdc.METRICS
CLASSIFIER_METRICS = (
  "classifier_fid",
  "classifier_kid",
  "classifier_kid_std",
  "classifier_score",
  "classifier_score_std",
)
INCEPTION_METRICS = ("fid", "kid", "kid_std", "inception_score", "inception_score_std")
FID_KID_METRICS = INCEPTION_METRICS[:3]  # Inception weights without the classifier head
STACKED_METRICS = ("stacked_modes", "stacked_kl")
# The data sets with an in-project classifier (classifier.py): digits, and Fashion-MNIST's
# garments (a classifier of its own, trained where Fashion-MNIST is prepared).
CLASSIFIER_DATASETS = ("mnist", "fashion_mnist")
# What precision/recall/density/coverage are computed on (the evaluator's info names them;
# metrics.PRDC_FEATURES describes each for the report): the papers' own features are VGG16's
# fc2 (4,096-d), which gan_jax does not have.
PRDC_FEATURES_INCEPTION = "inception_pool3"  # FID Inception's 2,048-d pool features
PRDC_FEATURES_CLASSIFIER = "classifier_penultimate"  # the classifier's 128-d ReLU features
PRDC_FEATURES_POINTS = "points_2d"  # the 2-D mixtures' points themselves
# Stacked MNIST counts modes by reading each channel with the digit classifier, so its errors
# become false modes: PacGAN's protocol asks for a classifier of at least 99% on MNIST's test
# set. 600 steps (the classifier metrics' default) reach 98.73%, 3,000 reach 99.33% (full
# MNIST, 28 px, 47 s on a 2-core CPU; trained once and cached).
STACKED_CLASSIFIER_STEPS = 3000


class FeatureExtractor(Protocol):
  """What the classifier metrics need: images -> numpy (features (N, d), logits (N, k))."""

  def apply(self, images: Any) -> tuple[np.ndarray, np.ndarray]: ...


GenerateFn = Callable[[int], Any]


def _named(generic: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
  """The generic metrics under the names of one feature network (the first len(names))."""
  keys = ("fd", "kid", "kid_std", "score", "score_std")
  return {name: generic[key] for name, key in zip(names, keys[: len(names)], strict=True)}


# ---------------------------------------------------------------------------------------------
# One-shot metric functions on arrays.
# ---------------------------------------------------------------------------------------------


def evaluate_images(
  real_images: Any,
  fake_images: Any,
  feature_fn: FeatureFn,
  *,
  names: tuple[str, ...] = CLASSIFIER_METRICS,
  seed: int = 0,
  kid_subsets: int = KID_SUBSETS,
  kid_subset_size: int = KID_SUBSET_SIZE,
  max_kid_features: int = MAX_KID_FEATURES,
) -> dict[str, float]:
  """Fréchet distance, KID (and its std) and the score (and its std) of fake against real.

  `feature_fn` maps (N, H, W, C) images in [-1, 1] (or uint8) to (features, logits): the
  classifier's `apply` (names CLASSIFIER_METRICS: classifier_fid, ...) or an
  `inception.make_inception_fn` (names INCEPTION_METRICS: fid, kid, kid_std,
  inception_score, inception_score_std; the score is the softmax over all its logits).
  The score's splits are contiguous, so `fake_images` must be in random order (as
  generated samples are; data files often are sorted by class).
  """
  real = summarize_images(real_images, feature_fn, seed=seed, max_kid_features=max_kid_features)
  return evaluate_against(
    real,
    fake_images,
    feature_fn,
    names=names,
    seed=seed,
    kid_subsets=kid_subsets,
    kid_subset_size=kid_subset_size,
    max_kid_features=max_kid_features,
  )


def summarize_images(
  images: Any,
  feature_fn: FeatureFn,
  *,
  seed: int = 0,
  max_kid_features: int = MAX_KID_FEATURES,
  what: str = "features",
) -> FeatureSummary:
  """The FeatureSummary of a set of images, as evaluate_images computes each side: for the
  real side computed once, it serves every later evaluate_against of the same images."""
  return features.summarize(
    features.array_chunks(images, CHUNK_SIZE),
    feature_fn,
    images.shape[0],
    max_kept=max_kid_features,
    seed=seed,
    what=what,
  )


def evaluate_against(
  real: FeatureSummary,
  fake_images: Any,
  feature_fn: FeatureFn,
  *,
  names: tuple[str, ...] = CLASSIFIER_METRICS,
  seed: int = 0,
  kid_subsets: int = KID_SUBSETS,
  kid_subset_size: int = KID_SUBSET_SIZE,
  max_kid_features: int = MAX_KID_FEATURES,
) -> dict[str, float]:
  """evaluate_images with the real side's summary given (summarize_images with this seed)."""
  fake = summarize_images(fake_images, feature_fn, seed=seed + 1, max_kid_features=max_kid_features)
  generic = features.compare_summaries(
    real, fake, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, seed=seed
  )
  return _named(generic, names)


def classify_channels(images: Any, classifier: FeatureExtractor) -> np.ndarray:
  """Digits of each channel: images (N, H, W, C) -> int (N, C), one classifier pass per channel."""
  x = features.as_unit_float(images)
  if x.ndim != 4:
    raise ValueError(f"expected (N, H, W, C) images, got {x.shape}")
  n, h, w, c = x.shape
  # Channels become rows so that the classifier runs once over N * C single-channel images.
  rows = np.moveaxis(x, -1, 1).reshape(n * c, h, w, 1)
  logits = classifier.apply(rows)[1]
  return np.asarray(logits).argmax(axis=-1).reshape(n, c).astype(np.int64)


def stacked_mnist_metrics(fake_images: Any, classifier: FeatureExtractor) -> dict[str, float]:
  """{'stacked_modes', 'stacked_kl'} of (N, H, W, 3) images: each channel classified as a digit."""
  triples = np.concatenate(
    [
      classify_channels(chunk, classifier)
      for chunk in features.array_chunks(fake_images, CHUNK_SIZE)
    ]
  )
  return {k: float(v) for k, v in modes_lib.stacked_mode_metrics(triples).items()}


def mixture_metrics(points: Any, dataset_name: str) -> dict[str, float]:
  """{'modes', 'high_quality', 'reverse_kl'} of 2-D points for 'ring' or 'grid'."""
  if dataset_name not in mixtures.MIXTURES:
    raise ValueError(f"not a 2-D mixture: {dataset_name!r}; valid: {', '.join(mixtures.MIXTURES)}")
  make_modes, std = mixtures.MIXTURES[dataset_name]
  result = modes_lib.mixture_mode_metrics(np.asarray(points), make_modes(), std)
  return {k: float(v) for k, v in result.items()}


def _prdc(manifold: prdc.RealManifold | None, fake: FeatureSummary, prefix: str) -> dict:
  """The four metrics of the fake set against the real manifold, on sets of equal size."""
  names = [prefix + n for n in PRDC_METRICS]
  if manifold is None:
    return {}
  n = manifold.count
  if fake.count < n or len(fake.kept) < min(fake.count, n) or not fake.all_finite:
    return dict.fromkeys(names, float("nan"))
  # The kept rows are all samples while num_samples <= max_kid_features (10,000).
  values = prdc.prdc(manifold, fake.kept[:n])
  return {prefix + k: v for k, v in values.items()}


# ---------------------------------------------------------------------------------------------
# The evaluator of a run.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """Metrics of a generator for one data set; built once per run by `make_evaluator`.

  Call it with `generate_fn(n) -> n samples` (numpy or jax, images in [-1, 1] NHWC or 2-D
  points). With `chunk_size` 0 it calls `generate_fn(num_samples)` once; with chunk_size > 0 it
  calls it repeatedly for at most chunk_size samples, so `generate_fn` must then return *new*
  samples on every call.

  Attributes:
    dataset_name: the data set.
    num_samples: generated samples per evaluation.
    metric_names: the names of the metrics it returns.
    info: what the numbers were computed against (reference set, classifier accuracy, ...);
      write it once per run beside the metrics.
  """

  dataset_name: str
  num_samples: int
  metric_names: tuple[str, ...]
  info: dict[str, Any]
  classifier: FeatureExtractor | None = None
  inception_fn: FeatureFn | None = None
  real_classifier: FeatureSummary | None = None
  real_inception: FeatureSummary | None = None
  inception_names: tuple[str, ...] = INCEPTION_METRICS
  # The real sets' k-NN radii (precision/recall/density/coverage), None where not computed.
  classifier_manifold: prdc.RealManifold | None = None
  inception_manifold: prdc.RealManifold | None = None
  mixture_manifold: prdc.RealManifold | None = None
  chunk_size: int = 0
  seed: int = 0
  kid_subsets: int = KID_SUBSETS
  kid_subset_size: int = KID_SUBSET_SIZE
  max_kid_features: int = MAX_KID_FEATURES

  def _samples(self, generate_fn: GenerateFn) -> Iterator[np.ndarray]:
    step = self.chunk_size if self.chunk_size > 0 else self.num_samples
    for start in range(0, self.num_samples, step):
      n = min(step, self.num_samples - start)
      x = np.asarray(generate_fn(n))
      if x.shape[0] != n:
        raise ValueError(f"generate_fn({n}) returned {x.shape[0]} samples")
      yield x

  def __call__(self, generate_fn: GenerateFn) -> dict[str, float]:
    """Draws num_samples samples through `generate_fn` and returns {metric name: value}."""
    if not self.metric_names:
      return {}
    t0 = time.time()
    if self.dataset_name in mixtures.MIXTURES:
      points = np.concatenate(list(self._samples(generate_fn)))
      result = mixture_metrics(points, self.dataset_name)
      if self.mixture_manifold is not None:
        n = self.mixture_manifold.count
        fine = np.isfinite(points).all() and len(points) >= n
        values = prdc.prdc(self.mixture_manifold, points[:n]) if fine else {}
        result.update({k: values.get(k, float("nan")) for k in PRDC_METRICS})
    else:
      result = self._image_metrics(generate_fn)
    logging.info(
      "evaluated %d samples of %s in %.1f s", self.num_samples, self.dataset_name, time.time() - t0
    )
    return result

  evaluate = __call__

  def _image_metrics(self, generate_fn: GenerateFn) -> dict[str, float]:
    stacked = self.dataset_name == "stacked_mnist"

    def new() -> features.Summarizer:
      return features.Summarizer(
        self.num_samples,
        max_kept=self.max_kid_features,
        num_splits=NUM_SCORE_SPLITS,
        seed=self.seed,
      )

    acc_c = new() if self.real_classifier is not None else None
    acc_i = new() if self.real_inception is not None else None
    triples = []
    all_finite = True
    progress = features.Progress(f"evaluating {self.dataset_name}", self.num_samples)
    # Features in CHUNK_SIZE rows at a time, as the reference's: a generated chunk may be all
    # num_samples (chunk_size 0), and the progress line comes between the network passes.
    parts = (
      p for chunk in self._samples(generate_fn) for p in features.array_chunks(chunk, CHUNK_SIZE)
    )
    for part in parts:
      x = features.as_unit_float(part)
      finite = bool(np.isfinite(x).all())
      all_finite = all_finite and finite
      if stacked:
        triples.append(classify_channels(x, self.classifier))
      if acc_c is not None:
        acc_c.add(*self.classifier.apply(x), inputs_finite=finite)
      if acc_i is not None:
        acc_i.add(*self.inception_fn(x), inputs_finite=finite)
      progress.add(len(x))
    result: dict[str, float] = {}
    kid_args = {
      "kid_subsets": self.kid_subsets,
      "kid_subset_size": self.kid_subset_size,
      "seed": self.seed,
    }
    if stacked and all_finite:
      metrics = modes_lib.stacked_mode_metrics(np.concatenate(triples))
      result.update({k: float(v) for k, v in metrics.items()})
    elif stacked:
      result.update({k: float("nan") for k in STACKED_METRICS})
    if acc_c is not None:
      fake = acc_c.result()
      generic = features.compare_summaries(self.real_classifier, fake, **kid_args)
      result.update(_named(generic, CLASSIFIER_METRICS))
      result.update(_prdc(self.classifier_manifold, fake, "classifier_"))
    if acc_i is not None:
      fake = acc_i.result()
      generic = features.compare_summaries(self.real_inception, fake, **kid_args)
      result.update(_named(generic, self.inception_names))
      result.update(_prdc(self.inception_manifold, fake, ""))
    return result


def classifier_of(
  dataset_name: str, *, image_size: int, data_source: str, data_dir: str
) -> classifier_lib.Classifier | None:
  """The in-project classifier of a data set (trained once, cached); None, with one log line,
  for Fashion-MNIST where it is not prepared (its classifier trains on the full set)."""
  if dataset_name == "fashion_mnist":
    try:
      return classifier_lib.get_fashion_mnist_classifier(
        image_size=image_size, data_source=data_source, data_dir=data_dir, seed=EVALUATOR_SEED
      )
    except DataUnavailableError as e:
      logging.info("no classifier metrics for fashion_mnist (its classifier cannot train): %s", e)
      return None
  stacked = dataset_name == "stacked_mnist"
  return classifier_lib.get_classifier(
    image_size=image_size,
    data_source=data_source,
    data_dir=data_dir,
    seed=EVALUATOR_SEED,
    steps=STACKED_CLASSIFIER_STEPS if stacked else classifier_lib.DEFAULT_STEPS,
  )


def make_evaluator(
  dataset_name: str,
  *,
  image_size: int = 32,
  num_samples: int = 10_000,
  data_source: str = "auto",
  data_dir: str = "",
  inception_path: str = "",
  seed: int = EVALUATOR_SEED,
  batch_size: int = classifier_lib.APPLY_BATCH_SIZE,
  chunk_size: int = 0,
  classifier: FeatureExtractor | None = None,
  inception_fn: FeatureFn | None = None,
  real_images: np.ndarray | None = None,
  kid_subsets: int = KID_SUBSETS,
  kid_subset_size: int = KID_SUBSET_SIZE,
  max_kid_features: int = MAX_KID_FEATURES,
) -> Evaluator:
  """Builds the evaluator of `dataset_name`: the classifier, the reference statistics.

  Nothing here depends on the training run's seed: the classifier trains with
  EVALUATOR_SEED, the reference set and its statistics are cached by (data set, split,
  source, size, image size, network) and read back from the cache by every run, so runs
  of any seed or sweep member compare against the very same statistics (their digests are
  in `info`).

  Args:
    dataset_name: one of datasets.DATASETS.
    image_size: the generator's resolution (the classifier is trained at it).
    num_samples: generated samples per evaluation (>= 2); the reference holds as many real
      images (or the whole split where it is smaller: the 10,000 test images of MNIST and
      Fashion-MNIST at the default 10,000).
    data_source, data_dir: as the run's data config; the reference images come from the same
      source as the training data (pass the resolved source, e.g. 'idx').
    inception_path: converted FID Inception weights (.npz); 'auto' for the prepared ones;
      empty or missing -> no fid/kid/IS.
    seed: seeds the KID subsets and reservoirs (fixed, so numbers at different steps and of
      different runs differ only through the generators).
    batch_size: rows per jitted feature-network call (config eval.batch_size); fixed, so each
      network compiles once.
    chunk_size: see `Evaluator`.
    classifier, inception_fn, real_images: given instead of built (tests, custom references;
      nothing is cached then).
  """
  if dataset_name not in data_lib.DATASETS:
    raise ValueError(
      f"unknown dataset {dataset_name!r}; valid datasets: {', '.join(data_lib.DATASETS)}"
    )
  if num_samples < 2:
    raise ValueError(f"num_samples must be >= 2, got {num_samples}")
  common = {
    "dataset_name": dataset_name,
    "num_samples": num_samples,
    "chunk_size": chunk_size,
    "seed": seed,
    "kid_subsets": kid_subsets,
    "kid_subset_size": kid_subset_size,
    "max_kid_features": max_kid_features,
  }
  info: dict[str, Any] = {"eval_num_samples": num_samples}
  if dataset_name in mixtures.MIXTURES:
    # The real set of the 2-D metrics: as many points drawn from the mixture's density.
    make_modes, std = mixtures.MIXTURES[dataset_name]
    centers = make_modes()
    rng = np.random.default_rng(EVALUATOR_SEED)
    real = centers[rng.integers(len(centers), size=num_samples)]
    real = (real + std * rng.standard_normal(real.shape)).astype(np.float32)
    manifold = references.real_manifold(
      f"{dataset_name}-{num_samples}" if real_images is None else None, real
    )
    names = MIXTURE_METRICS + (PRDC_METRICS if manifold is not None else ())
    if manifold is not None:
      info["prdc_features"] = PRDC_FEATURES_POINTS
    return Evaluator(metric_names=names, info=info, mixture_manifold=manifold, **common)

  stacked = dataset_name == "stacked_mnist"
  use_classifier = stacked or dataset_name in CLASSIFIER_DATASETS
  cacheable = classifier is None and inception_fn is None and real_images is None
  classifier_name = inception_name = "given"
  if use_classifier and classifier is None:
    classifier = classifier_of(
      dataset_name, image_size=image_size, data_source=data_source, data_dir=data_dir
    )
    if classifier is None:
      use_classifier = False
    else:
      classifier_name = classifier.name
      classifier = dataclasses.replace(classifier, batch_size=batch_size)
  if use_classifier:
    info["classifier_accuracy"] = float(getattr(classifier, "accuracy", float("nan")))
    info["classifier_source"] = str(getattr(classifier, "source", ""))
    info["classifier"] = classifier_name
  inception_names = INCEPTION_METRICS
  if not stacked and inception_fn is None:
    net = load_inception(inception_path, batch_size=inception_batch_size(batch_size))
    if net is not None:
      inception_fn, inception_name = net.fn, net.name
      inception_names = INCEPTION_METRICS if net.has_logits else FID_KID_METRICS
      info["inception"] = net.name
  if stacked:
    inception_fn = None  # the Stacked MNIST protocol is mode counting only

  needs_real = (use_classifier and not stacked) or inception_fn is not None
  real_classifier = real_inception = classifier_manifold = inception_manifold = None
  if needs_real:
    if real_images is None:
      base = "mnist" if stacked else dataset_name
      real_images, source, split = references.load_reference(
        base,
        image_size=image_size,
        num_samples=num_samples,
        data_source=data_source,
        data_dir=data_dir,
      )
      info["eval_reference"] = f"{base} {split} split ({len(real_images)} images, {source})"
      key = f"{base}-{split}-{source}-{len(real_images)}-{image_size}px"
    else:
      info["eval_reference"] = f"given ({len(real_images)} images)"
    n_real = real_images.shape[0]

    def reference(fn, name):
      def compute():
        return features.summarize(
          features.array_chunks(real_images, CHUNK_SIZE),
          fn,
          n_real,
          max_kept=max_kid_features,
          seed=EVALUATOR_SEED + 1,
          what=f"reference features ({name})",
        )

      return references.cached_summary(f"{key}-{name}", compute) if cacheable else compute()

    if use_classifier and not stacked:
      real_classifier = reference(classifier.apply, classifier_name)
      info["eval_reference_classifier"] = references.reference_digest(real_classifier)
      classifier_manifold = references.real_manifold(
        f"{key}-{classifier_name}" if cacheable else None, real_classifier.kept
      )
      if classifier_manifold is not None:
        info["classifier_prdc_features"] = PRDC_FEATURES_CLASSIFIER
    if inception_fn is not None:
      real_inception = reference(inception_fn, inception_name)
      info["eval_reference_inception"] = references.reference_digest(real_inception)
      inception_manifold = references.real_manifold(
        f"{key}-{inception_name}" if cacheable else None, real_inception.kept
      )
      if inception_manifold is not None:
        info["prdc_features"] = PRDC_FEATURES_INCEPTION
      if cacheable:
        info["eval_reference_stats"] = cache.reference_stats_path(f"{key}-{inception_name}")
  names = (
    (STACKED_METRICS if stacked else ())
    + (CLASSIFIER_METRICS if real_classifier is not None else ())
    + (tuple(f"classifier_{n}" for n in PRDC_METRICS) if classifier_manifold else ())
    + (inception_names if real_inception is not None else ())
    + (PRDC_METRICS if inception_manifold else ())
  )
  if not names:
    logging.info(
      "no evaluation metrics for %s (no Inception weights): evaluation is skipped", dataset_name
    )
  else:
    logging.info(
      "evaluator for %s: %s on %d samples; %s",
      dataset_name,
      ", ".join(names),
      num_samples,
      ", ".join(f"{k}={v}" for k, v in info.items() if k != "eval_num_samples"),
    )
  return Evaluator(
    metric_names=names,
    info=info,
    classifier=classifier,
    inception_fn=inception_fn,
    real_classifier=real_classifier,
    real_inception=real_inception,
    inception_names=inception_names,
    classifier_manifold=classifier_manifold,
    inception_manifold=inception_manifold,
    **common,
  )


def real_vs_real_classifier_fid(
  *,
  image_size: int = 28,
  data_source: str = "auto",
  data_dir: str = "",
  seed: int = 0,
  classifier: FeatureExtractor | None = None,
  max_train: int = 10_000,
) -> dict[str, float]:
  """Classifier metrics of real training digits (up to max_train) against the test split.

  This is the floor a perfect generator would reach with `make_evaluator('mnist', ...)` at the
  same sample size; its classifier_score is that of real held-out digits.
  """
  if classifier is None:
    classifier = classifier_lib.get_classifier(
      image_size=image_size, data_source=data_source, data_dir=data_dir, seed=seed
    )
  test, _, source = data_lib.load_images(
    "mnist", split="test", size=image_size, source=data_source, data_dir=data_dir
  )
  train, _, _ = data_lib.load_images(
    "mnist", split="train", size=image_size, source=source, data_dir=data_dir
  )
  # Shuffled: the score's splits are contiguous, and the data files are sorted by class.
  rng = np.random.default_rng(seed)
  train = train[rng.permutation(len(train))[:max_train]]
  test = test[rng.permutation(len(test))]
  result = evaluate_images(test, train, classifier.apply, seed=seed)
  real_score = features.summarize(
    features.array_chunks(test, CHUNK_SIZE), classifier.apply, len(test)
  )
  result["classifier_score_real_test"] = stats.inception_score_from_stats(list(real_score.splits))[
    0
  ]
  result["num_test"] = float(len(test))
  result["num_train"] = float(len(train))
  return result
