#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the coverage-guided target
# briefly (clang + ASan + UBSan; skipped without clang), then every test (ctest), whose
# summary is the closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
ci/build.sh
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" ci/fuzz.sh
cd build
ctest --output-on-failure --timeout 900 -j "${BNCHECK_JOBS:-2}"
