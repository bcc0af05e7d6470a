#!/usr/bin/env bash
# Defect 6: bytes from plugins never make the JSON invalid nor reach the terminal raw.
. "$(dirname "$0")/../lib.sh"
expect_rc 1 "$B" run --plugin "$P/bad_bad_bytes.so" --plugin "$P/bad_stdout_.so" --backend bad_bad_bytes,bad_stdout_ \
  --problem "$PROB" --json "$T/r.json"
LC_ALL=C grep -q $'\x1b' "$T/out" && fail "an escape sequence reached the terminal"
grep -q "PLUGIN-STDOUT-NOISE" "$T/stdout" && fail "plugin stdout mixed into the report"
expect_in 'returned 9: bad \\xFF\\xFE bytes \\x1B\[2J'
python3 - "$T/r.json" <<'PY' || fail "the JSON is not valid UTF-8 JSON"
import json, sys
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw.decode("utf-8", errors="strict"))
assert "\x1b" not in raw.decode() and len(d["cases"]) == 2
PY
validate_json "$T/r.json"
ok "JSON valid, terminal clean, plugin stdout kept out of the report"
