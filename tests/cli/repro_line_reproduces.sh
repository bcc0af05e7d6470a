#!/usr/bin/env bash
# The repro line of a failure, pasted into a shell as printed, reruns the failing case.
. "$(dirname "$0")/../lib.sh"
expect_rc 1 "$B" run --backend cpu_one_pass_naive --problem n=4,c=4,sp=8x8,fill=normal:1e4:1
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
[ -n "$line" ] || fail "no repro line"
out=$(eval "$line")
grep -q '1 FAIL' <<<"$out" || { echo "$out" | tail; fail "the repro line did not reproduce the failure: $line"; }
ok "repro line reproduces: $line"
