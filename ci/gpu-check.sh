#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with CUDA (and LibTorch from the Python
# environment, when its torch has CUDA), run the tests, `bncheck run` (default,
# ill-conditioned and ResNet-50 suites), `props` and a `fuzz` campaign on every CUDA
# backend, then `bncheck bench` on every ResNet-50 BatchNorm shape; write the raw
# outputs to $RAW and render them into docs/gpu-results.md (ci/gpu-report.py).
#
#   ci/gpu-check.sh                      # everything; FUZZ_SECONDS=300 per backend
#   FUZZ_SECONDS=120 ci/gpu-check.sh     # a shorter campaign
#
# Needs nvcc, cmake, ninja, a C++ compiler and python3; the build's other dependencies
# from ci/setup.sh, or (a machine without network) from .carry/ as ci/gpu-carry.sh
# prepares it elsewhere. Exits 1 when the build fails, else 0: the verdicts are data,
# rendered into the report.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build-gpu}"
RAW="${RAW:-$BUILD/raw}"
FUZZ_SECONDS="${FUZZ_SECONDS:-300}"
PROPS_CASES="${PROPS_CASES:-40}"
BACKENDS="${BACKENDS:-cuda_welford cudnn_spatial cudnn_persistent torch_cuda}"
mkdir -p "$RAW"
: >"$RAW/steps.log"
step() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$RAW/steps.log"; }
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"

step "environment"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
  echo "nvcc: $(nvcc --version 2>&1 | grep -o 'release [0-9.]*' | head -1)"
  echo "host compiler: $(c++ --version 2>&1 | head -1)"
  echo "cmake: $(cmake --version 2>&1 | head -1)"
  python3 - <<'PY' 2>&1
try:
    import torch
    print("torch:", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
except Exception as e:
    print("torch: not importable:", e)
PY
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
} >"$RAW/environment.txt"
cat "$RAW/environment.txt"

