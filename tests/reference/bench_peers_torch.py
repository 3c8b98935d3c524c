#!/usr/bin/env python3
"""The GPU benchmark's peers compute flowsweep's model: sweeps/bench/bench_gpu.py times PyTorch
(cooccurrence_torch_vmap.loss_fn, bench_gpu.torch_value_softmax_loss and torch_pathcond_loss, batched with
vmap) and JAX
(bench_gpu.jax_loss), and a ratio against them means something only if they do the same work. Each
loss, and its gradient batched over two runs of different seeds, is checked here against flowsweep's
loss and gradient (fs_dump) in fp64, on flowsweep's own data and initial parameters. JAX is checked
where it is installed and said to be left out where it is not. Exit status 0 when every case agrees to
1e-9.

PyTorch's softplus is x itself above x = 20 (its threshold), e^-20 = 2e-9 short of log(1 + e^x): a run
with margins past 20 (the first case's second seed) agrees to about 1e-11 in the loss and 1e-10 in the
gradient, not to rounding; flowsweep's and JAX's softplus are exact there (checked in 40-digit decimal
arithmetic when this was found)."""
import os
import random
import sys

import torch

from common import TOL, dump, rel, run_main

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sweeps", "bench"))
import bench_gpu  # noqa: E402
import cooccurrence_torch_vmap  # noqa: E402

try:
    from torch.func import grad, vmap
except ImportError:
    from functorch import grad, vmap

try:
    import jax

    jax.config.update("jax_enable_x64", True)
except ImportError:
    jax = None


def cooccurrence_inputs(j):
    p = j["params"]
    d, L, n, m, m1 = (int(p[k]) for k in ("d", "L", "n", "m", "m1"))
    th = torch.tensor(j["theta0"])
    dm = d * m
    params = (th[: m1 * m].reshape(m1, m), th[m1 * m : m1 * m + dm].reshape(d, m),
              th[m1 * m + dm : m1 * m + 2 * dm].reshape(d, m), th[m1 * m + 2 * dm :].reshape(d, m))
    idata = torch.tensor(j["idata"], dtype=torch.long)
    data = (torch.tensor(j["fixed"])[:m1], idata[: n * L].reshape(n, L), idata[n * L : n * L + n].double())
    return params, data


def value_softmax_inputs(j):
    p = j["params"]
    d, n = int(p["d"]), int(p["n"])
    th = torch.tensor(j["theta0"])
    return (th[: d * n].reshape(n, d), th[d * n :]), (torch.tensor(j["rdata"])[:d],)


def pathcond_inputs(j):
    """theta is W_0, b_0, ..., W_depth (kernels/pathcond.h); the peers take them as separate tensors."""
    p = j["params"]
    mixture = p["data"] == "mixture"
    widths = [int(p["dim"]) if mixture else 2] + [int(p["width"])] * int(p["depth"]) + \
        [int(p["classes"]) if mixture else 2]
    th = torch.tensor(j["theta0"])
    params, o = [], 0
    for l, (ni, no) in enumerate(zip(widths[:-1], widths[1:])):
        params.append(th[o : o + no * ni].reshape(no, ni))
        o += no * ni
        if l < len(widths) - 2:
            params.append(th[o : o + no])
            o += no
    assert o == len(th)
    x = torch.tensor(j["rdata"]).reshape(int(p["points"]), widths[0])
    return tuple(params), (x, torch.tensor(j["idata"], dtype=torch.long))


MODELS = {
    "cooccurrence": (cooccurrence_inputs, cooccurrence_torch_vmap.loss_fn),
    "value_softmax": (value_softmax_inputs, bench_gpu.torch_value_softmax_loss),
    "pathcond": (pathcond_inputs, bench_gpu.torch_pathcond_loss),
}


def flat(tensors):
    return torch.cat([torch.as_tensor(t).reshape(-1) for t in tensors])


def compare(model, dumps):
    """Loss and gradient of each peer on the runs in `dumps` (same sizes, different seeds)."""
    inputs, torch_loss = MODELS[model]
    runs = [inputs(j) for j in dumps]
    n_params = len(runs[0][0])
    stacked = [torch.stack([r[0][i] for r in runs]) for i in range(n_params)]
    stacked_data = [torch.stack([r[1][i] for r in runs]) for i in range(len(runs[0][1]))]
    errs = {}
    # PyTorch, batched as the benchmark batches it
    g = vmap(grad(torch_loss, argnums=tuple(range(n_params))))(*stacked, *stacked_data)
    losses = vmap(torch_loss)(*stacked, *stacked_data)
    errs["torch loss"] = max(abs(float(losses[k]) - j["loss0"]) / abs(j["loss0"]) for k, j in enumerate(dumps))
    errs["torch gradient"] = max(rel(flat([gi[k] for gi in g]), j["grad0"]) for k, j in enumerate(dumps))
    if jax is not None:
        import jax.numpy as jnp

        loss = bench_gpu.jax_loss(model)
        # through lists: a PyTorch and a NumPy of different generations may not share arrays
        as_jax = lambda ts: tuple(jnp.asarray(t.tolist(), dtype=jnp.int64 if t.dtype == torch.long else None)  # noqa: E731
                                  for t in ts)
        jg = jax.vmap(jax.grad(loss))(as_jax(stacked), *as_jax(stacked_data))
        jl = jax.vmap(loss)(as_jax(stacked), *as_jax(stacked_data))
        errs["jax loss"] = max(abs(float(jl[k]) - j["loss0"]) / abs(j["loss0"]) for k, j in enumerate(dumps))
        errs["jax gradient"] = max(
            rel(flat([torch.tensor(jax.device_get(gi[k]).tolist()) for gi in jg]), j["grad0"])
            for k, j in enumerate(dumps))
    failures = [f"{k}: relative error {e:.3e}" for k, e in errs.items() if not e < TOL]
    return errs, failures


def cases(binary, n_cases, steps):
    if jax is None:
        print("JAX is not installed: only the PyTorch peer is checked")
    rng = random.Random(20261124)
    for c in range(n_cases):
        if c % 3 == 2:
            # the benchmark's shape cut to fewer points, then random ones, two moons and mixtures
            size = {"points": 60, "depth": 4, "width": 64} if c == 2 else {
                "points": rng.randint(5, 40), "depth": rng.randint(1, 3), "width": rng.randint(2, 9),
                "data": rng.choice(["moons", "mixture"]), "classes": rng.randint(2, 4), "dim": rng.randint(1, 4)}
            model = "pathcond"
        elif c % 3 == 0:
            # the benchmark's small size, then random ones; the paper's size is the same code
            size = {"d": 16, "L": 5, "n": 60, "m": 32, "m1": 32} if c == 0 else {
                "d": rng.randint(4, 24), "L": rng.randint(3, 7), "n": 6 * rng.randint(1, 6),
                "m": rng.randint(2, 20), "m1": rng.randint(2, 24)}
            model = "cooccurrence"
        else:
            size = {"d": 4, "n": 4} if c == 1 else {"d": rng.randint(2, 9), "n": rng.randint(2, 9)}
            size.update(loss="logistic", a_init="random")
            model = "value_softmax"
        seeds = [rng.randint(0, 2**31), rng.randint(0, 2**31)]
        dumps = [dump(binary, model, 0, seed=s, **size) for s in seeds]
        errs, failures = compare(model, dumps)
        yield f"{model} {size} seeds {seeds}", errs, failures


if __name__ == "__main__":
    run_main(cases, 9, 0)
