#!/usr/bin/env bash
# Reports for CI: every --json output (run, fuzz, props, report) validates against
# docs/json-schema.json with a JSON Schema validator (python3-jsonschema); the JUnit of
# fuzz, props and report parses with xml.etree with its counts right; four shards of a
# campaign merged by `bncheck report` equal the unsharded campaign case by case, and a
# missing or repeated shard is refused; `bncheck compare` flags a backend made 4x less
# accurate (a planted plugin) and raises no alarm on an unchanged rerun.
. "$(dirname "$0")/../lib.sh"
schema="$SRC/docs/json-schema.json"
python3 -c "import jsonschema" 2>/dev/null || fail "python3-jsonschema is missing (ci/setup.sh installs it)"
camp=(fuzz --backend cpu_welford,cpu_one_pass_naive --no-baseline --seed 5 --cases 24 --max-elements 4096)
for i in 0 1 2 3; do
  "$B" "${camp[@]}" --shard $i/4 --json s$i.json --junit s$i.xml >s$i.out 2>&1
  [ $? -le 1 ] || { cat s$i.out; fail "shard $i did not run"; }
done
"$B" "${camp[@]}" --json all.json --junit all.xml >all.out 2>&1
expect_rc 1 "$B" report s0.json s1.json s2.json s3.json --json merged.json --junit merged.xml
expect_in "4 fuzz report\(s\), 48 cases"
expect_rc 2 "$B" report s0.json s1.json s3.json;               expect_in "missing shard\(s\) 2 of 4"
expect_rc 2 "$B" report s0.json s1.json s1.json s2.json s3.json; expect_in "given twice"
"$B" fuzz --backend cpu_welford --seed 6 --cases 8 --shard 3/4 --json other.json >/dev/null 2>&1
expect_rc 2 "$B" report s0.json s1.json s2.json other.json;    expect_in "another campaign"
python3 - all.json merged.json <<'PY' || fail "the merged shards differ from the unsharded campaign"
import json, sys
key = lambda c: (c["case_index"], c["backend"])
strip = lambda c: {k: v for k, v in c.items() if not k.startswith("seconds_")}
a, m = (json.load(open(f)) for f in sys.argv[1:3])
ca, cm = sorted(a["cases"], key=key), sorted(m["cases"], key=key)
assert len(ca) == len(cm) == 48, (len(ca), len(cm))
for x, y in zip(ca, cm):
    assert strip(x) == strip(y), (x["case_index"], x["backend"])
assert a["summary"] == m["summary"], (a["summary"], m["summary"])
assert any(c["verdict"] == "FAIL" for c in ca), "the campaign found nothing: the comparison proves little"
print("ok: 48 cases equal, failures included")
PY
# A damaged shard file is an input error, never a crash; an interrupted shard is not the campaign.
python3 -c "import json; d = json.load(open('s0.json')); d['campaign']['shards'] = 0; json.dump(d, open('bad.json', 'w'))"
expect_rc 2 "$B" report bad.json s1.json s2.json s3.json;       expect_in "campaign: shard I of N"
python3 -c "import json; d = json.load(open('s0.json')); d['cases'][0]['case_index'] = 1.5; json.dump(d, open('bad.json', 'w'))"
expect_rc 2 "$B" report bad.json s1.json s2.json s3.json;       expect_in "case_index is not a case number"
python3 -c "
import json; d = json.load(open('s0.json')); d['complete'] = False; d['incomplete_reason'] = 'interrupted by SIGTERM\x1b[2J'
json.dump(d, open('cut.json', 'w'))"
expect_rc 1 "$B" report cut.json s1.json s2.json s3.json;       expect_in "^incomplete: cut.json: interrupted by SIGTERM.x1B.2J \\(exit 1\\)"
ok "4 shards merged equal the unsharded campaign; a missing, repeated, foreign, damaged or cut shard is refused"

