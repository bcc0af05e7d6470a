#!/usr/bin/env bash
# After the shards of ci/shard.sh: merges $BNCHECK_RESULTS/shard-*.json (default
# results/) into campaign.json and campaign.xml with `bncheck report`, which refuses
# shards of different campaigns, a missing shard or one given twice. Its exit status is
# the campaign's: 1 when a shard found an unknown failure.
set -euo pipefail
bncheck=${BNCHECK:-build/bncheck}
out=${BNCHECK_RESULTS:-results}
shopt -s nullglob
shards=("$out"/shard-*.json)
[ ${#shards[@]} -gt 0 ] || { echo "ci/merge.sh: no $out/shard-*.json" >&2; exit 2; }
exec "$bncheck" report "${shards[@]}" --json "$out/campaign.json" --junit "$out/campaign.xml"
