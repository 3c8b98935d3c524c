#!/usr/bin/env bash
# Installs the Debian packages flowsweep builds and tests with. Idempotent: does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake clang-format
  libcli11-dev libtomlplusplus-dev catch2 librandom123-dev nlohmann-json3-dev
  libhdf5-dev libxxhash-dev slurm-wlm munge
  python3 python3-numpy python3-torch python3-h5py python3-matplotlib python3-pandas python3-xarray python3-h5netcdf
  python3-venv python3-setuptools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
