#!/usr/bin/env python3
"""flowsweep against JAX and PyTorch on one GPU, in one run. The same sweeps (R runs x S steps of gradient
descent, no recording in between), in fp32 and in fp64:

  - cooccurrence at the paper's sizes (d=64 L=5 n=60 m=128 m1=256) and at a small size (d=16 m=32 m1=32),
    each at 256 and at 4096 runs;
  - value_softmax (logistic loss) at d = n = 4, 10^5 runs;

through

  - flowsweep --backend cuda (timed as a whole process: start-up, data, training, tables; the manifest's
    training-loop rate beside it), once per --team asked for;
  - JAX: vmap over runs of grad of the loss, jit, lax.scan over the steps (x64 enabled; timed after
    compilation);
  - PyTorch: torch.func.vmap of torch.func.grad, with torch.compile where it works (timed after warm-up).

It prints run-steps per second, flowsweep over the faster peer, and flowsweep's achieved FLOP/s against
the FP32 and FP64 peaks measured on the same device in the same run (large matrix products, TF32 off).

    python3 sweeps/bench/bench_gpu.py --flowsweep build/flowsweep [--teams auto,warp,block,thread]

--device cpu --quick runs a cut-down comparison on the CPU: a check of the script where no GPU is present."""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

COOC_PAPER = dict(d=64, L=5, n=60, m=128, m1=256)
COOC_SMALL = dict(d=16, L=5, n=60, m=32, m1=32)
VS_SMALL = dict(d=4, n=4)

# (label, model, sizes, runs, steps)
CASES = [
    ("cooccurrence paper", "cooccurrence", COOC_PAPER, 256, 1000),
    ("cooccurrence paper", "cooccurrence", COOC_PAPER, 4096, 200),
    ("cooccurrence small", "cooccurrence", COOC_SMALL, 256, 2000),
    ("cooccurrence small", "cooccurrence", COOC_SMALL, 4096, 500),
    ("value_softmax d=n=4", "value_softmax", VS_SMALL, 100000, 2000),
]
LR = 0.01


def flops_per_run_step(model, size):
    """Multiply-adds counted as 2 FLOPs, exponentials and divisions as 1, of one step of the math as
    flowsweep does it."""
    if model == "cooccurrence":
        d, L, n, m, m1 = (size[k] for k in ("d", "L", "n", "m", "m1"))
        # scores and their backward (3 n L^2 m), values and their backward (3 n L m), u and dW (2 m1 m),
        # the update (m1 m + 3 d m)
        return 2 * (3 * n * L * L * m + 3 * n * L * m + 2 * m1 * m) + 2 * (m1 * m + 3 * d * m)
    d, n = size["d"], size["n"]
    # softmax (3n), y = V s (nd), margin (d), dL/ds (nd), dz (3n), dV (nd), update (nd + n)
    return 2 * (4 * n * d + d) + 7 * n


def spec_text(model, size, runs, steps, precision):
    params = [f"{k} = {v}" for k, v in size.items()]
    if model == "value_softmax":
        params += ['loss = "logistic"', 'a_init = "random"']
    return "\n".join([f'model = "{model}"', "[params]", *params, "[train]", f"lr = {LR}", f"steps = {steps}",
                      f"record_every = {steps}", f'precision = "{precision}"', "[grid]",
                      f"seed = {{ range = [0, {runs}] }}", ""])


