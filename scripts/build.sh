#!/usr/bin/env bash
# Configures and builds flowsweep into build/ (the CUDA executor too when a CUDA toolkit is found).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$jobs"
