#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs `bncheck run` (the default
# suite on every available backend). Arguments are passed to `bncheck run`.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
ci/build.sh
exec build/bncheck run "$@"
