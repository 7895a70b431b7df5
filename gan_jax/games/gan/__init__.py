"""The GAN game: G(z[, y]) against D(x[, y]), on images or 2-D points.

One generator and one discriminator, any objective of losses.py, the stabilizers of
the field (gradient penalties, weight clipping, instance noise, label smoothing, EMA of
G, PacGAN packing through the model), unconditional or class-conditional. The state
holds the networks 'g' and 'd' in `State.nets` and the EMA generator (its weights and
its own BatchNorm statistics) in `State.extra['ema']`.

One module per idea; import the one you need (this package re-exports nothing):

    config.py     the game's config block: keys, defaults, specs, rules, datasets
    build.py      the static GAN of a config (`GAN`, `build_gan`), its latents, labels and
                  initial state, its networks' forward in the compute dtype
    settings.py   the settings sweep members trained together may differ in (RUN_KEYS),
                  read per run from `State.extra['settings']`
    lazy.py       lazy regularization: a regularizer as data (name, net, interval, weight),
                  run as an update of its own where due, on any family
    stylegan2.py  StyleGAN2's training: style mixing, path length, the EMA half-life
    step.py       a step's batch (`draw`) and the per-device step (`local_step`)
    sampling.py   samples, pictures and --mode=sample's files, from seeds of their own

Below, `make` assembles the `gan_jax.game.Game` the loop trains, and `make_evaluation`
the metrics of the run's data set.
"""

from __future__ import annotations

import functools

import ml_collections
from jax.sharding import Mesh

from gan_jax.data import datasets as data_lib
from gan_jax.game import Evaluation, Game, State
from gan_jax.games.gan import build, sampling, settings, step
from gan_jax.games.gan.build import GAN


def make_evaluation(gan: GAN, config: ml_collections.ConfigDict, mesh: Mesh) -> Evaluation | None:
  """The metrics of the run's data set (evaluation.evaluate), built once (reference
  statistics, the classifier) and reused at every evaluation."""
  from gan_jax.evaluation import evaluate as evaluate_lib  # noqa: PLC0415 - heavy, eval only

  evaluator = evaluate_lib.make_evaluator(
    config.dataset,
    image_size=config.model.image_size,
    num_samples=config.eval.num_samples,
    data_source=config.data.source,
    data_dir=config.data.data_dir,
    inception_path=config.eval.inception_path,
    batch_size=config.eval.batch_size,
  )
  if not evaluator.metric_names:
    return None
  sample = sampling.make_sample_fn(
    gan, mesh, batch_size=config.eval.batch_size, seed=sampling.EVAL_SEED
  )

  def evaluate(state: State) -> dict[str, float]:
    metrics = evaluator(lambda n: sample(state, n))
    return {**metrics, "eval_samples": config.eval.num_samples}

  return Evaluation(evaluate, dict(evaluator.info))


def run_step(dataset: data_lib.Dataset, config: ml_collections.ConfigDict):
  """The step of member `config`'s run as it trains alone, on a state of a program of
  several members (whose per-run settings it carries along, unread).

  Its GAN is the one `make(config)` builds, every setting a Python constant. A per-run
  array computes the same values but compiles to other XLA fusions, and XLA:CPU contracts
  a multiply and an add that share a fusion into one fused multiply-add (one rounding): a
  run alone's update p + u * -lr, the constant multiply fused into the add, rounds once,
  where a per-run -lr multiplied into u's own fusion (as for the 1-element bias of D's
  last layer) rounds twice. Of the program's batch it takes what the member's own draws.
  """
  gan = build.build_gan(config, dataset)  # what make(config) trains alone
  keys = tuple(step.batch_spec(gan))

  def member_step(state: State, batch: dict, with_norms) -> tuple[State, dict]:
    return step.local_step(gan, state, {k: batch[k] for k in keys}, with_norms)

  return member_step


def make(
  config: ml_collections.ConfigDict,
  dataset: data_lib.Dataset | None = None,
  members: tuple[ml_collections.ConfigDict, ...] = (),
) -> Game:
  """The GAN game of `config`: its data set, networks, step, pictures and evaluation.

  `dataset` replaces the one `config.dataset` names (your own arrays, tests). `members`:
  the configs of a program that trains several (config is the first), which may differ in
  the settings of settings.RUN_KEYS.
  """
  dataset = data_lib.load_dataset(config) if dataset is None else dataset
  gan = settings.for_members(build.build_gan(config, dataset), members)
  pictures = sampling.Pictures(gan, config, dataset)
  return Game(
    name="gan",
    init=functools.partial(build.init_state, gan),
    data=dataset.arrays,
    draw=functools.partial(step.draw, gan, dataset.sample),
    batch_spec=step.batch_spec(gan),
    step=functools.partial(step.local_step, gan),
    console=("d_loss", "g_loss", "d_real", "d_fake"),
    pictures=pictures,
    make_evaluation=functools.partial(make_evaluation, gan, config),
    sample=lambda state, mesh, out_dir, at_step: sampling.write_samples(
      gan, config, pictures, state, mesh, out_dir, at_step
    ),
    stream=dataset.stream,
    info=dataset.info(),
    resolved={"data.source": dataset.source, "data.examples": dataset.num_examples},
    run_settings=functools.partial(settings.run_settings, gan) if gan.varying else None,
    run_step=functools.partial(run_step, dataset) if gan.varying else None,
  )
