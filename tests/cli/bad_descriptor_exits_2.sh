#!/usr/bin/env bash
# A malformed descriptor is a usage error (exit 2) that quotes the bad token.
. "$(dirname "$0")/../lib.sh"
expect_rc 2 "$B" run --problem 'n=2,c=3,eps=oops'
expect_in "'eps=oops'"
ok "malformed descriptor: exit 2, token quoted"
