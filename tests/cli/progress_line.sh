#!/usr/bin/env bash
# A live progress line (cases done/total, failures so far, cases/s, time left) when
# stdout is a terminal (a pseudo-terminal from script(1)), none when it is a pipe or a
# file, none with --quiet; fuzz's progress lines go with --quiet too.
. "$(dirname "$0")/../lib.sh"
command -v script >/dev/null || fail "script(1) (bsdutils) is needed to give bncheck a terminal"
args="run --backend cpu_two_pass,cpu_one_pass_naive --no-baseline --problem n=4,c=4,sp=8x8,fill=normal:1e4:1 --problem n=2,c=3,sp=4x4"
script -qec "$B $args" /dev/null >tty.out 2>&1
grep -Eq '\[4/4\] 1 failure, [0-9.]+ cases/s, ~[0-9]+ s left' tty.out || { cat -v tty.out | tail; fail "no progress line on a terminal"; }
grep -q $'\r\033\[K' tty.out || fail "the progress line is not cleared before the next output"
$B $args >pipe.out 2>&1
! grep -q "cases/s" pipe.out || fail "a progress line on a pipe"
script -qec "$B $args --quiet" /dev/null >quiet.out 2>&1
! grep -q "cases/s" quiet.out || fail "a progress line with --quiet"
grep -q "summary: 3 PASS 1 FAIL" quiet.out || { cat quiet.out; fail "--quiet changed the report"; }
$B fuzz --backend cpu_two_pass --cases 3 --max-elements 4096 --quiet >fq.out 2>&1
! grep -q "cases/s" fq.out || fail "fuzz printed progress with --quiet"
script -qec "$B fuzz --backend cpu_two_pass --cases 3 --max-elements 4096" /dev/null >ft.out 2>&1
grep -q "fuzz: 3 cases, .* cases/s" ft.out || fail "no fuzz progress on a terminal"
ok "progress line on a terminal only, cleared before output, off with --quiet"
