#!/usr/bin/env bash
# `bncheck compare` on two `bench --json` reports, judged on recorded samples (no clock
# in the verdict): a real bench report validates against the schema; its samples are
# replaced by fixed ones around its median, and from those,
# every time doubled is flagged SLOWER, and 20 reruns made by multiplying each sample
# by fixed-seed noise of up to +-15% (more than this machine shows) raise no alarm;
# samples spread too widely to see a 2x change are said NOISY, not judged.
. "$(dirname "$0")/../lib.sh"
expect_rc 0 "$B" bench --backend cpu_two_pass --problem n=4,c=16,sp=16x16 --warmup 1 --reps 15 --json base.json
python3 - base.json <<'PY' || fail "could not make the planted reports"
import json, random, sys
base = json.load(open(sys.argv[1]))
# The measured samples carry this machine's noise (a loaded CI machine spreads them by
# a third): they are replaced by fixed ones, +-2% around the measured median, so that
# no clock decides what the planted reports show.
for r in base["results"]:
    m = r["median_s"]
    r["samples_s"] = [m * (1 + 0.01 * ((k % 5) - 2)) for k in range(len(r["samples_s"]))]
    r["median_s"] = sorted(r["samples_s"])[len(r["samples_s"]) // 2]
json.dump(base, open(sys.argv[1], "w"))
def scaled(factors, name):
    d = json.loads(json.dumps(base))
    for r in d["results"]:
        r["samples_s"] = [s * f for s, f in zip(r["samples_s"], factors(len(r["samples_s"])))]
        r["median_s"] = sorted(r["samples_s"])[len(r["samples_s"]) // 2]
    json.dump(d, open(name, "w"))
scaled(lambda n: [2.0] * n, "slow.json")
rng = random.Random(20261126)
for i in range(20):
    scaled(lambda n: [rng.uniform(0.85, 1.15) for _ in range(n)], "rerun%d.json" % i)
scaled(lambda n: [rng.choice((0.3, 3.0)) for _ in range(n)], "noisy.json")
PY
validate_json base.json slow.json rerun0.json
expect_rc 1 "$B" compare base.json slow.json; expect_in "^SLOWER cpu_two_pass .*\(x2\.00"
for i in $(seq 0 19); do
  expect_rc 0 "$B" compare base.json rerun$i.json; expect_in " 0 slower"
done
expect_rc 0 "$B" compare base.json noisy.json; expect_in "^NOISY cpu_two_pass"
ok "a 2x slowdown is flagged, 20 reruns within +-15% are not, a too-noisy timing is said"
