#!/usr/bin/env bash
# Builds flowsweep and runs every test (GPU tests report skipped where there is no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" "$@"
