#!/usr/bin/env bash
# Builds flowsweep and runs every test:
#   1. the release build with warnings as errors, and all its tests (GPU tests report skipped where there
#      is no GPU);
#   2. the sources' format against .clang-format, and the relocatable package (scripts/check-package.sh);
#   3. an ASan+UBSan build: the unit tests, a short end-to-end sweep, the fault tests and the fuzz test;
#   4. a TSan build: the tests of thread teams, executors and slices, and a sweep on four threads.
# FLOWSWEEP_SANITIZERS=0 leaves out 3 and 4 (a quicker check while working). Arguments go to ctest in 1.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/build.sh -DFLOWSWEEP_WERROR=ON
(cd build && ctest --output-on-failure -j"$jobs" "$@")

./scripts/check-format.sh
./scripts/check-package.sh

if [ "${FLOWSWEEP_SANITIZERS:-1}" != 0 ]; then
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86"
  export TSAN_OPTIONS="halt_on_error=1:exitcode=86:second_deadlock_stack=1"

  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOWSWEEP_SANITIZE=address,undefined \
    -DFLOWSWEEP_NATIVE=OFF -DFLOWSWEEP_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target flowsweep flowsweep_tests
  # The two-moons demo is the paper's check, run by the release build: 500 steps of code that the other
  # pathcond tests run under the sanitizers too, and seven minutes under them.
  (cd build-asan && ctest --output-on-failure -j"$jobs" -L 'unit|fuzz' -E 'two-moons demo')
  (cd build-asan && ctest --output-on-failure -j"$jobs" -R '^cli\.(end_to_end|faults)$')

  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOWSWEEP_SANITIZE=thread \
    -DFLOWSWEEP_NATIVE=OFF -DFLOWSWEEP_WERROR=ON >/dev/null
  cmake --build build-tsan -j"$jobs" --target flowsweep flowsweep_tests
  ./build-tsan/tests/flowsweep_tests '[team],[executor],[slices]'
  # A whole sweep on four threads: executor, journal and the tables' pool (records read, rows formatted).
  tsan_out=$(mktemp -d)
  ./build-tsan/flowsweep run sweeps/bench/host_scale.toml --out "$tsan_out/out" --quiet --threads 4 \
    --set steps=20 --set "grid.seed={range=[0, 3000]}"
  rm -rf "$tsan_out"
fi
