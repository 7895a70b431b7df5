#!/usr/bin/env bash
# The GPU benchmark of issue 4 in one call: gan_jax vs the PyTorch peer on CUDA at batch 64
# and 256 (alternated, medians), plus fused steps, flax.linen.ConvTranspose and per-layer
# formulations at batch 64. Runs with the packages of the machine's python3; wheels for
# missing ones in .whl/ and the peer script in .peer/ (../shared does not travel).
#   bash benchmarks/gpu_check.sh [OUTDIR] [ROUNDS] [STEPS]
set -uo pipefail
out=${1:-/tmp/gpu_check}; rounds=${2:-3}; steps=${3:-300}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
peer=${PEER:-.peer/torch_dcgan_reference.py}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 -c "import jax, jaxlib, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())" || exit 1
for b in 64 256; do
  python3 benchmarks/compare_torch.py --torch_python=python3 --peer "$peer" --peer_device=cuda \
    --rounds "$rounds" --steps "$steps" --batch $b | tee "$out/compare_b$b.jsonl"
done
python3 benchmarks/step_throughput.py --batch 64 --steps "$steps" --steps_per_dispatch 10 | tee "$out/fused_b64.json"
python3 benchmarks/step_throughput.py --batch 64 --steps "$steps" --slow_conv_transpose | tee "$out/flax_convt_b64.json"
python3 benchmarks/step_variants.py --batch 64 --rounds 100 --variants lax/conv,lax/lax,lax/dots,im2col/fast | tee "$out/variants_b64.json"
