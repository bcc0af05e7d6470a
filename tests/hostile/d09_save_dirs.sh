#!/usr/bin/env bash
# Defect 9: concurrent campaigns saving into one directory never collide or mix.
. "$(dirname "$0")/../lib.sh"
for s in 1 2 3 4; do
  "$B" fuzz --backend cpu_one_pass_naive --cases 6 --seed $s --max-elements 4096 --save-failures "$T/saves" >"$T/f$s.out" 2>&1 &
done
wait
saved=$(cat "$T"/f?.out | grep -c "^  saved: ")
dirs=$(find "$T/saves" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$saved" -gt 0 ] || fail "no failure was saved"
[ "$saved" -eq "$dirs" ] || fail "$saved failures saved into $dirs directories"
for d in "$T"/saves/*; do
  [ "$(ls "$d" | grep -c case.json)" -eq 1 ] || fail "$d lacks its case.json"
  desc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['problem'])" "$d/case.json")
  grep -q -- "$desc" "$T"/f?.out || fail "$d holds a problem no campaign reported"
  case "$(basename "$d")" in seed?_case*) ;; *) fail "directory name without its seed: $d" ;; esac
done
ok "$saved saved failures in $dirs directories, each whole"
# The same campaign twice into one directory: the second gets new directories.
"$B" fuzz --backend cpu_one_pass_naive --cases 6 --seed 1 --max-elements 4096 --save-failures "$T/twice" >/dev/null 2>&1
"$B" fuzz --backend cpu_one_pass_naive --cases 6 --seed 1 --max-elements 4096 --save-failures "$T/twice" >/dev/null 2>&1
ls "$T/twice" | grep -q -- "-2\$" || fail "a rerun overwrote a saved case"
ok "reruns do not overwrite"
