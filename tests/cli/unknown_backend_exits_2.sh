#!/usr/bin/env bash
# An unknown backend is a usage error (exit 2).
. "$(dirname "$0")/../lib.sh"
expect_rc 2 "$B" run --backend nope
ok "unknown backend: exit 2"
