#!/usr/bin/env bash
# Issue 23's protocols on one GPU, in one call of at most BUDGET_S seconds:
#   1. PacGAN 2-D at full length (experiments/pacgan_2d.py: 400,000 steps, 10 seeds in one
#      program), ring and grid at pack 1 and 4: four programs side by side on the GPU;
#   2. then Stacked MNIST pack 1 (experiments/pacgan_stacked_mnist.py:full, 10 seeds) for the
#      time that is left, evaluated every 5,000 steps, stopped by SIGTERM (the loop
#      checkpoints and stops cleanly), so its table is at the length it reached.
# Each run's log gives its steps/s; the workdirs (without checkpoints) come back as runs.tgz.
#   bash benchmarks/gpu_protocols.sh OUTDIR [BUDGET_S]
# Runs with the packages of the machine's python3; wheels for missing ones in .whl/; the
# offline data (gzipped MNIST IDX files and the cached MNIST classifier, as
# `python -m gan_jax.prepare mnist` and a first Stacked MNIST evaluation leave them in the
# cache) in .gpu_cache/. EXTRA="--config.total_steps=200 ..." is added to every run (to try
# the script out on a CPU).
set -uo pipefail
out=${1:-/tmp/gpu_protocols}; budget=${2:-540}
[ "$budget" -ge 180 ] || { echo "BUDGET_S must be at least 180 s"; exit 2; }
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# Several programs share the GPU: each takes memory as it needs it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ -d .gpu_cache ]; then
  export GAN_JAX_CACHE=/tmp/gan_jax_cache
  mkdir -p "$GAN_JAX_CACHE" && cp -r .gpu_cache/. "$GAN_JAX_CACHE"/
  gunzip -f "$GAN_JAX_CACHE"/data/mnist/*.gz
fi
runs=/tmp/gpu_runs; mkdir -p "$runs"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$out/env.txt"
extra=${EXTRA:-}

# 1. The 2-D protocol: four programs at once; each stops (checkpointed) at the deadline.
t2d=$(date +%s)
for dataset in ring grid; do
  for pack in 1 4; do
    # shellcheck disable=SC2086
    timeout -s TERM $(($(left) - 120)) python3 launch.py \
      --config=experiments/pacgan_2d.py:$dataset --sweep --sweep_only="^pack=$pack\$" \
      --workdir="$runs/${dataset}_p$pack" --config.steps_per_dispatch=10 \
      --config.eval_every=50000 $extra >"$runs/${dataset}_p$pack.log" 2>&1 &
  done
done
wait
echo "2-D: four programs in $(($(date +%s) - t2d)) s" | tee -a "$out/env.txt"

# 2. Stacked MNIST pack 1 for what is left (`timeout 0` would mean no limit: skip instead).
t_sm=$(date +%s)
if [ $(($(left) - 20)) -gt 30 ]; then
  # shellcheck disable=SC2086
  timeout -s TERM $(($(left) - 20)) python3 launch.py \
    --config=experiments/pacgan_stacked_mnist.py:full --sweep --sweep_only='^pack=1$' \
    --workdir="$runs/stacked_p1" --config.eval_every=5000 $extra >"$runs/stacked_p1.log" 2>&1
  echo "stacked MNIST pack 1: $(($(date +%s) - t_sm)) s" | tee -a "$out/env.txt"
fi

# Seed 0's sample images only: all seeds' would pass the 16 MB a returned file may have.
tar czf "$out/runs.tgz" --exclude=checkpoints --exclude='*_seed_[1-9].png' -C /tmp gpu_runs
tail -n 3 "$runs"/*.log
