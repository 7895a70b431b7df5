"""The CycleGAN game (Zhu et al. 2017): unpaired translation between image domains A and B.

Four networks by name in `State.nets`: 'g' (G: A -> B), 'f' (F: B -> A), 'd_a' (judges A:
real a against F(b)) and 'd_b' (judges B: real b against G(a)); the two image pools (the
history of 50 generated images each discriminator sees, Shrivastava et al. 2017) in
`State.extra`, so a checkpoint holds them and resume stays exact.

One step, as the reference's `optimize_parameters` (junyanz/pytorch-CycleGAN-and-pix2pix):
the generators' update on

  L = w_adv [g_loss(D_B(G(a))) + g_loss(D_A(F(b)))]
      + lambda [|F(G(a)) - a|_1 + |G(F(b)) - b|_1]
      + identity_weight lambda [|G(b) - b|_1 + |F(a) - a|_1],

with the discriminators fixed, then the discriminators' update on the objective's d_loss
of real images against the pooled fakes of that same forward pass. Any objective of
losses.py works; the defaults (least_squares, w_adv = cycle.ADVERSARIAL_WEIGHT = 2) are the
reference's lsgan objective term for term (cycle.py). The learning rates are constant for
the first `cycle.decay_start` of the run, then decay linearly to 0 (an optax schedule).

Names: gan_jax's 'g' / 'f' / 'd_a' / 'd_b' are the reference's G_A / G_B / D_B / D_A (its
D_A judges domain B), so the logged d_b_loss is its loss_D_A and d_a_loss its loss_D_B.

Data parallel: every device holds the whole (replicated) state. The pools must stay the
same on every device, so each step gathers the global batch of fakes (`all_gather`),
queries the pools with it identically everywhere and keeps its own shard of what they
return: a step on N devices computes what it computes on one (tested).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import PartitionSpec as P

from gan_jax import losses, parallel, writers
from gan_jax.data import unpaired
from gan_jax.game import (
  Evaluation,
  Game,
  NetState,
  State,
  diagnostic_norms,
  global_mean,
  init_net,
  make_optimizer,
)
from gan_jax.games.cyclegan import cycle
from gan_jax.models import cyclegan as nets_lib
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any
NUM_PICTURE_ROWS = 8  # test pairs in the side-by-side picture


@dataclasses.dataclass(frozen=True)
class CycleGAN:
  """The static parts of the game."""

  nets: nets_lib.CycleGANNets
  objective: losses.Objective
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  batch_size: int  # global
  shape_a: tuple[int, ...]
  shape_b: tuple[int, ...]
  lambda_cycle: float = cycle.LAMBDA_CYCLE
  identity_weight: float = cycle.IDENTITY_WEIGHT
  adversarial_weight: float = cycle.ADVERSARIAL_WEIGHT
  pool_size: int = cycle.POOL_SIZE
  real_label: float = 1.0


def _schedule(cfg, config) -> optax.Schedule:
  constant = int(round(config.cycle.decay_start * config.total_steps))
  return cycle.linear_decay_schedule(
    cfg.learning_rate, constant_steps=constant, decay_steps=config.total_steps - constant
  )


def build(config: ml_collections.ConfigDict, data: unpaired.UnpairedData) -> CycleGAN:
  shape_a, shape_b = data.shape_a, data.shape_b
  return CycleGAN(
    nets=nets_lib.build(config.model, shape_a[-1], shape_b[-1]),
    objective=losses.get_objective(config.loss),
    g_tx=make_optimizer(config.g_optimizer, _schedule(config.g_optimizer, config)),
    d_tx=make_optimizer(config.d_optimizer, _schedule(config.d_optimizer, config)),
    batch_size=config.batch_size,
    shape_a=shape_a,
    shape_b=shape_b,
    lambda_cycle=config.cycle.lambda_cycle,
    identity_weight=config.cycle.identity_weight,
    adversarial_weight=config.cycle.adversarial_weight,
    pool_size=config.cycle.pool_size,
    real_label=config.real_label,
  )


# --- state -------------------------------------------------------------------------------------


def init_state(cg: CycleGAN, rng: Array) -> State:
  k_g, k_f, k_da, k_db, k_run = jax.random.split(rng, 5)
  a, b = jnp.zeros((1, *cg.shape_a)), jnp.zeros((1, *cg.shape_b))
  nets = {
    "g": init_net(cg.nets.g.init(k_g, a), cg.g_tx),
    "f": init_net(cg.nets.f.init(k_f, b), cg.g_tx),
    "d_a": init_net(cg.nets.d_a.init(k_da, a), cg.d_tx),
    "d_b": init_net(cg.nets.d_b.init(k_db, b), cg.d_tx),
  }
  extra = {
    "pool_a": cycle.pool_init(cg.pool_size, cg.shape_a),  # F(b) for D_A
    "pool_b": cycle.pool_init(cg.pool_size, cg.shape_b),  # G(a) for D_B
  }
  return State(step=jnp.zeros((), jnp.int32), rng=k_run, nets=nets, extra=extra)


# --- the step ----------------------------------------------------------------------------------


def draw(cg: CycleGAN, data: PyTree, rng: Array) -> dict[str, Array]:
  """One step's global batch: batch_size images of each domain (independent: unpaired) and
  the key of the pools' draws."""
  k_data, k_pool = jax.random.split(rng)
  batch = unpaired.sample_unpaired(data, k_data, (cg.batch_size,))
  return {"a": batch["a"], "b": batch["b"], "key": k_pool}


