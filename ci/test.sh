#!/usr/bin/env bash
# The test command: installs what is missing, checks the formatting, builds with
# warnings as errors and with AddressSanitizer and UndefinedBehaviorSanitizer (into
# build-test/), runs clang-tidy (.clang-tidy), replays the committed libFuzzer inputs (clang; skipped without it), then
# runs every test (ctest) under the sanitizers, whose summary is the closing line.
# ctest's own JUnit report is build-test/ctest-junit.xml.
# Deterministic: fixed seeds, committed inputs, no clock-bounded step (open-ended
# fuzzing is ci/fuzz-campaign.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
ci/format.sh
BNCHECK_BUILD_DIR=build-test ci/build.sh -DBNCHECK_WERROR=ON -DBNCHECK_SANITIZE=ON
ci/tidy.sh build-test
ci/fuzz.sh
cd build-test
# The results as JUnit XML too (build-test/ctest-junit.xml), for a CI system to show.
ctest --output-on-failure --timeout 900 -j "${BNCHECK_JOBS:-2}" --output-junit ctest-junit.xml
