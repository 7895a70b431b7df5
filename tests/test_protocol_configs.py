"""The published protocols' configs (experiments/pacgan_2d.py, pacgan_stacked_mnist.py,
lucic2018.py) hold their papers' settings, and their quick variants say so."""

import importlib.util
import os

import pytest

from gan_jax import sweep
from gan_jax.games import validate

PACGAN_2D = "experiments/pacgan_2d.py"
STACKED = "experiments/pacgan_stacked_mnist.py"
LUCIC = "experiments/lucic2018.py"


def _config(path, variant):
  spec = importlib.util.spec_from_file_location("_protocol_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant)
  validate(config)
  return config


def _members(path, variant):
  config = _config(path, variant)
  return {
    m["name"]: sweep.member_config(config, m["overrides"], member=m["name"])
    for m in sweep.load_sweep(f"{path}:{variant}")
  }


@pytest.mark.parametrize("variant", ["ring", "grid"])
def test_pacgan_2d_is_the_papers(variant):
  c = _config(PACGAN_2D, variant)
  assert (c.dataset, c.data.fixed_examples, c.model.z_dim) == (variant, 100_000, 2)
  assert (c.model.g_hidden_dim, c.model.g_num_layers, c.model.g_batch_norm) == (400, 4, True)
  assert (c.model.d_hidden_dim, c.model.d_num_layers, c.model.d_activation) == (200, 3, "maxout")
  assert c.model.maxout_pieces == 5
  assert (c.loss, c.update_rule) == ("non_saturating", "simultaneous")
  for opt in (c.g_optimizer, c.d_optimizer):
    assert (opt.name, opt.learning_rate, opt.b1) == ("adam", 1e-4, 0.8)
  assert (c.total_steps, c.num_seeds, c.eval.num_samples) == (400_000, 10, 2500)
  members = _members(PACGAN_2D, variant)
  assert sorted(members) == [f"pack={m}" for m in (1, 2, 3, 4)]
  for m in (1, 2, 3, 4):  # 100 packed examples per step
    assert (members[f"pack={m}"].model.pack, members[f"pack={m}"].batch_size) == (m, 100 * m)
  quick = _config(PACGAN_2D, f"{variant}_quick")
  assert "QUICK" in quick.report.protocol and "400,000" in quick.report.protocol
  assert "QUICK" not in c.report.protocol and "400,000 steps, 10 seeds" in c.report.protocol


def test_stacked_mnist_is_pacgans_veegan_setting():
  c = _config(STACKED, "full")
  assert (c.dataset, c.data.fixed_examples, c.model.name) == ("stacked_mnist", 128_000, "veegan")
  assert (c.model.z_dim, c.model.z_prior, c.model.image_size) == (100, "uniform", 28)
  assert (c.loss, c.g_steps, c.d_steps, c.batch_size) == ("non_saturating", 2, 1, 64)
  for opt in (c.g_optimizer, c.d_optimizer):
    assert (opt.name, opt.learning_rate, opt.b1) == ("adam", 2e-4, 0.5)
  assert (c.total_steps, c.num_seeds, c.eval.num_samples) == (100_000, 10, 26_000)
  members = _members(STACKED, "full")
  assert {n: (m.model.pack, m.batch_size) for n, m in members.items()} == {
    f"pack={m}": (m, 64 * m) for m in (1, 2, 3, 4)
  }
  quick = _config(STACKED, "quick")
  assert "QUICK" in quick.report.protocol and quick.total_steps < c.total_steps


@pytest.mark.parametrize("variant, batches", [("full", 15_625), ("quick", 1_000)])
def test_lucic_members_see_their_codes_number_of_batches(variant, batches):
  # compare_gan v1 counts a step as one D update on one batch (G every disc_iters of them):
  # 20 epochs of 50,000 images at batch 64 are 15,625 batches for every objective.
  members = _members(LUCIC, variant)
  assert sorted(members) == sorted(
    ["minimax", "non_saturating", "least_squares", "wasserstein", "wgan_gp", "dragan"]
  )
  for name, m in members.items():
    assert m.total_steps * m.d_steps == batches, name
    assert (m.batch_size, m.model.name, m.model.z_dim, m.model.z_prior) == (
      64,
      "infogan",
      64,
      "uniform",
    )
    if variant == "full":
      # FID of 10,000 samples at the first step after each 5 epochs: 4 evaluations.
      evals = [s for s in range(1, m.total_steps + 1) if s % m.eval_every == 0]
      assert len(evals) == 3 and evals[-1] < m.total_steps, name
      assert [s * m.d_steps * 64 >= k * 250_000 for k, s in enumerate(evals, 1)] == [True] * 3
      assert (m.eval.num_samples, m.num_seeds) == (10_000, 5)
  assert members["wasserstein"].d_steps == members["wgan_gp"].d_steps == 5
  assert members["wasserstein"].d_weight_clip == 0.01
  assert (members["wgan_gp"].penalty, members["wgan_gp"].penalty_weight) == (
    "gradient_penalty",
    10.0,
  )
  assert (members["dragan"].penalty, members["dragan"].d_steps) == ("dragan", 1)


# The report header of every protocol config, word for word: the table it reproduces as the
# paper numbers it (PacGAN: the NeurIPS 2018 paper's tables, as the authors' repository
# fjxmlzn/PacGAN shows them: results/Table1.png is the 2-D ring and grid, Table2.png Stacked
# MNIST with VEEGAN's networks, Table3.png the Unrolled GAN setting), or that it reproduces
# none.
HEADERS = {
  (PACGAN_2D, "ring"): "PacGAN (Lin et al. 2018) Table 1, 2-D ring: 400,000 steps, 10 seeds",
  (PACGAN_2D, "grid"): "PacGAN (Lin et al. 2018) Table 1, 2-D grid: 400,000 steps, 10 seeds",
  (PACGAN_2D, "ring_quick"): "PacGAN (Lin et al. 2018) Table 1, 2-D ring: QUICK variant, "
  "10,000 steps, 3 seeds (the paper: 400,000 steps, 10 seeds)",
  (PACGAN_2D, "grid_quick"): "PacGAN (Lin et al. 2018) Table 1, 2-D grid: QUICK variant, "
  "10,000 steps, 3 seeds (the paper: 400,000 steps, 10 seeds)",
  (STACKED, "full"): "PacGAN (Lin et al. 2018) Table 2, Stacked MNIST (VEEGAN setting): "
  "100,000 steps, 10 seeds",
  (STACKED, "quick"): "PacGAN (Lin et al. 2018) Table 2, Stacked MNIST (VEEGAN setting): "
  "QUICK variant, 100 steps, 2 seeds (the paper: 100,000 steps, 10 seeds)",
  (LUCIC, "full"): "Lucic et al. 2018, MNIST / Fashion-MNIST FID, one setting per objective "
  "(not a table of the paper: its FIDs come from a search over settings); steps of one D "
  "update, 5-critic members a fifth as many steps of 5: 15,625 steps, 5 seeds",
  (LUCIC, "quick"): "Lucic et al. 2018, MNIST / Fashion-MNIST FID, one setting per objective "
  "(not a table of the paper: its FIDs come from a search over settings); steps of one D "
  "update, 5-critic members a fifth as many steps of 5: QUICK variant, 1,000 steps, 2 seeds "
  "(the paper: 15,625 steps)",
  ("experiments/limited_data.py", "full"): "Limited data: 600 MNIST training digits (1%), "
  "classifier metrics against the full test split: 10,000 steps, 5 seeds",
  ("experiments/limited_data.py", "quick"): "Limited data: 600 MNIST training digits (1%), "
  "classifier metrics against the full test split; ADA's p 10x faster (ada_kimg 50): QUICK "
  "variant, 1,500 steps, 3 seeds (the full protocol: 10,000 steps, 5 seeds)",
}


@pytest.mark.parametrize("path, variant", sorted(HEADERS))
def test_each_protocol_header_names_its_table(path, variant):
  assert _config(path, variant).report.protocol == HEADERS[path, variant]


@pytest.mark.parametrize(
  "path, table",
  [(PACGAN_2D, "Table 1"), (STACKED, "Table 2")],
)
def test_the_pacgan_docstrings_name_the_table_of_their_headers(path, table):
  spec = importlib.util.spec_from_file_location("_doc_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  first_line = module.__doc__.splitlines()[0]
  assert f"(Lin et al. 2018, {table})" in first_line
  # No other table of the paper is named as the one reproduced.
  others = {"Table 1", "Table 2", "Table 3"} - {table}
  assert not any(f"(Lin et al. 2018, {t})" in module.__doc__ for t in others)
