"""A fourth game, registered from the tests alone: a 1-D GAN in a few dozen lines.

G(z) = a z + b against a quadratic logistic D(x) = w1 x + w2 x^2 + c, on N(toy.mean,
toy.std^2), with any objective of gan_jax.losses and the optimizers of the config. It touches
no shared module: its config block, specs, datasets and tiny config are declared here and
`register()` adds it to gan_jax.games.REGISTRY. tests/test_game_contract.py runs the contract
suite on it beside the built-in games: that a new game is one package plus one registry line.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from gan_jax import games, losses, parallel, specs, writers
from gan_jax.config import GameConfig
from gan_jax.game import (
  Evaluation,
  Game,
  GameSpec,
  NetState,
  State,
  diagnostic_norms,
  global_mean,
  init_net,
  make_optimizer,
)
from gan_jax.parallel import AXIS

NAME = "toy1d"


def add_defaults(c: ml_collections.ConfigDict) -> None:
  c.dataset = "normal_1d"
  c.toy = ml_collections.ConfigDict({"mean": 2.0, "std": 0.5})


CONFIG = GameConfig(
  name=NAME,
  add_defaults=add_defaults,
  specs={"toy.mean": specs.number(), "toy.std": specs.number(0.0, open_low=True)},
  datasets=lambda: ("normal_1d",),
  tiny={"batch_size": 8, "total_steps": 4, "log_every": 1, "checkpoint_every": 2},
)


def _d(p, x):
  return p["w"][0] * x + p["w"][1] * x * x + p["c"]


def make(config: ml_collections.ConfigDict) -> Game:
  objective = losses.get_objective(config.loss)
  # One update of each network per step: the schedules count steps.
  g_tx = make_optimizer(config.g_optimizer, total_steps=config.total_steps)
  d_tx = make_optimizer(config.d_optimizer, total_steps=config.total_steps)
  mean, std, batch = config.toy.mean, config.toy.std, config.batch_size

  def init(rng):
    g = {"a": jnp.ones(()), "b": jnp.zeros(())}
    d = {"w": 0.1 * jax.random.normal(rng, (2,)), "c": jnp.zeros(())}
    nets = {"g": init_net({"params": g}, g_tx), "d": init_net({"params": d}, d_tx)}
    return State(step=jnp.zeros((), jnp.int32), rng=rng, nets=nets, extra={})

  def draw(data, rng):
    del data
    k_real, k_z = jax.random.split(rng)
    real = mean + std * jax.random.normal(k_real, (batch,))
    return {"real": real, "z": jax.random.normal(k_z, (batch,))}

  def step(state, b, with_norms):
    g, d = state.nets["g"], state.nets["d"]
    fake = g.params["a"] * b["z"] + g.params["b"]

    def d_loss(dp):
      r, f = _d(dp, b["real"]), _d(dp, fake)
      loss = objective.d_loss(r, f, real_label=config.real_label, batch_mean=global_mean)
      return parallel.mean(loss), (global_mean(r), global_mean(f))

    (dl, (d_real, d_fake)), d_grads = parallel.value_and_grad(d_loss, has_aux=True)(d.params)
    d_up, d_opt = d_tx.update(d_grads, d.opt_state, d.params)
    d_params = optax.apply_updates(d.params, d_up)

    def g_loss(gp):
      f = _d(d_params, gp["a"] * b["z"] + gp["b"])
      r = _d(d_params, b["real"])
      return parallel.mean(objective.g_loss(r, f, batch_mean=global_mean))

    gl, g_grads = parallel.value_and_grad(g_loss)(g.params)
    g_up, g_opt = g_tx.update(g_grads, g.opt_state, g.params)
    nets = {
      "g": NetState(optax.apply_updates(g.params, g_up), {}, g_opt),
      "d": NetState(d_params, {}, d_opt),
    }
    norms = diagnostic_norms(with_norms, {"g_grad_norm": g_grads, "d_grad_norm": d_grads})
    metrics = {"d_loss": dl, "g_loss": gl, "d_real": d_real, "d_fake": d_fake, **norms}
    return State(state.step + 1, state.rng, nets, state.extra), metrics

  def samples(state, n=512):
    z = jax.random.normal(jax.random.PRNGKey(1), (n,))
    return np.asarray(state.nets["g"].params["a"] * z + state.nets["g"].params["b"])

  def pictures(state):
    hist, _ = np.histogram(samples(state), bins=32, range=(mean - 4 * std, mean + 4 * std))
    row = (255 * hist / max(hist.max(), 1)).astype(np.uint8)
    return {"histogram": np.repeat(row[None, :, None], 8, axis=0)}

  def make_evaluation(mesh):
    del mesh

    def evaluate(state):
      x = samples(state)
      return {"mean_error": float(abs(x.mean() - mean)), "std_error": float(abs(x.std() - std))}

    return Evaluation(evaluate, {"reference": f"N({mean}, {std}^2)"})

  def sample(state, mesh, out_dir, step):
    del mesh
    path = f"{out_dir}/samples_{step}.npy"
    np.save(path, samples(state))
    png = f"{out_dir}/histogram_{step}.png"
    writers.save_png(png, pictures(state)["histogram"])
    return {"samples": path, "histogram": png}

  return Game(
    name=NAME,
    init=init,
    data={},
    draw=draw,
    batch_spec={"real": P(AXIS), "z": P(AXIS)},
    step=step,
    console=("d_loss", "g_loss"),
    pictures=pictures,
    make_evaluation=make_evaluation,
    sample=sample,
    info={"dataset": "normal_1d"},
  )


SPEC = GameSpec(CONFIG, make)


def register() -> None:
  """Adds the toy game to gan_jax.games.REGISTRY (idempotent)."""
  games.register(SPEC)
