#!/usr/bin/env bash
# The weak one-pass baseline fails an ill-conditioned problem (exit 1) and prints a
# repro line naming the backend and the problem.
. "$(dirname "$0")/../lib.sh"
expect_rc 1 "$B" run --backend cpu_one_pass_naive --problem n=4,c=4,sp=8x8,fill=normal:1e4:1
expect_in "repro: .*run --backend cpu_one_pass_naive --problem 'n=4,c=4,sp=8x8"
ok "weak baseline fails the ill-conditioned problem with a repro line"
