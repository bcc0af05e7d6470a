#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with CUDA, run the GPU tests, `bncheck run`,
# `props` and a short `fuzz` on every CUDA backend, and the benchmark against cuDNN
# (and LibTorch when the LibTorch found has CUDA); write everything to one results
# file, $RESULTS (default build-gpu/gpu-results.txt).
#
# The device machine of this workplace has nvcc, cmake, ninja and a PyTorch wheel but
# no Debian dev packages and no network: ci/gpu-carry.sh (run here) downloads the
# header-only and test packages into .carry/debs; this script unpacks them with
# `dpkg -x` into .carry/root and points CMake at them.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS="${RESULTS:-build-gpu/gpu-results.txt}"
mkdir -p build-gpu "$(dirname "$RESULTS")"
prefix=""
if ls .carry/debs/*.deb >/dev/null 2>&1; then
  mkdir -p .carry/root
  for f in .carry/debs/*.deb; do dpkg -x "$f" .carry/root; done
  prefix="$PWD/.carry/root/usr"
fi
torch_dir=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "share/cmake/Torch"))' 2>/dev/null || true)
{
  echo "# bncheck GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version | tail -1
} >"$RESULTS"
cmake -S . -B build-gpu -G Ninja -DBNCHECK_WITH_CUDA=ON -DBNCHECK_WITH_DNNL=OFF -DBNCHECK_WITH_MPFR=OFF \
  ${prefix:+-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="-isystem $prefix/include"} \
  ${torch_dir:+-DTorch_DIR="$torch_dir"} -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" >>"$RESULTS" 2>&1 \
  && cmake --build build-gpu -j "$(nproc)" >>"$RESULTS" 2>&1 || { echo "BUILD FAILED" >>"$RESULTS"; exit 1; }
B=build-gpu/bncheck
gpu="cuda_welford,cudnn_spatial,cudnn_persistent"
run() { echo; echo "## $*"; "$@"; echo "(exit $?)"; }
{
  run $B list
  run ctest --test-dir build-gpu -R "Registry|GpuMath|cli.smoke" --output-on-failure
  run $B run --backend "$gpu"
  run $B run --backend "$gpu" --suite resnet50
  run $B props --backend "$gpu" --cases 40
  run $B fuzz --backend "$gpu" --seconds 120 --seed 1
  # Bandwidth: ResNet-50 layers at batch 32 and 256, and tensors well above L2 (50 MB).
  for n in 32 256; do
    run $B bench --backend all --reps 20 \
      --problem "n=$n,c=64,sp=112x112,dir=fwd_train" --problem "n=$n,c=64,sp=112x112,dir=bwd" \
      --problem "n=$n,c=256,sp=56x56,layout=cl,dir=fwd_train" --problem "n=$n,c=256,sp=56x56,layout=cl,dir=bwd" \
      --problem "n=$n,c=512,sp=28x28,dt=f16,pdt=f32,dir=fwd_train" --problem "n=$n,c=2048,sp=7x7,dt=f16,pdt=f32,dir=bwd"
  done
} >>"$RESULTS" 2>&1
echo "results: $RESULTS"
