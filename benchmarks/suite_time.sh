#!/usr/bin/env bash
# The test suite's time as docs/performance.md states it: a clean clone of REF, an empty XLA
# cache, the prepared data, Inception weights and 28 px classifiers of `bash .ci/prepare`
# (copied from $GAN_JAX_CACHE, default <tempdir>/gan_jax_test_cache), the venv that is active.
#   bash benchmarks/suite_time.sh [full|quick] [REF] [--reference]
# --reference first times a fixed subset of a fixed tree (b6a1526, whatever REF is) in one
# process (empty XLA cache): this machine's speed moves by 30% between hours, so compare
# suite times only beside that subset's time.
# Prints the pytest summary and the suite's wall, user and sys times; the log stays in the
# temporary directory it names.
set -euo pipefail
tier=${1:-full}; ref=${2:-HEAD}; reference=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
prepared=${GAN_JAX_CACHE:-$(python -c 'import os, tempfile; print(os.path.join(tempfile.gettempdir(), "gan_jax_test_cache"))')}
work=$(mktemp -d)
git clone -q "$repo" "$work/repo" && git -C "$work/repo" checkout -q "$ref"
mkdir -p "$work/cache"
for item in data inception; do
  if [ -d "$prepared/$item" ]; then cp -r "$prepared/$item" "$work/cache/"; fi
done
cp "$prepared"/*_classifier-idx-60000-28px-*.npz "$work/cache/" 2>/dev/null || true
export GAN_JAX_CACHE=$work/cache
cd "$work/repo"
if [ "$reference" = --reference ]; then
  echo "reference subset of b6a1526 (one process, empty XLA cache):"
  git clone -q "$repo" "$work/reference" && git -C "$work/reference" checkout -q b6a1526
  { time (cd "$work/reference" && JAX_COMPILATION_CACHE_DIR=$work/xla_reference \
      python -m pytest -q -n 0 -p no:cacheprovider tests/test_stabilizers.py \
      tests/test_gan_game.py tests/test_conditional.py tests/test_launch.py \
      >"$work/reference.log" 2>&1); } 2>&1 | grep -E "real|user" || true
fi
marker=()
if [ "$tier" = quick ]; then marker=(-m "not slow"); fi
export JAX_COMPILATION_CACHE_DIR=$work/xla
echo "$tier tier of $(git rev-parse --short HEAD), log in $work/suite.log:"
status=0
{ time python -m pytest -q "${marker[@]}" -p no:cacheprovider >"$work/suite.log" 2>&1; } 2>&1 || status=$?
grep -E "passed|failed" "$work/suite.log" | tail -1 || true
exit $status
