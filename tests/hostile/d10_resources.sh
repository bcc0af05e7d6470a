#!/usr/bin/env bash
# Defect 10: resource guards: bounded suite expansion, estimates that bound the peak,
# refusal before allocating.
. "$(dirname "$0")/lib.sh"
line="n=1,c=1$(for i in $(seq 28); do printf ',eps={0|1}'; done)"
echo "$line" >bomb.txt
start=$(date +%s)
expect_rc 2 "$B" run --suite bomb.txt
expect_in "expands to more than"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "the expansion bound took too long"
ok "a 28-group line is refused"
# 2^31 elements: refused by the memory estimate at once, before any allocation.
start=$(date +%s)
expect_rc 3 "$B" run --backend cpu_two_pass --problem "n=2147483648,c=1,dt=f16" --max-memory 1
expect_in "SKIPPED"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "refusing a 2^31-element problem took too long"
ok "2^31 elements refused before allocating"
