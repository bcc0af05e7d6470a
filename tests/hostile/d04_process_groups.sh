#!/usr/bin/env bash
# Defect 4: nothing a plugin forks outlives its call: not on return, not on timeout,
# not when bncheck is interrupted.
. "$(dirname "$0")/../lib.sh"
marker="seed=$$"   # in the command line of bncheck and of every process it forks
left() { pgrep -f -- "$marker" | grep -v "^$$\$" | wc -l; }
expect_rc 0 "$B" run --plugin "$P/bad_fork_pause.so" --backend bad_fork_pause --problem "$PROB,$marker"
sleep 0.3; [ "$(left)" -eq 0 ] || fail "a forked grandchild survived a returning call"
expect_rc 1 "$B" run --timeout 1 --plugin "$P/bad_fork_hang.so" --backend bad_fork_hang --problem "$PROB,$marker"
expect_in "TIMEOUT"
sleep 0.3; [ "$(left)" -eq 0 ] || fail "processes survived a timeout"
for sig in INT TERM; do
  "$B" run --plugin "$P/bad_fork_hang.so" --backend bad_fork_hang --problem "$PROB,$marker" >"$T/out" 2>&1 &
  pid=$!
  # Signal once the call is in flight: bncheck, its isolated child and the plugin's
  # fork all carry the marker (start-up time varies: sanitizers triple it).
  for _ in $(seq 600); do [ "$(left)" -ge 3 ] && break; sleep 0.1; done
  [ "$(left)" -ge 3 ] || fail "SIG$sig: the plugin's call never started"
  kill -$sig $pid
  wait $pid; rc=$?
  want=$([ $sig = INT ] && echo 130 || echo 143)
  [ $rc -eq $want ] || fail "SIG$sig: exit $rc, wanted $want"
  sleep 0.3; [ "$(left)" -eq 0 ] || fail "processes survived SIG$sig"
done
ok "process groups killed on return, timeout, SIGINT and SIGTERM"
