#!/usr/bin/env bash
# Defect 3: overruns far past an output are caught and blamed on the right buffer.
. "$(dirname "$0")/../lib.sh"
expect_rc 1 "$B" run --plugin "$P/bad_oob_100k.so" --backend bad_oob_100k --problem "$PROB"
expect_in "bad_oob_100k +OUT-OF-BOUNDS-WRITE"
expect_in "y at byte offset 100384, 100001 bytes past the end"
for d in "$PROB" "$PROB,affine=0" "n=1,c=1,sp=1"; do
  expect_rc 1 "$B" run --plugin "$P/bad_oob_far.so" --backend bad_oob_far --problem "$d"
  expect_in "write out of bounds: y at byte offset"
  expect_not_in "save_mean at|buffer of 0 bytes|before the start"
done
expect_rc 1 "$B" run --plugin "$P/bad_underrun.so" --backend bad_underrun --problem "$PROB"
expect_in "y at byte offset -1, 1 bytes before the start"
ok "far overruns caught, the right buffer blamed"
