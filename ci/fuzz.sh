#!/usr/bin/env bash
# The libFuzzer smoke step of the tests, deterministic: the target (clang, ASan, UBSan;
# ci/fuzz-build.sh) runs every committed input once (fuzz/seed_corpus and the
# regression inputs fuzz/libfuzzer_regressions), then a fixed number of mutations from
# a fixed seed (-seed=1 -runs=FUZZ_RUNS, default 2000), in a scratch copy of the corpus
# so that the committed one never changes. Open-ended campaigns: ci/fuzz-campaign.sh.
# A failure is saved under build-fuzz/findings as a case `bncheck run --case DIR`
# replays. Skipped (exit 0, with a message) without clang.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
ci/fuzz-build.sh || rc=$?
if [ $rc -eq 3 ]; then echo "ci/fuzz.sh: clang++ not found, skipping the libFuzzer smoke step"; exit 0; fi
[ $rc -eq 0 ] || exit $rc
work=build-fuzz/smoke-corpus
rm -rf "$work" && mkdir -p "$work" build-fuzz/findings
cp fuzz/seed_corpus/* fuzz/libfuzzer_regressions/* "$work"/
export BNCHECK_FUZZ_FINDINGS="$PWD/build-fuzz/findings"
# 1. Every committed input, once.
build-fuzz/bncheck_libfuzzer -runs=0 "$work"
# 2. A bounded, seeded mutation run (no clock in it: the same inputs every time).
build-fuzz/bncheck_libfuzzer -seed=1 -runs="${FUZZ_RUNS:-2000}" -max_len=512 -timeout=60 \
  -print_final_stats=1 "$work"
