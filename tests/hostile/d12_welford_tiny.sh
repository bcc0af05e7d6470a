#!/usr/bin/env bash
# Defect 12: cpu_welford on f64 (and f32) data of subnormal spread.
. "$(dirname "$0")/../lib.sh"
expect_rc 0 "$B" run --backend cpu_welford,cpu_two_pass --problem "n=1,c=1,sp=4,dt=f64,pdt=f64,fill=normal:0:1e-310" \
  --problem "n=1,c=1,sp=4,dt=f32,pdt=f32,fill=normal:0:1e-40" --problem "n=3,c=2,sp=4,dt=f64,pdt=f64,fill=normal:1e-310:1e-312,dir=bwd"
[ "$(grep -Ec '^ +[0-9]+ +cpu_[a-z_]+ +PASS ' "$T/out")" -eq 6 ] || fail "not every case passed"
ok "subnormal spreads pass"
