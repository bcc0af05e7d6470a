#!/usr/bin/env bash
# The test command: installs what is missing, builds, replays the committed libFuzzer
# inputs under ASan and UBSan (clang; skipped without it), then every test (ctest),
# whose summary is the closing line. Deterministic: fixed seeds, committed inputs, no
# clock-bounded step (open-ended fuzzing is ci/fuzz-campaign.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
ci/build.sh
ci/fuzz.sh
cd build
ctest --output-on-failure --timeout 900 -j "${BNCHECK_JOBS:-2}"
