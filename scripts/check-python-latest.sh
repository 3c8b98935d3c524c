#!/usr/bin/env bash
# Runs the Python package's tests (tests/cli/test_python.py, test_python_run.py, test_boundary.py) against
# the newest numpy, pandas, xarray, h5netcdf, h5py and matplotlib on PyPI, which is what `pip install
# ./python` gives a user; test.sh runs them against Debian's. Needs PyPI, so it is not part of test.sh.
# Usage, after a build:
#   ./scripts/check-python-latest.sh [build/flowsweep]
set -euo pipefail
cd "$(dirname "$0")/.."
fsw=$(realpath "${1:-build/flowsweep}")
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q numpy pandas xarray h5netcdf h5py matplotlib
"$venv/bin/python" -c "import sys, numpy, pandas, xarray, h5netcdf, h5py, matplotlib as m
print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| pandas', pandas.__version__, '| xarray',
      xarray.__version__, '| h5netcdf', h5netcdf.__version__, '| h5py', h5py.__version__, '| matplotlib', m.__version__)"
for t in test_python test_python_run test_boundary; do
  FLOWSWEEP_PYTHON="$venv/bin/python" "$venv/bin/python" "tests/cli/$t.py" --flowsweep "$fsw" --sweeps sweeps 2>&1 |
    grep -E '^(FAIL|[0-9]+ failures)' | sed "s/^/$t: /"
done
