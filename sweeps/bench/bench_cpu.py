#!/usr/bin/env python3
"""flowsweep against PyTorch vectorised over runs (functorch vmap + grad), and against JAX (vmap, jit,
lax.scan; x64 for fp64) where it is installed, on this machine's CPU, in one run: the same cooccurrence
sweep (runs x steps, gradient descent, no recording in between) at the paper's sizes and at a small size,
value_softmax at d = n = 4 (--vs-runs x --vs-steps) and pathcond's ReLU network at the two-moons size
(--pc-runs x --pc-steps), fp32 and fp64; --only keeps the cases whose name contains it. Prints a markdown table of
run-steps per second and the ratios. --baseline times another flowsweep build in the same rows (an
earlier commit's, say), so a change is measured against the code before it in one run. --detect 1,0 gives
flowsweep a row with detection at every step (its default) and one without (the peers' work) per case.

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
from bench_gpu import PC_MOONS, VS_SMALL  # noqa: E402

SIZES = {
    "paper (d=64 L=5 n=60 m=128 m1=256)": dict(d=64, L=5, n=60, m=128, m1=256),
    "small (d=16 L=5 n=60 m=32 m1=32)": dict(d=16, L=5, n=60, m=32, m1=32),
}


def time_flowsweep(binary, model, size, runs, steps, precision, threads, detect_every=1):
    from bench_gpu import spec_text

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        open(path, "w").write(spec_text(model, size, runs, steps, precision, detect_every))
        t0 = time.perf_counter()
        subprocess.run([binary, "run", path, "--out", os.path.join(tmp, "out"), "--quiet", "--backend", "cpu",
                        "--threads", str(threads)], check=True)
        return time.perf_counter() - t0


def time_torch(model, size, runs, steps, precision, threads):
    torch.set_num_threads(threads)
    if model in ("value_softmax", "pathcond"):
        from bench_gpu import torch_runner

        return torch_runner(model, size, runs, steps, precision, "cpu")[0]
    dtype = torch.float64 if precision == "fp64" else torch.float32
    params, a, tok, y = ref.make_runs(runs, dtype=dtype, **size)
    ref.train(params, a, tok, y, 2, 0.01, 1.0)  # warm-up
    t0 = time.perf_counter()
    ref.train(params, a, tok, y, steps, 0.01, 1.0)
    return time.perf_counter() - t0


def time_jax(model, size, runs, steps, precision):
    try:
        import jax  # noqa: F401
    except ImportError:
        return float("nan")
    from bench_gpu import jax_runner

    return jax_runner(model, size, runs, steps, precision, "cpu")[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsweep", default="build/flowsweep")
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--vs-runs", type=int, default=2000, help="value_softmax's runs")
    ap.add_argument("--vs-steps", type=int, default=2000, help="value_softmax's steps")
    ap.add_argument("--pc-runs", type=int, default=16, help="pathcond's runs")
    ap.add_argument("--pc-steps", type=int, default=50, help="pathcond's steps")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--baseline", help="another flowsweep binary, timed in every row beside --flowsweep")
    ap.add_argument("--detect", default="1", help="comma-separated detect_every values, one flowsweep row each (1: "
                    "every step, flowsweep's default; 0: no detection, the peers' work)")
    args = ap.parse_args()

    print(f"# on the CPU: cooccurrence {args.runs} runs x {args.steps} steps, value_softmax {args.vs_runs} runs x "
          f"{args.vs_steps} steps, pathcond {args.pc_runs} runs x {args.pc_steps} steps, gradient descent, "
          f"{args.threads} threads")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.machine())
    print(f"# machine: {cpu}, {os.cpu_count()} cores; torch {torch.__version__}")
    print()
    base_head = " baseline run-steps/s | flowsweep / baseline |" if args.baseline else ""
    print("| case | precision | detect_every | flowsweep run-steps/s | PyTorch vmap run-steps/s | ratio | "
          "JAX run-steps/s | ratio |" + base_head)
    print("|---|---|---|---|---|---|---|---|" + "---|---|" * bool(args.baseline))
    detects = [int(x) for x in args.detect.split(",")]
    cases = [("cooccurrence " + name, "cooccurrence", size, args.runs, args.steps) for name, size in SIZES.items()]
    cases.append(("value_softmax (d=4 n=4)", "value_softmax", VS_SMALL, args.vs_runs, args.vs_steps))
    cases.append(("pathcond moons (P=1000 depth=4 width=64)", "pathcond", PC_MOONS, args.pc_runs, args.pc_steps))
    for name, model, size, runs, steps in cases:
        if args.only not in name:
            continue
        for precision in ("fp32", "fp64"):
            work = runs * steps
            t_pt = time_torch(model, size, runs, steps, precision, args.threads)
            t_jax = time_jax(model, size, runs, steps, precision)
            for detect in detects:  # the peers' loops detect nothing: timed once, beside each row
                t_fs = time_flowsweep(args.flowsweep, model, size, runs, steps, precision, args.threads, detect)
                base = ""
                if args.baseline:
                    t_base = time_flowsweep(args.baseline, model, size, runs, steps, precision, args.threads, detect)
                    base = f" {work / t_base:,.0f} | {t_base / t_fs:.2f}x |"
                print(f"| {name} | {precision} | {detect} | {work / t_fs:,.0f} | {work / t_pt:,.0f} | "
                      f"{t_pt / t_fs:.1f}x | {work / t_jax:,.0f} | {t_jax / t_fs:.1f}x |" + base, flush=True)


if __name__ == "__main__":
    main()
