#!/usr/bin/env bash
# A problem that does not fit the memory allowed is SKIPPED, not attempted.
. "$(dirname "$0")/../lib.sh"
"$B" run --problem n=1048576,c=1024,sp=1024x1024 --max-memory 1 >"$T/stdout" 2>/dev/null
grep -q SKIPPED "$T/stdout" || fail "the case was not SKIPPED"
ok "too large: SKIPPED"
