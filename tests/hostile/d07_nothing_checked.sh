#!/usr/bin/env bash
# Defect 7: a run that checked nothing never exits 0.
. "$(dirname "$0")/../lib.sh"
printf '# no problems\n' >empty.txt
expect_rc 3 "$B" run --suite empty.txt;                                   expect_in "nothing was checked"
expect_rc 2 "$B" run --suite "$T";                                        expect_in "is a directory"
expect_rc 2 "$B" run --backend "" --problem "$PROB";                      expect_in "needs backend names"
expect_rc 3 "$B" run --plugin "$P/bn_example.so" --backend bn_example --problem "$PROB,dt=f16"
expect_in "UNSUPPORTED"
expect_rc 3 "$B" run --backend cpu_two_pass --problem "n=64,c=64,sp=56x56" --max-memory 0.001
expect_in "SKIPPED"
expect_rc 2 "$B" props --cases 4294967296;                                expect_in "--cases needs"
expect_rc 2 "$B" props --cases -1;                                        expect_in "--cases needs"
expect_rc 2 "$B" run --problem "$PROB" --json "$T/no/such/dir/r.json";   expect_in "cannot write"
touch afile
expect_rc 2 "$B" run --problem "$PROB" --save afile/sub;                  expect_in "cannot create"
expect_rc 2 "$B" run --problem "$PROB" --json "$T";                       expect_in "is a directory"
if "$B" list | grep -Eq "^cuda_welford +no "; then
  expect_rc 3 "$B" run --backend cuda_welford --problem "$PROB";          expect_in "UNAVAILABLE"
fi
expect_rc 0 "$B" run --backend cpu_two_pass --problem "$PROB"
ok "nothing checked: exit 3 (or 2 for bad input); something checked: 0"
