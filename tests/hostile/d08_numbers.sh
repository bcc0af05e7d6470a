#!/usr/bin/env bash
# Defect 8: numeric options are typed; nothing wraps or truncates silently.
. "$(dirname "$0")/../lib.sh"
for args in "fuzz --dry-run --cases inf" "fuzz --dry-run --cases 1e30" "fuzz --dry-run --cases 1.9" \
            "fuzz --dry-run --cases 3 --seed 2.7" "fuzz --dry-run --cases 3 --seed 1e30" \
            "run --max-memory 0" "fuzz --dry-run --cases 3 --shard 0/2xyz" "run --seed -1" \
            "bench --reps abc" "bench --warmup -3" "run --timeout nan" "fuzz --seconds -5" \
            "fuzz --dry-run --cases 3 --seed 18446744073709551616"; do
  opt=$(echo "$args" | grep -o -- "--[a-z-]* [^ ]*\$" | cut -d' ' -f1)
  expect_rc 2 "$B" $args
  expect_in "$opt needs"
done
ok "bad numbers refused, naming the option"
expect_rc 0 "$B" fuzz --dry-run --cases 3 --seed 9007199254740993; cp "$T/stdout" a
expect_rc 0 "$B" fuzz --dry-run --cases 3 --seed 9007199254740992; cp "$T/stdout" b
cmp -s a b && fail "seeds 2^53+1 and 2^53 give the same campaign"
ok "64-bit seeds are exact"
expect_rc 1 "$B" run --backend cpu_one_pass_naive --seed 18446744073709551615 --problem "n=4,c=4,sp=8x8,fill=normal:1e4:1"
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
case "$line" in *seed=18446744073709551615*) ;; *) fail "repro line lost the seed: $line" ;; esac
eval "$line" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || fail "repro line with the largest seed exited $rc"
ok "the largest seed round-trips through a repro line"
