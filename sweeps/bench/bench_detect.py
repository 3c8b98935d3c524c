#!/usr/bin/env python3
"""The cost of detection inside the flow: every shipped paper sweep, cut to a few runs, run with its
detectors fed every step (detect_every = 1, the default), every 10 steps, and not at all (detect_every = 0),
in one invocation, interleaved, best of --repeat. Recording is the sweep's own in every case. Prints a
markdown table of wall times and the ratios to no detection.

    sweeps/bench/bench_detect.py --flowsweep build/flowsweep"""
import argparse
import os
import platform
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEPS = os.path.dirname(HERE)

# Each sweep cut to a handful of runs (first values of its axes) so a row takes a few seconds.
CASES = [
    ("yang2024_cooccurrence", ["grid.seed=[0, 1]", "steps=6000"]),
    ("tian2023_scan_snap", ["grid.seed=[0, 1]", "grid.num_last=[10]", "grid.lr=[1.0]", "grid.lr_ratio=[5.0]"]),
    ("tian2023_scan_snap", ["grid.seed=[0, 1]", "grid.num_last=[10]", "grid.lr=[1.0]", "grid.lr_ratio=[5.0]",
                            "steps=1000", "record_every=100"]),
    ("tian2023_snap_vs_etaY", []),
    ("tian2024_joma_toy", ["grid.seed=[0, 1]"]),
    ("tian2024_joma", ["grid.seed=[0]", "grid.hidden=[64]", "grid.lr=[0.01]", "grid.lr_ratio=[10]", "flow_time=100"]),
    ("varre2026_value_softmax", ["grid.seed=[0, 1]", "steps=20000"]),
    ("lebeurrier2026_pathcond", ["grid.seed=[0]", "grid.depth=[4]", "grid.width=[64]", "grid.lr=[0.01]",
                                 "grid.init_scale=[1.0]"]),
]


def timed(fsw, spec, sets, threads):
    with tempfile.TemporaryDirectory() as out:
        cmd = [fsw, "run", spec, "--out", out, "--quiet", "--threads", str(threads)]
        for s in sets:
            cmd += ["--set", s]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsweep", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# detection cost on the CPU, {args.threads} threads, best of {args.repeat}")
    print(f"# machine: {cpu}, {os.cpu_count()} cores; {platform.platform()}")
    print()
    print("| sweep (axes cut to a few runs; other changes) | runs x steps | no detection (s) | detect_every 10 (s) | ratio | detect_every 1 (s) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, sets in CASES:
        spec = os.path.join(SWEEPS, name + ".toml")
        out = subprocess.run([args.flowsweep, "validate", spec] + sum((["--set", s] for s in sets), []),
                             check=True, capture_output=True, text=True).stdout
        size = next((l.strip() for l in out.splitlines() if "run-steps" in l), "?")
        best = {0: 1e9, 10: 1e9, 1: 1e9}
        for _ in range(args.repeat):
            for every in best:
                best[every] = min(best[every], timed(args.flowsweep, spec, sets + [f"detect_every={every}"],
                                                     args.threads))
        cut = ", ".join(x for x in sets if not x.startswith("grid."))
        print(f"| {name}{' (' + cut + ')' if cut else ''} | {size} | {best[0]:.2f} | {best[10]:.2f} | {best[10] / best[0]:.2f}x | {best[1]:.2f} | "
              f"{best[1] / best[0]:.2f}x |")


if __name__ == "__main__":
    main()
