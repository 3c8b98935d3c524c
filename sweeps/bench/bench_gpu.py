#!/usr/bin/env python3
"""flowsweep against JAX and PyTorch on one GPU, in one run. The same sweeps (R runs x S steps of gradient
descent, no recording in between), in fp32 and in fp64:

  - cooccurrence at the paper's sizes (d=64 L=5 n=60 m=128 m1=256) and at a small size (d=16 m=32 m1=32),
    each at 256 and at 4096 runs;
  - value_softmax (logistic loss) at d = n = 4, 10^5 runs;
  - pathcond's ReLU network (two moons' size: 1000 points, depth 4, width 64), 256 runs, last: the
    shape where the peers' batched matrix products fit best, and the one flowsweep tiles its points for;

through

  - flowsweep --backend cuda (timed as a whole process: start-up, data, training, tables; the manifest's
    training-loop rate beside it), once per --team asked for;
  - JAX: vmap over runs of grad of the loss, jit, lax.scan over the steps (x64 enabled; fp32 products in
    fp32, jax_default_matmul_precision "highest", where JAX's default on recent GPUs is TF32; timed after
    compilation);
  - PyTorch: torch.func.vmap of torch.func.grad, its step captured in a CUDA graph, or through
    torch.compile where that fails (--torch-modes; timed after warm-up).

It prints run-steps per second; flowsweep over the faster peer three times: as a whole process, as a
training loop (the peers' timings are training loops: their start-up and compilation are left out, and would
weigh most in the shortest cases) and as the flow kernels' own time (the device's share of the loop, which
the host's work for the next runs overlaps); and flowsweep's achieved FLOP/s against the FP32 and FP64 peaks
measured on the same device in the same run (large matrix products, TF32 off). --baseline times another
flowsweep binary beside the first, so that a change is measured against the build before it in one run on
one device; given more than once (NAME=PATH, NAME labelling its rows), it times each, so that several
changes since a measured build are told apart. --placements auto,global times where a run's state lives
(at the paper's size, auto keeps a run's data and scratch in shared memory and its parameters in global
memory; global keeps all of it in global memory). flowsweep feeds its detectors at every step (its default),
which the peers do not do; --detect 1,0 adds rows with detection off, the peers' work, so the cost of
detection shows.

    python3 sweeps/bench/bench_gpu.py --flowsweep build/flowsweep [--teams auto,warp,block,thread]
                                      [--baseline [NAME=]OLD/bin/flowsweep ...] [--slots 0,33792]
                                      [--placements auto,global] [--detect 1,0]

--device cpu --quick runs a cut-down comparison on the CPU: a check of the script where no GPU is present."""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

# JAX takes 75% of the GPU's memory at its first use unless told not to; flowsweep, timed in a process of
# its own after it, sizes its batches from the memory it finds free.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

try:
    import torch
except ImportError:  # the JAX peer and --help work without it
    torch = None

COOC_PAPER = dict(d=64, L=5, n=60, m=128, m1=256)
COOC_SMALL = dict(d=16, L=5, n=60, m=32, m1=32)
VS_SMALL = dict(d=4, n=4)
PC_MOONS = dict(points=1000, depth=4, width=64)

# (label, model, sizes, runs, steps)
CASES = [
    ("cooccurrence paper", "cooccurrence", COOC_PAPER, 256, 1000),
    ("cooccurrence paper", "cooccurrence", COOC_PAPER, 4096, 200),
    ("cooccurrence small", "cooccurrence", COOC_SMALL, 256, 2000),
    ("cooccurrence small", "cooccurrence", COOC_SMALL, 4096, 500),
    ("value_softmax d=n=4", "value_softmax", VS_SMALL, 100000, 2000),
    ("pathcond moons", "pathcond", PC_MOONS, 256, 200),
]
LR = 0.01
# How PyTorch's step runs, tried in this order until one works (--torch-modes): "graph", the eager step
# captured once in a CUDA graph on static parameters updated in place and replayed (a step is many small
# kernels; a replay launches them all at once, with no compilation); "reduce-overhead" and "default",
# torch.compile's modes (each costs up to a minute of compilation a case; "reduce-overhead" failed on this
# step on an H100 on 2026-11-24, a CUDA graph's output overwritten by the next replay); then eager.
TORCH_MODES = ("graph", "default")
TORCH_FAILED = set()  # modes that failed in this process


