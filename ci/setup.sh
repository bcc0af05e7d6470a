#!/usr/bin/env bash
# Installs the Debian packages bncheck needs, only those missing (fast when all are
# present). Optional parts (LibTorch, oneDNN) are installed too; the build works
# without them. Set BNCHECK_MINIMAL=1 to install only what the core needs.
set -euo pipefail

core=(cmake ninja-build g++ libboost-dev libmpfr-dev libgmp-dev libgtest-dev libbenchmark-dev librapidcheck-dev)
optional=(libtorch-dev libdnnl-dev clang libclang-rt-14-dev)   # LibTorch, oneDNN, the libFuzzer target
want=("${core[@]}")
[ "${BNCHECK_MINIMAL:-0}" = 1 ] || want+=("${optional[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ci/setup.sh: all ${#want[@]} packages present"
  exit 0
fi
echo "ci/setup.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
