"""Run outputs: metrics.jsonl rows, TensorBoard event files and PNG images.

TensorBoard events are written with tensorboard's own record writer (the
TFRecord framing of its TensorFlow stub) to a plain file, rather than with
tf.summary / clu or tensorboard's EventFileWriter (which imports TensorFlow when
it is installed), so that a run never pays TensorFlow's start-up (~5 s on a
small CPU) just to log scalars.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


def image_grid(images: np.ndarray, *, rows: int | None = None) -> np.ndarray:
  """(N, H, W, C) float in [-1, 1] -> one uint8 (rows*H+pad, cols*W+pad, C) grid."""
  n, h, w, c = images.shape
  rows = rows or int(math.ceil(math.sqrt(n)))
  cols = int(math.ceil(n / rows))
  pad = 1
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
  pixels = np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top : top + h, left : left + w] = pixels[i]
  return grid


def encode_png(pixels: np.ndarray) -> bytes:
  """uint8 (H, W, 1|3) -> PNG bytes."""
  mode = "L" if pixels.shape[-1] == 1 else "RGB"
  buf = io.BytesIO()
  Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode).save(buf, format="PNG")
  return buf.getvalue()


def scatter_png(points: np.ndarray, centers: np.ndarray | None = None, *, lim: float) -> np.ndarray:
  """2-D samples (and the true mode centers) as a uint8 RGB picture."""
  import matplotlib  # noqa: PLC0415 - only 2-D runs need it

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # noqa: PLC0415

  fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
  ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue")
  if centers is not None:
    ax.scatter(centers[:, 0], centers[:, 1], s=20, marker="x", color="tab:red")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect("equal")
  fig.tight_layout()
  fig.canvas.draw()
  pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return pixels


class Writer:
  """Appends metric rows to workdir/metrics.jsonl and TensorBoard events.

  Every row is flushed at once, so a killed run loses nothing it logged. A writer with
  `enabled=False` writes nothing (the processes of a multi-process run other than 0).
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.enabled = enabled
    if not enabled:
      return
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115
    # One event file per (re)start, named as TensorBoard expects.
    name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}"
    self._event_file = open(os.path.join(workdir, name), "ab")  # noqa: SIM115
    self._events = RecordWriter(self._event_file)
    self._write_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

  def write_scalars(self, step: int, scalars: dict[str, Any], seed: int | None = None) -> None:
    """One metrics.jsonl row (and TensorBoard scalars) for `step`.

    `seed` marks the row of one run of several trained together (config.num_seeds):
    the row gets a "seed" field and the TensorBoard tags a "/seed_<seed>" suffix.
    """
    if not self.enabled:
      return
    row = {"step": int(step)}
    if seed is not None:
      row["seed"] = int(seed)
    row.update({k: _plain(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()
    suffix = "" if seed is None else f"/seed_{seed}"
    values = [
      summary_pb2.Summary.Value(tag=k + suffix, simple_value=float(v))
      for k, v in row.items()
      if k not in ("step", "seed") and isinstance(v, (int, float))
    ]
    self._add(step, values)

  def write_image(self, step: int, tag: str, pixels: np.ndarray) -> None:
    if not self.enabled:
      return
    image = summary_pb2.Summary.Image(
      height=pixels.shape[0],
      width=pixels.shape[1],
      colorspace=pixels.shape[2],
      encoded_image_string=encode_png(pixels),
    )
    self._add(step, [summary_pb2.Summary.Value(tag=tag, image=image)])

  def write_text(self, step: int, tag: str, text: str) -> None:
    if not self.enabled:
      return
    tensor = tensor_pb2.TensorProto(
      dtype=7, string_val=[text.encode()], tensor_shape=tensor_shape_pb2.TensorShapeProto()
    )  # dtype 7 = DT_STRING
    meta = summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
    )
    self._add(step, [summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)])

  def _add(self, step: int, values) -> None:
    if values:
      event = event_pb2.Event(step=int(step), summary=summary_pb2.Summary(value=values))
      event.wall_time = time.time()
      self._write_event(event)

  def _write_event(self, event) -> None:
    self._events.write(event.SerializeToString())
    self._events.flush()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._events.close()


def _plain(v: Any) -> Any:
  if isinstance(v, (str, bool, int)) or v is None:
    return v
  v = float(v)
  return v if math.isfinite(v) else str(v)


def write_atomic(path: str, content: str | bytes | Callable[[Any], None]) -> None:
  """Writes a file so that a kill never leaves half of it: a temporary file, then a rename.

  `content` is text, bytes, or a function that writes to the open binary file.
  """
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w" if isinstance(content, str) else "wb") as f:
      if callable(content):
        content(f)
      else:
        f.write(content)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def save_png(path: str, pixels: np.ndarray) -> None:
  """uint8 (H, W, 1|3) pixels as a PNG file, written atomically."""
  write_atomic(path, encode_png(pixels))


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  """Arrays as an .npz file, written atomically."""
  write_atomic(path, lambda f: np.savez(f, **arrays))


def truncate_rows_after(path: str, step: int) -> None:
  """Drops metrics.jsonl rows logged after `step` (work that a resume redoes), atomically."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      row = json.loads(line)
    except json.JSONDecodeError:  # a line cut by a kill mid-write
      continue
    if row.get("step", 0) <= step:
      kept.append(line if line.endswith("\n") else line + "\n")
  if len(kept) != len(lines):
    write_atomic(path, "".join(kept))


def format_duration(seconds: float) -> str:
  """1h02m03s, or 2m03s under an hour."""
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
