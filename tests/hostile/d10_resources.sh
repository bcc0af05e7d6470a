#!/usr/bin/env bash
# Defect 10: resource guards: bounded suite expansion, estimates that bound the peak,
# refusal before allocating.
. "$(dirname "$0")/../lib.sh"
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
# The memory estimate bounds the measured peak beyond start-up, on every backend at once
# (one reference per declared convention) and on one. Under AddressSanitizer (SAN=1,
# from tests/CMakeLists.txt) every byte the program touches has 1/8 byte of shadow, and
# freed memory is held in a quarantine: the quarantine is turned off for these runs and
# the bound is the estimate plus its shadow, 9/8 of it.
shadow_num=8
if [ "${SAN:-0}" = 1 ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
  shadow_num=9
fi
peak() {   # peak resident MiB of one bncheck run
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
PY
}
for be in all cpu_two_pass; do
  base=$(peak "$B" run --backend $be --problem n=1,c=1)
  for prob in "n=32,c=64,sp=28x28,layout=cl" "n=16,c=32,sp=28x28,dir=bwd" "n=8,c=64,sp=56x56,dt=f16" "n=512,c=2,sp=1024,dt=f64,pdt=f64"; do
    est=$("$B" run --backend $be --problem "$prob" --verbose --max-memory 100 | sed -n 's/.*memory estimate: \([0-9]*\) MiB.*/\1/p')
    got=$(peak "$B" run --backend $be --problem "$prob")
    [ -n "$est" ] || fail "$be $prob: no memory estimate printed"
    bound=$((est * shadow_num / 8))
    echo "  $be $prob: peak $((got - base)) MiB beyond start-up, estimate $est MiB, bound $bound MiB"
    [ $((got - base)) -le "$bound" ] || fail "$be $prob: peak $((got - base)) MiB above the bound $bound MiB"
  done
done
ok "memory estimates bound the measured peaks"
