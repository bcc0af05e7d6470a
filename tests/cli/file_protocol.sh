#!/usr/bin/env bash
# The file protocol: `bncheck gen` writes cases, a NumPy float32 BN
# (examples/python/bn_numpy.py) writes its outputs, `bncheck check` judges them. The
# correct one passes the smoke suite; its planted bug fails with repro lines that rerun
# as pasted; conventions given at gen are the ones judged; a missing output is an ERROR;
# a bad request is a usage error. Skipped (77) where no python3 has NumPy.
. "$(dirname "$0")/../lib.sh"
PY=""
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null && "$c" -c "import numpy" 2>/dev/null; then PY=$c; break; fi
done
[ -n "$PY" ] || { echo "SKIPPED: no python3 with NumPy (ci/setup.sh installs python3-numpy)"; exit 77; }
N="$SRC/examples/python/bn_numpy.py"

expect_rc 0 "$B" gen --suite smoke --out "$T/cases"
expect_in 'wrote 40 of 40 cases'
[ "$(ls "$T/cases" | wc -l)" -eq 40 ] || fail "gen wrote $(ls "$T/cases" | wc -l) case directories, not 40"
expect_rc 0 "$PY" "$N" "$T/cases"
expect_rc 0 "$B" check "$T/cases" --name bn_numpy --quiet --json "$T/good.json" --junit "$T/good.xml"
expect_in '^summary: 40 PASS \(of 40 cases\)'
validate_json "$T/good.json"
grep -q 'tests="40" failures="0"' "$T/good.xml" || fail "the JUnit report does not count 40 passing cases"
ok "a NumPy float32 BN passes the 40 smoke cases (f64, f32, f16, bf16; every direction; both layouts)"

expect_rc 0 "$PY" "$N" "$T/cases" --plant
expect_rc 1 "$B" check "$T/cases" --name bn_numpy --quiet --json "$T/bad.json"
expect_in ' bn_numpy +FAIL '
validate_json "$T/bad.json"
fails=$(grep -Ec '^ +[0-9]+ +bn_numpy +FAIL ' "$T/stdout")
[ "$fails" -ge 30 ] || fail "only $fails of 40 planted cases fail"
line=$(sed -n 's/^ *repro: //p' "$T/stdout" | head -1)
case "$line" in *" check /"*"/case0001 --name bn_numpy") ;; *) fail "unexpected repro line: $line" ;; esac
(cd / && eval "$line") >"$T/pasted" 2>&1 && fail "the pasted repro line passed: $line"
grep -q '^summary: 1 FAIL (of 1 cases)' "$T/pasted" || { tail "$T/pasted"; fail "the pasted repro did not reproduce"; }
ok "the planted bug fails $fails of 40 cases; a repro line reruns as pasted from another directory"

# Conventions given at gen are what the implementation follows and what check judges.
keras=rvar=biased,momdir=old,save=var
expect_rc 0 "$B" gen --problem n=3,c=4,sp=5x5,dir=fwd_train --conventions "$keras" --out "$T/keras"
grep -q "\"conventions\":\"$keras,running=kept" "$T/keras/problem.json" || fail "problem.json lacks the conventions"
expect_rc 0 "$PY" "$N" "$T/keras"
expect_rc 0 "$B" check "$T/keras" --quiet
expect_in '^summary: 1 PASS'
expect_rc 1 "$B" check "$T/keras" --quiet --conventions rvar=unbiased,momdir=new,save=invstd
for t in save_stat running_mean running_var; do expect_in "^ +$t +max .*\[4 beyond budget\]"; done
expect_in "repro: .* check /.*/keras --conventions rvar=unbiased,momdir=new,save=invstd"
ok "Keras conventions from gen pass; judged under PyTorch's they fail, and the repro line carries --conventions"

rm "$T/keras/out_y.npy"
expect_rc 1 "$B" check "$T/keras" --quiet
expect_in 'ERROR .*out_y.npy is missing'
"$PY" -c "import numpy as np; np.save('$T/keras/out_y.npy', np.zeros((3, 4, 5, 5)))"
expect_rc 1 "$B" check "$T/keras" --quiet
expect_in 'out_y.npy: expected dtype <f4 for f32 data'
ok "a missing output, or one of the wrong dtype, is an ERROR naming the file"

expect_rc 0 "$B" gen --problem n=2,c=3,dir=bwd --out "$T/bwd"
expect_rc 2 "$B" check "$T/bwd" --conventions save=var
expect_in 'changes the saved statistic the backward case was generated with'
expect_rc 2 "$B" gen --problem n=2,c=3 --out "$T/cases"
expect_in 'exists and is not empty'
expect_rc 2 "$B" check "$T/keras" --numerics acc=x
mkdir "$T/empty"
expect_rc 2 "$B" check "$T/empty"
expect_in 'no problem.json'
ok "bad requests are usage errors (exit 2)"
