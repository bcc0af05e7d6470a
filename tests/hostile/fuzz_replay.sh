#!/usr/bin/env bash
# A libFuzzer finding replays through the CLI (`bncheck run --case DIR`) to the verdict
# the target gave it: committed inputs, replayed without libFuzzer (bncheck_fuzz_replay).
. "$(dirname "$0")/../lib.sh"
# Every committed regression input: the target passes, and each saved case replays to
# the same verdict through the CLI.
export BNCHECK_FUZZ_FINDINGS="$T/cases" BNCHECK_FUZZ_SAVE_ALL=1
"$R" "$SRC"/fuzz/libfuzzer_regressions/* >"$T/out" 2>&1 || { tail "$T/out"; fail "a committed regression input fails"; }
n=0
for d in "$T"/cases/*; do
  want=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['verdict'])" "$d/case.json")
  expect_rc 0 "$B" run --case "$d"
  grep -Eq " $want " "$T/stdout" || fail "$d: replay gave $(grep -Eo 'PASS|FAIL|MISTRUSTED' "$T/stdout" | head -1), the target $want"
  n=$((n + 1))
done
[ $n -gt 0 ] || fail "no case was saved"
ok "$n saved cases replay to the target's verdicts"
# A failing finding: the weak baseline on an ill-conditioned committed input. The target
# aborts and saves the case; the CLI replays it to FAIL with a repro line of its own.
unset BNCHECK_FUZZ_SAVE_ALL
export BNCHECK_FUZZ_FINDINGS="$T/fail" BNCHECK_FUZZ_BACKENDS=cpu_one_pass_naive
"$R" "$SRC/fuzz/seed_corpus/ill-conditioned-f32" >"$T/out" 2>&1 && fail "the weak baseline passed the ill-conditioned input"
expect_in "FAIL cpu_one_pass_naive"
d=$(ls -d "$T"/fail/*)
expect_rc 1 "$B" run --case "$d"
expect_in "cpu_one_pass_naive +FAIL"
expect_in "repro: .* run --backend cpu_one_pass_naive --case "
ok "a failing finding replays to FAIL"
