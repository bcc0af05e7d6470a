#!/usr/bin/env bash
# The LibTorch and oneDNN adapters are modules (common/backend_module.hpp): a command that
# does not use them does not load their libraries; `list` loads them; a module that
# cannot be loaded makes its backend UNAVAILABLE with the reason, never a crash.
. "$(dirname "$0")/../lib.sh"
expect_rc 0 "$B" list
mods=()
grep -Eq '^torch_cpu +yes ' "$T/out" && mods+=(torch_cpu)
grep -Eq '^onednn_cpu +yes ' "$T/out" && mods+=(onednn_cpu)
if [ ${#mods[@]} -eq 0 ]; then
  echo "SKIPPED: this build has neither LibTorch nor oneDNN"
  exit 77
fi
# 1. `help` and a run on a built-in backend load neither libtorch nor libdnnl.
LD_DEBUG=files "$B" help >/dev/null 2>"$T/ld.help" || fail "help exited non-zero"
grep -q 'calling init' "$T/ld.help" || fail "LD_DEBUG=files printed nothing: cannot see what was loaded"
! grep -Eq 'libtorch|libc10|libdnnl' "$T/ld.help" || fail "help loaded $(grep -Eo 'lib(torch|c10|dnnl)[^ ]*' "$T/ld.help" | head -1)"
LD_DEBUG=files "$B" run --backend cpu_two_pass --problem "$PROB" >/dev/null 2>"$T/ld.run" || fail "run on cpu_two_pass failed"
! grep -Eq 'libtorch|libc10|libdnnl' "$T/ld.run" || fail "a run on cpu_two_pass loaded a heavy library"
ok "help and a cpu_two_pass run load no LibTorch or oneDNN"
# 2. A run on a module backend loads it and checks cases.
for m in "${mods[@]}"; do
  expect_rc 0 "$B" run --backend "$m" --problem "$PROB"
  expect_in "$m +.*PASS"
done
ok "${mods[*]}: loaded on first use, cases pass"
# 3. A module that is not a shared object: UNAVAILABLE with dlopen's reason, exit 3.
mkdir "$T/mods"
for m in "${mods[@]}"; do printf 'not an ELF file\n' >"$T/mods/bncheck_$m.so"; done
export BNCHECK_MODULE_DIR="$T/mods"
expect_rc 0 "$B" list
for m in "${mods[@]}"; do
  grep -A2 "^$m " "$T/out" | grep -q "unavailable: cannot load $T/mods/bncheck_$m.so" || fail "list does not say $m cannot load"
done
expect_rc 3 "$B" run --backend "${mods[0]}" --problem "$PROB"
expect_in 'UNAVAILABLE'
expect_in 'cannot load'
ok "a broken module: UNAVAILABLE with the reason, exit 3"
# 4. A module without the entry point (a test plugin .so stands in for one).
for m in "${mods[@]}"; do cp "$P/bn_example.so" "$T/mods/bncheck_$m.so"; done
expect_rc 3 "$B" run --backend "${mods[0]}" --problem "$PROB"
expect_in 'has no entry point bncheck_module_'
ok "a module without its entry point: UNAVAILABLE naming it, exit 3"
