"""Sampling and pictures of a trained GAN: the samples evaluation scores (`make_sample_fn`),
the grid or scatter a run writes at its cadence (`Pictures`), and --mode=sample's files
(`write_samples`: samples, a grid, interpolation strips, StyleGAN2's W pictures).

Everything here draws from seeds of its own, apart from the training stream and the same
for every run: runs of every seed and sweep member are pictured and scored on the very same
latents, so they differ only through their generators.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_jax import parallel, writers
from gan_jax.data import datasets as data_lib
from gan_jax.game import State
from gan_jax.games.gan.build import GAN, sample_labels, sample_latents
from gan_jax.games.gan.settings import setting
from gan_jax.models import stylegan2 as stylegan2_lib

Array = jax.Array
PyTree = Any

GRID_SEED = 1
EVAL_SEED = 2
INTERPOLATION_SEED = 3
STYLE_MIXING_SEED = 4
MAX_CLASS_ROWS = 10  # rows of a conditional grid; more classes: evenly spaced ones
NUM_2D_POINTS = 2500  # points in a 2-D run's scatter picture (the PacGAN evaluation size)


def sampling_variables(gan: GAN, state: State) -> dict[str, PyTree]:
  """The generator variables to draw samples with: the EMA generator's when EMA is on."""
  g = state.nets["g"]
  online = {"params": g.params, "batch_stats": g.batch_stats}
  if not gan.ema_on:
    return online
  if "ema_decay" in gan.varying:  # one run of a program: its own EMA switch
    on = setting(gan, state, "ema_decay") > 0
    return jax.tree.map(lambda e, o: jnp.where(on, e, o), dict(state.extra["ema"]), online)
  return dict(state.extra["ema"])


def make_generate(gan: GAN) -> Callable[[dict, Array, Array], Array]:
  """jit `(variables, z, y) -> samples` in inference mode (running BatchNorm statistics).

  y (int labels) matters only for a conditional generator; pass zeros otherwise.
  """

  def generate(variables, z, y):
    if not gan.style_based:
      x = gan.generator.apply(variables, z, y, train=False)
    else:  # pictures and evaluation draw the same fixed noise images at every call
      x = gan.generator.apply(variables, z, y, train=False, noise_mode="const")
    # StyleGAN2's and R3GAN's outputs are linear: images are clipped to the data's range.
    return jnp.clip(x, -1.0, 1.0) if len(gan.example_shape) == 3 else x

  return jax.jit(generate)


