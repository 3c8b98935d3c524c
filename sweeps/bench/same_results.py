#!/usr/bin/env python3
"""Whether two flowsweep builds give the same results, bit for bit: every shipped paper sweep cut to a
few runs (bench_detect.py's cuts) and the quick start, in fp64 and fp32, run by each build on the CPU;
the tables compared byte for byte and every dataset of trajectories.h5 compared bit for bit (NaNs
included). For a change meant to make the engine faster without changing what it computes.

    sweeps/bench/same_results.py --a OLD/flowsweep --b build/flowsweep

Exits 0 when every output agrees, 1 otherwise, naming what differs. Needs h5py."""
import argparse
import filecmp
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from bench_detect import CASES, SWEEPS

TABLES = ("runs.csv", "final_config.csv", "phase_diagram.csv")
# The quick start too: its vocabulary (d = 16) is small enough for cooccurrence's word tables, which the
# paper's size (d = 64) does not use.
ALL_CASES = CASES + [("quickstart", ["grid.seed=[0, 1]"])]


def run(binary, spec, sets, out, threads):
    cmd = [binary, "run", spec, "--out", out, "--quiet", "--backend", "cpu", "--threads", str(threads)]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True)


def h5_items(path):
    items = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: items.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return items


def same_array(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.dtype.kind in "fc":  # bits, so that NaNs compare and -0 differs from +0
        return x.tobytes() == y.tobytes()
    return np.array_equal(x, y)


def differences(a_out, b_out):
    diffs = [t for t in TABLES if os.path.exists(os.path.join(a_out, t)) != os.path.exists(os.path.join(b_out, t))
             or (os.path.exists(os.path.join(a_out, t))
                 and not filecmp.cmp(os.path.join(a_out, t), os.path.join(b_out, t), shallow=False))]
    a, b = h5_items(os.path.join(a_out, "trajectories.h5")), h5_items(os.path.join(b_out, "trajectories.h5"))
    diffs += [f"trajectories.h5:{k}" for k in sorted(set(a) | set(b)) if k not in a or k not in b
              or not same_array(a[k], b[k])]
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="one build's flowsweep")
    ap.add_argument("--b", required=True, help="the other's")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    failed = 0
    for name, sets in ALL_CASES:
        for precision in ("fp64", "fp32"):
            cut = sets + [f'precision="{precision}"']
            with tempfile.TemporaryDirectory() as tmp:
                outs = [os.path.join(tmp, "a"), os.path.join(tmp, "b")]
                for binary, out in zip((args.a, args.b), outs):
                    run(binary, os.path.join(SWEEPS, name + ".toml"), cut, out, args.threads)
                diffs = differences(*outs)
            failed += bool(diffs)
            print(f"{name} {precision} {' '.join(sets)}: {'same' if not diffs else 'DIFFERENT: ' + ', '.join(diffs)}")
    print(f"{failed} of {2 * len(ALL_CASES)} cases differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
