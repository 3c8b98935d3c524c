#!/usr/bin/env python3
"""The compiler's report on the flow kernels, read from the machine code (no GPU needed): for each
kernel_flow_slice variant (model, precision, team), its registers and stack frame, and in its SASS the
instructions that matter most to a small run's step: local-memory loads and stores (the stack: arrays a
thread indexes at run time, with any struct that holds one), FP64 arithmetic and conversions (in an fp32
kernel, work done in double), and block barriers. With --lines, where an fp32 variant's FP64 and
local-memory instructions come from, by source line (the object is built with -lineinfo).

"in the flow" counts the local-memory instructions of the step loop: code inlined from the kernel's call
of advance_flow, and the functions the compiler left as calls (a model's loss_grad, say), counted under
"calls": each call saves and restores registers through the stack.

    python3 sweeps/bench/sass_report.py build/flowsweep [--arch sm_90] [--lines ValueSoftmax,f,SoloTeam] \\
        [--source TREE]

The kernels are compiled in several translation units (host/build_parts.h): the executable holds them
all, an object file (build/CMakeFiles/flowsweep_lib.dir/build_parts/executor_cuda_batch_K.cu.o) those
of its part.

--source names the source tree of an object built from another commit (a git worktree), whose call of
advance_flow may sit on another line.

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
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def flow_call_line(source):
    """The line of flow_kernel.cuh that calls advance_flow: code inlined from it is the step loop's."""
    path = os.path.join(source, "kernels", "cuda", "flow_kernel.cuh")
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if "advance_flow<" in line:
                return n
    sys.exit("sass_report.py: no call of advance_flow in " + path)


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
    ap.add_argument("--source", default=REPO, help="the source tree the object was built from (default: this one)")
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
        sass = []
        for cubin in sorted(cubins):  # one per translation unit that holds kernels
            sass += run(["nvdisasm", "-gi", os.path.join(tmp, cubin)]).split("\n")

    counts = collections.defaultdict(collections.Counter)
    by_line = collections.defaultdict(collections.Counter)
    want = tuple(args.lines.split(",")) if args.lines else None
    flow_call = f'flow_kernel.cuh", line {flow_call_line(args.source)}'
    current, where, fresh, in_flow, in_function = None, None, True, False, False
    for line in sass:
        if line.startswith(".text."):
            m = KERNEL.search(line)
            current = m.groups() if m else None
            in_function = False
            continue
        if current is None:
            continue
        m = re.match(r"\$__internal_\d+_\$(\w+):", line)
        if m:  # a routine of CUDA's math library (a double division's slow path), after the kernel's exit
            where, fresh, in_function = "CUDA library: " + m.group(1), False, False
            continue
        if re.match(r"\$\w+\$_Z\w*:", line):  # a function of ours left as a call; only the flow calls them
            in_function = True
            continue
        m = LINE.match(line)
        if m:  # the innermost frame comes first in a block of location lines
            if fresh:
                where = f"{os.path.basename(m.group(1))}:{m.group(2)}"
                fresh, in_flow = False, False
            in_flow = in_flow or flow_call in line
            continue
        m = INSTR.search(line)
        if not m:
            continue
        fresh = True
        k = kind(m.group(1))
        counts[current]["all"] += 1
        if k == "local" and (in_flow or in_function):
            counts[current]["flow_local"] += 1
        if m.group(1).startswith("CALL") and "$__internal" not in line and "$_Z" in line:
            counts[current]["calls"] += 1
        if k:
            counts[current][k] += 1
            if current == want and k in ("fp64", "f2f64", "local"):
                by_line[k][where] += 1

    print(f"# flow kernels in {args.object}, {args.arch}: static counts")
    print("| model | precision | team | registers | stack bytes | instructions | local ld/st | in the flow | "
          "calls | FP64 arith | F2F to/from FP64 | barriers |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(counts):
        c = counts[key]
        reg, stack = usage.get(key, ("?", "?"))
        print(f"| {key[0]} | {key[1]} | {key[2]} | {reg} | {stack} | {c['all']} | {c['local']} | {c['flow_local']} | "
              f"{c['calls']} | {c['fp64']} | {c['f2f64']} | {c['bar']} |")
    if want:
        for k, title in (("fp64", "FP64 arithmetic"), ("f2f64", "conversions to or from FP64"),
                         ("local", "local-memory loads and stores")):
            print(f"\n# {'/'.join(want)}: {title} by source line (innermost inlined frame)")
            for loc, n in by_line[k].most_common(12):
                print(f"{n:6d}  {loc}")


if __name__ == "__main__":
    main()
