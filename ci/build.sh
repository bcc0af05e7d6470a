#!/usr/bin/env bash
# Configures and builds bncheck into build/ (Ninja). Extra arguments go to cmake,
# e.g. ci/build.sh -DBNCHECK_WITH_TORCH=OFF or -DTorch_DIR=/path/to/share/cmake/Torch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja "$@" >build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
grep -E "^-- bncheck" build.configure.log || true
cmake --build build -j "${BNCHECK_JOBS:-2}"
