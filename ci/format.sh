#!/usr/bin/env bash
# The tree's C, C++ and CUDA sources against .clang-format. Without arguments, checks
# (clang-format --dry-run --Werror: exit 1 naming each file and line that differs);
# with --fix, rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "ci/format.sh: clang-format not found (ci/setup.sh installs it)"; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "ci/format.sh: ${#files[@]} files formatted as .clang-format says"
fi
