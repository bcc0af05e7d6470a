#!/usr/bin/env bash
# ABI version 2 from the command line: an inference-only, folded, float-epsilon plugin
# is judged as it declares (no ERROR, no FAIL, exit 0 on the default suite and on every
# property); its planted one-ulp bias is caught by run, props and fuzz; a plugin
# failure's repro line reruns as pasted; fuzz draws only what --dir/--dt ask and stops
# on time, minimisation included.
. "$(dirname "$0")/../lib.sh"
expect_rc 0 "$B" run --plugin "$P/bn_folded.so" --backend bn_folded
expect_not_in ' (FAIL|ERROR|CRASH) '
expect_in 'summary: [0-9]+ PASS'
expect_rc 0 "$B" props --plugin "$P/bn_folded.so" --backend bn_folded
expect_not_in 'FAIL|ERROR'
for p in sign_symmetry inference_folding equivariance_independence determinism; do
  expect_in "^$p +bn_folded +PASS"
done
ok "bn_folded passes the default suite and every property that applies to inference"

# A relative plugin path, as a user types it: the repro line carries it absolute.
cp "$P/planted_fold_bias.so" "$T/"
expect_rc 1 "$B" run --plugin planted_fold_bias.so --backend planted_fold_bias
expect_in 'planted_fold_bias +FAIL'
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
case "$line" in *"--plugin $T/planted_fold_bias.so"*) ;; *) fail "the repro line lacks --plugin PATH: $line" ;; esac
(cd / && eval "$line") >"$T/pasted" 2>&1 && fail "the pasted repro line passed: $line"
grep -q '1 FAIL' "$T/pasted" || { tail "$T/pasted"; fail "the pasted repro line did not reproduce: $line"; }
ok "run catches the planted bias; its repro line reruns as pasted, from another directory"

expect_rc 1 "$B" props --plugin "$P/planted_fold_bias.so" --backend planted_fold_bias --property sign_symmetry
expect_in 'sign_symmetry +planted_fold_bias +FAIL'
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
(cd / && eval "$line") >"$T/pasted" 2>&1 && fail "the pasted props repro passed: $line"
grep -Eq 'sign_symmetry +planted_fold_bias +FAIL' "$T/pasted" || { tail "$T/pasted"; fail "props repro: $line"; }
ok "props catches it (sign_symmetry); the repro reruns as pasted"

start=$(date +%s)
expect_rc 1 "$B" fuzz --plugin "$P/planted_fold_bias.so" --backend planted_fold_bias --dir fwd_infer --dt f32 \
  --seconds 8 --seed 3
elapsed=$(($(date +%s) - start))
expect_in 'planted_fold_bias +[0-9]+ PASS [0-9]+ FAIL$'
expect_not_in 'UNSUPPORTED'
[ "$elapsed" -le 20 ] || fail "fuzz --seconds 8 took ${elapsed} s"
ok "fuzz --dir fwd_infer --dt f32 draws only supported cases, catches the bias, stops on time (${elapsed} s)"
