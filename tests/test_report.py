"""The sweep report: exact statistics over seeds, a deterministic bootstrap, ranking, outputs."""

import csv
import json
import math
import os

import numpy as np
import pytest

from gan_jax import report

# Final values per member; each variant (loss) has two seeds.
FINALS = {
  ("hinge", 0): {"fid": 10.0, "modes": 6.0, "g_loss": 1.0},
  ("hinge", 1): {"fid": 14.0, "modes": 8.0, "g_loss": 2.0},
  ("minimax", 0): {"fid": 20.0, "modes": 3.0, "g_loss": 4.0},
  ("minimax", 1): {"fid": 30.0, "modes": 5.5, "g_loss": 8.0},
}


def make_sweep(root, finals=FINALS, eval_keys=("fid", "modes")):
  """Member workdirs as train_and_evaluate leaves them, with known final values."""
  members = []
  for (loss, seed), values in finals.items():
    name = f"loss={loss},seed={seed}"
    members.append({"name": name, "overrides": {"loss": loss, "seed": seed}})
    os.makedirs(root / name)
    rows = [{"step": 0, "event": "start", "dataset": "mnist", "devices": 1}]
    for step in (100, 200):
      # Earlier rows carry other values: the report must take the last one.
      scale = 1.0 if step == 200 else 3.0
      rows.append(
        {
          "step": step,
          "d_loss": 0.5 * scale,
          "g_loss": values["g_loss"] * scale,
          "steps_per_s": "nan",
        }
      )
      evals = {k: values[k] * scale for k in eval_keys}
      rows.append({"step": step, **evals, "eval_time": 3.0})
    with open(root / name / "metrics.jsonl", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
      f.write('{"step": 300, "d_loss": 0.1')  # a run killed mid-write
    (root / name / "DONE").write_text("200\n")
  return members


def read_csv(path):
  with open(path) as f:
    return {(r["variant"], r["metric"]): r for r in csv.DictReader(f)}


def test_read_metrics_skips_a_truncated_line(tmp_path):
  make_sweep(tmp_path)
  rows = report.read_metrics(str(tmp_path / "loss=hinge,seed=0"))
  assert len(rows) == 5 and rows[-1]["step"] == 200
  assert report.read_metrics(str(tmp_path / "missing")) == []
  finals = report.final_values(rows)
  assert finals == {"d_loss": 0.5, "g_loss": 1.0, "fid": 10.0, "modes": 6.0}


def test_report_csv_has_exact_statistics(tmp_path):
  members = make_sweep(tmp_path)
  paths = report.write_report(str(tmp_path), members)
  rows = read_csv(paths["csv"])
  assert {v for v, _ in rows} == {"loss=hinge", "loss=minimax"}
  for loss in ("hinge", "minimax"):
    for metric in ("fid", "modes", "g_loss", "d_loss"):
      values = [FINALS[(loss, s)][metric] if metric != "d_loss" else 0.5 for s in (0, 1)]
      row = rows[(f"loss={loss}", metric)]
      assert int(row["n"]) == 2
      assert float(row["mean"]) == np.mean(values)
      assert float(row["std"]) == np.std(values, ddof=1)
      assert [float(x) for x in row["values"].split(";")] == values
      assert row["seeds"] == "0;1"
      # Two seeds: the resampled means are a, (a + b) / 2 and b with probabilities 1/4, 1/2,
      # 1/4, so the 2.5% and 97.5% quantiles are the two values themselves.
      assert (float(row["ci_low"]), float(row["ci_high"])) == (min(values), max(values))
  assert rows[("loss=hinge", "fid")]["std"] == repr(math.sqrt(8.0))
  # Bookkeeping keys are not metrics.
  assert not {m for _, m in rows} & {"step", "steps_per_s", "eval_time", "devices", "event"}


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
  values = [3.0, 7.0, 4.0, 9.5, 5.0]
  lo, hi = report.bootstrap_ci(values)
  assert lo < np.mean(values) < hi
  assert (lo, hi) == report.bootstrap_ci(values)
  assert report.bootstrap_ci([2.5]) == (2.5, 2.5)
  assert all(math.isnan(x) for x in report.bootstrap_ci([1.0, float("nan")]))
  single = report.aggregate([2.5])
  assert (single["n"], single["mean"], single["std"], single["ci_low"]) == (1, 2.5, 0.0, 2.5)


def test_report_is_deterministic(tmp_path):
  members = make_sweep(tmp_path)
  first = report.write_report(str(tmp_path), members, plots=False)
  csv_text, md_text = open(first["csv"]).read(), open(first["md"]).read()
  report.write_report(str(tmp_path), members, plots=False)
  assert open(first["csv"]).read() == csv_text and open(first["md"]).read() == md_text


def test_ranking_lower_is_better(tmp_path):
  summary = report.summarize(str(tmp_path), make_sweep(tmp_path))
  # fid (lower is better) comes before modes in the rule.
  assert summary["primary"] == ("fid", True)
  assert summary["ranking"] == ["loss=hinge", "loss=minimax"]


def test_ranking_higher_is_better(tmp_path):
  finals = {k: {**v, "modes": 10.0 - v["modes"]} for k, v in FINALS.items()}
  summary = report.summarize(str(tmp_path), make_sweep(tmp_path, finals, eval_keys=("modes",)))
  assert summary["primary"] == ("modes", False)
  # minimax: 7 and 4.5 modes beat hinge's 4 and 2.
  assert summary["ranking"] == ["loss=minimax", "loss=hinge"]


def test_ranking_prefers_classifier_fid_and_none_without_primary(tmp_path):
  finals = {
    k: {"classifier_fid": 1.0 + (k[0] == "hinge"), "fid": 10.0 - (k[0] == "hinge"), "g_loss": 0.0}
    for k in FINALS
  }
  summary = report.summarize(
    str(tmp_path / "a"), make_sweep(tmp_path / "a", finals, eval_keys=("classifier_fid", "fid"))
  )
  assert summary["primary"] == ("classifier_fid", True)
  assert summary["ranking"] == ["loss=minimax", "loss=hinge"]
  summary = report.summarize(str(tmp_path / "b"), make_sweep(tmp_path / "b", eval_keys=()))
  assert summary["primary"] is None and summary["ranking"] == []


def test_report_markdown_and_plots(tmp_path):
  members = make_sweep(tmp_path)
  paths = report.write_report(str(tmp_path), members, command="python launch.py --sweep")
  md = open(paths["md"]).read()
  assert "loss=hinge" in md and "loss=minimax" in md
  assert "Ranking by `fid`" in md and "python launch.py --sweep" in md
  assert "12 ± 2.828 (se 2) [10, 14]" in md  # hinge fid: mean ± std [ci]
  plots = sorted(os.listdir(tmp_path / "plots"))
  expected = sorted(
    f"{metric}_{kind}.png"
    for metric in ("fid", "modes", "d_loss", "g_loss")
    for kind in ("vs_step", "final")
  ) + ["best_fid_final.png", "best_modes_final.png"]  # a best has no curve over steps
  assert plots == sorted(expected)
  for name in plots:
    assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_variants_without_seed_overrides_and_members_from_sweep_json(tmp_path):
  members = [
    {"name": "a", "overrides": {"loss": "hinge"}},
    {"name": "b", "overrides": {"loss": "minimax"}},
  ]
  for m, fid in zip(members, (5.0, 3.0), strict=True):
    os.makedirs(tmp_path / m["name"])
    (tmp_path / m["name"] / "metrics.jsonl").write_text(json.dumps({"step": 5, "fid": fid}) + "\n")
  (tmp_path / "sweep.json").write_text(json.dumps({"command": "cmd", "members": members}))
  paths = report.write_report(str(tmp_path), plots=False)
  summary = paths["summary"]
  assert [v["name"] for v in summary["variants"]] == ["a", "b"]
  assert summary["ranking"] == ["b", "a"]
  row = read_csv(paths["csv"])[("a", "fid")]
  assert (row["n"], row["std"], row["ci_low"], row["ci_high"]) == ("1", "0.0", "5.0", "5.0")
  with pytest.raises(ValueError, match="sweep.json"):
    report.write_report(str(tmp_path / "nowhere"))


def test_explicitly_named_members_keep_their_variant_name(tmp_path):
  members = [
    {"name": f"wgan_gp,seed={s}", "loss": "wasserstein", "penalty": "gradient_penalty", "seed": s}
    for s in (0, 1)
  ]
  members += [{"loss": "hinge", "seed": s} for s in (0, 1)]
  # Named members trained as num_seeds runs (no seed override), as lucic2018.py's: the
  # name, not the overrides' (long, hashed) name.
  members += [
    {"name": "dragan", "loss": "non_saturating", "penalty": "dragan", "d_optimizer.b2": 0.9},
    {"name": "pack=4", "model.pack": 4, "batch_size": 400},
  ]
  summary = report.summarize(str(tmp_path), members)
  names = ["wgan_gp", "loss=hinge", "dragan", "pack=4"]
  assert [v["name"] for v in summary["variants"]] == names
  assert [v["seeds"] for v in summary["variants"]][:2] == [[0, 1], [0, 1]]


def test_best_over_evaluations_is_the_min_or_max_of_each_run(tmp_path):
  # fid 12 -> 9 -> 11 and modes 5 -> 7 -> 6: the best is not the last.
  name = "seed=0"
  os.makedirs(tmp_path / name)
  rows = [
    {"step": s, "fid": f, "modes": m, "d_loss": d}
    for s, f, m, d in ((10, 12.0, 5.0, 1.0), (20, 9.0, 7.0, 0.1), (30, 11.0, 6.0, 0.5))
  ]
  with open(tmp_path / name / "metrics.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  summary = report.summarize(str(tmp_path), [{"name": name, "overrides": {"seed": 0}}])
  (record,) = summary["members"]
  assert record["finals"]["fid"] == 11.0 and record["finals"]["best_fid"] == 9.0
  assert record["finals"]["modes"] == 6.0 and record["finals"]["best_modes"] == 7.0
  assert "best_d_loss" not in record["finals"]  # a training loss has no "best"
  assert summary["metrics"][:4] == ["fid", "best_fid", "modes", "best_modes"]
  assert math.isnan(report.best_values({"fid": {10: 3.0, 20: float("nan")}})["best_fid"])
  assert report.best_values({"fid": {10: 3.0}}) == {}  # one evaluation: best is the last


def test_a_report_of_the_fixture_sweep_has_best_rows(tmp_path):
  members = make_sweep(tmp_path)
  rows = read_csv(report.write_report(str(tmp_path), members)["csv"])
  # Evaluations at steps 100 (3x) and 200 (1x): the best FID is the last, the best modes the first.
  assert float(rows[("loss=hinge", "best_fid")]["mean"]) == 12.0
  assert float(rows[("loss=hinge", "best_modes")]["mean"]) == 21.0
