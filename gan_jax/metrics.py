"""The evaluation metrics' names and directions, for rankings and config checks.

The names are a contract (DESIGN.md, "Metric names"): eval rows of metrics.jsonl carry them.
"""

# (metric, True if lower is better), in order of preference for the ranking.
PRIMARY_METRICS = (
  ("classifier_fid", True),
  ("fid", True),
  ("reverse_kl", True),
  ("stacked_kl", True),
  ("modes", False),
  ("stacked_modes", False),
)
PRDC = ("precision", "recall", "density", "coverage")  # higher is better, on any features
# The feature spaces PRDC is computed in, as the evaluator's eval_info row names them
# (prdc_features for the unprefixed names, classifier_prdc_features for classifier_*), and
# what each is. The papers (Kynkäänniemi et al. 2019, Naeem et al. 2020) use VGG16's fc2.
PRDC_FEATURES = {
  "inception_pool3": "the FID Inception's 2,048-d pool3 features",
  "classifier_penultimate": "the in-project classifier's 128-d penultimate features",
  "points_2d": "the 2-D points themselves",
}
PRDC_PAPERS_FEATURES = "VGG16's 4,096-d fc2 features (Kynkäänniemi et al. 2019, Naeem et al. 2020)"
LOWER_IS_BETTER = {
  **{f"{prefix}{m}": False for prefix in ("", "classifier_") for m in PRDC},
  "classifier_fid": True,
  "fid": True,
  "kid": True,
  "classifier_kid": True,
  "reverse_kl": True,
  "stacked_kl": True,
  "modes": False,
  "stacked_modes": False,
  "high_quality": False,
  "inception_score": False,
  "classifier_score": False,
  # super-resolution (the srgan game)
  "psnr": False,
  "ssim": False,
  "lpips": True,
}