def time_flowsweep(binary, model, size, runs, steps, precision, backend, team):
    """Whole-process seconds, and the training loop's run-steps per second from the manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        with open(path, "w") as f:
            f.write(spec_text(model, size, runs, steps, precision))
        cmd = [binary, "run", path, "--out", os.path.join(tmp, "out"), "--quiet", "--backend", backend]
        if backend == "cuda":
            cmd += ["--team", team]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        with open(os.path.join(tmp, "out", "manifest.json")) as f:
            loop_rate = json.load(f)["timings"]["run_steps_per_s"]
        return wall, loop_rate


# ---- JAX -------------------------------------------------------------------------------------------------
def jax_runner(model, size, runs, steps, precision, device):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    dt = jnp.float64 if precision == "fp64" else jnp.float32
    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 6)
    if model == "cooccurrence":
        d, L, n, m, m1 = (size[k] for k in ("d", "L", "n", "m", "m1"))

        def loss(params, a, tok, y):
            W, Q, K, V = params
            q, k, v = Q[tok], K[tok], V[tok]
            s = jnp.einsum("nlm,nkm->nlk", q, k) / math.sqrt(m)
            p = jax.nn.softmax(s, axis=-1)
            u = a @ W
            F = (p * (v @ u)[:, None, :]).sum(axis=(1, 2))
            return jax.nn.softplus(-y * F).mean()

        params = (jax.random.normal(ks[0], (runs, m1, m), dt) * math.sqrt(2 / m),
                  *(jax.random.normal(ks[i], (runs, d, m), dt) * math.sqrt(2 / d) for i in (1, 2, 3)))
        a = jnp.where(jax.random.uniform(ks[4], (runs, m1)) < 0.5, -1.0, 1.0).astype(dt)
        tok = jax.random.randint(ks[5], (runs, n, L), 0, d)
        y = jnp.where(jnp.arange(n) < n // 2, 1.0, -1.0).astype(dt)[None, :].repeat(runs, 0)
        data = (a, tok, y)
    else:
        d, n = size["d"], size["n"]

        def loss(params, beta):
            V, z = params  # V (n, d): value i is row i
            return jax.nn.softplus(-(beta @ (jax.nn.softmax(z) @ V)))

        params = (jax.random.normal(ks[0], (runs, n, d), dt) * 0.1, 1 + 0.1 * jax.random.normal(ks[1], (runs, n), dt))
        beta = jax.random.normal(ks[2], (runs, d), dt)
        data = (beta / jnp.linalg.norm(beta, axis=1, keepdims=True),)

    g = jax.vmap(jax.grad(loss))

    @jax.jit
    def train(params, *data):
        def step(ps, _):
            gs = g(ps, *data)
            return tuple(p - LR * gp for p, gp in zip(ps, gs)), None
        return jax.lax.scan(step, params, None, length=steps)[0]

    params, data = jax.device_put((params, data), dev)
    jax.block_until_ready(train(params, *data))  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(train(params, *data))
    return time.perf_counter() - t0


# ---- PyTorch ---------------------------------------------------------------------------------------------
def torch_runner(model, size, runs, steps, precision, device):
    import torch

    try:
        from torch.func import grad, vmap
    except ImportError:
        from functorch import grad, vmap
    dtype = torch.float64 if precision == "fp64" else torch.float32
    if model == "cooccurrence":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import cooccurrence_torch_vmap as ref

        params, a, tok, y = ref.make_runs(runs, dtype=dtype, **size)
        params = [p.to(device) for p in params]
        data = (a.to(device), tok.to(device), y.to(device))
        g = vmap(grad(ref.loss_fn, argnums=(0, 1, 2, 3)))
    else:
        d, n = size["d"], size["n"]
        gen = torch.Generator().manual_seed(0)
        V = torch.randn(runs, n, d, generator=gen, dtype=dtype) * 0.1
        z = 1 + 0.1 * torch.randn(runs, n, generator=gen, dtype=dtype)
        beta = torch.randn(runs, d, generator=gen, dtype=dtype)
        beta = beta / beta.norm(dim=1, keepdim=True)
        params = [V.to(device), z.to(device)]
        data = (beta.to(device),)

        def loss_fn(V, z, beta):
            return torch.nn.functional.softplus(-(beta @ (torch.softmax(z, dim=0) @ V)))

        g = vmap(grad(loss_fn, argnums=(0, 1)))

    def step(*ps):
        gs = g(*ps, *data)
        return tuple(p - LR * gp for p, gp in zip(ps, gs))

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


def measured_peak(device, dtype_name):
    """FLOP/s of a large matrix product in this precision on this device (TF32 off): the peak the
    achieved rates are compared with."""
    import torch

    if device != "cuda":
        return math.nan
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = torch.float64 if dtype_name == "fp64" else torch.float32
    n = 8192
    A = torch.randn(n, n, device="cuda", dtype=dtype)
    B = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        A @ B
    torch.cuda.synchronize()
    reps = 10
    t0 = time.perf_counter()
    for _ in range(reps):
        A @ B
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flowsweep", default="build/flowsweep")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--teams", default="auto", help="comma-separated flowsweep --team values, one row each")
    ap.add_argument("--precisions", default="fp32,fp64")
    ap.add_argument("--quick", action="store_true", help="runs / 64 and steps / 50: a check of the script")
    ap.add_argument("--only", default="", help="run only the cases whose label contains this")
    args = ap.parse_args()
    import torch

    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    peaks = {p: measured_peak(args.device, p) for p in ("fp32", "fp64")}
    backend = "cuda" if args.device == "cuda" else "cpu"
    print(f"# flowsweep against JAX and PyTorch on {name}, driver {driver_version()}, {time.strftime('%Y-%m-%d')}; "
          f"measured peaks: FP32 {peaks['fp32'] / 1e12:.1f} TFLOP/s, FP64 {peaks['fp64'] / 1e12:.1f} TFLOP/s")
    print("# run-steps per second; flowsweep timed as a whole process, its training loop's rate in brackets, "
          "which its FLOP/s are computed from")
    print()
    print("| case | runs x steps | precision | flowsweep (team) | JAX | PyTorch | flowsweep / faster peer | "
          "flowsweep TFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, model, size, runs, steps in CASES:
        if args.only and args.only not in label:
            continue
        if args.quick:
            runs, steps = max(4, runs // 64), max(4, steps // 50)
        work = runs * steps
        for precision in args.precisions.split(","):
            try:
                t_jax = jax_runner(model, size, runs, steps, precision, args.device)
            except ImportError:
                t_jax = math.nan
            t_pt, how = torch_runner(model, size, runs, steps, precision, args.device)
            peers = [r for r in (work / t_jax, work / t_pt) if not math.isnan(r)]
            for team in args.teams.split(","):
                wall, loop_rate = time_flowsweep(args.flowsweep, model, size, runs, steps, precision, backend, team)
                rate = work / wall
                achieved = loop_rate * flops_per_run_step(model, size)
                print(f"| {label} | {runs} x {steps} | {precision} | {rate:,.0f} [{loop_rate:,.0f}] ({team}) | "
                      f"{work / t_jax:,.0f} | {work / t_pt:,.0f} ({how}) | {rate / max(peers):.1f}x | "
                      f"{achieved / 1e12:.3f} | {100 * achieved / peaks[precision]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