BATCH_SPEC = {"a": P(AXIS), "b": P(AXIS), "key": P()}


def _pooled(pool: dict, fakes: Array, rng: Array) -> tuple[dict, Array]:
  """This device's shard of what the pool returns for the global batch of fakes."""
  # Invariant: the same global batch on every device (no gradient flows through it).
  every = jax.lax.all_gather(fakes, AXIS, axis=0, tiled=True, to="invarying")
  pool, returned = cycle.pool_query(pool, every, rng)
  n = fakes.shape[0]
  return pool, jax.lax.dynamic_slice_in_dim(returned, jax.lax.axis_index(AXIS) * n, n)


def local_step(
  cg: CycleGAN, state: State, batch: dict[str, Array], with_norms: Array | bool = True
) -> tuple[State, dict]:
  """The generators' update, then the discriminators', on this device's shard."""
  a, b = batch["a"], batch["b"]
  g_net, f_net, da_net, db_net = (state.nets[k] for k in ("g", "f", "d_a", "d_b"))
  obj = cg.objective
  run = lambda module, params, x: module.apply({"params": params}, x)

  def generator_loss(gen):
    fake_b, fake_a = run(cg.nets.g, gen["g"], a), run(cg.nets.f, gen["f"], b)
    rec_a, rec_b = run(cg.nets.f, gen["f"], fake_b), run(cg.nets.g, gen["g"], fake_a)
    real_a = real_b = None
    if obj.g_uses_real:
      real_a, real_b = run(cg.nets.d_a, da_net.params, a), run(cg.nets.d_b, db_net.params, b)
    adversarial = obj.g_loss(
      real_b, run(cg.nets.d_b, db_net.params, fake_b), batch_mean=global_mean
    ) + obj.g_loss(real_a, run(cg.nets.d_a, da_net.params, fake_a), batch_mean=global_mean)
    cycle_term = cycle.cycle_loss(a, rec_a) + cycle.cycle_loss(b, rec_b)
    identity_term = jnp.zeros(())
    if cg.identity_weight > 0:
      identity_term = cycle.identity_loss(b, run(cg.nets.g, gen["g"], b)) + cycle.identity_loss(
        a, run(cg.nets.f, gen["f"], a)
      )
    total = (
      cg.adversarial_weight * adversarial
      + cg.lambda_cycle * cycle_term
      + cg.identity_weight * cg.lambda_cycle * identity_term
    )
    parts = {"g_adversarial": adversarial, "cycle_loss": cycle_term, "identity_loss": identity_term}
    parts = {k: parallel.mean(v) for k, v in parts.items()}
    return parallel.mean(total), (jax.lax.stop_gradient((fake_a, fake_b)), parts)

  gen = {"g": g_net.params, "f": f_net.params}
  (g_loss, ((fake_a, fake_b), parts)), g_grads = parallel.value_and_grad(
    generator_loss, has_aux=True
  )(gen)

  k_a, k_b = jax.random.split(batch["key"])
  pool_a, pooled_a = _pooled(state.extra["pool_a"], fake_a, k_a)
  pool_b, pooled_b = _pooled(state.extra["pool_b"], fake_b, k_b)

  def discriminator_loss(disc):
    out = {}
    for name, module, real, fake in (
      ("d_a", cg.nets.d_a, a, pooled_a),
      ("d_b", cg.nets.d_b, b, pooled_b),
    ):
      r, f = run(module, disc[name], real), run(module, disc[name], fake)
      loss = obj.d_loss(r, f, real_label=cg.real_label, batch_mean=global_mean)
      out[name] = (loss, global_mean(obj.d_output(r)), global_mean(obj.d_output(f)))
    total = parallel.mean(out["d_a"][0] + out["d_b"][0])
    return total, {k: (parallel.mean(v[0]), v[1], v[2]) for k, v in out.items()}

  disc = {"d_a": da_net.params, "d_b": db_net.params}
  (_, d_parts), d_grads = parallel.value_and_grad(discriminator_loss, has_aux=True)(disc)

  nets, updates = {}, {}
  for name, grads, tx in (
    *((k, g_grads[k], cg.g_tx) for k in ("g", "f")),
    *((k, d_grads[k], cg.d_tx) for k in ("d_a", "d_b")),
  ):
    net = state.nets[name]
    updates[name], opt_state = tx.update(grads, net.opt_state, net.params)
    nets[name] = NetState(optax.apply_updates(net.params, updates[name]), {}, opt_state)

  metrics = {
    "g_loss": g_loss,
    **parts,
    "d_loss": 0.5 * (d_parts["d_a"][0] + d_parts["d_b"][0]),
    "d_a_loss": d_parts["d_a"][0],
    "d_b_loss": d_parts["d_b"][0],
    "d_real": 0.5 * (d_parts["d_a"][1] + d_parts["d_b"][1]),
    "d_fake": 0.5 * (d_parts["d_a"][2] + d_parts["d_b"][2]),
    **diagnostic_norms(
      with_norms,
      {
        "g_grad_norm": g_grads,
        "d_grad_norm": d_grads,
        "g_update_norm": {k: updates[k] for k in ("g", "f")},
        "d_update_norm": {k: updates[k] for k in ("d_a", "d_b")},
        "g_param_norm": {k: nets[k].params for k in ("g", "f")},
        "d_param_norm": {k: nets[k].params for k in ("d_a", "d_b")},
      },
    ),
  }
  extra = {**state.extra, "pool_a": pool_a, "pool_b": pool_b}
  return State(step=state.step + 1, rng=state.rng, nets=nets, extra=extra), metrics


