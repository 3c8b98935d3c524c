#!/usr/bin/env bash
# Builds flowsweep and runs the quick-start sweep; prints where its tables are.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./build/flowsweep run sweeps/quickstart.toml --out out/quickstart
echo
echo "tables: $(pwd)/out/quickstart/{runs.csv,phase_diagram.csv,trajectories.h5,manifest.json}"
echo "pictures: ./build/flowsweep plot out/quickstart"
