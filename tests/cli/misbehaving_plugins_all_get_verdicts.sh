#!/usr/bin/env bash
# A run over misbehaving plugins completes, gives each its verdict (CRASH, TIMEOUT,
# OUT-OF-BOUNDS-WRITE, UNWRITTEN-OUTPUT, FAIL, ERROR), passes the good example plugin
# and exits 1.
. "$(dirname "$0")/../lib.sh"
args=()
for k in crash abort_ hang oob_near oob_far unwritten nans error_ input_write exit_; do args+=(--plugin "$P/bad_$k.so"); done
expect_rc 1 "$B" run --timeout 2 --problem n=2,c=3,sp=4x4 --backend all "${args[@]}" --plugin "$P/bn_example.so"
cat "$T/stdout"
# One case per available built-in backend that `all` takes (weak ones only run when
# named) and per plugin.
builtin=$("$B" list | awk '$2 == "yes" && !/\[weak/' | wc -l)
for v in CRASH TIMEOUT OUT-OF-BOUNDS-WRITE UNWRITTEN-OUTPUT FAIL ERROR 'bn_example  *PASS' "of $((builtin + ${#args[@]} / 2 + 1)) cases"; do
  grep -Eq -- "$v" "$T/stdout" || fail "the report lacks /$v/"
done
ok "every misbehaving plugin got its verdict"
