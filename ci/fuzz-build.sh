#!/usr/bin/env bash
# Builds the libFuzzer target with clang, AddressSanitizer and UBSan into build-fuzz/.
# Used by ci/fuzz.sh (the deterministic smoke step of the tests) and
# ci/fuzz-campaign.sh (open-ended campaigns). Exits 3 when clang++ is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "ci/fuzz-build.sh: clang++ not found"; exit 3; }
flags="-fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DBNCHECK_LIBFUZZER=ON -DBUILD_TESTING=OFF -DBNCHECK_WITH_TORCH=OFF -DBNCHECK_WITH_DNNL=OFF \
  -DBNCHECK_WITH_CUDA=OFF >build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log; exit 1; }
cmake --build build-fuzz -j "${BNCHECK_JOBS:-2}" --target bncheck_libfuzzer