# Dependencies carried from elsewhere (no network): unpack, point CMake at them.
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DBNCHECK_WITH_CUDA=ON -DBNCHECK_WITH_DNNL=OFF -DBNCHECK_WITH_MPFR=OFF
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}")
if ls .carry/debs/*.deb >/dev/null 2>&1; then
  mkdir -p .carry/root
  for f in .carry/debs/*.deb; do dpkg -x "$f" .carry/root; done
  cmake_args+=(-DCMAKE_PREFIX_PATH="$PWD/.carry/root/usr" -DCMAKE_CXX_FLAGS="-isystem $PWD/.carry/root/usr/include")
  # python3-jsonschema and python3-yaml for the tests, where the machine lacks them.
  for m in jsonschema yaml; do
    python3 -c "import $m" 2>/dev/null ||
      export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/.carry/root/usr/lib/python3/dist-packages"
  done
fi
torch_dir=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "share/cmake/Torch"))' 2>/dev/null)
[ -n "$torch_dir" ] && cmake_args+=(-DTorch_DIR="$torch_dir")
# cuDNN: the system's, else the one the PyTorch wheel brings (headers from .carry/ when
# the wheel has none).
if [ ! -e /usr/local/cuda/lib64/libcudnn.so ] && [ ! -e /usr/lib/x86_64-linux-gnu/libcudnn.so ]; then
  sp=$(python3 -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)
  lib=$(find "$sp/nvidia" -name 'libcudnn.so*' 2>/dev/null | sort | head -1)
  inc=$(dirname "$(find "$sp/nvidia" -name cudnn.h 2>/dev/null | head -1)")
  [ -f "$inc/cudnn.h" ] || inc="$PWD/.carry/cudnn-include"
  if [ -n "$lib" ] && [ -f "$inc/cudnn.h" ]; then
    cmake_args+=(-DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$inc")
    echo "cuDNN: $lib, headers $inc" >>"$RAW/environment.txt"
  fi
fi

step "configure and build ($BUILD)"
if ! cmake -S . -B "$BUILD" -G Ninja "${cmake_args[@]}" >"$RAW/configure.log" 2>&1; then
  step "configure with LibTorch failed; again without it"
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
  cmake -S . -B "$BUILD" -G Ninja "${cmake_args[@]}" -DBNCHECK_WITH_TORCH=OFF >>"$RAW/configure.log" 2>&1 ||
    { step "CONFIGURE FAILED"; tail -30 "$RAW/configure.log"; exit 1; }
fi
grep "bncheck:" "$RAW/configure.log" | tee -a "$RAW/environment.txt"
[ "${STOP_AFTER:-}" = configure ] && exit 0
if ! cmake --build "$BUILD" -j "$(nproc)" >"$RAW/build.log" 2>&1; then
  step "build with LibTorch failed; again without it"
  grep -m5 "error" "$RAW/build.log"
  cmake -S . -B "$BUILD" -DBNCHECK_WITH_TORCH=OFF >>"$RAW/configure.log" 2>&1 &&
    cmake --build "$BUILD" -j "$(nproc)" >>"$RAW/build.log" 2>&1 || { step "BUILD FAILED"; tail -40 "$RAW/build.log"; exit 1; }
fi
B="$BUILD/bncheck"
"$B" list >"$RAW/list.txt" 2>&1
cat "$RAW/list.txt"

step "bench (alone on the device)"
timeout 600 "$B" bench --backend "$(echo $BACKENDS | tr ' ' ,)" --suite resnet50-gpu-bench --warmup 3 --reps 20 \
  >"$RAW/bench.txt" 2>&1
echo "(exit $?)" >>"$RAW/bench.txt"
step "profile (Nsight Compute, when installed): cuda_welford's kernels on four ResNet-50 shapes at batch 256"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -1)
if [ -n "$ncu" ]; then
  for d in "c=64,sp=112x112,dt=f32,dir=fwd_train" "c=64,sp=112x112,dt=f32,dir=bwd" \
           "c=64,sp=112x112,layout=cl,dt=f16,pdt=f32,dir=fwd_train" "c=2048,sp=7x7,dt=f16,pdt=f32,dir=bwd"; do
    echo "## n=256,$d"
    timeout 120 "$ncu" --clock-control none --launch-count 6 \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed \
      "$B" bench --backend cuda_welford --warmup 0 --reps 1 --problem "n=256,$d" 2>&1
  done >"$RAW/profile.txt" 2>&1
fi
step "tests, run, props and fuzz (backends in parallel)"
(timeout $((FUZZ_SECONDS + 120)) ctest --test-dir "$BUILD" -j 4 --timeout 300 --output-on-failure >"$RAW/ctest.txt" 2>&1
 echo "(exit $?)" >>"$RAW/ctest.txt") &
for be in $BACKENDS; do
  (
    for suite in default ill-conditioned resnet50; do
      timeout 600 "$B" run --backend "$be" --suite "$suite" --json "$RAW/run-$suite-$be.json" \
        >"$RAW/run-$suite-$be.txt" 2>&1
      echo "(exit $?)" >>"$RAW/run-$suite-$be.txt"
    done
    timeout 600 "$B" props --backend "$be" --cases "$PROPS_CASES" >"$RAW/props-$be.txt" 2>&1
    echo "(exit $?)" >>"$RAW/props-$be.txt"
  ) &
  (
    timeout $((FUZZ_SECONDS + 120)) "$B" fuzz --backend "$be" --seconds "$FUZZ_SECONDS" --seed 1 \
      --save-failures "$RAW/fuzz-failures-$be" >"$RAW/fuzz-$be.txt" 2>&1
    echo "(exit $?)" >>"$RAW/fuzz-$be.txt"
  ) &
done
wait
step "report"
python3 ci/gpu-report.py "$RAW" docs/gpu-results.md --keep docs/gpu-run || { step "REPORT FAILED"; exit 1; }
step "done: raw outputs in $RAW, report in docs/gpu-results.md"
