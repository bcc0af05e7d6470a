#!/usr/bin/env bash
# Builds the libFuzzer target with clang, AddressSanitizer and UBSan (build-fuzz/) and
# runs it for FUZZ_SECONDS (default 30) from the committed seed corpus. Exits non-zero
# on a disagreement beyond budget or on undefined behaviour.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null; then echo "ci/fuzz.sh: clang++ not found, skipping the libFuzzer run"; exit 0; fi
flags="-fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DBNCHECK_LIBFUZZER=ON -DBUILD_TESTING=OFF -DBNCHECK_WITH_TORCH=OFF -DBNCHECK_WITH_DNNL=OFF \
  -DBNCHECK_WITH_CUDA=OFF >build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log; exit 1; }
cmake --build build-fuzz -j "${BNCHECK_JOBS:-2}" --target bncheck_libfuzzer
mkdir -p build-fuzz/corpus
build-fuzz/bncheck_libfuzzer -max_total_time="${FUZZ_SECONDS:-30}" -max_len=512 -print_final_stats=1 \
  build-fuzz/corpus fuzz/seed_corpus
