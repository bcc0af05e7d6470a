#!/usr/bin/env bash
# `bncheck study`: the variance-algorithms preset measures the growth exponents of the
# one-pass, two-pass and Welford variances against kappa and agrees with Chan, Golub &
# LeVeque (1983); its report is self-contained HTML whose SVGs are well-formed XML (and,
# where a headless Chromium is installed, renders to a non-blank screenshot); a study
# runs over a plugin and over the files an implementation in another language wrote
# (--gen, then --check); a study of nothing measured is not a success.
. "$(dirname "$0")/../lib.sh"
PY=""
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null && "$c" -c "import numpy" 2>/dev/null; then PY=$c; break; fi
done

"$B" study --preset variance-algorithms --strict --out "$T/va" --quiet >"$T/stdout" 2>"$T/stderr"
strict_rc=$?
cat "$T/stdout" "$T/stderr" >"$T/out"
for s in 0 1; do
  expect_in "sweep $s cpu_one_pass_naive +slope +want 2 \\+- 0.3, measured [0-9.]+: agrees"
  expect_in "sweep $s cpu_welford +slope +want 1 \\+- 0.3, measured [0-9.]+: agrees"
  expect_in "sweep $s cpu_two_pass_f32 +slope_floor want 0 \\+- 0.3, measured [0-9.]+: agrees"
  # The two-pass growth: docs/precision-study.md says why it disagrees with the bound's kappa^2 here.
  expect_in "sweep $s cpu_two_pass_f32 +slope +want 2 \\+- 0.3, measured [0-9.]+: (agrees|DISAGREES)"
done
if grep -q DISAGREES "$T/out"; then want_rc=1; else want_rc=0; fi
[ "$strict_rc" -eq "$want_rc" ] || fail "--strict exited $strict_rc, wanted $want_rc"
python3 - "$T/va" <<'PY' || fail "the study's files are not what they should be"
import json, sys, xml.dom.minidom, glob, os
d = sys.argv[1]
j = json.load(open(os.path.join(d, "study.json")))
assert j["format"] == "bncheck-study" and len(j["expectations"]) == 8, j["expectations"]
off = [(e["backend"], e["quantity"]) for e in j["expectations"] if not e["agrees"]]
assert set(off) <= {("cpu_two_pass_f32", "slope")}, off
svgs = glob.glob(os.path.join(d, "*.svg"))
assert len(svgs) == 3 + 4, svgs
for f in svgs:
    xml.dom.minidom.parse(f)  # well-formed
h = open(os.path.join(d, "study.html")).read()
assert h.count("<svg") == len(svgs), (h.count("<svg"), len(svgs))
assert "<script" not in h and "src=" not in h and "href=" not in h, "the report must be self-contained"
rows = open(os.path.join(d, "study.csv")).read().splitlines()
assert rows[0].startswith("sweep,param,point,seed,backend") and len(rows) > 100, len(rows)
PY
ok "variance-algorithms: one-pass ~kappa^2, Welford ~kappa, two-pass flat; --strict exits 1 exactly on a disagreement; JSON, CSV, SVG, HTML"

browser=""
for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null && { browser=$c; break; }; done
if [ -n "$browser" ]; then
  "$browser" --headless --no-sandbox --disable-gpu --window-size=1000,1400 --screenshot="$T/shot.png" \
    "file://$T/va/study.html" >/dev/null 2>&1 || fail "$browser could not render the report"
  python3 - "$T/shot.png" <<'PY' || fail "the screenshot of the report is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
assert len(set(raw)) > 8, "one colour"
PY
  ok "$browser renders the report to a non-blank screenshot"
else
  echo "note: no headless Chromium here; the rendering check is left out"
fi

expect_rc 0 "$B" study --plugin "$P/bn_example.so" --backend bn_example,cpu_welford --sweep kappa=1:1e4:5 \
  --problem 'n=50,c=1,sp=20,dt=f32,pdt=f64,save=var' --fit save_stat --seeds 2 --out "$T/plugin" --quiet
