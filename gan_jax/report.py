"""The sweep report: final metrics over seeds per variant, a ranking, and plots.

One idea over 600 lines: the report (its statistics, table, ranking and plots).

Members that differ only by `seed` form a *variant* (named like a member, from
its overrides without `seed`). For every member, the final value of a metric is
the value in the last metrics.jsonl row that has it; over a variant's seeds the
report gives the mean, the standard deviation (ddof=1; 0 for one seed) and a
95% percentile-bootstrap interval of the mean (2,000 resamples, fixed seed, so
the same runs give the same report; one seed gives [x, x]). A seed whose final
value is NaN or Inf makes its variant's statistics NaN rather than vanish.
A metric with a direction that a run evaluated more than once also gets
best_<metric>, the best value over that run's evaluations (min or max),
aggregated over seeds like any final value.

Ranking rule: variants are ranked by the first of these metrics that any
variant has a finite value for: classifier_fid, fid, reverse_kl, stacked_kl
(lower is better), then modes, stacked_modes (higher is better). Variants
without a finite value of it come last, unranked. With none of them, there is
no ranking.

Outputs, in the sweep workdir:
  report.csv   one row per variant x metric: variant, metric, n, mean, std,
               ci_low, ci_high, members, seeds, values (per seed, ';'-separated)
  report.md    the ranking, a table of mean ± std [95% CI] per metric, the members; its
               header names the protocol, data sets that are not what their name may
               suggest (the MNIST-M-style set), and the features precision / recall /
               density / coverage were computed on (from the eval_info rows: not the
               papers' VGG16 fc2, so not comparable with published values)
  plots/<metric>_vs_step.png   mean over seeds vs step per variant, min-max band
  plots/<metric>_final.png     final mean per variant with its 95% CI and the seeds
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gan_jax import metrics as metrics_lib
from gan_jax import sweep as sweep_lib
from gan_jax.data import mnist_m, unpaired
from gan_jax.metrics import LOWER_IS_BETTER, PRIMARY_METRICS

# Display order: evaluation metrics first, then training ones, then anything else by name.
METRIC_ORDER = (
  "classifier_fid",
  "fid",
  "kid",
  "classifier_kid",
  "inception_score",
  "classifier_score",
  *(f"{prefix}{m}" for prefix in ("classifier_", "") for m in metrics_lib.PRDC),
  "modes",
  "high_quality",
  "reverse_kl",
  "stacked_modes",
  "stacked_kl",
  "d_loss",
  "g_loss",
  "d_real",
  "d_fake",
)
# Row keys that are bookkeeping, not metrics (time-like keys are recognised by name too).
NON_METRIC_KEYS = frozenset(
  {"step", "seed", "steps_per_s", "event", "devices", "dataset_examples", "eval_samples"}
)
NUM_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
BEST_PREFIX = "best_"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,-]")
# Data sets whose name a reader may take for a published one: what they are.
DATASET_NOTES = {unpaired.MNIST_M_TASK: mnist_m.DESCRIPTION}
# eval_info keys naming the feature space of the PRDC metrics with each name prefix.
PRDC_FEATURE_KEYS = {"": "prdc_features", "classifier_": "classifier_prdc_features"}
# For runs whose eval_info predates those keys: what the evaluator computed them on.
PRDC_FEATURES_BEFORE_NAMED = {
  "": "the FID Inception's 2,048-d pool3 features (image sets) or the 2-D points (ring, grid)",
  "classifier_": metrics_lib.PRDC_FEATURES["classifier_penultimate"],
}


# --- reading -----------------------------------------------------------------------------------


def read_metrics(member_workdir: str) -> list[dict[str, Any]]:
  """The rows of member_workdir/metrics.jsonl ([] if there is none).

  Lines that do not parse (the cut last line of a killed run) are skipped.
  """
  path = os.path.join(member_workdir, "metrics.jsonl")
  rows = []
  try:
    with open(path) as f:
      for line in f:
        try:
          row = json.loads(line)
        except json.JSONDecodeError:  # a run killed mid-write leaves half a line
          continue
        if isinstance(row, dict):
          rows.append(row)
  except FileNotFoundError:
    pass
  return rows


def is_metric_key(key: str) -> bool:
  """Whether a metrics.jsonl key is a metric (not step, throughput, a time or an event)."""
  k = key.lower()
  if key in NON_METRIC_KEYS or "time" in k:
    return False
  return not k.endswith(("_s", "_sec", "_secs", "_seconds", "_per_s"))


def _number(value: Any) -> float | None:
  """A metric value as float; the writer stores NaN/Inf as strings. Non-numbers give None."""
  if isinstance(value, bool):
    return None
  if isinstance(value, (int, float)):
    return float(value)
  if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf", "+inf"):
    return float(value)
  return None


def _metric_rows(rows: Sequence[dict[str, Any]]):
  """(step, metric, value) for logged rows; (re)start rows (with "event") carry no metrics."""
  for row in rows:
    if "event" in row or not isinstance(row.get("step"), int):
      continue
    for key, raw in row.items():
      value = _number(raw) if is_metric_key(key) else None
      if value is not None:
        yield row["step"], key, value


def final_values(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
  """Each metric's value in the last row that has it."""
  return {key: value for _, key, value in _metric_rows(rows)}


