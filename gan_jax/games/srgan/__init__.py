"""The SRGAN game (Ledig et al. 2017): 4x super-resolution of photographs, in two phases.

  sr.phase='srresnet'  G alone (network 'g', models/srresnet.py) on the content loss
                       (pixel MSE: the paper's SRResNet-MSE; or the VGG16 feature loss)
  sr.phase='srgan'     G starts from the newest checkpoint of the SRResNet run in
                       `sr.pretrained_workdir` (restored with gan_jax.checkpoints: the
                       pretrained G is that run's checkpoint, not a copy), D ('d') is new, and
                       G minimizes  content + sr.adversarial_weight (1e-3) x g_loss(D(G(lr)))
                       with any objective of losses.py; D is trained alongside on real HR crops
                       against G's outputs of the same forward pass (one D update per G update)

Data (sr_data.py): random HR crops of photos that ship in registry packages, their LR inputs
made in the step by MATLAB's bicubic (imresize.py). The VGG16 weights of the content loss are
resident data the step reads as an argument (`Game.data`), not constants of its program.

Evaluation on the fixed held-out crops, outputs quantized to uint8 as saved pictures: psnr,
ssim (Y channel, 4-px shave, evaluation/sr_metrics.py) and lpips (VGG, evaluation/lpips.py)
of G, and in every row the same numbers for bicubic upsampling (psnr_bicubic, ...) and, in
the SRGAN phase, for the SRResNet it started from (psnr_srresnet, ...), so the trade-off
between distortion and perception reads off one row. The picture: LR (nearest-upsampled),
bicubic, G's output and HR side by side, for held-out crops.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import PartitionSpec as P

from gan_jax import checkpoints, losses, parallel, writers
from gan_jax.data import imresize
from gan_jax.data import sr as sr_data
from gan_jax.errors import WorkdirError
from gan_jax.game import (
  Evaluation,
  Game,
  NetState,
  State,
  apply_train,
  diagnostic_norms,
  global_mean,
  init_net,
  make_optimizer,
)
from gan_jax.games.srgan import content
from gan_jax.models import srresnet as nets_lib
from gan_jax.parallel import AXIS

Array = jax.Array
PyTree = Any
NUM_PICTURE_ROWS = 4


@dataclasses.dataclass(frozen=True)
class SRGAN:
  """The static parts of the game."""

  g: nets_lib.SRResNet
  d: nets_lib.Discriminator
  phase: str
  objective: losses.Objective
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  content_loss: Any  # content.make_content_loss's loss(weights, fake, real)
  batch_size: int  # global
  crop: int  # HR crop
  adversarial_weight: float = 1e-3
  real_label: float = 1.0
  pretrained: PyTree = None  # the SRGAN phase: {'params', 'batch_stats'} of the SRResNet's G


def build(config: ml_collections.ConfigDict, pretrained: PyTree = None) -> tuple[SRGAN, dict]:
  """The game's static parts and the content loss's fixed weights."""
  g, d = nets_lib.build(config.model.srresnet, AXIS)
  loss, weights = content.make_content_loss(config.sr.content_loss, config.sr.vgg_layer)
  sg = SRGAN(
    g=g,
    d=d,
    phase=config.sr.phase,
    objective=losses.get_objective(config.loss),
    # One G and (in the adversarial phase) one D update per step (rule: d_steps 1).
    g_tx=make_optimizer(config.g_optimizer, total_steps=config.total_steps),
    d_tx=make_optimizer(config.d_optimizer, total_steps=config.total_steps),
    content_loss=loss,
    batch_size=config.batch_size,
    crop=config.sr.crop,
    adversarial_weight=config.sr.adversarial_weight,
    real_label=config.real_label,
    pretrained=pretrained,
  )
  return sg, weights


# --- state -------------------------------------------------------------------------------------


def init_state(sg: SRGAN, rng: Array) -> State:
  k_g, k_d, k_run = jax.random.split(rng, 3)
  lr = jnp.zeros((1, sg.crop // sr_data.FACTOR, sg.crop // sr_data.FACTOR, 3))
  if sg.phase == "srresnet":
    nets = {"g": init_net(sg.g.init(k_g, lr), sg.g_tx)}
  else:
    params = jax.tree.map(jnp.asarray, sg.pretrained["params"])
    stats = jax.tree.map(jnp.asarray, sg.pretrained["batch_stats"])
    hr = jnp.zeros((1, sg.crop, sg.crop, 3))
    nets = {
      "g": NetState(params, stats, sg.g_tx.init(params)),
      "d": init_net(sg.d.init(k_d, hr), sg.d_tx),
    }
  return State(step=jnp.zeros((), jnp.int32), rng=k_run, nets=nets, extra={})


def restore_pretrained(workdir: str, config: ml_collections.ConfigDict) -> tuple[PyTree, int]:
  """G's {'params', 'batch_stats'} from the newest readable checkpoint of the SRResNet run in
  `workdir`, and its step. One-line WorkdirError when it is not such a run."""
  path = os.path.join(workdir, "config.json")
  if not workdir or not os.path.isfile(path):
    raise WorkdirError(
      f"sr.pretrained_workdir {workdir!r} has no config.json: train the SRResNet phase into it "
      "first (python launch.py --config=experiments/srresnet.py --workdir=...)"
    )
  with open(path) as f:
    saved = json.load(f)
  phase = saved.get("sr", {}).get("phase")
  if saved.get("game") != "srgan" or phase != "srresnet":
    raise WorkdirError(
      f"sr.pretrained_workdir {workdir} is a {saved.get('game')!r} run (phase {phase!r}), not "
      "the srgan game's SRResNet phase"
    )
  if saved.get("num_seeds", 1) != 1:
    raise WorkdirError(f"sr.pretrained_workdir {workdir} trained several seeds: use a 1-seed run")
  mine = config.model.srresnet.to_dict()
  theirs = {k: saved.get("model", {}).get("srresnet", {}).get(k) for k in mine}
  if theirs != mine:
    raise WorkdirError(
      f"sr.pretrained_workdir {workdir} has model.srresnet {theirs}, this config {mine}: "
      "use the same networks"
    )
  with config.unlocked():
    srresnet_config = ml_collections.ConfigDict(config.to_dict())
    srresnet_config.sr.phase = "srresnet"
    srresnet_config.g_optimizer = ml_collections.ConfigDict(saved["g_optimizer"])
  sg, _ = build(srresnet_config)
  target = jax.jit(functools.partial(init_state, sg))(jax.random.PRNGKey(0))
  manager = checkpoints.make_manager(workdir)
  restored = checkpoints.restore_latest(manager, target)
  manager.close()
  if restored is None:
    raise WorkdirError(
      f"sr.pretrained_workdir {workdir} has no checkpoint: train the SRResNet phase first"
    )
  state, step = restored
  g = jax.device_get(state.nets["g"])
  return {"params": g.params, "batch_stats": g.batch_stats}, step


# --- the step ----------------------------------------------------------------------------------


def draw(sg: SRGAN, data: PyTree, rng: Array) -> dict[str, Any]:
  """One step's global batch of (LR, HR) pairs, and the content loss's fixed weights."""
  pairs = sr_data.sample_pairs(data["train"], rng, sg.batch_size, sg.crop)
  return {**pairs, "content_weights": data["content_weights"]}


BATCH_SPEC = {"lr": P(AXIS), "hr": P(AXIS), "content_weights": P()}


def local_step(
  sg: SRGAN, state: State, batch: dict[str, Any], with_norms: Array | bool = True
) -> tuple[State, dict]:
  """G's update on the content (+ adversarial) loss, then, in the SRGAN phase, D's."""
  lr, hr, weights = batch["lr"], batch["hr"], batch["content_weights"]
  g_net = state.nets["g"]
  adversarial = sg.phase == "srgan"
  obj = sg.objective
  d_net = state.nets.get("d")

  def generator_loss(params):
    sr, g_stats = apply_train(sg.g, g_net, params, lr)
    content_term = parallel.mean(sg.content_loss(weights, sr, hr))
    parts = {"content_loss": content_term, "pixel_mse": global_mean(jnp.square(sr - hr))}
    total = content_term
    if adversarial:
      # D judges in training mode; its statistics updates belong to D's own step.
      fake_logits, _ = apply_train(sg.d, d_net, d_net.params, sr)
      real_logits = apply_train(sg.d, d_net, d_net.params, hr)[0] if obj.g_uses_real else None
      g_adv = parallel.mean(obj.g_loss(real_logits, fake_logits, batch_mean=global_mean))
      parts["g_adversarial"] = g_adv
      total = total + sg.adversarial_weight * g_adv
    return total, (jax.lax.stop_gradient(sr), g_stats, parts)

  (g_loss, (sr, g_stats, parts)), g_grads = parallel.value_and_grad(generator_loss, has_aux=True)(
    g_net.params
  )
  g_updates, g_opt = sg.g_tx.update(g_grads, g_net.opt_state, g_net.params)
  nets = {"g": NetState(optax.apply_updates(g_net.params, g_updates), g_stats, g_opt)}
  metrics = {"g_loss": g_loss, **parts}
  trees = {"g_grad_norm": g_grads, "g_update_norm": g_updates, "g_param_norm": nets["g"].params}

  if adversarial:

    def discriminator_loss(params):
      r, stats = apply_train(sg.d, d_net, params, hr)
      f, stats = apply_train(sg.d, d_net.replace(batch_stats=stats), params, sr)
      loss = obj.d_loss(r, f, real_label=sg.real_label, batch_mean=global_mean)
      return parallel.mean(loss), (
        stats,
        global_mean(obj.d_output(r)),
        global_mean(obj.d_output(f)),
      )

    (d_loss, (d_stats, d_real, d_fake)), d_grads = parallel.value_and_grad(
      discriminator_loss, has_aux=True
    )(d_net.params)
    d_updates, d_opt = sg.d_tx.update(d_grads, d_net.opt_state, d_net.params)
    nets["d"] = NetState(optax.apply_updates(d_net.params, d_updates), d_stats, d_opt)
    metrics.update(d_loss=d_loss, d_real=d_real, d_fake=d_fake)
    trees.update(d_grad_norm=d_grads, d_update_norm=d_updates, d_param_norm=nets["d"].params)
  metrics.update(diagnostic_norms(with_norms, trees))
  return State(step=state.step + 1, rng=state.rng, nets=nets, extra=state.extra), metrics


# --- super-resolving, pictures, evaluation ----------------------------------------------------


def make_upscale(sg: SRGAN):
  """`upscale(g, lr_uint8) -> uint8` of G (a {'params', 'batch_stats'} tree) in eval mode."""
  apply = jax.jit(lambda g, x: sg.g.apply(g, x, train=False))

  def upscale(g: PyTree, lr: np.ndarray) -> np.ndarray:
    from gan_jax.evaluation import sr_metrics  # noqa: PLC0415 - numpy only; eval only

    x = np.asarray(lr, np.float32) / 127.5 - 1.0
    return sr_metrics.to_uint8(np.asarray(apply(g, x)))

  return upscale


def _g_of(state: State) -> PyTree:
  g = state.nets["g"]
  return {"params": g.params, "batch_stats": g.batch_stats}


class Pictures:
  """Held-out crops, each row LR (nearest-upsampled) | bicubic | G(LR) | HR."""

  def __init__(self, sg: SRGAN, data: sr_data.SRData):
    rows = np.linspace(0, len(data.test_hr) - 1, min(NUM_PICTURE_ROWS, len(data.test_hr)))
    rows = rows.astype(int)
    self._hr, self._lr = data.test_hr[rows], data.test_lr[rows]
    self._bicubic = imresize.upsample(self._lr, sr_data.FACTOR)
    self._nearest = self._lr.repeat(sr_data.FACTOR, axis=1).repeat(sr_data.FACTOR, axis=2)
    self._upscale = make_upscale(sg)

  def __call__(self, state: State) -> dict[str, np.ndarray]:
    sr = self._upscale(_g_of(state), self._lr)
    columns = [self._nearest, self._bicubic, sr, self._hr]
    tiles = np.stack(columns, axis=1).reshape(-1, *self._hr.shape[1:])
    return {"super_resolution": writers.image_grid(tiles / 127.5 - 1.0, rows=len(self._hr))}


def sr_metrics_of(images: np.ndarray, data: sr_data.SRData, lpips_fn) -> dict[str, float]:
  """psnr, ssim, lpips of uint8 SR images against the held-out HR crops (means over crops)."""
  from gan_jax.evaluation import sr_metrics  # noqa: PLC0415

  to_unit = lambda x: jnp.asarray(x, jnp.float32) / 127.5 - 1.0
  return {
    "psnr": float(np.mean(sr_metrics.psnr(images, data.test_hr))),
    "ssim": float(np.mean(sr_metrics.ssim(images, data.test_hr))),
    "lpips": float(np.mean(np.asarray(lpips_fn(to_unit(images), to_unit(data.test_hr))))),
  }


def make_evaluation(sg: SRGAN, data: sr_data.SRData, pretrained_step, mesh) -> Evaluation:
  """G on the held-out crops, beside bicubic and (SRGAN phase) the SRResNet it started from."""
  del mesh  # the held-out crops are few: one device
  from gan_jax.evaluation import lpips  # noqa: PLC0415 - loads VGG16: eval only

  lpips_fn = lpips.make_lpips()
  upscale = make_upscale(sg)
  bicubic = imresize.upsample(data.test_lr, sr_data.FACTOR)
  baselines = {f"{k}_bicubic": v for k, v in sr_metrics_of(bicubic, data, lpips_fn).items()}
  if sg.phase == "srgan":
    srresnet = upscale(sg.pretrained, data.test_lr)
    baselines |= {f"{k}_srresnet": v for k, v in sr_metrics_of(srresnet, data, lpips_fn).items()}
  info = {
    "eval_test_crops": int(len(data.test_hr)),
    "eval_crop": int(data.test_hr.shape[1]),
    "eval_photos": ",".join(data.names["test"]),
    **({"srresnet_step": int(pretrained_step)} if pretrained_step is not None else {}),
  }

  def evaluate(state: State) -> dict[str, float]:
    return {**sr_metrics_of(upscale(_g_of(state), data.test_lr), data, lpips_fn), **baselines}

  return Evaluation(evaluate, info)


def write_samples(sg, pictures, data, state, out_dir, step) -> dict[str, str]:
  """--mode=sample: the side-by-side picture and G's outputs on every held-out crop."""
  paths = {
    "super_resolution": os.path.join(out_dir, f"super_resolution_{step}.png"),
    "npz": os.path.join(out_dir, f"super_resolution_{step}.npz"),
  }
  writers.save_png(paths["super_resolution"], pictures(state)["super_resolution"])
  sr = make_upscale(sg)(_g_of(state), data.test_lr)
  writers.save_npz(paths["npz"], {"sr": sr, "hr": data.test_hr, "lr": data.test_lr})
  logging.info("step %d: wrote %s", step, ", ".join(paths.values()))
  return paths


