#!/usr/bin/env bash
# Shards partition a campaign exactly: the union of --shard i/4 is the whole campaign.
. "$(dirname "$0")/../lib.sh"
"$B" fuzz --dry-run --cases 64 --seed 5 | sort >whole
for i in 0 1 2 3; do "$B" fuzz --dry-run --cases 64 --seed 5 --shard $i/4; done | sort >shards
[ "$(wc -l <whole)" -eq 64 ] || fail "the campaign has $(wc -l <whole) cases, not 64"
diff whole shards || fail "the shards do not partition the campaign"
ok "4 shards partition 64 cases"