def best_values(series: dict[str, dict[int, float]]) -> dict[str, float]:
  """best_<metric>: the best value over a run's evaluations, for each metric with a
  direction that was evaluated more than once (Lucic et al. report the best FID beside
  the last). A NaN evaluation makes the best NaN: a run that failed once is not hidden."""
  best = {}
  for metric, by_step in series.items():
    if metric in LOWER_IS_BETTER and len(by_step) > 1:
      values = np.asarray(list(by_step.values()), np.float64)
      if not np.all(np.isfinite(values)):
        best[BEST_PREFIX + metric] = math.nan
      else:
        best[BEST_PREFIX + metric] = float(
          values.min() if LOWER_IS_BETTER[metric] else values.max()
        )
  return best


def metric_series(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, float]]:
  """metric -> {step: value}; a step logged twice keeps its last value."""
  series: dict[str, dict[int, float]] = {}
  for step, key, value in _metric_rows(rows):
    series.setdefault(key, {})[step] = value
  return series


def _last_step(rows: Sequence[dict[str, Any]]) -> int | None:
  steps = [r["step"] for r in rows if "event" not in r and isinstance(r.get("step"), int)]
  return max(steps) if steps else None


def _diverged_at(rows: Sequence[dict[str, Any]]) -> int | None:
  """The step a run of a multi-run program diverged at (its "diverged" row), else None."""
  steps = [r.get("step") for r in rows if r.get("event") == "diverged"]
  return steps[-1] if steps else None


def _protocol_of(member_workdir: str) -> str:
  """The protocol a member's config names (config report.protocol), '' if none."""
  try:
    with open(os.path.join(member_workdir, "config.json")) as f:
      return str(json.load(f).get("report", {}).get("protocol", ""))
  except (OSError, ValueError, AttributeError):
    return ""


def _data_and_features_of(rows: Sequence[dict[str, Any]]) -> tuple[set[str], dict[str, set[str]]]:
  """The data sets a member's start rows name (old names read as new ones) and, per PRDC
  name prefix, the feature spaces its eval_info rows name."""
  datasets = {
    unpaired.RENAMED_DATASETS.get(r["dataset"], r["dataset"])
    for r in rows
    if r.get("event") == "start" and isinstance(r.get("dataset"), str)
  }
  features: dict[str, set[str]] = {}
  for r in rows:
    if r.get("event") == "eval_info":
      for prefix, key in PRDC_FEATURE_KEYS.items():
        if isinstance(r.get(key), str):
          features.setdefault(prefix, set()).add(r[key])
  return datasets, features


def _seed_of(overrides: dict[str, Any], member_workdir: str) -> Any:
  if sweep_lib.SEED_KEY in overrides:
    return overrides[sweep_lib.SEED_KEY]
  try:
    with open(os.path.join(member_workdir, "config.json")) as f:
      return json.load(f).get("seed")
  except (OSError, ValueError):
    return None


_SEED_PART = re.compile(r"(^|,)seed=[^,]*")


