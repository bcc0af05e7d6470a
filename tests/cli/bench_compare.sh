#!/usr/bin/env bash
# `bncheck compare` on two `bench --json` reports: a backend made 2x slower (a planted
# plugin that waits, in each call, as long as a call took before) is a regression; 20
# unchanged reruns on this noisy machine raise no alarm; the reports validate against
# the schema.
. "$(dirname "$0")/../lib.sh"
plant=(bench --plugin "$P/bad_perturb.so" --no-isolation --backend bad_perturb --problem n=8,c=32,sp=32x32
       --warmup 3 --reps 21)
export BNCHECK_PLANT_SCALE=0
expect_rc 0 "$B" "${plant[@]}" --json base.json
ms=$(python3 -c "import json; print(json.load(open('base.json'))['results'][0]['median_s'] * 1e3)")
BNCHECK_PLANT_SLOW_MS=$ms "$B" "${plant[@]}" --json slow.json >/dev/null 2>&1 || fail "the slow bench did not run"
expect_rc 1 "$B" compare base.json slow.json; expect_in "^SLOWER bad_perturb .*\(x(1\.[6-9]|2\.)"
alarms=0
for i in $(seq 20); do
  "$B" "${plant[@]}" --json rerun.json >/dev/null 2>&1 || fail "rerun $i did not run"
  "$B" compare base.json rerun.json >cmp.out 2>&1; rc=$?
  [ $rc -eq 0 ] || { alarms=$((alarms + 1)); cat cmp.out; }
done
[ $alarms -eq 0 ] || fail "$alarms false alarms in 20 unchanged reruns"
python3 - "$SRC/docs/json-schema.json" base.json slow.json <<'PY' || fail "a bench report does not validate"
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for f in sys.argv[2:]:
    e = list(v.iter_errors(json.load(open(f))))
    assert not e, (f, [x.message for x in e[:3]])
PY
ok "a 2x slowdown is flagged, 20 unchanged reruns are not"
