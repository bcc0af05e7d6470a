#!/usr/bin/env bash
# Here (with network): what ci/gpu-check.sh needs on a GPU machine that has nvcc, cmake,
# ninja and a PyTorch wheel but no Debian dev packages and no network, into .carry/
# (ignored by git; copy it to the GPU machine with the tree): the header-only and test packages as
# .deb files (unpacked there with `dpkg -x`), and cuDNN's headers in case the machine's
# cuDNN (the PyTorch wheel's) comes without them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry/debs .carry/cudnn-include
(cd .carry/debs && apt-get download libboost-dev libboost1.74-dev librapidcheck-dev libgtest-dev googletest)
# The tests validate JSON reports (python3-jsonschema) and read YAML CI recipes
# (python3-yaml): pure Python where their C extensions do not match the machine's Python.
(cd .carry/debs && apt-get download python3-jsonschema python3-attr python3-pyrsistent python3-yaml)
if ls /usr/local/cuda/include/cudnn*.h >/dev/null 2>&1; then
  cp /usr/local/cuda/include/cudnn*.h .carry/cudnn-include/
fi
du -sh .carry
