#!/usr/bin/env bash
# The libFuzzer smoke step of the tests, deterministic: the target (clang, ASan, UBSan;
# ci/fuzz-build.sh) runs every committed input once: fuzz/seed_corpus (the seeds and
# the corpus grown by earlier campaigns) and the regression inputs
# fuzz/libfuzzer_regressions. No mutation here: coverage-guided mutation is not
# reproducible run to run, so it lives in ci/fuzz-campaign.sh. A failure is saved
# under build-fuzz/findings as a case `bncheck run --case DIR` replays. Skipped (exit 0,
# with a message) without clang.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
ci/fuzz-build.sh || rc=$?
if [ $rc -eq 3 ]; then echo "ci/fuzz.sh: clang++ not found, skipping the libFuzzer smoke step"; exit 0; fi
[ $rc -eq 0 ] || exit $rc
mkdir -p build-fuzz/findings
export BNCHECK_FUZZ_FINDINGS="$PWD/build-fuzz/findings"
# Files as arguments: each runs once, and nothing is written to the corpus.
build-fuzz/bncheck_libfuzzer -timeout=60 fuzz/seed_corpus/* fuzz/libfuzzer_regressions/* 2>&1 | grep -Ev "^(Running|Executed) "
echo "ci/fuzz.sh: $(find fuzz/seed_corpus fuzz/libfuzzer_regressions -type f | wc -l) committed inputs replayed under ASan and UBSan"