def _variant_of(member: dict[str, Any], shorten: dict[str, str]) -> str:
  """The member's variant: an explicit member name without its `seed=...` part
  (e.g. 'wgan_gp,seed=1' -> 'wgan_gp'; 'pack=4', whose overrides also set batch_size),
  else the name of its overrides without seed."""
  derived = sweep_lib.overrides_name(member["overrides"], shorten)
  if member["name"] != derived:
    explicit = _SEED_PART.sub("", member["name"]).strip(",")
    if explicit:
      return explicit
  return sweep_lib.variant_name(member["overrides"], shorten)


def _runs_of(member: dict[str, Any], member_dir: str):
  """(seed, name, rows) per run in a member's workdir.

  A member trained with num_seeds > 1 holds several runs: its rows carry a "seed"
  field, and each seed counts as a run of its own (named member/seed=S). Rows
  without one (start events) belong to every run.
  """
  rows = read_metrics(member_dir)
  seeds = sorted({r["seed"] for r in rows if isinstance(r.get("seed"), int)})
  if not seeds:
    return [(_seed_of(member["overrides"], member_dir), member["name"], rows)]
  return [
    (seed, f"{member['name']}/seed={seed}", [r for r in rows if r.get("seed", seed) == seed])
    for seed in seeds
  ]


# --- statistics --------------------------------------------------------------------------------


