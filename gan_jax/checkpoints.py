"""Checkpoints of the GAN state (Orbax), atomic and verified on restore.

Orbax writes each step into a temporary directory and renames it when
complete, so a kill mid-write leaves no half checkpoint under a step's name.
Restoring walks from the newest step down and skips any checkpoint that fails
to read (truncated or corrupted files), with one warning line: a broken
latest checkpoint never blocks a resume.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging


def make_manager(workdir: str, *, max_to_keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep,
    create=True,
    cleanup_tmp_directories=True,  # leftovers of a save that was killed mid-write
    # Synchronous: the train step donates the state's buffers, and a save
    # must have read them before the next step reuses them.
    enable_async_checkpointing=False,
  )
  return ocp.CheckpointManager(
    os.path.abspath(os.path.join(workdir, "checkpoints")), options=options
  )


def save(manager: ocp.CheckpointManager, step: int, state: Any) -> None:
  manager.save(step, args=ocp.args.StandardSave(state), force=True)
  manager.wait_until_finished()


def restore_latest(manager: ocp.CheckpointManager, target: Any) -> tuple[Any, int] | None:
  """Newest checkpoint that reads back, as (state, step); None when there is none.

  `target` is a state (or abstract state) giving structure, shapes and shardings.
  """
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped alike
      aside = _set_aside(manager, step)
      logging.warning(
        "checkpoint at step %d is unreadable (%s: %s); moved to %s, trying an older one",
        step,
        type(e).__name__,
        str(e).splitlines()[0][:200] if str(e) else "",
        aside,
      )
      continue
    return state, step
  return None


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
