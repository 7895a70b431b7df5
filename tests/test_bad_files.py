"""Files that are not what they should be: one line on stderr, exit 2, nothing lost.

The launches run in this process (gan_jax.launcher.run, tests/_launch.py)."""

import os
import shutil

import _launch  # a sibling helper module (pytest puts tests/ on the path)
import pytest

TINY_RING = [
  "--config=experiments/gan2d.py",
  "--config.model.g_hidden_dim=8",
  "--config.model.d_hidden_dim=8",
  "--config.total_steps=2",
  "--config.eval_every=-1",
]


def launch(*args):
  return _launch.launch(*args)


def one_line(result, expected: str) -> None:
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 2, result.stderr[-3000:]
  assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-3000:]
  assert expected in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("trained") / "run"
  result = launch(*TINY_RING, f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


@pytest.mark.parametrize(
  "text,expected",
  [
    ("{not json", "is not readable JSON"),
    ("[1, 2]", "is not a gan_jax config"),
    ('{"foo": 1}', "is not a gan_jax config"),
  ],
)
def test_a_config_json_that_is_not_a_gan_jax_config(tmp_path, text, expected):
  workdir = tmp_path / "run"
  os.makedirs(workdir / "checkpoints" / "1")
  (workdir / "config.json").write_text(text)
  for mode in ("eval", "sample"):
    one_line(launch(f"--mode={mode}", f"--workdir={workdir}"), expected)
  one_line(launch(*TINY_RING, f"--workdir={workdir}"), expected)
  assert (workdir / "config.json").read_text() == text  # left as it was


@pytest.mark.slow  # a training run
def test_a_checkpoint_directory_with_no_readable_checkpoint(trained, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir, symlinks=True)
  for root, _, files in os.walk(workdir / "checkpoints"):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"garbage")
  one_line(launch("--mode=eval", f"--workdir={workdir}"), "could be read")
  # The unreadable checkpoints were set aside, not deleted.
  assert os.listdir(workdir / "checkpoints_unreadable")


@pytest.mark.parametrize(
  "source,expected",
  [
    (None, "not found"),
    ("x = 1\n", "defines no get_config()"),
    ("def get_config(:\n", "is not valid Python"),
    ("def get_config():\n  return 5\n", "returned int, not a ConfigDict"),
    (
      "def get_config():\n  raise RuntimeError('boom')\n",
      "get_config() failed: RuntimeError: boom",
    ),
  ],
)
def test_an_experiments_file_that_cannot_serve(tmp_path, source, expected):
  path = tmp_path / "exp.py"
  if source is not None:
    path.write_text(source)
  workdir = tmp_path / "run"
  one_line(launch(f"--config={path}", f"--workdir={workdir}"), expected)
  assert not workdir.exists()


@pytest.mark.parametrize(
  "sweep,expected",
  [
    ("5", "a sweep is a non-empty list of override dicts"),
    ("[]", "a sweep is a non-empty list of override dicts"),
    ("[{'loss': 'hinge'}, 'seed=1']", "sweep member 1 is not a dict of overrides"),
    ("[{'bogus': 1}]", "unknown config key 'bogus'"),
    ("[{'loss': 'bogus'}]", "unknown loss 'bogus'"),
  ],
)
def test_a_sweep_that_is_not_a_list_of_override_dicts(tmp_path, sweep, expected):
  path = tmp_path / "exp.py"
  path.write_text(
    "from gan_jax.games import default_config\n\n"
    "def get_config():\n  return default_config()\n\n"
    f"def get_sweep():\n  return {sweep}\n"
  )
  workdir = tmp_path / "sweep"
  one_line(launch(f"--config={path}", f"--workdir={workdir}", "--sweep"), expected)
  assert not workdir.exists()


@pytest.mark.parametrize("absl_handler_on_root", [True, False], ids=["under_app", "library"])
def test_silencing_orbax_leaves_the_logging_levels_as_they_were(absl_handler_on_root):
  # Under absl.app the absl handler sits on the root logger and set_verbosity moves the root
  # level; a restore of the absl logger alone left the root at FATAL and the run silent.
  import logging as std_logging

  from absl import logging

  from gan_jax import checkpoints

  root, absl_logger = std_logging.getLogger(), logging.get_absl_logger()
  saved = root.level, absl_logger.level, list(root.handlers)
  try:
    if absl_handler_on_root and logging.get_absl_handler() not in root.handlers:
      root.addHandler(logging.get_absl_handler())
    root.setLevel(std_logging.INFO)
    absl_logger.setLevel(std_logging.NOTSET)
    with checkpoints._orbax_errors_silenced():
      assert not absl_logger.isEnabledFor(std_logging.ERROR)
    assert (root.level, absl_logger.level) == (std_logging.INFO, std_logging.NOTSET)
    assert absl_logger.isEnabledFor(std_logging.INFO)
  finally:
    root.setLevel(saved[0])
    absl_logger.setLevel(saved[1])
    root.handlers[:] = saved[2]
