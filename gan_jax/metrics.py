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