def make_sample_fn(
  gan: GAN, mesh: Mesh, *, batch_size: int, seed: int
) -> Callable[[State, int], np.ndarray]:
  """`sample(state, n) -> (n, ...)` numpy samples from latents drawn from `seed`.

  The same seed gives the same latents at every call, so evaluations at different steps
  compare generators on one z; a conditional generator gets labels drawn uniformly over
  its classes. The batch size is rounded up to a multiple of the device count; the last
  batch is computed whole and cut, so generation compiles once. The EMA generator is used
  when on.
  """
  batch_size = parallel.device_batch(batch_size, mesh)
  generate = make_generate(gan)

  def sample(state: State, n: int) -> np.ndarray:
    variables = sampling_variables(gan, state)
    out = []
    for i in range(-(-n // batch_size)):
      z, y = parallel.split_batch(_inputs(gan, seed, i, batch_size), mesh)
      out.append(np.asarray(generate(variables, z, y)))
    return np.concatenate(out)[:n]

  return sample


def _inputs(gan: GAN, seed: int, i: int, batch_size: int) -> tuple[Array, Array]:
  """Latents and labels (uniform over the classes; zeros if unconditional) of batch i of
  `make_sample_fn(..., seed=seed)`."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
  z = sample_latents(gan, key, (batch_size,))
  return z, sample_labels(gan, jax.random.fold_in(key, 1), (batch_size,))


def sampled_labels(gan: GAN, mesh: Mesh, *, batch_size: int, seed: int, n: int) -> np.ndarray:
  """The labels `make_sample_fn(gan, mesh, batch_size=..., seed=...)(state, n)` draws with."""
  batch_size = parallel.device_batch(batch_size, mesh)
  ys = [np.asarray(_inputs(gan, seed, i, batch_size)[1]) for i in range(-(-n // batch_size))]
  return np.concatenate(ys)[:n]


def class_grid_labels(num_classes: int, columns: int) -> np.ndarray:
  """Labels of a per-class grid: row r shows class r (evenly spaced classes beyond 10)."""
  rows = min(num_classes, MAX_CLASS_ROWS)
  classes = np.round(np.linspace(0, num_classes - 1, rows)).astype(np.int32)
  return np.repeat(classes, columns)


class Pictures:
  """The pictures of a run, from a fixed z, so pictures at different steps are comparable.

  An image GAN gets a grid; a conditional one a per-class grid (one row per class, the
  same latent in every row of a column, so a column varies the class alone); a 2-D GAN a
  scatter of its samples over the true modes.
  """

  def __init__(self, gan: GAN, config: ml_collections.ConfigDict, dataset: data_lib.Dataset):
    self._gan = gan
    self._generate = make_generate(gan)
    self._is_2d = len(dataset.example_shape) == 1
    n = NUM_2D_POINTS if self._is_2d else config.num_sample_images
    # A key of its own, not the training stream: sampling never changes training.
    key = jax.random.PRNGKey(GRID_SEED)
    self._rows = None
    if gan.num_classes and not self._is_2d:
      columns = 10
      self._y = jnp.asarray(class_grid_labels(gan.num_classes, columns))
      self._rows = len(self._y) // columns
      self._z = jnp.tile(sample_latents(gan, key, (columns,)), (self._rows, 1))
    else:
      self._z = sample_latents(gan, key, (n,))
      self._y = sample_labels(gan, jax.random.fold_in(key, 1), (n,))
    self._centers = dataset.arrays.get("modes") if self._is_2d else None

  def __call__(self, state: State) -> dict[str, np.ndarray]:
    x = np.asarray(self._generate(sampling_variables(self._gan, state), self._z, self._y))
    if self._is_2d:
      centers = self._centers
      lim = 1.5 if centers is not None and np.abs(centers).max() <= 1.5 else 5.5
      return {"samples": writers.scatter_png(x, centers, lim=lim)}
    return {"samples": writers.image_grid(x, rows=self._rows)}


def slerp(t: Array, a: Array, b: Array) -> Array:
  """Spherical interpolation between latents a and b at times t in [0, 1] (one row per t)."""
  a_n = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_n = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_n * b_n, -1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  t = t[:, None]
  # Nearly parallel latents: the linear limit of slerp.
  safe = so > 1e-6
  wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
  wb = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
  return wa * a + wb * b


def style_pictures(
  gan: GAN,
  variables: dict[str, PyTree],
  ends: tuple[Array, Array, Array],
  steps: int,
  *,
  mixing_rows: int = 5,
  mixing_columns: int = 6,
  truncation_rows: int = 6,
  truncation_steps: int = 9,
) -> dict[str, np.ndarray]:
  """StyleGAN2's pictures (the fixed noise images of noise_mode='const'):

  interpolation_w: strip i goes linearly in W from the W of latent ends[0][i] to that of
    ends[1][i] (labels ends[2][i]), `steps` pictures; the z strips' end points.
  style_mixing: the grid of the StyleGAN papers: the top row shows the column sources,
    the left column the row sources; cell (r, c) has the coarse styles (the layers below
    num_ws / 2: 4 and 8 px) of row source r and the fine ones of column source c.
  truncation: row r is one latent truncated towards w_avg with psi = 0, ..., 1 (psi 0
    is w_avg itself, the same picture in every row).
  The mixing and truncation latents come from STYLE_MIXING_SEED; conditional generators
  draw them with label 0.
  """
  g = gan.generator
  map_ws = jax.jit(lambda v, z, y: g.apply(v, z, y, train=False, method="map"))
  synthesize = jax.jit(
    lambda v, ws: jnp.clip(
      g.apply({"params": v["params"]}, ws, method="synthesize", noise_mode="const"), -1.0, 1.0
    )
  )

  def images(ws: Array) -> np.ndarray:
    return np.asarray(synthesize(variables, ws.reshape(-1, *ws.shape[-2:])))

  a, b, y_ends = ends
  ws_a, ws_b = map_ws(variables, a, y_ends), map_ws(variables, b, y_ends)
  t = jnp.linspace(0.0, 1.0, steps)[None, :, None, None]
  ws_t = ws_a[:, None] + t * (ws_b - ws_a)[:, None]
  out = {"interpolation_w": writers.image_grid(images(ws_t), rows=len(a))}

  key = jax.random.PRNGKey(STYLE_MIXING_SEED)
  k_rows, k_cols, k_trunc = jax.random.split(key, 3)
  n = mixing_rows + mixing_columns + truncation_rows
  zeros = jnp.zeros((n,), jnp.int32)
  z = jnp.concatenate(
    [
      jax.random.normal(k_rows, (mixing_rows, gan.z_dim)),
      jax.random.normal(k_cols, (mixing_columns, gan.z_dim)),
      jax.random.normal(k_trunc, (truncation_rows, gan.z_dim)),
    ]
  )
  ws = map_ws(variables, z, zeros)
  ws_rows, ws_cols = ws[:mixing_rows], ws[mixing_rows : mixing_rows + mixing_columns]
  ws_trunc = ws[mixing_rows + mixing_columns :]
  mixed = jax.vmap(
    lambda wr: stylegan2_lib.mix_styles(jnp.broadcast_to(wr, ws_cols.shape), ws_cols, g.num_ws // 2)
  )(ws_rows)  # (rows, columns, num_ws, w_dim)
  row_images, col_images, cells = images(ws_rows), images(ws_cols), images(mixed)
  blank = np.ones_like(row_images[:1])  # white
  grid = [blank, col_images]
  for r in range(mixing_rows):
    grid += [row_images[r : r + 1], cells[r * mixing_columns : (r + 1) * mixing_columns]]
  out["style_mixing"] = writers.image_grid(np.concatenate(grid), rows=mixing_rows + 1)

  w_avg = variables["batch_stats"]["w_avg"]
  psi = jnp.linspace(0.0, 1.0, truncation_steps)
  truncated = jax.vmap(lambda p: stylegan2_lib.truncate(ws_trunc, w_avg, p), out_axes=1)(psi)
  out["truncation"] = writers.image_grid(images(truncated), rows=truncation_rows)
  return out


def write_samples(
  gan: GAN,
  config: ml_collections.ConfigDict,
  pictures: Pictures,
  state: State,
  mesh: Mesh,
  out_dir: str,
  step: int,
  *,
  num_interpolations: int = 8,
  interpolation_steps: int = 10,
) -> dict[str, str]:
  """--mode=sample: samples_<step>.npz (eval.num_samples), grid_<step>.png and, for
  images, interpolation_<step>.png (strips in z: slerp, or straight for a uniform prior); for
  StyleGAN2 also interpolation_w_<step>.png, style_mixing_<step>.png and truncation_<step>.png
  (`style_pictures`)."""
  sampling = dict(batch_size=config.eval.batch_size, seed=EVAL_SEED)
  x = make_sample_fn(gan, mesh, **sampling)(state, config.eval.num_samples)
  npz_path = os.path.join(out_dir, f"samples_{step}.npz")
  arrays = {"x": x}
  if gan.num_classes:  # the labels the samples were drawn with
    arrays["y"] = sampled_labels(gan, mesh, n=len(x), **sampling)
  writers.save_npz(npz_path, arrays)
  paths = {"npz": npz_path, "grid": os.path.join(out_dir, f"grid_{step}.png")}
  writers.save_png(paths["grid"], pictures(state)["samples"])
  if len(gan.example_shape) == 3:  # interpolation strips for images
    key_a, key_b = jax.random.split(jax.random.PRNGKey(INTERPOLATION_SEED))
    a = sample_latents(gan, key_a, (num_interpolations,))
    b = sample_latents(gan, key_b, (num_interpolations,))
    t = jnp.linspace(0.0, 1.0, interpolation_steps)
    shape = (len(t), gan.z_dim)
    # slerp for a Gaussian prior (its mass lies near a sphere), straight lines in the cube.
    path = slerp if gan.z_prior == "normal" else lambda t, a, b: a + t[:, None] * (b - a)
    z = jax.vmap(lambda za, zb: path(t, jnp.broadcast_to(za, shape), jnp.broadcast_to(zb, shape)))(
      a, b
    )
    # A conditional generator keeps one class per strip (strip i: class i mod classes).
    y = np.repeat(np.arange(num_interpolations) % max(gan.num_classes, 1), len(t))
    images = make_generate(gan)(
      sampling_variables(gan, state), z.reshape(-1, gan.z_dim), jnp.asarray(y, jnp.int32)
    )
    paths["interpolation"] = os.path.join(out_dir, f"interpolation_{step}.png")
    writers.save_png(
      paths["interpolation"], writers.image_grid(np.asarray(images), rows=num_interpolations)
    )
  if gan.style_based:
    ends = (a, b, jnp.asarray(y[:: len(t)], jnp.int32))
    pictures_w = style_pictures(gan, sampling_variables(gan, state), ends, interpolation_steps)
    for name, grid in pictures_w.items():
      paths[name] = os.path.join(out_dir, f"{name}_{step}.png")
      writers.save_png(paths[name], grid)
  logging.info("step %d: wrote %s", step, ", ".join(paths.values()))
  return paths
