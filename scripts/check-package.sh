#!/usr/bin/env bash
# Builds the relocatable package from build/ and checks that it stands alone: unpacked elsewhere, with the
# build tree moved away and an empty environment, every shared library its binaries and bundled libraries
# need resolves inside the package or to the C/C++ runtime, and the quick-start sweep runs from it, from the
# command line and from the Python package it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd build && cpack -G TGZ >/dev/null)
pkg=$(ls -t build/flowsweep-*.tar.gz | head -1)
size=$(du -h "$pkg" | cut -f1)
tmp=$(mktemp -d)
restore() {
  if [ -d build.away ]; then mv build.away build; fi
  rm -rf "$tmp"
}
trap restore EXIT
tar -xzf "$pkg" -C "$tmp"
root=$(ls -d "$tmp"/flowsweep-*)
mv build build.away

# ldd of a binary lists every library it loads, the bundled ones' own dependencies included, as the
# binary's rpath resolves them.
runtime='^(linux-vdso|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so'
bad=0
for f in "$root"/bin/*; do
  while read -r name arrow path _; do
    if [ "$arrow" != "=>" ]; then continue; fi
    if [[ "$path" == "$root"/* ]] || [[ "$name" =~ $runtime ]]; then continue; fi
    echo "package: $(basename "$f") needs $name, found at ${path:-nowhere} outside the package" >&2
    bad=1
  done < <(env -i ldd "$f")
done
[ "$bad" = 0 ]

env -i PATH=/usr/bin:/bin "$root/bin/flowsweep" run "$root/share/flowsweep/sweeps/quickstart.toml" \
  --out "$tmp/quickstart" --quiet --backend cpu
grep -q '"complete": true' "$tmp/quickstart/manifest.json"
# The plotting package comes with it, found beside the binary.
if /usr/bin/python3 -c "import xarray, h5netcdf, matplotlib" 2>/dev/null; then
  env -i PATH=/usr/bin:/bin "$root/bin/flowsweep" plot "$tmp/quickstart" --heatmap loss_below >/dev/null
  # flowsweep.run, imported from the package, finds the package's binary (nothing on PATH).
  env -i PATH=/usr/bin:/bin PYTHONPATH="$root/share/flowsweep/python" /usr/bin/python3 -c "import flowsweep; \
flowsweep.run('$root/share/flowsweep/sweeps/quickstart.toml', '$tmp/from_python', set={'train.steps': 10}, quiet=True)"
fi
echo "package: $(basename "$pkg") ($size): $(ls "$root/lib" | wc -l) bundled library files, quick start runs from it"
