#!/usr/bin/env bash
# Defect 1: a plugin's name must be [A-Za-z0-9_-]{1,64}; repro lines paste safely;
# nothing is written outside the save directory.
. "$(dirname "$0")/../lib.sh"
rm -f /tmp/PWNED
for tag in inject traversal empty control; do
  expect_rc 2 "$B" run --plugin "$P/name_$tag.so" --problem "$PROB" --save-failures "$T/saves"
  expect_in "invalid backend name"
  expect_not_in $'\x1b'
done
[ ! -e /tmp/PWNED ] || fail "a plugin name ran a command"
[ -z "$(find "$T" / -maxdepth 3 -name ESCAPED_DIR 2>/dev/null | head -1)" ] || fail "ESCAPED_DIR was created"
ok "hostile names refused"
# A plugin at a path holding shell metacharacters: its repro line (with --plugin) pastes
# and reruns to the same verdict, running nothing else.
mkdir -p "$T/dir with;semi \$(touch PWNED2)"
cp "$P/bad_nans.so" "$T/dir with;semi \$(touch PWNED2)/p.so"
expect_rc 1 "$B" run --plugin "$T/dir with;semi \$(touch PWNED2)/p.so" --backend bad_nans --problem "$PROB"
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
case "$line" in *"--plugin '"*) ;; *) fail "repro line lacks a quoted --plugin: $line" ;; esac
out=$(eval "$line" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "pasted repro exited $rc: $line"
echo "$out" | grep -q "bad_nans  *FAIL" || fail "pasted repro did not give FAIL"
[ ! -e PWNED2 ] && [ ! -e "$T/PWNED2" ] || fail "the repro line ran an embedded command"
ok "repro line with a hostile path pastes and reruns"