# --- translating, pictures, evaluation -------------------------------------------------------


def make_translate(cg: CycleGAN, mesh, batch_size: int):
  """`translate(state, name, images) -> numpy`: network 'g' or 'f' applied to uint8 or
  [-1, 1] images in fixed-size batches split over the devices (one compilation)."""
  batch_size = parallel.device_batch(batch_size, mesh)
  apply = jax.jit(lambda module, params, x: module.apply({"params": params}, x), static_argnums=0)

  def translate(state: State, name: str, images: np.ndarray) -> np.ndarray:
    module = cg.nets.g if name == "g" else cg.nets.f
    x = np.asarray(images)
    x = x.astype(np.float32) / 127.5 - 1.0 if x.dtype == np.uint8 else x.astype(np.float32)
    out = []
    for start in range(0, len(x), batch_size):
      chunk = x[start : start + batch_size]
      padded = np.concatenate(
        [chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]), chunk.dtype)]
      )
      out.append(
        np.asarray(apply(module, state.nets[name].params, parallel.split_batch(padded, mesh)))[
          : len(chunk)
        ]
      )
    return np.concatenate(out)

  return translate


class Pictures:
  """Fixed test images side by side, comparable across steps: each row is
  a, G(a), F(G(a)) | b, F(b), G(F(b))."""

  def __init__(self, cg: CycleGAN, test: unpaired.UnpairedData):
    self._cg = cg
    self._mesh = parallel.make_mesh()
    n = parallel.device_batch(NUM_PICTURE_ROWS, self._mesh)
    # Evenly spaced test images: data files are often sorted by class.
    rows = lambda x: np.linspace(0, len(x) - 1, NUM_PICTURE_ROWS).astype(int)
    self._a = test.arrays["a"][rows(test.arrays["a"])].astype(np.float32) / 127.5 - 1.0
    self._b = test.arrays["b"][rows(test.arrays["b"])].astype(np.float32) / 127.5 - 1.0
    self._translate = make_translate(cg, self._mesh, n)

  def __call__(self, state: State) -> dict[str, np.ndarray]:
    t = self._translate
    g_a = t(state, "g", self._a)
    f_b = t(state, "f", self._b)
    columns = [self._a, g_a, t(state, "f", g_a), self._b, f_b, t(state, "g", f_b)]
    tiles = np.stack(columns, axis=1).reshape(-1, *self._a.shape[1:])
    return {"translations": writers.image_grid(tiles, rows=len(self._a))}


