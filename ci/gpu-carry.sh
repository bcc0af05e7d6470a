#!/usr/bin/env bash
# Here (with network): download the Debian packages ci/gpu-check.sh needs on a GPU
# machine without network into .carry/debs (ignored by git; carried by the device tool).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry/debs
cd .carry/debs
apt-get download libboost-dev libboost1.74-dev librapidcheck-dev libgtest-dev googletest 2>/dev/null
ls
