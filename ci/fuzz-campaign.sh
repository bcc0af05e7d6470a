#!/usr/bin/env bash
# An open-ended libFuzzer campaign (not part of the tests): FUZZ_SECONDS (default 600)
# from a random seed, or FUZZ_SEED, growing build-fuzz/campaign-corpus from the
# committed one. Findings are saved under build-fuzz/findings as replayable cases
# (`bncheck run --case DIR`); once fixed, copy the input (crash-*/ the saved case's
# input) into fuzz/libfuzzer_regressions/ so that ci/fuzz.sh replays it every time.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/fuzz-build.sh
mkdir -p build-fuzz/campaign-corpus build-fuzz/findings build-fuzz/artifacts
export BNCHECK_FUZZ_FINDINGS="$PWD/build-fuzz/findings"
build-fuzz/bncheck_libfuzzer -max_total_time="${FUZZ_SECONDS:-600}" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -max_len=512 \
  -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/ "$@" \
  build-fuzz/campaign-corpus fuzz/seed_corpus fuzz/libfuzzer_regressions