def make_evaluation(cg: CycleGAN, config, test: unpaired.UnpairedData, mesh) -> Evaluation:
  """Translation measured on the test split: label preservation both ways (where the
  domains are labelled: MNIST <-> MNIST-M), cycle error both ways, and per domain the
  Fréchet distance in a classifier's features (and Inception's, where prepared)."""
  from gan_jax.evaluation import classifier as clf_lib  # noqa: PLC0415 - heavy, eval only
  from gan_jax.evaluation import evaluate as evaluate_lib  # noqa: PLC0415
  from gan_jax.evaluation import translation  # noqa: PLC0415

  translate = make_translate(cg, mesh, config.eval.batch_size)
  a, b = test.arrays["a"], test.arrays["b"]
  info: dict[str, Any] = {"eval_test_a": len(a), "eval_test_b": len(b)}
  classifiers = {}
  if test.num_classes:  # MNIST (domain A) and MNIST-M (domain B) classifiers
    common = dict(image_size=config.model.image_size, data_source=config.data.source)
    common["data_dir"] = config.data.data_dir
    classifiers["a"] = clf_lib.get_classifier(**common, seed=0)
    classifiers["b"] = clf_lib.get_mnist_m_classifier(
      **common, seed=0, mnist_m_seed=config.data.mnist_m_seed
    )
    info["classifier_accuracy_a"] = float(classifiers["a"].accuracy)
    info["classifier_accuracy_b"] = float(classifiers["b"].accuracy)
    # The untranslated baseline: A's classifier reading B's test images as they are.
    info["label_accuracy_b_untranslated"] = translation.label_accuracy(
      classifiers["a"], b, test.arrays["b_labels"]
    )
  inception = evaluate_lib.load_inception(
    config.eval.inception_path,
    batch_size=evaluate_lib.inception_batch_size(config.eval.batch_size),
  )
  inception_fn = inception.fn if inception is not None else None
  real_summaries: dict[tuple[str, str], Any] = {}  # the test sets' features, once per run

  def against_real(kind: str, side: str, real, fake, fn, names) -> dict[str, float]:
    if (kind, side) not in real_summaries:
      real_summaries[kind, side] = evaluate_lib.summarize_images(
        real, fn, what=f"test {side.upper()} features ({kind})"
      )
    return evaluate_lib.evaluate_against(real_summaries[kind, side], fake, fn, names=names)

  def evaluate(state: State) -> dict[str, float]:
    g_a = translate(state, "g", a)  # in B
    f_b = translate(state, "f", b)  # in A
    out = {
      "cycle_error_a": translation.cycle_error(
        a.astype(np.float32) / 127.5 - 1, translate(state, "f", g_a)
      ),
      "cycle_error_b": translation.cycle_error(
        b.astype(np.float32) / 127.5 - 1, translate(state, "g", f_b)
      ),
    }
    if classifiers:
      out["label_accuracy_a2b"] = translation.label_accuracy(
        classifiers["b"], g_a, test.arrays["a_labels"]
      )
      out["label_accuracy_b2a"] = translation.label_accuracy(
        classifiers["a"], f_b, test.arrays["b_labels"]
      )
      for side, real, fake in (("a", a, f_b), ("b", b, g_a)):
        clf = classifiers[side]
        metrics = against_real(
          "classifier",
          side,
          translation.to_channels(real, clf.channels),
          translation.to_channels(fake, clf.channels),
          clf.apply,
          evaluate_lib.CLASSIFIER_METRICS,
        )
        out[f"classifier_fid_{side}"] = metrics["classifier_fid"]
    if inception_fn is not None:
      for side, real, fake in (("a", a, f_b), ("b", b, g_a)):
        metrics = against_real(
          "inception", side, real, fake, inception_fn, evaluate_lib.INCEPTION_METRICS
        )
        out[f"fid_{side}"] = metrics["fid"]
    return out

  return Evaluation(evaluate, info)


