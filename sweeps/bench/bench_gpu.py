#!/usr/bin/env python3
"""flowsweep against JAX and PyTorch on one GPU, in one run: the same cooccurrence sweep (R runs x S steps
of gradient descent, fp32, no recording in between) at the paper's sizes and at a small size, through

  - flowsweep --backend cuda (timed as a whole process: start-up, data, training, tables),
  - JAX: vmap over runs of grad of the loss, jit, lax.scan over the steps (timed after compilation),
  - PyTorch: torch.func.vmap of torch.func.grad, with torch.compile where it works (timed after warm-up),

and prints run-steps per second, the ratios, and flowsweep's achieved FLOP/s against the FP32 peak
measured on the same device by a large fp32 matrix product (TF32 off).

    python3 sweeps/bench/bench_gpu.py --flowsweep build/flowsweep [--runs 1024] [--steps 2000]

--device cpu runs the same comparison on the CPU (a check of the script where no GPU is present)."""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

SIZES = {
    "paper (d=64 L=5 n=60 m=128 m1=256)": dict(d=64, L=5, n=60, m=128, m1=256),
    "small (d=16 L=5 n=60 m=32 m1=32)": dict(d=16, L=5, n=60, m=32, m1=32),
}


def flops_per_run_step(d, L, n, m, m1):
    """Multiply-adds of flowsweep's step counted as 2 FLOPs: scores and their backward (3 n L^2 m), values
    and their backward (3 n L m), u and dW (2 m1 m), the update (m1 m + 3 d m)."""
    return 2 * (3 * n * L * L * m + 3 * n * L * m + 2 * m1 * m) + 2 * (m1 * m + 3 * d * m)


def time_flowsweep(binary, size, runs, steps, backend):
    spec = "\n".join([
        'model = "cooccurrence"', "[params]", *(f"{k} = {v}" for k, v in size.items()),
        "[train]", "lr = 0.01", f"steps = {steps}", f"record_every = {steps}", 'precision = "fp32"',
        "[grid]", f"seed = {{ range = [0, {runs}] }}", ""])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        open(path, "w").write(spec)
        t0 = time.perf_counter()
        subprocess.run([binary, "run", path, "--out", os.path.join(tmp, "out"), "--quiet", "--backend", backend],
                       check=True)
        return time.perf_counter() - t0


def jax_runner(size, runs, steps, device):
    import jax
    import jax.numpy as jnp

    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    d, L, n, m, m1 = (size[k] for k in ("d", "L", "n", "m", "m1"))

    def loss(params, a, tok, y):
        W, Q, K, V = params
        q, k, v = Q[tok], K[tok], V[tok]
        s = jnp.einsum("nlm,nkm->nlk", q, k) / math.sqrt(m)
        p = jax.nn.softmax(s, axis=-1)
        u = a @ W
        F = (p * (v @ u)[:, None, :]).sum(axis=(1, 2))
        return jax.nn.softplus(-y * F).mean()

    g = jax.vmap(jax.grad(loss))

    @jax.jit
    def train(params, a, tok, y):
        def step(ps, _):
            gs = g(ps, a, tok, y)
            return tuple(p - 0.01 * gp for p, gp in zip(ps, gs)), None
        return jax.lax.scan(step, params, None, length=steps)[0]

    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 6)
    params = (jax.random.normal(ks[0], (runs, m1, m)) * math.sqrt(2 / m),
              *(jax.random.normal(ks[i], (runs, d, m)) * math.sqrt(2 / d) for i in (1, 2, 3)))
    a = jnp.where(jax.random.uniform(ks[4], (runs, m1)) < 0.5, -1.0, 1.0)
    tok = jax.random.randint(ks[5], (runs, n, L), 0, d)
    y = jnp.where(jnp.arange(n) < n // 2, 1.0, -1.0)[None, :].repeat(runs, 0)
    params, a, tok, y = jax.device_put((params, a, tok, y), dev)
    jax.block_until_ready(train(params, a, tok, y))  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(train(params, a, tok, y))
    return time.perf_counter() - t0


def torch_runner(size, runs, steps, device):
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cooccurrence_torch_vmap as ref

    try:
        from torch.func import grad, vmap
    except ImportError:
        from functorch import grad, vmap
    params, a, tok, y = ref.make_runs(runs, dtype=torch.float32, **size)
    params = [p.to(device) for p in params]
    a, tok, y = a.to(device), tok.to(device), y.to(device)
    g = vmap(grad(ref.loss_fn, argnums=(0, 1, 2, 3)))

    def step(W, Q, K, V):
        gs = g(W, Q, K, V, a, tok, y)
        return tuple(p - 0.01 * gp for p, gp in zip((W, Q, K, V), gs))

    how = "eager"
    if hasattr(torch, "compile") and device == "cuda":
        try:
            compiled = torch.compile(step, mode="max-autotune-no-cudagraphs")
            compiled(*params)
            step, how = compiled, "torch.compile"
        except Exception as e:  # noqa: BLE001 - any failure falls back to eager, and says so
            print(f"# torch.compile failed ({type(e).__name__}); PyTorch runs eager", file=sys.stderr)
    with torch.no_grad():
        ps = tuple(params)
        for _ in range(3):
            ps = step(*ps)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            ps = step(*ps)
        if device == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - t0, how


def fp32_peak(device):
    import torch

    if device != "cuda":
        return math.nan
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 8192
    A = torch.randn(n, n, device="cuda")
    B = torch.randn(n, n, device="cuda")
    for _ in range(3):
        A @ B
    torch.cuda.synchronize()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        A @ B
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flowsweep", default="build/flowsweep")
    ap.add_argument("--runs", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = ap.parse_args()
    import torch

    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    peak = fp32_peak(args.device)
    print(f"# cooccurrence sweep, {args.runs} runs x {args.steps} steps, fp32, on {name}; "
          f"measured FP32 peak {peak / 1e12:.1f} TFLOP/s; {time.strftime('%Y-%m-%d')}")
    print()
    print("| size | flowsweep run-steps/s | JAX run-steps/s | PyTorch run-steps/s | flowsweep / faster peer | "
          "flowsweep TFLOP/s | % of FP32 peak |")
    print("|---|---|---|---|---|---|---|")
    for label, size in SIZES.items():
        work = args.runs * args.steps
        t_fs = time_flowsweep(args.flowsweep, size, args.runs, args.steps, "cuda" if args.device == "cuda" else "cpu")
        try:
            t_jax = jax_runner(size, args.runs, args.steps, args.device)
        except ImportError:
            t_jax = math.nan
        t_pt, how = torch_runner(size, args.runs, args.steps, args.device)
        rates = {"fs": work / t_fs, "jax": work / t_jax, "pt": work / t_pt}
        best_peer = max(r for k, r in rates.items() if k != "fs" and not math.isnan(r))
        achieved = rates["fs"] * flops_per_run_step(**size)
        print(f"| {label} | {rates['fs']:,.0f} | {rates['jax']:,.0f} | {rates['pt']:,.0f} ({how}) | "
              f"{rates['fs'] / best_peer:.1f}x | {achieved / 1e12:.3f} | {100 * achieved / peak:.1f} |", flush=True)


if __name__ == "__main__":
    main()
