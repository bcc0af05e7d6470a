#!/usr/bin/env bash
# The scheduler recipes of docs/ci.md (examples/ci/): the YAML ones parse (python3-yaml)
# and say 4 shards consistently; then each recipe's own shard command runs locally
# under the variables its scheduler sets (a GitHub matrix's BNCHECK_SHARD, GitLab's
# CI_NODE_INDEX/CI_NODE_TOTAL, a Slurm array's SLURM_ARRAY_TASK_ID/COUNT, an Indexed
# Job's JOB_COMPLETION_INDEX), with --cases 4000 cut to 16 small cases, and
# ci/merge.sh merges the shards: each scheduler's merged campaign equals the
# unsharded one, case by case.
. "$(dirname "$0")/../lib.sh"
ex="$SRC/examples/ci"
python3 -c "import yaml" 2>/dev/null || fail "python3-yaml is missing (ci/setup.sh installs it)"
python3 - "$ex" >yaml.out 2>&1 <<'PY' || { cat yaml.out; fail "a scheduler recipe is malformed"; }
import sys, yaml, re
d = sys.argv[1]
gh = yaml.safe_load(open(d + "/github-actions.yml"))
fz = gh["jobs"]["fuzz"]
assert fz["strategy"]["matrix"]["shard"] == [0, 1, 2, 3]
assert fz["env"]["BNCHECK_SHARD"] == "${{ matrix.shard }}/4"
assert any("ci/shard.sh" in s.get("run", "") for s in fz["steps"])
mg = gh["jobs"]["merge"]
assert mg["needs"] == "fuzz" and mg["if"] == "always()" and any(s.get("run") == "ci/merge.sh" for s in mg["steps"])
gl = yaml.safe_load(open(d + "/gitlab-ci.yml"))
assert gl["fuzz"]["parallel"] == 4 and any("ci/shard.sh" in s for s in gl["fuzz"]["script"])
assert gl["merge"]["stage"] == "merge" and "ci/merge.sh" in gl["merge"]["script"]
k8 = yaml.safe_load(open(d + "/k8s-fuzz-job.yaml"))
spec = k8["spec"]
c = spec["template"]["spec"]["containers"][0]
env = {e["name"]: e["value"] for e in c["env"]}
assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == int(env["BNCHECK_SHARDS"]) == 4
assert "ci/shard.sh" in " ".join(c["command"])
sl = open(d + "/slurm-fuzz.sbatch").read()
assert re.search(r"^#SBATCH --array=0-3$", sl, re.M) and "ci/shard.sh" in sl
print("ok: recipes parse and agree on 4 shards")
PY
small() { sed 's/--cases 4000/--cases 16 --max-elements 4096/'; }
gh_cmd=$(grep -o 'ci/shard.sh .*' "$ex/github-actions.yml" | small)
gl_cmd=$(grep -o 'ci/shard.sh .*' "$ex/gitlab-ci.yml" | small)
k8_cmd=$(python3 -c "import yaml,shlex,sys; c=yaml.safe_load(open(sys.argv[1]))['spec']['template']['spec']['containers'][0]; print(shlex.join(c['command']))" "$ex/k8s-fuzz-job.yaml" | small)
small <"$ex/slurm-fuzz.sbatch" >slurm.sbatch
export BNCHECK="$B"
# The schedulers' variables of the machine running this test must not leak in.
unset BNCHECK_SHARD BNCHECK_SHARDS BNCHECK_RESULTS CI_NODE_INDEX CI_NODE_TOTAL SLURM_ARRAY_TASK_ID \
  SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN JOB_COMPLETION_INDEX
cd "$SRC"
for i in 0 1 2 3; do
  BNCHECK_RESULTS=$T/gh BNCHECK_SHARD=$i/4 bash -c "$gh_cmd" >/dev/null 2>&1
  BNCHECK_RESULTS=$T/gl CI_NODE_INDEX=$((i + 1)) CI_NODE_TOTAL=4 bash -c "$gl_cmd" >/dev/null 2>&1
  BNCHECK_RESULTS=$T/sl SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=4 SLURM_ARRAY_TASK_MIN=0 bash "$T/slurm.sbatch" >/dev/null 2>&1
  BNCHECK_RESULTS=$T/k8 JOB_COMPLETION_INDEX=$i BNCHECK_SHARDS=4 bash -c "$k8_cmd" >/dev/null 2>&1
done
for s in gh gl sl k8; do
  n=$(ls "$T/$s"/shard-*.json 2>/dev/null | wc -l)
  [ "$n" = 4 ] || fail "$s: $n shard reports, wanted 4"
  BNCHECK_RESULTS=$T/$s ci/merge.sh >"$T/$s.merge" 2>&1; rc=$?
  [ $rc -le 1 ] && [ -s "$T/$s/campaign.json" ] || { cat "$T/$s.merge"; fail "$s: ci/merge.sh exited $rc"; }
done
expect_rc 2 env BNCHECK_RESULTS="$T/none" ci/shard.sh --cases 1;  expect_in "no shard index"
cd "$T"
"$B" fuzz --seed 7 --cases 16 --max-elements 4096 --json unsharded.json >/dev/null 2>&1
validate_json unsharded.json "$T"/gh/*.json "$T"/k8/campaign.json
python3 - unsharded.json gh gl sl k8 <<'PY' || fail "a scheduler's merged campaign differs from the unsharded one"
import json, sys
key = lambda c: (c["case_index"], c["backend"])
strip = lambda c: {k: v for k, v in c.items() if not k.startswith("seconds_")}
want = sorted(map(strip, json.load(open(sys.argv[1]))["cases"]), key=key)
for s in sys.argv[2:]:
    got = sorted(map(strip, json.load(open(s + "/campaign.json"))["cases"]), key=key)
    assert got == want, (s, len(got), len(want))
print("ok: %d cases, the same under all four schedulers" % len(want))
PY
ok "GitHub, GitLab, Slurm and Kubernetes recipes run their shards and merge to the unsharded campaign"