# --- the game ----------------------------------------------------------------------------------


def make(config: ml_collections.ConfigDict) -> Game:
  """The SRGAN game of `config`: its phase, photos and networks."""
  data = sr_data.load_sr_data(
    config.sr.photos,
    crop=config.sr.crop,
    eval_crop=config.sr.eval_crop,
    eval_crops_per_photo=config.sr.eval_crops_per_photo,
  )
  pretrained, pretrained_step = None, None
  if config.sr.phase == "srgan":
    pretrained, pretrained_step = restore_pretrained(config.sr.pretrained_workdir, config)
  sg, weights = build(config, pretrained)
  pictures = Pictures(sg, data)
  info = {**data.info(), "sr_phase": sg.phase}
  if pretrained_step is not None:
    info["srresnet_workdir"] = config.sr.pretrained_workdir
    info["srresnet_step"] = int(pretrained_step)
  console = ("g_loss", "content_loss") + (("d_loss",) if sg.phase == "srgan" else ())
  return Game(
    name="srgan",
    init=functools.partial(init_state, sg),
    data={"train": data.train, "content_weights": weights},
    draw=functools.partial(draw, sg),
    batch_spec=BATCH_SPEC,
    step=functools.partial(local_step, sg),
    console=console,
    pictures=pictures,
    make_evaluation=functools.partial(make_evaluation, sg, data, pretrained_step),
    sample=lambda state, mesh, out_dir, step: write_samples(
      sg, pictures, data, state, out_dir, step
    ),
    info=info,
    resolved={"sr.photos": data.photos},
  )
