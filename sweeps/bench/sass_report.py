#!/usr/bin/env python3
"""The compiler's report on the flow kernels, read from the machine code (no GPU needed): for each
kernel_flow_slice variant (model, precision, team), its registers and stack frame, and in its SASS the
instructions that matter most to a small run's step: local-memory loads and stores (the stack: arrays a
thread indexes at run time), FP64 arithmetic and conversions (in an fp32 kernel, work done in double), and
block barriers. With --lines, where an fp32 variant's FP64 and local-memory instructions come from, by
source line (the object is built with -lineinfo).

    python3 sweeps/bench/sass_report.py build/CMakeFiles/flowsweep_lib.dir/host/executor_cuda.cu.o \\
        [--arch sm_90] [--lines ValueSoftmax,f,SoloTeam]

Needs cuobjdump and nvdisasm from the CUDA toolkit on the PATH (or the PyPI wheels nvidia-cuda-cuobjdump
and nvidia-cuda-nvdisasm). Counts are static: instructions in the code, not instructions executed."""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

KERNEL = re.compile(r"kernel_flow_sliceINS_\d+(\w+?)E([fd])NS_\d+(\w+?)EEE")
INSTR = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)")
LINE = re.compile(r'\s*//## File "([^"]+)", line (\d+)')
FP64_ARITH = {"DADD", "DMUL", "DFMA", "DSETP", "DMNMX", "DSET"}


def kind(op):
    base = op.split(".")[0]
    if base in FP64_ARITH:
        return "fp64"
    if base == "F2F" and "64" in op:
        return "f2f64"
    if base in ("LDL", "STL"):
        return "local"
    if base == "BAR":
        return "bar"
    return None


def run(cmd, cwd=None):
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        sys.exit(f"sass_report.py: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("object", help="an object or executable holding the flow kernels")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--lines", default="", help="MODEL,PRECISION,TEAM: that variant's instructions by source line")
    args = ap.parse_args()

    usage = {}
    for line in run(["cuobjdump", "-res-usage", "-arch", args.arch, args.object]).splitlines():
        m = re.search(r"Function (\S+):", line)
        if m:
            name = m.group(1)
        m = re.search(r"REG:(\d+) STACK:(\d+)", line)
        if m and KERNEL.search(name or ""):
            usage[KERNEL.search(name).groups()] = (int(m.group(1)), int(m.group(2)))

    with tempfile.TemporaryDirectory() as tmp:
        run(["cuobjdump", "-xelf", "all", os.path.abspath(args.object)], cwd=tmp)  # into tmp
        cubins = [f for f in os.listdir(tmp) if f.endswith(f".{args.arch}.cubin")]
        if not cubins:
            sys.exit("sass_report.py: no cubin for " + args.arch)
        sass = run(["nvdisasm", "-gi", os.path.join(tmp, cubins[0])]).split("\n")

    counts = collections.defaultdict(collections.Counter)
    by_line = collections.defaultdict(collections.Counter)
    want = tuple(args.lines.split(",")) if args.lines else None
    current, where, fresh = None, None, True
    for line in sass:
        if line.startswith(".text."):
            m = KERNEL.search(line)
            current = m.groups() if m else None
            continue
        if current is None:
            continue
        m = re.match(r"\$__internal_\d+_\$(\w+):", line)
        if m:  # a routine of CUDA's math library (a double division's slow path), after the kernel's exit
            where, fresh = "CUDA library: " + m.group(1), False
            continue
        m = LINE.match(line)
        if m:  # the innermost frame comes first in a block of location lines
            if fresh:
                where = f"{os.path.basename(m.group(1))}:{m.group(2)}"
                fresh = False
            continue
        m = INSTR.search(line)
        if not m:
            continue
        fresh = True
        k = kind(m.group(1))
        counts[current]["all"] += 1
        if k:
            counts[current][k] += 1
            if current == want and k in ("fp64", "f2f64", "local"):
                by_line[k][where] += 1

    print(f"# flow kernels in {args.object}, {args.arch}: static counts")
    print("| model | precision | team | registers | stack bytes | instructions | local ld/st | FP64 arith | "
          "F2F to/from FP64 | barriers |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(counts):
        c = counts[key]
        reg, stack = usage.get(key, ("?", "?"))
        print(f"| {key[0]} | {key[1]} | {key[2]} | {reg} | {stack} | {c['all']} | {c['local']} | {c['fp64']} | "
              f"{c['f2f64']} | {c['bar']} |")
    if want:
        for k, title in (("fp64", "FP64 arithmetic"), ("f2f64", "conversions to or from FP64"),
                         ("local", "local-memory loads and stores")):
            print(f"\n# {'/'.join(want)}: {title} by source line (innermost inlined frame)")
            for loc, n in by_line[k].most_common(12):
                print(f"{n:6d}  {loc}")


if __name__ == "__main__":
    main()
