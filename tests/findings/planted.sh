#!/usr/bin/env bash
# ci/findings.py --check catches a wrong figure planted in docs/findings.md and one
# planted in a finding's claims. Needs B (bncheck) and SRC (the source tree).
set -u
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAILED: $*"; exit 1; }
# 1. A figure in the doc: the first number the template fills in, changed.
python3 - "$SRC/docs/findings.md" "$T/doc.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"(\d+) of (\d+) outputs exceed", text)
assert m, "no figure to plant a fault in"
open(sys.argv[2], "w", encoding="utf-8").write(text[:m.start(1)] + str(int(m.group(1)) + 10) + text[m.end(1):])
PY
python3 "$SRC/ci/findings.py" --check --bncheck "$B" --doc "$T/doc.md" >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "differs from what the claims generate" "$T/out" || { cat "$T/out"; fail "a wrong figure in the doc was not caught (exit $rc)"; }
echo "ok: a wrong figure in docs/findings.md is caught"
# 2. A claim that the tool does not print (only where the finding's backend is linked).
cp -r "$SRC/fuzz/findings" "$T/findings"
sed -i -E 's/^(claim a y\.failures) [0-9]+$/\1 1/' "$T/findings/F1.txt"

python3 "$SRC/ci/findings.py" --check --bncheck "$B" --findings "$T/findings" >"$T/out" 2>&1; rc=$?
if grep -q "^skipped: F1.a" "$T/out"; then
  echo "skipped: F1's backend is not the linked version"
else
  [ $rc -eq 1 ] && grep -q "F1.a.y.failures: .* claims 1, the tool prints" "$T/out" || { cat "$T/out"; fail "a wrong claim was not caught (exit $rc)"; }
  echo "ok: a wrong claim is caught"
fi
