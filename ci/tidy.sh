#!/usr/bin/env bash
# clang-tidy over the project's C++ sources with the checks .clang-tidy names, on the
# compile commands of a configured build (build/ by default, or the directory given).
# Exit 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
command -v clang-tidy >/dev/null || { echo "ci/tidy.sh: clang-tidy not found"; exit 1; }
[ -f "$dir/compile_commands.json" ] || { echo "ci/tidy.sh: no $dir/compile_commands.json: configure $dir first"; exit 1; }
mapfile -t files < <(find api cli cpu fuzz gpu harness plugin properties reference -name '*.cpp' | sort)
# Only files this build compiles (optional backends may be left out). The LibTorch
# adapters (CPU and CUDA, both over common/torch_bn.hpp) are left out: clang 14 cannot
# parse LibTorch 1.13's headers against libstdc++ 12 (c10::IValue is incomplete where
# std::vector needs it), so it would report the headers, not the adapters.
todo=()
for f in "${files[@]}"; do
  case "$f" in cpu/bn_torch_cpu.cpp | gpu/bn_torch_cuda.cpp) continue ;; esac
  grep -q "\"file\": \"$PWD/$f\"" "$dir/compile_commands.json" && todo+=("$f")
done
[ ${#todo[@]} -gt 0 ] || { echo "ci/tidy.sh: none of the sources is in $dir/compile_commands.json"; exit 1; }
printf '%s\n' "${todo[@]}" | xargs -P "${BNCHECK_JOBS:-2}" -n 4 clang-tidy -p "$dir" --quiet
echo "ci/tidy.sh: ${#todo[@]} files clean"