def write_samples(
  cg: CycleGAN, config, pictures: Pictures, test: unpaired.UnpairedData, state, mesh, out_dir, step
) -> dict[str, str]:
  """--mode=sample: the side-by-side picture and the test split translated both ways."""
  translate = make_translate(cg, mesh, config.eval.batch_size)
  paths = {
    "translations": os.path.join(out_dir, f"translations_{step}.png"),
    "npz": os.path.join(out_dir, f"translations_{step}.npz"),
  }
  writers.save_png(paths["translations"], pictures(state)["translations"])
  writers.save_npz(
    paths["npz"],
    {
      "g_a": translate(state, "g", test.arrays["a"]),
      "f_b": translate(state, "f", test.arrays["b"]),
    },
  )
  logging.info("step %d: wrote %s", step, ", ".join(paths.values()))
  return paths


# --- the game ----------------------------------------------------------------------------------


def _load(config, split: str) -> unpaired.UnpairedData:
  return unpaired.load_unpaired(
    config.dataset,
    split=split,
    size=config.model.image_size,
    seed=config.data.mnist_m_seed,
    source=config.data.source,
    data_dir=config.data.data_dir,
    download=config.data.download,
  )


def make(config: ml_collections.ConfigDict) -> Game:
  """The CycleGAN game of `config`: both domains' train and test splits, four networks."""
  data, test = _load(config, "train"), _load(config, "test")
  cg = build(config, data)
  pictures = Pictures(cg, test)
  return Game(
    name="cyclegan",
    init=functools.partial(init_state, cg),
    data=data.arrays,
    draw=functools.partial(draw, cg),
    batch_spec=BATCH_SPEC,
    step=functools.partial(local_step, cg),
    console=("d_loss", "g_loss", "cycle_loss"),
    pictures=pictures,
    make_evaluation=functools.partial(make_evaluation, cg, config, test),
    sample=lambda state, mesh, out_dir, step: write_samples(
      cg, config, pictures, test, state, mesh, out_dir, step
    ),
    info=data.info(),
    resolved={
      "data.source": data.source.split("+")[0],
      "data.examples": int(len(data.arrays["a"]) + len(data.arrays["b"])),
    },
  )
