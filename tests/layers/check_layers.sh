#!/usr/bin/env bash
# A layer sees only the public headers and the layers below it: with the include
# directories CMake gives each layer's target, an include of a higher layer does not
# compile and one of its own layer does. Arguments: the C++ compiler, then
# NAME=DIR;DIR... for the reference, cpu, harness and properties layers.
set -u
cxx=$1; shift
declare -A dirs
for a in "$@"; do dirs[${a%%=*}]=${a#*=}; done
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
probe() {   # probe LAYER HEADER WANT(ok|fails)
  local flags=() d
  IFS=';' read -ra D <<<"${dirs[$1]}"
  for d in "${D[@]}"; do [ -n "$d" ] && flags+=("-I$d"); done
  printf '#include "%s"\n' "$2" >probe.cpp
  if "$cxx" -std=c++20 -fsyntax-only "${flags[@]}" probe.cpp 2>err.txt; then got=ok; else got=fails; fi
  if [ "$got" != "$3" ]; then echo "FAILED: $1 including $2 $got, wanted $3"; head -3 err.txt; exit 1; fi
  echo "ok: $1 including $2 $got"
}
probe reference reference/reference.hpp ok
probe reference bncheck/case_data.hpp ok
probe reference harness/case_data.hpp fails
probe reference cpu/cpu_common.hpp fails
probe cpu cpu/cpu_common.hpp ok
probe cpu common/bn_math.hpp ok
probe cpu gpu/device_buffer.hpp fails
probe cpu harness/runner.hpp fails
probe cpu reference/reference.hpp fails
probe harness harness/runner.hpp ok
probe harness reference/reference.hpp ok
probe harness cpu/cpu_common.hpp ok
probe harness plugin/isolation.hpp fails
probe harness properties/properties.hpp fails
probe harness fuzz/generator.hpp fails
probe harness cli/common.hpp fails
probe properties properties/support.hpp ok
probe properties fuzz/generator.hpp fails
probe properties plugin/plugin_backend.hpp fails