def bootstrap_ci(
  values: Sequence[float],
  *,
  num_resamples: int = NUM_RESAMPLES,
  confidence: float = CONFIDENCE,
  seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
  """Percentile-bootstrap interval of the mean; [x, x] for one value, NaN if any is not finite."""
  x = np.asarray(values, np.float64)
  if x.size == 0 or not np.all(np.isfinite(x)):
    return math.nan, math.nan
  if x.size == 1:
    return float(x[0]), float(x[0])
  # A fresh generator per call: an interval depends only on its own values.
  rng = np.random.default_rng(seed)
  means = x[rng.integers(0, x.size, size=(num_resamples, x.size))].mean(axis=1)
  alpha = (1.0 - confidence) / 2.0
  lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
  return float(lo), float(hi)


def aggregate(values: Sequence[float]) -> dict[str, float]:
  """n, mean, std (ddof=1; 0 for one value), its standard error std / sqrt(n) (what papers
  such as PacGAN's report after ±) and the bootstrap interval of the mean."""
  x = np.asarray(values, np.float64)
  n = int(x.size)
  if n == 0:
    nan = math.nan
    return {"n": 0, "mean": nan, "std": nan, "se": nan, "ci_low": nan, "ci_high": nan}
  lo, hi = bootstrap_ci(x)
  std = float(x.std(ddof=1)) if n > 1 else 0.0
  return {
    "n": n,
    "mean": float(x.mean()),
    "std": std,
    "se": std / math.sqrt(n),
    "ci_low": lo,
    "ci_high": hi,
  }


def _sort_metrics(names) -> list[str]:
  """METRIC_ORDER, each metric followed by its best_ value, then the rest by name."""
  known = [n for m in METRIC_ORDER for n in (m, BEST_PREFIX + m) if n in names]
  return known + sorted(set(names) - set(known))


def summarize(
  workdir: str, members: Sequence[dict[str, Any]], *, primary_metric: str = ""
) -> dict[str, Any]:
  """Reads every member's metrics and aggregates them per variant.

  The ranking is by `primary_metric` where given (config report.primary_metric; its
  direction from LOWER_IS_BETTER), else by the first of PRIMARY_METRICS any variant has.

  Returns a dict with
    members:  [{name, overrides, variant, seed, workdir, finished, last_step, diverged_at,
              finals, series}]; a diverged run (diverged_at not None) is left out of stats
    variants: [{name, members, seeds, last_steps, stats: {metric: aggregate() + values}}],
              in sweep order
    metrics:  metric names, in display order
    primary:  (metric, lower_is_better) or None
    ranking:  variant names best first (ranked ones, then the rest), or [] without primary
  """
  members = sweep_lib.resolve_members(members)
  shorten = sweep_lib.short_keys([k for m in members for k in m["overrides"]])
  records = []
  datasets: set[str] = set()
  features: dict[str, set[str]] = {}
  for m in members:
    member_dir = os.path.join(workdir, m["name"])
    member_datasets, member_features = _data_and_features_of(read_metrics(member_dir))
    datasets |= member_datasets
    for prefix, names in member_features.items():
      features.setdefault(prefix, set()).update(names)
    for seed, name, rows in _runs_of(m, member_dir):
      series = metric_series(rows)
      records.append(
        {
          "name": name,
          "overrides": m["overrides"],
          "variant": _variant_of(m, shorten),
          "seed": seed,
          "workdir": member_dir,
          "finished": sweep_lib.read_done(member_dir) is not None,
          "last_step": _last_step(rows),
          "diverged_at": _diverged_at(rows),
          "finals": {**final_values(rows), **best_values(series)},
          "series": series,
        }
      )

  variants: dict[str, list[dict[str, Any]]] = {}
  for r in records:
    variants.setdefault(r["variant"], []).append(r)
  metrics = _sort_metrics({k for r in records for k in r["finals"]})
  out_variants = []
  for name, recs in variants.items():
    stats = {}
    for metric in metrics:
      # A diverged run's last values are those of a frozen, failed run: not a result.
      have = [r for r in recs if metric in r["finals"] and r["diverged_at"] is None]
      values = [r["finals"][metric] for r in have]
      if values:
        stats[metric] = {
          **aggregate(values),
          "values": values,
          "seeds": [r["seed"] for r in have],
          "members": [r["name"] for r in have],
        }
    out_variants.append(
      {
        "name": name,
        "members": [r["name"] for r in recs],
        "seeds": [r["seed"] for r in recs],
        "last_steps": [r["last_step"] for r in recs],
        "stats": stats,
      }
    )

  primary, ranking = None, []
  candidates = PRIMARY_METRICS
  if primary_metric:
    candidates = ((primary_metric, LOWER_IS_BETTER.get(primary_metric, True)),)
  for metric, lower in candidates:
    scored = [
      (v["stats"][metric]["mean"], i, v["name"])
      for i, v in enumerate(out_variants)
      if metric in v["stats"] and math.isfinite(v["stats"][metric]["mean"])
    ]
    if scored:
      primary = (metric, lower)
      scored.sort(key=lambda t: (t[0] if lower else -t[0], t[1]))  # ties: sweep order
      ranked = [name for _, _, name in scored]
      ranking = ranked + [v["name"] for v in out_variants if v["name"] not in ranked]
      break
  return {
    "members": records,
    "variants": out_variants,
    "metrics": metrics,
    "primary": primary,
    "ranking": ranking,
    "protocol": next((p for r in records if (p := _protocol_of(r["workdir"]))), ""),
    "datasets": sorted(datasets),
    "prdc_features": {prefix: sorted(names) for prefix, names in features.items()},
  }


# --- writing -----------------------------------------------------------------------------------


def _notes(summary: dict[str, Any]) -> list[str]:
  """The header lines that say what the data and the PRDC features are."""
  lines = []
  for name in summary.get("datasets", ()):
    if name in DATASET_NOTES:
      lines += [f"Data: `{name}` is {DATASET_NOTES[name]}.", ""]
  metrics = set(summary["metrics"])
  for prefix in PRDC_FEATURE_KEYS:
    names = [prefix + m for m in metrics_lib.PRDC]
    if not metrics & {*names, *(BEST_PREFIX + n for n in names)}:
      continue
    named = summary.get("prdc_features", {}).get(prefix, [])
    spaces = " and ".join(metrics_lib.PRDC_FEATURES.get(f, f) for f in named)
    spaces = spaces or PRDC_FEATURES_BEFORE_NAMED[prefix]
    lines += [
      f"Features: {', '.join(f'`{n}`' for n in names)} are computed on {spaces}, not on "
      f"{metrics_lib.PRDC_PAPERS_FEATURES}: not comparable with published values.",
      "",
    ]
  return lines


def _fmt(x: float) -> str:
  return f"{x:.4g}" if math.isfinite(x) else str(x)


def _cell(stat: dict[str, Any] | None) -> str:
  """mean ± std (se: standard error) [95% bootstrap interval]."""
  if not stat:
    return "–"
  text = f"{_fmt(stat['mean'])} ± {_fmt(stat['std'])}"
  if stat["n"] > 1:
    text += f" (se {_fmt(stat['se'])}) [{_fmt(stat['ci_low'])}, {_fmt(stat['ci_high'])}]"
  return text


def _steps_text(steps: Sequence[int | None]) -> str:
  known = [s for s in steps if s is not None]
  if not known:
    return "–"
  lo, hi = min(known), max(known)
  return str(lo) if lo == hi else f"{lo}–{hi}"


def _direction(metric: str) -> str:
  metric = metric.removeprefix(BEST_PREFIX)
  if metric not in LOWER_IS_BETTER:
    return ""
  return " (lower is better)" if LOWER_IS_BETTER[metric] else " (higher is better)"


def _write_csv(path: str, summary: dict[str, Any]) -> None:
  fields = ["variant", "metric", "n", "mean", "std", "ci_low", "ci_high", "members", "seeds"]
  fields.append("values")
  with open(path + ".tmp", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(fields)
    for v in summary["variants"]:
      for metric in summary["metrics"]:
        s = v["stats"].get(metric)
        if s is None:
          continue
        writer.writerow(
          [
            v["name"],
            metric,
            s["n"],
            *(repr(s[k]) for k in ("mean", "std", "ci_low", "ci_high")),  # exact floats
            ";".join(s["members"]),
            ";".join(str(seed) for seed in s["seeds"]),
            ";".join(repr(x) for x in s["values"]),
          ]
        )
  os.replace(path + ".tmp", path)


def _write_markdown(
  path: str, workdir: str, summary: dict[str, Any], command: str | None, plots: Sequence[str]
) -> None:
  variants = {v["name"]: v for v in summary["variants"]}
  order = summary["ranking"] or list(variants)
  records = summary["members"]
  finished = sum(r["finished"] for r in records)
  diverged = sum(r["diverged_at"] is not None for r in records)
  lines = [
    "# Sweep report",
    "",
    f"Sweep `{workdir}`: {len(records)} members in {len(variants)} variants; "
    f"{finished}/{len(records)} finished"
    + (f", {diverged} diverged (left out of the statistics)." if diverged else "."),
    "",
  ]
  protocol = summary.get("protocol")
  if protocol:
    steps = sorted({r["last_step"] for r in records if r["last_step"] is not None})
    lines += [f"Protocol: {protocol}. Trained steps: {_steps_text(steps)}.", ""]
  lines += _notes(summary)
  if command:
    lines += ["Command:", "", "```", command, "```", ""]

  lines += [
    "## Variants",
    "",
    "Members that differ only by seed form a variant.",
    "",
    "| variant | seeds | seed values | steps | finished |",
    "| --- | ---: | --- | --- | --- |",
  ]
  by_member = {r["name"]: r for r in records}
  for name in order:
    v = variants[name]
    seeds = ", ".join("–" if s is None else str(s) for s in v["seeds"])
    done = sum(by_member[m]["finished"] for m in v["members"])
    lines.append(
      f"| {name} | {len(v['members'])} | {seeds} | {_steps_text(v['last_steps'])} "
      f"| {done}/{len(v['members'])} |"
    )
  lines.append("")

  primary = summary["primary"]
  rule = (
    "The primary metric is report.primary_metric where set, else the first of "
    "classifier_fid, fid, reverse_kl, stacked_kl (lower is better), modes, stacked_modes "
    "(higher is better) that any variant has."
  )
  if primary:
    metric, lower = primary
    better = "lower" if lower else "higher"
    lines += [
      f"## Ranking by `{metric}` ({better} is better)",
      "",
      rule + " Variants without it come last, unranked.",
      "",
      f"| rank | variant | {metric} | seeds | steps |",
      "| ---: | --- | --- | ---: | --- |",
    ]
    rank = 0
    for name in order:
      v = variants[name]
      s = v["stats"].get(metric)
      ranked = s is not None and math.isfinite(s["mean"])
      rank += ranked
      lines.append(
        f"| {rank if ranked else '–'} | {name} | {_cell(s)} | {len(v['members'])} "
        f"| {_steps_text(v['last_steps'])} |"
      )
    lines.append("")
  else:
    names = ", ".join(m for m, _ in PRIMARY_METRICS)
    lines += ["## Ranking", "", f"No ranking: none of {names} was logged.", ""]

  lines += [
    "## Final metrics",
    "",
    "A member's final value of a metric is its last logged value (best_<metric>: its best "
    "value over the member's evaluations); over seeds: mean ± std "
    f"(ddof=1) and the 95% percentile-bootstrap interval of the mean ({NUM_RESAMPLES:,} "
    "resamples). "
    "With few seeds the bootstrap interval is narrow and optimistic: read it with the "
    "number of seeds.",
    "",
  ]
  lines += ["| metric | variant | seeds | mean ± std | 95% CI | per seed |"]
  lines.append("| --- | --- | ---: | --- | --- | --- |")
  for metric in summary["metrics"]:
    for name in order:
      s = variants[name]["stats"].get(metric)
      if s is None:
        continue
      ci = f"[{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}]"
      per_seed = ", ".join(_fmt(x) for x in s["values"])
      lines.append(
        f"| {metric}{_direction(metric)} | {name} | {s['n']} "
        f"| {_fmt(s['mean'])} ± {_fmt(s['std'])} | {ci} | {per_seed} |"
      )
  lines += ["", "## Members", "", "| member | variant | seed | status | last step |"]
  lines.append("| --- | --- | --- | --- | ---: |")
  for r in records:
    status = "finished" if r["finished"] else ("unfinished" if r["last_step"] else "no metrics")
    if r["diverged_at"] is not None:
      status = f"diverged at step {r['diverged_at']}"
    step = r["last_step"] if r["last_step"] is not None else "–"
    seed = r["seed"] if r["seed"] is not None else "–"
    lines.append(f"| {r['name']} | {r['variant']} | {seed} | {status} | {step} |")
  if plots:
    lines += ["", "## Plots", ""]
    for p in plots:
      rel = os.path.relpath(p, workdir)
      lines += [f"![{os.path.basename(p)}]({rel})", ""]
  with open(path + ".tmp", "w") as f:
    f.write("\n".join(lines).rstrip() + "\n")
  os.replace(path + ".tmp", path)


def _new_figure(width: float, height: float):
  # A bare Figure on an Agg canvas: no pyplot global state, no GUI backend, nothing to close.
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
  from matplotlib.figure import Figure  # noqa: PLC0415

  fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
  FigureCanvasAgg(fig)
  return fig


def _colors(n: int) -> list:
  from matplotlib import colormaps  # noqa: PLC0415

  cmap = colormaps["tab10" if n <= 10 else "tab20"]
  return [cmap(i % cmap.N) for i in range(n)]


def _plot_vs_step(path: str, metric: str, summary: dict[str, Any], colors: dict) -> bool:
  records = summary["members"]
  fig = _new_figure(7.5, 4.5)
  ax = fig.add_subplot()
  drawn = False
  for v in summary["variants"]:
    runs = [
      r["series"][metric] for r in records if r["variant"] == v["name"] and metric in r["series"]
    ]
    steps = sorted({s for run in runs for s in run})
    if not steps:
      continue
    mean, lo, hi = [], [], []
    for s in steps:
      vals = np.asarray([run[s] for run in runs if s in run], np.float64)
      vals = vals[np.isfinite(vals)]
      mean.append(vals.mean() if vals.size else np.nan)
      lo.append(vals.min() if vals.size else np.nan)
      hi.append(vals.max() if vals.size else np.nan)
    n = len(runs)
    label = f"{v['name']} (n={n})"
    marker = "o" if len(steps) <= 20 else None
    ax.plot(steps, mean, color=colors[v["name"]], label=label, marker=marker, markersize=3)
    if n > 1:
      ax.fill_between(steps, lo, hi, color=colors[v["name"]], alpha=0.2, linewidth=0)
    drawn = True
  if not drawn:
    return False
  ax.set_title(f"{metric}{_direction(metric)}\nmean over seeds, band = min–max", fontsize=10)
  ax.set_xlabel("step (generator updates)")
  ax.set_ylabel(metric)
  ax.grid(True, alpha=0.3)
  _legend(fig, ax, len(summary["variants"]))
  fig.savefig(path)
  return True


def _legend(fig, ax, n: int) -> None:
  if n <= 6:
    ax.legend(fontsize=8, loc="best")
  else:  # many variants: keep the curves clear, list them beside the axes
    fig.set_figwidth(fig.get_figwidth() + 3.0)
    fig.legend(fontsize=7, loc="outside right upper")


def _plot_final(path: str, metric: str, summary: dict[str, Any], order, colors: dict) -> bool:
  variants = {v["name"]: v for v in summary["variants"]}
  names = [n for n in order if metric in variants[n]["stats"]]
  if not names:
    return False
  fig = _new_figure(max(5.0, 1.0 + 0.8 * len(names)), 4.5)
  ax = fig.add_subplot()
  for x, name in enumerate(names):
    s = variants[name]["stats"][metric]
    color = colors[name]
    if math.isfinite(s["ci_low"]):
      err = [[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]]
      ax.errorbar([x], [s["mean"]], yerr=err, fmt="o", color=color, capsize=5, markersize=7)
    else:
      ax.plot([x], [s["mean"]], "o", color=color, markersize=7)
    seeds = np.asarray(s["values"], np.float64)
    # The seeds beside their mean, spread a little so equal values stay visible.
    offsets = np.linspace(-0.04, 0.04, seeds.size) if seeds.size > 1 else np.zeros(1)
    ax.scatter(x + 0.15 + offsets, seeds, s=14, color=color, alpha=0.7, marker="x")
  rotate = len(names) > 2 or max(len(n) for n in names) > 20
  ax.set_xticks(range(len(names)))
  ax.set_xticklabels(
    names, rotation=30 if rotate else 0, ha="right" if rotate else "center", fontsize=8
  )
  ax.set_xlim(-0.5, len(names) - 0.5)
  ax.set_title(
    f"final {metric}{_direction(metric)}\nmean with 95% bootstrap CI of the mean (o), seeds (x)",
    fontsize=10,
  )
  ax.set_xlabel("variant")
  ax.set_ylabel(metric)
  ax.grid(True, axis="y", alpha=0.3)
  fig.savefig(path)
  return True


def write_plots(workdir: str, summary: dict[str, Any]) -> list[str]:
  """plots/<metric>_vs_step.png and plots/<metric>_final.png for every metric; their paths."""
  plot_dir = os.path.join(workdir, "plots")
  os.makedirs(plot_dir, exist_ok=True)
  names = [v["name"] for v in summary["variants"]]
  colors = dict(zip(names, _colors(len(names)), strict=True))  # one color per variant everywhere
  order = summary["ranking"] or names
  paths = []
  for metric in summary["metrics"]:
    stem = os.path.join(plot_dir, _UNSAFE.sub("_", metric))
    if _plot_vs_step(stem + "_vs_step.png", metric, summary, colors):
      paths.append(stem + "_vs_step.png")
    if _plot_final(stem + "_final.png", metric, summary, order, colors):
      paths.append(stem + "_final.png")
  return paths


def write_report(
  workdir: str,
  members: Sequence[dict[str, Any]] | None = None,
  *,
  command: str | None = None,
  plots: bool = True,
  primary_metric: str = "",
) -> dict[str, Any]:
  """Writes report.csv, report.md and plots/ for the sweep in `workdir`.

  Args:
    workdir: the sweep directory, with one subdirectory per member.
    members: from load_sweep()/run_sweep() (or raw get_sweep() dicts); None reads
      workdir/sweep.json.
    command: the sweep's command line; None takes the one recorded in sweep.json.
    plots: also draw the PNGs.

  Returns:
    {"csv": path, "md": path, "plots": [paths], "summary": summarize()'s dict}.
  """
  recorded: dict[str, Any] = {}
  try:
    with open(os.path.join(workdir, sweep_lib.SWEEP_FILE)) as f:
      recorded = json.load(f)
  except (OSError, ValueError):
    pass
  if members is None:
    if "members" not in recorded:
      raise sweep_lib.SweepError(
        f"no members given and no readable {sweep_lib.SWEEP_FILE} in {workdir}"
      )
    members = recorded["members"]
  command = command if command is not None else recorded.get("command")
  summary = summarize(workdir, members, primary_metric=primary_metric)
  plot_paths = write_plots(workdir, summary) if plots else []
  csv_path = os.path.join(workdir, "report.csv")
  md_path = os.path.join(workdir, "report.md")
  _write_csv(csv_path, summary)
  _write_markdown(md_path, workdir, summary, command, plot_paths)
  return {"csv": csv_path, "md": md_path, "plots": plot_paths, "summary": summary}
