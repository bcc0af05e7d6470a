#!/usr/bin/env bash
# One shard of a fuzz campaign run by a scheduler. The shard's index and the number of
# shards come from the scheduler's own variables:
#   BNCHECK_SHARD=I/N                         (any scheduler; a GitHub Actions matrix sets it)
#   CI_NODE_INDEX (1-based), CI_NODE_TOTAL    (GitLab `parallel:`)
#   SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT (a Slurm job array, --array=0-(N-1))
#   JOB_COMPLETION_INDEX, BNCHECK_SHARDS      (a Kubernetes Indexed Job)
# Writes $BNCHECK_RESULTS/shard-I.json and .xml (default results/); the other options
# go to `bncheck fuzz` and must be the same in every shard (ci/merge.sh checks it).
#   ci/shard.sh --seed 7 --cases 4000
set -euo pipefail
bncheck=${BNCHECK:-build/bncheck}
out=${BNCHECK_RESULTS:-results}
if [ -n "${BNCHECK_SHARD:-}" ]; then
  I=${BNCHECK_SHARD%/*} N=${BNCHECK_SHARD#*/}
elif [ -n "${CI_NODE_INDEX:-}" ]; then
  I=$((CI_NODE_INDEX - 1)) N=${CI_NODE_TOTAL:?GitLab sets CI_NODE_TOTAL with CI_NODE_INDEX}
elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  I=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0})) N=${SLURM_ARRAY_TASK_COUNT:?needs a Slurm job array}
elif [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  I=$JOB_COMPLETION_INDEX N=${BNCHECK_SHARDS:?set BNCHECK_SHARDS to the number of completions}
else
  echo "ci/shard.sh: no shard index: set BNCHECK_SHARD=I/N, or run under GitLab parallel, a Slurm array or an Indexed Job" >&2
  exit 2
fi
mkdir -p "$out"
echo "ci/shard.sh: shard $I of $N"
exec "$bncheck" fuzz --shard "$I/$N" --json "$out/shard-$I.json" --junit "$out/shard-$I.xml" "$@"