def flops_per_run_step(model, size):
    """Multiply-adds counted as 2 FLOPs, exponentials and divisions as 1, of one step of the math as
    flowsweep does it."""
    if model == "cooccurrence":
        d, L, n, m, m1 = (size[k] for k in ("d", "L", "n", "m", "m1"))
        update = 2 * (m1 * m + 3 * d * m)
        if d * d < n * L * L:
            # Word tables (kernels/cooccurrence.h, word_tables): the scores by word pair and their backward
            # from dloss/dscore summed by word pair (3 d^2 m), values and their backward by word (3 d m), u
            # and dW (2 m1 m). The peers compute every position pair's score (below), 5.8 times as much
            # at the small size.
            return 2 * (3 * d * d * m + 3 * d * m + 2 * m1 * m) + update
        # scores and their backward (3 n L^2 m), values and their backward (3 n L m), u and dW (2 m1 m)
        return 2 * (3 * n * L * L * m + 3 * n * L * m + 2 * m1 * m) + update
    if model == "pathcond":
        # every point through every weight forward, backward to the hidden units, and into the weights'
        # gradient (dense, as the peers compute it: flowsweep skips a unit's inactive points in the last),
        # then the update
        w = pathcond_widths(size)
        first = w[0] * w[1]  # no deltas for the inputs
        return 2 * size["points"] * (3 * pathcond_weights(size) - first) + 2 * params_per_run(model, size)
    d, n = size["d"], size["n"]
    # softmax (3n), y = V s (nd), margin (d), dL/ds (nd), dz (3n), dV (nd), update (nd + n)
    return 2 * (4 * n * d + d) + 7 * n


def pathcond_widths(size):
    """Two moons: 2 inputs, `depth` hidden layers of `width`, 2 classes."""
    return [2] + [size["width"]] * size["depth"] + [2]


def pathcond_weights(size):
    w = pathcond_widths(size)
    return sum(a * b for a, b in zip(w[:-1], w[1:]))


def params_per_run(model, size):
    if model == "cooccurrence":
        return size["m1"] * size["m"] + 3 * size["d"] * size["m"]
    if model == "pathcond":
        return pathcond_weights(size) + size["depth"] * size["width"]
    return size["n"] * size["d"] + size["n"]


# A thread per run is timed only on models this small: at the paper's size (57 344 parameters a run) it ran
# at 1,676 run-steps/s against a block's 221,834 on an H100 (2026-11-24), and would take minutes a case.
THREAD_MAX_PARAMS = 4096


def spec_text(model, size, runs, steps, precision, detect_every=1):
    """The benchmark's sweep; detect_every 1 (feed the detectors every step) is flowsweep's default."""
    params = [f"{k} = {v}" for k, v in size.items()]
    if model == "value_softmax":
        params += ['loss = "logistic"', 'a_init = "random"']
    detect = ["[detect]", f"detect_every = {detect_every}"] if detect_every != 1 else []
    return "\n".join([f'model = "{model}"', "[params]", *params, "[train]", f"lr = {LR}", f"steps = {steps}",
                      f"record_every = {steps}", f'precision = "{precision}"', *detect, "[grid]",
                      f"seed = {{ range = [0, {runs}] }}", ""])


