#!/usr/bin/env bash
# The tree's C, C++ and CUDA sources against .clang-format. Without arguments, checks
# (clang-format --dry-run --Werror: exit 1 naming each file and line that differs);
# with --fix, rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "ci/format.sh: clang-format not found (ci/setup.sh installs it)"; exit 1; }
# The source folders, found without git: a source archive has no .git.
mapfile -t files < <(find api bench cli common cpu examples fuzz gpu harness include plugin properties reference tests \
  -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' \) | sort)
[ ${#files[@]} -gt 0 ] || { echo "ci/format.sh: no source files found"; exit 1; }
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "ci/format.sh: ${#files[@]} files formatted as .clang-format says"
fi
