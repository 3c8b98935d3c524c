#!/usr/bin/env python3
"""flowsweep against PyTorch vectorised over runs (functorch vmap + grad), and against JAX (vmap, jit,
lax.scan) where it is installed, on this machine's CPU, in one run: the same cooccurrence sweep (runs x
steps, gradient descent, no recording in between) at the paper's sizes and at a small size, fp32 and
fp64 (JAX: fp32 only). Prints a markdown table of run-steps per second and the ratios.

flowsweep is timed as a whole process (start-up, data, training, tables); the peers only over their
training loops, after their data and parameters are built (and JAX's after compilation)."""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cooccurrence_torch_vmap as ref  # noqa: E402

SIZES = {
    "paper (d=64 L=5 n=60 m=128 m1=256)": dict(d=64, L=5, n=60, m=128, m1=256),
    "small (d=16 L=5 n=60 m=32 m1=32)": dict(d=16, L=5, n=60, m=32, m1=32),
}


def time_flowsweep(binary, size, runs, steps, precision, threads):
    spec = f"""model = "cooccurrence"
[params]
d = {size['d']}
L = {size['L']}
n = {size['n']}
m = {size['m']}
m1 = {size['m1']}
[train]
lr = 0.01
steps = {steps}
record_every = {steps}
precision = "{precision}"
[grid]
seed = {{ range = [0, {runs}] }}
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        open(path, "w").write(spec)
        t0 = time.perf_counter()
        subprocess.run([binary, "run", path, "--out", os.path.join(tmp, "out"), "--quiet", "--backend", "cpu",
                        "--threads", str(threads)], check=True)
        return time.perf_counter() - t0


def time_torch(size, runs, steps, precision, threads):
    torch.set_num_threads(threads)
    dtype = torch.float64 if precision == "fp64" else torch.float32
    params, a, tok, y = ref.make_runs(runs, dtype=dtype, **size)
    ref.train(params, a, tok, y, 2, 0.01, 1.0)  # warm-up
    t0 = time.perf_counter()
    ref.train(params, a, tok, y, steps, 0.01, 1.0)
    return time.perf_counter() - t0


def time_jax(size, runs, steps):
    try:
        from bench_gpu import jax_runner
        return jax_runner(size, runs, steps, "cpu")
    except ImportError:
        return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsweep", default="build/flowsweep")
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    print(f"# cooccurrence sweep on the CPU: {args.runs} runs x {args.steps} steps, gradient descent, "
          f"{args.threads} threads")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.machine())
    print(f"# machine: {cpu}, {os.cpu_count()} cores; torch {torch.__version__}")
    print()
    print("| size | precision | flowsweep run-steps/s | PyTorch vmap run-steps/s | ratio | JAX run-steps/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, size in SIZES.items():
        for precision in ("fp32", "fp64"):
            work = args.runs * args.steps
            t_fs = time_flowsweep(args.flowsweep, size, args.runs, args.steps, precision, args.threads)
            t_pt = time_torch(size, args.runs, args.steps, precision, args.threads)
            t_jax = time_jax(size, args.runs, args.steps) if precision == "fp32" else float("nan")
            print(f"| {name} | {precision} | {work / t_fs:,.0f} | {work / t_pt:,.0f} | {t_pt / t_fs:.1f}x | "
                  f"{work / t_jax:,.0f} | {t_jax / t_fs:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
