#!/usr/bin/env bash
# Defect 5: an interrupted run keeps its results: valid JSON marked incomplete, the
# summary, exit 130/143; fuzz keeps its summary counts.
. "$(dirname "$0")/../lib.sh"
"$B" run --backend cpu_two_pass,bad_hang --plugin "$P/bad_hang.so" --timeout 600 --problem "$PROB" \
  --problem "n=2,c=2,sp=3" --json "$T/r.json" >"$T/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "cpu_two_pass" "$T/out" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] || fail "run: exit $rc after SIGINT, wanted 130"
expect_in "summary: 1 PASS 1 SKIPPED"
expect_in "incomplete: interrupted by SIGINT"
python3 - "$T/r.json" <<'PY' || fail "run: the JSON of an interrupted run"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["complete"] is False and d["incomplete_reason"] == "interrupted by SIGINT", d
assert [c["verdict"] for c in d["cases"]] == ["PASS", "SKIPPED"], d["cases"]
PY
validate_json "$T/r.json"
ok "run: interrupted results kept"
"$B" fuzz --backend cpu_two_pass,bad_hang --plugin "$P/bad_hang.so" --timeout 600 --cases 50 --seed 3 >"$T/out" 2>&1 &
pid=$!
sleep 3
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 143 ] || fail "fuzz: exit $rc after SIGTERM, wanted 143"
expect_in "^summary: [0-9]+ cases"
expect_in "incomplete: interrupted by SIGTERM"
ok "fuzz: interrupted summary kept"
