# Shared by the tests/hostile/*.sh and tests/cli/*.sh scripts (run by ctest). Environment from
# tests/CMakeLists.txt: B = the bncheck binary, P = the test plugins' directory,
# R = bncheck_fuzz_replay, SRC = the source tree, SAN = 1 in a sanitizer build. Each script runs in a fresh
# scratch directory $T and exits non-zero, naming the check, on the first failure.
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/bncheck-hostile.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAILED: $*"; exit 1; }
ok() { echo "ok: $*"; }
# expect_rc WANT CMD...: runs CMD (output in $T/out, stdout only in $T/stdout), checks the exit status.
expect_rc() {
  local want=$1; shift
  "$@" >"$T/stdout" 2>"$T/stderr"; local rc=$?
  cat "$T/stdout" "$T/stderr" >"$T/out"
  [ "$rc" -eq "$want" ] || { tail -20 "$T/out"; fail "exit $rc, wanted $want: $*"; }
}
# expect_in PATTERN: $T/out matches the extended regex.
expect_in() { grep -Eq -- "$1" "$T/out" || { tail -20 "$T/out"; fail "output lacks /$1/"; }; }
expect_not_in() { ! grep -Eq -- "$1" "$T/out" || { grep -E -- "$1" "$T/out" | head -5; fail "output has /$1/"; }; }
PROB="n=2,c=3,sp=4x4"
# validate_json FILE...: each is a bncheck JSON report as docs/json-schema.json says
# (python3-jsonschema, JSON Schema 2020-12).
validate_json() {
  python3 -c "import jsonschema" 2>/dev/null || fail "python3-jsonschema is missing (ci/setup.sh installs it)"
  python3 - "$SRC/docs/json-schema.json" "$@" <<'PY' || fail "a JSON report does not validate against docs/json-schema.json"
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for f in sys.argv[2:]:
    errors = list(v.iter_errors(json.load(open(f))))
    assert not errors, (f, [e.message for e in errors[:3]])
PY
}
