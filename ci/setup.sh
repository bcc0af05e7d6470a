#!/usr/bin/env bash
# Installs the Debian packages bncheck needs, only those missing (fast when all are
# present). Optional parts (LibTorch, oneDNN, the libFuzzer target) are installed too,
# but a failure to install one is reported and left out: the build works without them
# (CMake probes each optional package and leaves out one whose config does not load).
# Set BNCHECK_MINIMAL=1 to install only what the core needs.
set -euo pipefail

core=(cmake ninja-build g++ make libboost-dev libmpfr-dev libgmp-dev libgtest-dev libbenchmark-dev librapidcheck-dev
      python3 python3-jsonschema python3-yaml python3-numpy clang-format clang-tidy)
# Debian's dnnl-config.cmake finds OpenCL itself (REQUIRED): its loader and headers
# are part of what oneDNN needs at configure time.
optional=(libtorch-dev libdnnl-dev ocl-icd-opencl-dev opencl-headers clang libclang-rt-14-dev)
want=("${core[@]}")
[ "${BNCHECK_MINIMAL:-0}" = 1 ] || want+=("${optional[@]}")

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${want[@]}"; do is_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ci/setup.sh: all ${#want[@]} packages present"
  exit 0
fi
echo "ci/setup.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
core_missing=() opt_missing=()
for p in "${missing[@]}"; do
  if [[ " ${core[*]} " == *" $p "* ]]; then core_missing+=("$p"); else opt_missing+=("$p"); fi
done
[ ${#core_missing[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${core_missing[@]}"
if [ ${#opt_missing[@]} -gt 0 ] && ! $SUDO apt-get install -y -qq --no-install-recommends "${opt_missing[@]}"; then
  for p in "${opt_missing[@]}"; do
    $SUDO apt-get install -y -qq --no-install-recommends "$p" ||
      echo "ci/setup.sh: optional package $p could not be installed: building without it"
  done
fi
