"""Checkpoints of the GAN state (Orbax), atomic and verified on restore.

Orbax writes each step into a temporary directory and renames it when
complete, so a kill mid-write leaves no half checkpoint under a step's name.
Restoring walks from the newest step down and skips any checkpoint that fails
to read (truncated or corrupted files), with one warning line: a broken
latest checkpoint never blocks a resume.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.errors import WorkdirError


def make_manager(workdir: str, *, max_to_keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep,
    create=True,
    cleanup_tmp_directories=True,  # leftovers of a save that was killed mid-write
    # Synchronous: the train step donates the state's buffers, and a save
    # must have read them before the next step reuses them.
    enable_async_checkpointing=False,
  )
  with _orbax_errors_silenced():  # a damaged checkpoint is reported when it is restored
    return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, "checkpoints")), options=options
    )


def save(manager: ocp.CheckpointManager, step: int, state: Any) -> None:
  manager.save(step, args=ocp.args.StandardSave(state), force=True)
  manager.wait_until_finished()


def restore_latest(manager: ocp.CheckpointManager, target: Any) -> tuple[Any, int] | None:
  """Newest checkpoint that reads back, as (state, step); None when there is none.

  `target` is a state (or abstract state) giving structure, shapes and shardings. When
  there are checkpoints but none reads back, they have all been set aside and
  WorkdirError says so in one line (a re-run then starts afresh).
  """
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  with _orbax_errors_silenced():
    steps = sorted(manager.all_steps(), reverse=True)
  unreadable = []
  for step in steps:
    try:
      with _orbax_errors_silenced():  # the reason is reported below, in one line
        state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped alike
      if isinstance(e, ValueError) and "tree structures do not match" in str(e):
        # Readable, but of another state than this config's: not damaged, so left in place.
        raise WorkdirError(
          f"the checkpoint at step {step} in {manager.directory} holds a state of other "
          "structure than this config's (another model, optimizer or game): use the config "
          "it was trained with, or another --workdir"
        ) from None
      reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
      unreadable.append((step, reason, _set_aside(manager, step)))
      continue
    for bad_step, reason, aside in unreadable:
      logging.warning(
        "checkpoint at step %d is unreadable (%s); moved to %s, resuming from step %d",
        bad_step,
        reason,
        aside,
        step,
      )
    return state, step
  if unreadable:
    aside = os.path.dirname(unreadable[0][2])
    raise WorkdirError(
      f"no checkpoint in {manager.directory} could be read (step {unreadable[0][0]}: "
      f"{unreadable[0][1]}); all moved to {aside}: re-run to start afresh, or use another "
      "--workdir"
    )
  return None


@contextlib.contextmanager
def _orbax_errors_silenced():
  """Orbax logs its own ERROR lines for a damaged checkpoint before raising."""
  # Both levels restored as they were: under absl.app, set_verbosity moves the root logger's
  # level (the absl logger inherits it), elsewhere the absl logger's own; set_verbosity(
  # get_verbosity()) would pin an inherited level and drop later INFO lines.
  absl_logger, root = logging.get_absl_logger(), std_logging.getLogger()
  levels = absl_logger.level, root.level
  logging.set_verbosity(logging.FATAL)
  try:
    yield
  finally:
    absl_logger.setLevel(levels[0])
    root.setLevel(levels[1])


def _set_aside(manager: ocp.CheckpointManager, step: int) -> str:
  """Moves an unreadable checkpoint out of the manager's directory (kept for inspection).

  Left in place it would block saving that step again after the resume.
  """
  root = str(manager.directory)
  src = os.path.join(root, str(step))
  dst = os.path.join(
    os.path.dirname(root), "checkpoints_unreadable", f"{step}_{time.strftime('%Y%m%d-%H%M%S')}"
  )
  os.makedirs(os.path.dirname(dst), exist_ok=True)
  os.replace(src, dst)
  manager.reload()
  return dst
