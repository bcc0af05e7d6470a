#!/usr/bin/env bash
# `cmake --install` gives a tree another project can use: examples/consumer is
# configured against the installed prefix with find_package(bncheck CONFIG REQUIRED),
# built, and its test run (it checks its own BN through the public API). Arguments:
# the build directory, the source directory, the C++ compiler.
set -euo pipefail
build=$1 src=$2 cxx=$3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cmake --install "$build" --prefix "$T/prefix" >"$T/install.log" || { cat "$T/install.log"; exit 1; }
for f in include/bncheck/bncheck.hpp include/bncheck/plugin.h bin/bncheck lib/cmake/bncheck/bncheckConfig.cmake; do
  test -e "$T/prefix/$f" || { echo "FAILED: the install has no $f"; exit 1; }
done
# No empty RPATH entry (the loader would search the current directory for libraries).
if readelf -d "$T/prefix/bin/bncheck" | grep -E 'R(UN)?PATH' | grep -Eq '\[:|::|:\]'; then
  echo "FAILED: the installed bncheck has an empty RPATH entry"; readelf -d "$T/prefix/bin/bncheck" | grep PATH; exit 1
fi
# The installed tree stands alone: nothing in it points back into the source tree.
if grep -rl -- "$src" "$T/prefix/lib/cmake"; then echo "FAILED: installed package files name the source tree"; exit 1; fi
# The consumer finds the package's dependencies where the build found them.
cached() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
deps=$(cached CMAKE_PREFIX_PATH) torch_dir=$(cached Torch_DIR)
[ "$torch_dir" = Torch_DIR-NOTFOUND ] && torch_dir=""
cmake -S "$src/examples/consumer" -B "$T/consumer" -DCMAKE_PREFIX_PATH="$T/prefix${deps:+;$deps}" \
  ${torch_dir:+-DTorch_DIR="$torch_dir"} -DCMAKE_CXX_COMPILER="$cxx" >"$T/configure.log" 2>&1 || { cat "$T/configure.log"; exit 1; }
cmake --build "$T/consumer" >"$T/build.log" 2>&1 || { cat "$T/build.log"; exit 1; }
"$T/consumer/check_my_bn"
# Its GoogleTest binary (EXPECT_BN_ACCURATE, the invariants as RapidCheck properties)
# passes on its BN and fails on the planted one, each failure with a rerun line.
export RC_PARAMS="seed=20261125 max_success=25"
"$T/consumer/test_my_bn" >"$T/good.out" 2>&1 || { tail -40 "$T/good.out"; echo "FAILED: test_my_bn fails on a correct BN"; exit 1; }
# Three accuracy tests and one test per property in the installed BNCHECK_RC_PROPERTIES.
nprops=$(grep -c '^ *BNCHECK_RC_PROPERTY(Suite,' "$T/prefix/include/bncheck/rapidcheck.hpp")
want=$((3 + nprops))
[ "$nprops" -ge 11 ] || { echo "FAILED: the installed rapidcheck.hpp lists $nprops properties"; exit 1; }
grep -q "PASSED.* $want tests" "$T/good.out" || { tail "$T/good.out"; echo "FAILED: not $want tests passed"; exit 1; }
if MY_BN_PLANTED=1 "$T/consumer/test_my_bn" >"$T/bad.out" 2>&1; then
  echo "FAILED: test_my_bn passes on the planted one-pass variance"; exit 1
fi
grep -q "MyBN.AccurateOnIllConditionedData" "$T/bad.out" && grep -q "is not accurate on n=4,c=8,sp=14x14" "$T/bad.out" &&
  grep -q "rerun: '.*test_my_bn' --gtest_filter='MyBN.AccurateOnIllConditionedData'" "$T/bad.out" ||
  { tail -40 "$T/bad.out"; echo "FAILED: EXPECT_BN_ACCURATE did not report the planted bug with a rerun line"; exit 1; }
grep -q "Falsifiable" "$T/bad.out" && grep -q "rerun: '.*test_my_bn' --gtest_filter='MyBNProperties\." "$T/bad.out" ||
  { tail -40 "$T/bad.out"; echo "FAILED: no RapidCheck property caught the planted bug"; exit 1; }
echo "ok: the consumer's GoogleTest and RapidCheck tests pass on its BN and catch the planted one"
