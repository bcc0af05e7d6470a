#!/usr/bin/env bash
# A plugin that crashes while loading is a usage error (exit 2) that says so.
. "$(dirname "$0")/../lib.sh"
expect_rc 2 "$B" list --plugin "$P/bad_load_crash.so"
expect_in "crashed while loading"
ok "crashing plugin: exit 2"