def time_flowsweep(binary, model, size, runs, steps, precision, backend, team, slots=0, detect_every=1,
                   placement="auto"):
    """Whole-process seconds, and from the manifest the training loop's run-steps per second, the flow
    kernels' (None off the GPU) and the timings themselves (where the whole process's time went: set-up,
    loop, kernels; the tables are the process's wall time after the manifest's wall_s)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        with open(path, "w") as f:
            f.write(spec_text(model, size, runs, steps, precision, detect_every))
        cmd = [binary, "run", path, "--out", os.path.join(tmp, "out"), "--quiet", "--backend", backend]
        if backend == "cuda":
            cmd += ["--team", team]
        if slots:
            cmd += ["--slots", str(slots)]
        if placement != "auto":
            cmd += ["--placement", placement]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        with open(os.path.join(tmp, "out", "manifest.json")) as f:
            timings = json.load(f)["timings"]
        return wall, timings["run_steps_per_s"], timings.get("kernel_run_steps_per_s"), timings


def attempt(what, fn):
    """fn(), or None where it fails: one failing runner leaves its cell empty and the table goes on."""
    try:
        return fn()
    except ImportError as e:
        print(f"# {what}: not installed ({e})", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - said on stderr and in the table, never fatal
        print(f"# {what} failed: {type(e).__name__}: {e}", file=sys.stderr)
    return None


# ---- JAX -------------------------------------------------------------------------------------------------
# The peers' losses take flowsweep's own layouts (tests/reference/bench_peers.py checks them against
# flowsweep's loss and gradient): cooccurrence's W (m1, m) and Q, K, V (d, m) with a word's column as a
# row, the signs a (m1,), tokens (n, L) and labels (n,); value_softmax's V (n, d) with value i as row i,
# the logits z (n,) and the direction beta (d,); pathcond's W_l (n_out, n_in) and b_l (n_out,) in turn, the
# output layer's W without a bias, the points x (P, 2) and classes y (P,).
def jax_loss(model):
    import jax
    import jax.numpy as jnp

    if model == "cooccurrence":
        def loss(params, a, tok, y):
            W, Q, K, V = params
            q, k, v = Q[tok], K[tok], V[tok]
            s = jnp.einsum("nlm,nkm->nlk", q, k) / math.sqrt(Q.shape[1])
            p = jax.nn.softmax(s, axis=-1)
            u = a @ W
            F = (p * (v @ u)[:, None, :]).sum(axis=(1, 2))
            return jax.nn.softplus(-y * F).mean()
    elif model == "pathcond":
        def loss(params, x, y):
            a = x
            for l in range(0, len(params) - 1, 2):
                a = jax.nn.relu(a @ params[l].T + params[l + 1])
            logp = jax.nn.log_softmax(a @ params[-1].T)
            return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()
    else:
        def loss(params, beta):
            V, z = params
            return jax.nn.softplus(-(beta @ (jax.nn.softmax(z) @ V)))
    return loss


def jax_runner(model, size, runs, steps, precision, device):
    import jax

    jax.config.update("jax_enable_x64", True)
    # fp32 products in fp32, as flowsweep and the measured peak compute them, not in TF32
    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    dt = jnp.float64 if precision == "fp64" else jnp.float32
    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 6)
    loss = jax_loss(model)
    if model == "cooccurrence":
        d, L, n, m, m1 = (size[k] for k in ("d", "L", "n", "m", "m1"))
        params = (jax.random.normal(ks[0], (runs, m1, m), dt) * math.sqrt(2 / m),
                  *(jax.random.normal(ks[i], (runs, d, m), dt) * math.sqrt(2 / d) for i in (1, 2, 3)))
        a = jnp.where(jax.random.uniform(ks[4], (runs, m1)) < 0.5, -1.0, 1.0).astype(dt)
        tok = jax.random.randint(ks[5], (runs, n, L), 0, d)
        y = jnp.where(jnp.arange(n) < n // 2, 1.0, -1.0).astype(dt)[None, :].repeat(runs, 0)
        data = (a, tok, y)
    elif model == "pathcond":
        w, P = pathcond_widths(size), size["points"]
        layers = []
        for l, (ni, no) in enumerate(zip(w[:-1], w[1:])):
            layers.append(jax.random.normal(jax.random.fold_in(ks[0], l), (runs, no, ni), dt) * math.sqrt(2 / ni))
            if l < len(w) - 2:
                layers.append(jnp.zeros((runs, no), dt))
        params = tuple(layers)
        data = (jax.random.normal(ks[1], (runs, P, 2), dt),
                (jax.random.uniform(ks[2], (runs, P)) < 0.5).astype(jnp.int32))
    else:
        d, n = size["d"], size["n"]
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
    t0 = time.perf_counter()
    jax.block_until_ready(train(params, *data))  # compile, then one whole pass
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(train(params, *data))
    return time.perf_counter() - t0, first


# ---- PyTorch ---------------------------------------------------------------------------------------------
# cooccurrence's loss is cooccurrence_torch_vmap.loss_fn; value_softmax's and pathcond's are these, in
# jax_loss's layouts.
def torch_value_softmax_loss(V, z, beta):
    return torch.nn.functional.softplus(-(beta @ (torch.softmax(z, dim=0) @ V)))


def torch_pathcond_loss(*args):
    """W_0, b_0, ..., W_depth, then the points x (P, 2) and their classes y (P,)."""
    *params, x, y = args
    a = x
    for l in range(0, len(params) - 1, 2):
        a = torch.relu(a @ params[l].T + params[l + 1])
    return -torch.log_softmax(a @ params[-1].T, dim=1).gather(1, y[:, None]).mean()


def torch_runner(model, size, runs, steps, precision, device, modes=TORCH_MODES):
    if torch is None:
        raise ImportError("no module named torch")
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
    elif model == "pathcond":
        gen = torch.Generator().manual_seed(0)
        w, P = pathcond_widths(size), size["points"]
        params = []
        for l, (ni, no) in enumerate(zip(w[:-1], w[1:])):
            params.append(torch.randn(runs, no, ni, generator=gen, dtype=dtype).to(device) * math.sqrt(2 / ni))
            if l < len(w) - 2:
                params.append(torch.zeros(runs, no, dtype=dtype, device=device))
        x = torch.randn(runs, P, 2, generator=gen, dtype=dtype)
        y = (torch.rand(runs, P, generator=gen) < 0.5).long()
        data = (x.to(device), y.to(device))
        g = vmap(grad(torch_pathcond_loss, argnums=tuple(range(len(params)))))
    else:
        d, n = size["d"], size["n"]
        gen = torch.Generator().manual_seed(0)
        V = torch.randn(runs, n, d, generator=gen, dtype=dtype) * 0.1
        z = 1 + 0.1 * torch.randn(runs, n, generator=gen, dtype=dtype)
        beta = torch.randn(runs, d, generator=gen, dtype=dtype)
        beta = beta / beta.norm(dim=1, keepdim=True)
        params = [V.to(device), z.to(device)]
        data = (beta.to(device),)
        g = vmap(grad(torch_value_softmax_loss, argnums=(0, 1)))

    def step(*ps):
        gs = g(*ps, *data)
        return tuple(p - LR * gp for p, gp in zip(ps, gs))

    def timed(fn):
        with torch.no_grad():
            ps = tuple(params)
            t0 = time.perf_counter()
            for _ in range(3):
                ps = fn(*ps)
            if device == "cuda":
                torch.cuda.synchronize()
            print(f"#   PyTorch warm-up (3 steps, compilation included): {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            t0 = time.perf_counter()
            for _ in range(steps):
                ps = fn(*ps)
            if device == "cuda":
                torch.cuda.synchronize()
        return time.perf_counter() - t0

    def graphed():
        """The step captured in a CUDA graph: static parameters, updated in place by each replay."""
        static = [p.clone() for p in params]

        def advance():
            for p, q in zip(static, step(*static)):
                p.copy_(q)

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(side):
            for _ in range(3):  # capture wants the step's allocations and kernels seen once, off the main stream
                advance()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            advance()

        def replay(*ps):
            graph.replay()
            return ps

        return replay

    # The modes in order (TORCH_MODES), then eager; the table says which ran. A mode that failed once is not
    # tried again: a torch.compile failure can cost a minute of compilation.
    if device == "cuda":
        for mode in modes:
            if mode in TORCH_FAILED or (mode != "graph" and not hasattr(torch, "compile")):
                continue
            if mode == "graph":
                t = attempt("PyTorch in a CUDA graph", lambda: timed(graphed()))
                if t is not None:
                    return t, "CUDA graph"
                TORCH_FAILED.add(mode)
                attempt("the device after a failed capture", torch.cuda.synchronize)
                continue
            compiled = torch.compile(step, mode=mode)

            def replay(*ps, compiled=compiled, graphs=mode == "reduce-overhead"):
                if graphs:
                    torch.compiler.cudagraph_mark_step_begin()
                return compiled(*ps)

            t = attempt(f"torch.compile(mode={mode})", lambda: timed(replay))
            if t is not None:
                return t, f"torch.compile {mode}"
            TORCH_FAILED.add(mode)
    return timed(step), "eager"


def measured_peak(device, dtype_name):
    """FLOP/s of a large matrix product in this precision on this device (TF32 off): the peak the
    achieved rates are compared with."""
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
    ap.add_argument("--baseline", action="append", default=[], metavar="[NAME=]PATH",
                    help="another flowsweep binary (an earlier build) timed beside the first in every row: a "
                    "change's effect measured in one run on one device; repeatable, NAME labelling its rows")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--teams", default="auto", help="comma-separated flowsweep --team values, one row each")
    ap.add_argument("--precisions", default="fp32,fp64")
    ap.add_argument("--slots", default="0", help="comma-separated flowsweep --slots values, one row each (0: "
                    "flowsweep's own choice; the baseline is timed at 0 only)")
    ap.add_argument("--placements", default="auto", help="comma-separated flowsweep --placement values, one row "
                    "each (auto: flowsweep's own choice; the baseline is timed at auto only)")
    ap.add_argument("--detect", default="1", help="comma-separated detect_every values, one row each (1: every "
                    "step, flowsweep's default; 0: no detection, the peers' work)")
    ap.add_argument("--quick", action="store_true", help="runs / 64 and steps / 50: a check of the script")
    ap.add_argument("--only", default="", help="run only the cases whose label contains this")
    ap.add_argument("--peers", default="jax,torch", help="comma-separated peers to time (jax, torch), or empty")
    ap.add_argument("--torch-modes", default=",".join(TORCH_MODES),
                    help="how PyTorch's step runs, tried in this order until one works: graph, reduce-overhead, "
                    "default (then eager)")
    ap.add_argument("--json", default="", help="append one JSON line per row to this file")
    args = ap.parse_args()
    if torch is None:
        sys.exit("bench_gpu.py: PyTorch is needed (the device's name, its measured peaks, a peer)")

    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    peaks = {p: measured_peak(args.device, p) for p in ("fp32", "fp64")}
    backend = "cuda" if args.device == "cuda" else "cpu"
    print(f"# flowsweep against JAX and PyTorch on {name}, driver {driver_version()}, {time.strftime('%Y-%m-%d')}; "
          f"measured peaks: FP32 {peaks['fp32'] / 1e12:.1f} TFLOP/s, FP64 {peaks['fp64'] / 1e12:.1f} TFLOP/s")
    print("# run-steps per second. flowsweep: the whole process (start-up, device set-up, data, training, "
          "tables), its training loop's rate in brackets (drawing data and initial parameters, the flows, "
          "finishing the runs), which its FLOP/s are computed from; 'kernels': the steps over the flow "
          "kernels' own time (manifest timings.kernel_s). Peers: their training loops alone, after "
          "compilation and with the data on the device. The ratios are over the faster peer.")
    baselines = []
    for k, spec in enumerate(args.baseline):
        name, _, path = spec.partition("=") if "=" in spec else ("", "", spec)  # as gpu_check.sh: the first =
        name = name or ("baseline" if len(args.baseline) == 1 else f"baseline {k + 1}")
        baselines.append((", " + name, path))
        print(f"# '{name}' rows: {path}")
    print()
    print("| case | runs x steps | precision | flowsweep (team) | kernels | JAX | PyTorch | whole / peer | "
          "loop / peer | kernels / peer | flowsweep TFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    binaries = [("", args.flowsweep)] + baselines
    peers = args.peers.split(",") if args.peers else []
    t_start = time.perf_counter()
    for label, model, size, runs, steps in CASES:
        if args.only and args.only not in label:
            continue
        if args.quick:
            runs, steps = max(4, runs // 64), max(4, steps // 50)
        work = runs * steps
        for precision in args.precisions.split(","):
            case = f"{label} {runs}x{steps} {precision}"
            print(f"# {time.perf_counter() - t_start:.0f} s: {case}", file=sys.stderr, flush=True)
            jx = attempt(f"JAX {case}", lambda: jax_runner(model, size, runs, steps, precision, args.device)) \
                if "jax" in peers else None
            t_jax = jx[0] if jx else None
            pt = attempt(f"PyTorch {case}", lambda: torch_runner(model, size, runs, steps, precision, args.device,
                                                                 args.torch_modes.split(","))) \
                if "torch" in peers else None
            if args.device == "cuda":
                torch.cuda.empty_cache()  # PyTorch's cached blocks back to the device before flowsweep's turn
            jax_rate = work / t_jax if t_jax else None
            pt_rate = work / pt[0] if pt else None
            best_peer = max([r for r in (jax_rate, pt_rate) if r], default=None)
            # A baseline may predate --slots and --placement: it is timed at flowsweep's own choice only.
            rows = [(t, (which, binary), int(n), int(e), pl) for t in args.teams.split(",")
                    for e in args.detect.split(",") for n in args.slots.split(",")
                    for pl in args.placements.split(",")
                    for which, binary in binaries
                    if (int(n) == 0 and pl == "auto") or binary == args.flowsweep]
            for team, (which, binary), slots, every, placement in rows:
                if team == "thread" and params_per_run(model, size) > THREAD_MAX_PARAMS:
                    continue
                if slots:
                    which += f", {slots} slots"
                if placement != "auto":
                    which += f", placement {placement}"
                if every != 1:
                    which += ", no detection" if every == 0 else f", detect every {every}"
                fs = attempt(f"flowsweep{which} --team {team} {case}", lambda: time_flowsweep(
                    binary, model, size, runs, steps, precision, backend, team, slots, every, placement))
                cells = [label, f"{runs} x {steps}", precision]
                if fs:
                    wall, loop_rate, kernel_rate, _ = fs
                    rate = work / wall
                    achieved = loop_rate * flops_per_run_step(model, size)
                    cells.append(f"{rate:,.0f} [{loop_rate:,.0f}] ({team}{which})")
                else:
                    rate = loop_rate = kernel_rate = achieved = None
                    cells.append(f"failed ({team}{which})")
                cells.append(f"{kernel_rate:,.0f}" if kernel_rate else "-")
                cells.append(f"{jax_rate:,.0f}" if jax_rate else "-")
                cells.append(f"{pt_rate:,.0f} ({pt[1]})" if pt_rate else "-")
                cells.append(f"{rate / best_peer:.2g}x" if rate and best_peer else "-")
                cells.append(f"{loop_rate / best_peer:.2g}x" if loop_rate and best_peer else "-")
                cells.append(f"{kernel_rate / best_peer:.2g}x" if kernel_rate and best_peer else "-")
                cells.append(f"{achieved / 1e12:.3f}" if achieved else "-")
                cells.append(f"{100 * achieved / peaks[precision]:.1f}" if achieved and peaks[precision] else "-")
                print("| " + " | ".join(cells) + " |", flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(dict(case=label, model=model, size=size, runs=runs, steps=steps,
                                                precision=precision, team=team, binary=binary, slots=slots,
                                                placement=placement,
                                                detect_every=every,
                                                flowsweep_wall_s=fs[0] if fs else None,
                                                flowsweep_loop_rate=fs[1] if fs else None,
                                                flowsweep_kernel_rate=fs[2] if fs else None,
                                                flowsweep_timings=fs[3] if fs else None, jax_s=t_jax,
                                                jax_first_call_s=jx[1] if jx else None,
                                                torch_s=pt[0] if pt else None, torch_how=pt[1] if pt else None,
                                                peak_flops=peaks[precision])) + "\n")


if __name__ == "__main__":
    main()
