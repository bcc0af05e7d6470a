#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
ci/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "${BNCHECK_JOBS:-2}"
cd ..
# The coverage-guided target, briefly (clang + ASan + UBSan; skipped without clang).
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" ci/fuzz.sh