expect_in '20 of 20 measurements'
expect_in '^  bn_example +[0-9.e+-]+ +[0-9]+ '
ok "a study over a plugin"

expect_rc 3 "$B" study --plugin "$P/bn_example.so" --backend bn_example --sweep kappa=1,10 \
  --problem 'n=4,c=1,dt=f16,pdt=f16' --quiet
expect_in 'nothing was measured'
ok "a study that measured nothing (bn_example has no f16) exits 3"

small=(--sweep kappa=1:1e4:5 --problem 'n=50,c=1,sp=20,dt=f32,pdt=f64,save=var' --fit save_stat --seeds 2
  --backend cpu_welford,cpu_two_pass)
expect_rc 0 "$B" study "${small[@]}" --out "$T/full" --quiet
for i in 0 1 2; do expect_rc 0 "$B" study "${small[@]}" --shard $i/3 --out "$T/shard$i" --quiet; done
expect_rc 0 "$B" study "${small[@]}" --merge "$T/shard0/study.json" --merge "$T/shard1/study.json" \
  --merge "$T/shard2/study.json" --out "$T/merged" --quiet
expect_in '20 of 20 measurements .*merged from 3 files'
cmp "$T/full/study.csv" "$T/merged/study.csv" || fail "3 merged shards differ from the whole study"
expect_rc 2 "$B" study "${small[@]}" --merge "$T/shard0/study.json" --merge "$T/shard0/study.json"
expect_in 'is in two shards'
expect_rc 2 "$B" study --sweep m=10,100 --seeds 2 --merge "$T/shard0/study.json"
expect_in 'another study'
expect_rc 2 "$B" study "${small[@]}" --seeds 3 --merge "$T/shard0/study.json"
expect_in 'another number of seeds'
ok "three shards merge into the whole study (the same CSV); a shard twice, or another study's, is refused"

expect_rc 2 "$B" study --preset eps --fit y
expect_rc 2 "$B" study --sweep kappa=1,10 --problem 'n=4,c=1,dir=bwd' --fit save_stat
expect_in 'bwd has the outputs dx, dgamma, dbeta'
expect_rc 2 "$B" study --sweep m=10,100 --problem 'n=4,c=1,split=2:2'
expect_rc 2 "$B" study --sweep kappa=0.5,10
ok "bad requests are usage errors (exit 2)"

if [ -n "$PY" ]; then
  args=(--sweep kappa=1:1e3:4 --problem 'n=40,c=1,sp=25,dt=f32,pdt=f32' --fit y --seeds 2)
  expect_rc 0 "$B" study "${args[@]}" --gen "$T/cases"
  expect_in 'wrote 8 cases'
  expect_rc 0 "$PY" "$SRC/examples/python/bn_numpy.py" "$T/cases"
  expect_rc 0 "$B" study "${args[@]}" --check "$T/cases" --name bn_numpy --out "$T/files" --quiet
  expect_in '8 of 8 measurements'
  expect_in '^  bn_numpy +[0-9.e+-]+ +[0-9]+ '
  rm -r "$T/cases/s00_p003_k2"
  expect_rc 0 "$B" study "${args[@]}" --check "$T/cases" --name bn_numpy --quiet
  expect_in '7 of 8 measurements'
  # Another sweep's files are not this study's points.
  expect_rc 3 "$B" study --sweep kappa=2:2e3:4 --problem 'n=40,c=1,sp=25,dt=f32,pdt=f32' --fit y --seeds 2 \
    --check "$T/cases" --name bn_numpy --quiet
  expect_in '0 of 8 measurements'
  ok "a study over the files a NumPy implementation wrote (--gen, then --check; missing or foreign cases are skipped)"
else
  echo "note: no python3 with NumPy; the study over files is left out"
fi
