#!/usr/bin/env bash
# Defect 11: the smaller ones.
. "$(dirname "$0")/../lib.sh"
expect_rc 2 "$B" run --problem "n=2,c=3,n=4";              expect_in "given twice"
expect_rc 2 "$B" run --problem "n=2,c=3,eps=1e400";        expect_in "out of the range of a double"
# A plugin named without '/' is a file in the current directory, never a system library.
cp "$P/bn_example.so" "$T/libm.so.6"
expect_rc 0 "$B" list --plugin libm.so.6;                  expect_in "bn_example +yes"
# A 10 MB line of garbage in a suite: the message stays short.
{ printf 'n=1,c=1,eps='; head -c 10000000 /dev/zero | tr '\0' 'x'; echo; } >big.txt
"$B" run --suite big.txt >"$T/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a 10 MB suite line exited $rc"
[ "$(wc -c <"$T/out")" -lt 4000 ] || fail "a 10 MB suite line echoed $(wc -c <"$T/out") bytes"
expect_rc 2 "$B" run --problem "$PROB" --baseline "$T";    expect_in "is a directory"
ok "duplicate keys, eps=1e400, ./ plugins, long lines, directory baselines"
