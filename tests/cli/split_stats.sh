#!/usr/bin/env bash
# Split statistics (distributed BN) from the command line: our backends and the example
# plugin pass split problems (uneven, empty and one-sample slices) and the
# split_equivalence property; the example with the classic SyncBN merge bug planted
# (slice means averaged without their counts) is caught by run, by props and by fuzz,
# and its repro lines rerun as pasted; a backend without split entry points is
# UNSUPPORTED on a split problem, never a pass.
. "$(dirname "$0")/../lib.sh"
split='n=12,c=5,sp=3x4,dt=f32,pdt=f32,fill=normal:3:1,split=7:0:1:1:3'
expect_rc 0 "$B" run --plugin "$P/bn_example.so" --backend cpu_two_pass,cpu_welford,bn_example --problem "$split"
expect_in 'summary: 3 PASS'
expect_rc 0 "$B" run --backend cpu_two_pass --problem 'n=3,c=2,sp=5,dt=f16,pdt=f32,layout=cl,split=0:3:0'
expect_in 'summary: 1 PASS'
expect_rc 3 "$B" run --backend cpu_one_pass_naive --problem "$split"
expect_in 'UNSUPPORTED'; expect_in 'split=: the backend has no split-statistics entry points'
ok "split problems pass on cpu_two_pass, cpu_welford and bn_example; a backend without split is UNSUPPORTED"

expect_rc 2 "$B" run --backend cpu_two_pass --problem 'n=4,c=1,split=1:2'
expect_in 'hold 3 samples, n=4'
expect_rc 2 "$B" run --backend cpu_two_pass --problem 'n=4,c=1,dir=bwd,split=2:2'
expect_in 'split= is for dir=fwd_train'
expect_rc 2 "$B" gen --problem 'n=4,c=1,split=2:2' --out "$T/g"
expect_in 'the file protocol has no split statistics'
ok "a split that does not hold n, or outside forward training, is a bad descriptor; gen refuses splits (exit 2)"

expect_rc 0 "$B" props --backend cpu_two_pass,cpu_welford --property split_equivalence --cases 300
expect_in '^split_equivalence +cpu_two_pass +PASS'
expect_in '^split_equivalence +cpu_welford +PASS'
ok "split_equivalence holds on cpu_two_pass and cpu_welford (300 cases each)"

PL="$P/planted_unweighted_merge.so"
expect_rc 1 "$B" run --plugin "$PL" --backend planted_unweighted_merge --problem "$split"
expect_in 'planted_unweighted_merge +FAIL'
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
(cd / && eval "$line") >"$T/pasted" 2>&1 && fail "the pasted repro line passed: $line"
grep -q '1 FAIL' "$T/pasted" || { tail "$T/pasted"; fail "the pasted repro line did not reproduce: $line"; }
expect_rc 0 "$B" run --plugin "$PL" --backend planted_unweighted_merge --problem "${split%,split=*}"
ok "run catches the unweighted merge (and passes it without a split); the repro reruns as pasted"

expect_rc 1 "$B" props --plugin "$PL" --backend planted_unweighted_merge --property split_equivalence
expect_in 'split_equivalence +planted_unweighted_merge +FAIL'
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
(cd / && eval "$line") >"$T/pasted" 2>&1 && fail "the pasted props repro passed: $line"
grep -Eq 'split_equivalence +planted_unweighted_merge +FAIL' "$T/pasted" || { tail "$T/pasted"; fail "props repro: $line"; }
ok "props catches it (split_equivalence); the repro reruns as pasted"

# In-process here, for the sanitizer build's sake (isolated, each of up to 129 calls a
# case makes is a fork), and bounded by cases, not by the clock: the same cases on any
# machine (an isolated 60-second campaign finds it by case 7).
expect_rc 1 "$B" fuzz --plugin "$PL" --no-isolation --backend planted_unweighted_merge --dir fwd_train --dt f32 \
  --cases 12 --seed 3
expect_in 'FAIL planted_unweighted_merge on case [0-9]+'
expect_in 'minimal.*split='
ok "fuzz catches it in 12 cases"
