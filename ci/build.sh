#!/usr/bin/env bash
# Configures and builds bncheck (Ninja) into build/, or into $BNCHECK_BUILD_DIR. Extra
# arguments go to cmake, e.g. ci/build.sh -DBNCHECK_WITH_TORCH=OFF or
# -DTorch_DIR=/path/to/share/cmake/Torch.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BNCHECK_BUILD_DIR:-build}
cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
grep -E "^-- bncheck" "$dir.configure.log" || true
cmake --build "$dir" -j "${BNCHECK_JOBS:-2}"
