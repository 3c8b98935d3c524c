#!/usr/bin/env bash
# A GPU node's check of an unpacked flowsweep package, in one go: the device and driver, the GPU tests
# (CUDA against CPU for every model), the quick start on the GPU, the GPU benchmark against JAX and
# PyTorch, and Nsight Compute's view of the flow kernel where ncu is installed. Logs go to OUTDIR (eight
# files: a device's results come back eight files at most); a summary is printed last.
#
#   share/flowsweep/sweeps/bench/gpu_check.sh OUTDIR [bench_gpu.py options]
#
# Time limits (seconds) per step: GPU_TESTS_S (240), BENCH_S (300), NCU_S (0: left out; 120 a case is
# enough); 0 leaves a step out. The defaults fit one call of ten minutes with the package's unpacking: a
# lease of fifteen minutes holds that call, the machine's start, and a second, shorter one (ncu, say).
# BASELINE=OLD.tar.gz: an earlier package, unpacked here and timed beside this one in every benchmark row;
# or BASELINE=OLD/bin/flowsweep (or that binary gzipped, .gz), the binary alone of an earlier package (its
# rpath is $ORIGIN/../lib), run from this package's bin/ with this package's libraries: two whole packages
# may not fit in what can be carried to a GPU node. Several, separated by spaces, each NAME=FILE or FILE:
# every one is timed, NAME labelling its rows (several changes since a measured build, told apart).
# ncu runs with --clock-control none: the card's clocks are left as they are found.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
out=${1:?usage: gpu_check.sh OUTDIR [bench_gpu.py options]}
shift
mkdir -p "$out"
export PYTHONUNBUFFERED=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fs="$root/bin/flowsweep"
sweeps="$root/share/flowsweep/sweeps"
summary=()

{
  date -u +"%Y-%m-%d %H:%M UTC"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm --format=csv
  "$fs" --version
} 2>&1 | tee "$out/device.txt"

if [ "${GPU_TESTS_S:-240}" != 0 ]; then
  FS_GPU_COMPARE_CSV="$out/gpu_compare.csv" timeout "${GPU_TESTS_S:-240}" "$root/bin/flowsweep_gpu_tests" --durations yes >"$out/gpu_tests.log" 2>&1
  rc=$?
  tail -n 40 "$out/gpu_tests.log"
  summary+=("gpu tests: exit $rc ($(grep -E '^(All tests passed|test cases:)' "$out/gpu_tests.log" | tr '\n' ' '))")
fi

t0=$(date +%s%N)
"$fs" run "$sweeps/quickstart.toml" --out "$tmp/quickstart" --backend cuda --quiet >"$tmp/quickstart.log" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
complete=$(grep -c '"complete": true' "$tmp/quickstart/manifest.json" 2>/dev/null)
summary+=("quick start on the GPU: exit $rc, complete ${complete:-0}, $ms ms $(tail -n 2 "$tmp/quickstart.log" | tr '\n' ' ')")

baseline=()
k=0
for entry in ${BASELINE:-}; do
  k=$((k + 1))
  name="" file=$entry
  if [[ "$entry" == *=* ]]; then name="${entry%%=*}=" file="${entry#*=}"; fi
  if [[ "$file" == *.tar.gz ]]; then
    mkdir -p "$tmp/baseline$k" && tar xzf "$file" -C "$tmp/baseline$k"
    old=$(ls -d "$tmp"/baseline$k/*/bin/flowsweep | head -n 1)
  else
    old="$root/bin/flowsweep-baseline$k"
    if [[ "$file" == *.gz ]]; then gzip -dc "$file" >"$old"; else cp "$file" "$old"; fi
    chmod +x "$old"
  fi
  echo "baseline $k ${name%=}: $file, $("$old" --version 2>&1 | head -n 1)" | tee -a "$out/device.txt"
  baseline+=(--baseline "$name$old")
done

if [ "${BENCH_S:-300}" != 0 ]; then
  timeout "${BENCH_S:-300}" python3 "$sweeps/bench/bench_gpu.py" --flowsweep "$fs" "${baseline[@]}" \
    --json "$out/bench_gpu.jsonl" "$@" \
    >"$out/bench_gpu.md" 2>"$out/bench_gpu.err"
  rc=$?
  cat "$out/bench_gpu.md"
  summary+=("benchmark: exit $rc, $(grep -c '^| [a-z]' "$out/bench_gpu.md") rows")
fi

# Nsight Compute on one slice kernel of each case, into one file: cooccurrence at the small and the
# paper's size, value_softmax with a thread per run (shared-memory bank conflicts), and pathcond at the
# shipped sweep's largest shape (its per-point scratch layout is the open question: a warp's loads in the
# forward and backward phase, against the gradient's).
if [ "${NCU_S:-0}" != 0 ] && command -v ncu >/dev/null; then
  : >"$out/ncu.txt"
  for c in "cooccurrence_small cooccurrence d=16 L=5 n=60 m=32 m1=32" \
           "cooccurrence_paper cooccurrence d=64 L=5 n=60 m=128 m1=256" \
           "value_softmax value_softmax d=4 n=4 loss=logistic a_init=random" \
           "pathcond pathcond data=moons points=1000 depth=6 width=64"; do
    set -- $c
    name=$1 model=$2
    shift 2
    {
      printf 'model = "%s"\n[params]\n' "$model"
      for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "$(printf '%s' "${kv#*=}" | sed 's/^[a-z].*/"&"/')"; done
      printf '[train]\nlr = 0.01\nsteps = 2000\nrecord_every = 2000\nprecision = "fp32"\n'
      printf '[grid]\nseed = { range = [0, 256] }\n'
    } >"$tmp/ncu_$name.toml"
    echo "=== $name (256 runs, fp32): $*" >>"$out/ncu.txt"
    # The first slices are short (the budget grows from 16 steps): skip them.
    timeout "${NCU_S}" ncu --clock-control none -k regex:kernel_flow_slice --launch-skip 4 --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section WarpStateStats \
      "$fs" run "$tmp/ncu_$name.toml" --out "$tmp/ncu_$name" --backend cuda --quiet >>"$out/ncu.txt" 2>&1
    summary+=("ncu $name (256 runs, fp32): exit $?")
  done
fi

echo
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