# compare: a plugin whose y is off by 4x more than before is a regression; a rerun is not.
plant=(run --no-baseline --plugin "$P/bad_perturb.so" --backend bad_perturb --suite smoke)
BNCHECK_PLANT_SCALE=1 "$B" "${plant[@]}" --json p1.json >/dev/null 2>&1
BNCHECK_PLANT_SCALE=1 "$B" "${plant[@]}" --json p1b.json >/dev/null 2>&1
BNCHECK_PLANT_SCALE=4 "$B" "${plant[@]}" --json p4.json >/dev/null 2>&1
expect_rc 1 "$B" compare p1.json p4.json;  expect_in "^ACCURACY bad_perturb y: err/budget "
expect_in " [1-9][0-9]* accuracy regressions"
expect_rc 0 "$B" compare p1.json p1b.json; expect_in " 0 new failures, 0 fixed, 0 accuracy regressions"
expect_rc 3 "$B" compare all.json p4.json; expect_in "nothing was compared"
python3 -c "
import json; d = json.load(open('p1.json'))
c = next(c for c in d['cases'] if c['verdict'] == 'PASS'); c['verdict'] = 'UNAVAILABLE'; c['tensors'] = []
json.dump(d, open('lost.json', 'w'))"
expect_rc 1 "$B" compare p1.json lost.json; expect_in "^LOST bad_perturb: was PASS, now UNAVAILABLE"
ok "compare flags a 4x less accurate backend and passes an unchanged rerun"

# Every JSON output against the schema; props' JSON and JUnit too.
expect_rc 1 "$B" props --backend cpu_welford,cpu_one_pass_naive --no-baseline --cases 12 --json props.json --junit props.xml
expect_rc 1 "$B" run --no-baseline --backend cpu_welford,cpu_one_pass_naive --problem n=4,c=4,sp=8x8,fill=normal:1e4:1 \
  --json run.json
python3 - "$schema" s0.json s1.json s2.json s3.json all.json merged.json p1.json p4.json props.json run.json <<'PY' \
  || fail "a JSON report does not validate against docs/json-schema.json"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for f in sys.argv[2:]:
    errors = sorted(v.iter_errors(json.load(open(f))), key=lambda e: e.path)
    assert not errors, (f, [e.message for e in errors[:3]])
bad = json.load(open(sys.argv[2]))
bad["cases"][0]["verdict"] = "PASSED"
assert list(v.iter_errors(bad)), "the schema accepts an unknown verdict: it checks nothing"
print("ok: %d reports validate" % (len(sys.argv) - 2))
PY
python3 - all.xml merged.xml props.xml <<'PY' || fail "a JUnit report is not what the command gave"
import sys, xml.etree.ElementTree as ET
kind = lambda c: next((k for k in ("failure", "error", "skipped") if c.find(k) is not None), "passed")
for f in sys.argv[1:]:
    root = ET.parse(f).getroot()
    assert root.tag == "testsuites", (f, root.tag)
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert cases and int(suite.get("tests")) == len(cases), (f, suite.get("tests"), len(cases))
    for attr, k in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        assert int(suite.get(attr)) == sum(kind(c) == k for c in cases), (f, attr)
    fails = [c for c in cases if kind(c) == "failure"]
    assert fails, (f, "no failure: the weak baseline should fail")
    assert all("repro: " in c.find("failure").text for c in fails), f
m = ET.parse("merged.xml").getroot().find("testsuite")
assert m.get("name") == "bncheck fuzz" and len(m.findall("testcase")) == 48
assert all(c.get("classname").startswith("bncheck.fuzz.") and c.get("name").startswith("case ") for c in m.iter("testcase"))
p = ET.parse("props.xml").getroot().find("testsuite")
assert p.get("name") == "bncheck props"
print("ok: JUnit of fuzz, report and props")
PY
ok "JSON reports validate against the schema; JUnit of fuzz, props and report parses"
