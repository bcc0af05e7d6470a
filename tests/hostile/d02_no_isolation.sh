#!/usr/bin/env bash
# Defect 2: in-process calls (--no-isolation) keep the floating-point environment,
# catch writes into inputs, survive exit() with results kept, refuse --timeout.
. "$(dirname "$0")/../lib.sh"
for bad in round_up ftz_daz; do
  expect_rc 1 "$B" run --no-isolation --plugin "$P/bad_$bad.so" --backend "bad_$bad,cpu_two_pass,cpu_welford" \
    --problem "$PROB" --problem "n=4,c=3,sp=9,fill=normal:0:1e-30" --problem "n=3,c=2,sp=5,dt=f64,pdt=f64"
  expect_in "bad_$bad +ERROR"
  expect_in "floating-point environment"
  [ "$(grep -Ec 'cpu_(two_pass|welford) +PASS' "$T/out")" -eq 6 ] || fail "later cases of other backends did not all pass after bad_$bad"
done
ok "FP environment restored and reported"
expect_rc 1 "$B" run --no-isolation --plugin "$P/bad_input_write.so" --backend bad_input_write --problem "$PROB"
expect_in "OUT-OF-BOUNDS-WRITE"
expect_in "read-only input x"
ok "write into x caught in-process"
expect_rc 1 "$B" run --no-isolation --plugin "$P/bad_exit_zero.so" --backend cpu_two_pass,bad_exit_zero,cpu_welford \
  --problem "$PROB" --json "$T/r.json"
expect_in "summary: 1 PASS"
expect_in "incomplete: the plugin called exit"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['complete'] is False and len(d['cases'])==1" "$T/r.json" \
  || fail "exit(0) in-process: the JSON is missing or not marked incomplete"
validate_json "$T/r.json"
ok "exit(0) in a plugin: exit 1, summary and incomplete JSON"
expect_rc 2 "$B" run --no-isolation --timeout 5 --plugin "$P/bn_example.so" --problem "$PROB"
expect_in "cannot be honoured"
ok "--timeout refused in-process"
