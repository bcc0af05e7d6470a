#!/usr/bin/env bash
# `run --junit FILE` is JUnit XML a CI system reads: parsed with Python's xml.etree, one
# testcase per case, the suite's counts equal to the testcases', a wrong result as a
# failure whose text holds a repro line that reruns it, a crash as an error, an
# unsupported case as skipped, and a known failure (baseline) as skipped naming the
# finding.
. "$(dirname "$0")/../lib.sh"
ill=n=4,c=4,sp=8x8,fill=normal:1e4:1
half=n=2,c=3,sp=4x4,dt=f16
args=(run --no-baseline --plugin "$P/bn_example.so" --plugin "$P/bad_crash.so"
      --backend bn_example,cpu_one_pass_naive,bad_crash --problem "$ill" --problem "$half")
expect_rc 1 "$B" "${args[@]}" --junit "$T/run.xml"
python3 - "$T/run.xml" >"$T/check.out" <<'PY' || { cat "$T/check.out"; fail "the JUnit report is not what the run gave"; }
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suite = root.find("testsuite")
cases = suite.findall("testcase")
kind = lambda c: next((k for k in ("failure", "error", "skipped") if c.find(k) is not None), "passed")
got = {(c.get("classname"), c.get("name").split(",")[0:2] == ["n=4", "c=4"]): kind(c) for c in cases}
want = {("bncheck.run.bn_example", True): "passed", ("bncheck.run.cpu_one_pass_naive", True): "failure",
        ("bncheck.run.bad_crash", True): "error", ("bncheck.run.bn_example", False): "skipped",
        ("bncheck.run.bad_crash", False): "skipped"}
for k, v in want.items():
    assert got.get(k) == v, (k, got.get(k), v)
assert len(cases) == 6, len(cases)
for attr, k in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
    n = sum(kind(c) == k for c in cases)
    assert int(suite.get(attr)) == n == int(root.get(attr)), (attr, suite.get(attr), n)
assert int(suite.get("tests")) == 6
fail_case = next(c for c in cases if c.get("classname") == "bncheck.run.cpu_one_pass_naive" and kind(c) == "failure")
text = fail_case.find("failure").text
assert fail_case.find("failure").get("type") == "FAIL"
print(next(l[len("repro: "):] for l in text.splitlines() if l.startswith("repro: ")))
PY
repro=$(tail -1 "$T/check.out")
out=$(eval "$repro")
grep -q '1 FAIL' <<<"$out" || fail "the JUnit failure's repro line did not reproduce it: $repro"
# Known: the same failure listed in a baseline is skipped, naming the finding.
printf 'cpu_one_pass_naive  fill=normal:10000:1  FX\n' >known.baseline
"$B" run --baseline known.baseline --backend cpu_one_pass_naive --problem "$ill" --junit "$T/known.xml" >/dev/null 2>&1
python3 - "$T/known.xml" <<'PY' || fail "a known failure is not reported as skipped with its finding"
import sys, xml.etree.ElementTree as ET
c = ET.parse(sys.argv[1]).getroot().find("testsuite/testcase")
s = c.find("skipped")
assert s is not None and "known failure FX" in s.get("message"), ET.tostring(c)
PY
ok "JUnit: pass, failure with a working repro line, error, skipped, known"
