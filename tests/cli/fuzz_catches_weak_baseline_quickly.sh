#!/usr/bin/env bash
# An 8-case campaign catches the weak baseline (exit 1) and minimises the failure to
# one sample of one channel.
. "$(dirname "$0")/../lib.sh"
expect_rc 1 "$B" fuzz --backend cpu_one_pass_naive --cases 8 --seed 1 --max-elements 65536
cat "$T/stdout"
grep -Eq 'minimal \(.*\): n=1,c=1,' "$T/stdout" || fail "no minimal case of one sample and one channel"
ok "weak baseline caught and minimised"
