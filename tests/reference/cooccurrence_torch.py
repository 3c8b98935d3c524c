#!/usr/bin/env python3
"""Independent reference for the cooccurrence model: the model of MODELS.md section 1 written densely in
PyTorch (one-hot matrices, full matrix products, autograd, torch.optim), checked against flowsweep's
loss, gradient, a few hundred optimiser steps and the observables, in fp64, on random sizes and seeds.

Exit status 0 when every case agrees to a relative error below 1e-9, 1 otherwise."""
import argparse
import json
import math
import random
import subprocess
import sys

import torch

torch.set_default_dtype(torch.float64)
TOL = 1e-9


def dump(binary, steps, **params):
    args = [binary, "cooccurrence", str(steps)] + [f"{k}={v}" for k, v in params.items()]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class Dense:
    """F(X) = sum_l sum_j a_j w_j^T W_V X softmax(X^T W_K^T W_Q x_l / sqrt(m)), X one-hot (d, L)."""

    def __init__(self, j):
        p = j["params"]
        self.d, self.L, self.n, self.m, self.m1 = (int(p[k]) for k in ("d", "L", "n", "m", "m1"))
        d, L, n, m, m1 = self.d, self.L, self.n, self.m, self.m1
        idata = torch.tensor(j["idata"], dtype=torch.long)
        tok = idata[: n * L].reshape(n, L)
        self.y = idata[n * L : n * L + n].double()
        self.type = idata[n * L + n :]
        self.X = torch.nn.functional.one_hot(tok, d).double().transpose(1, 2)  # (n, d, L)
        th = torch.tensor(j["theta0"])
        dm = d * m
        # flowsweep stores word columns contiguously: (d, m); the paper's matrices are (m, d).
        self.W = th[: m1 * m].reshape(m1, m).clone().requires_grad_()
        self.WQ = th[m1 * m : m1 * m + dm].reshape(d, m).T.clone().requires_grad_()
        self.WK = th[m1 * m + dm : m1 * m + 2 * dm].reshape(d, m).T.clone().requires_grad_()
        self.WV = th[m1 * m + 2 * dm :].reshape(d, m).T.clone().requires_grad_()
        fixed = torch.tensor(j["fixed"])
        self.a = fixed[:m1]
        self.kq0 = (self.WK.T @ self.WQ).detach()[:3, :3].clone()

    def forward(self):
        m = self.m
        QX = self.WQ @ self.X  # (n, m, L)
        KX = self.WK @ self.X
        S = KX.transpose(1, 2) @ QX / math.sqrt(m)  # (n, L keys, L queries)
        self.attn = torch.softmax(S, dim=1)
        out = (self.a @ self.W @ self.WV) @ self.X  # (n, L): a^T W W_V x_k
        F = (out.unsqueeze(2) * self.attn).sum(dim=(1, 2))
        return F

    def loss(self):
        F = self.forward()
        return torch.nn.functional.softplus(-self.y * F).mean(), F

    def flat(self, tensors):
        W, WQ, WK, WV = tensors
        return torch.cat([W.reshape(-1), WQ.T.reshape(-1), WK.T.reshape(-1), WV.T.reshape(-1)])

    def params(self):
        return [self.W, self.WQ, self.WK, self.WV]

    def observables(self):
        with torch.no_grad():
            loss, F = self.loss()
            yF = self.y * F
            li = torch.nn.functional.softplus(-yF)
            g = torch.sigmoid(-yF)
            u = self.a @ self.W
            G = [float(u @ self.WV[:, k]) for k in range(3)]
            KQ = (self.WK.T @ self.WQ)[:3, :3] - self.kq0
            S = lambda nu, mu: float(KQ[nu - 1, mu - 1])
            P = self.attn
            H = -(P * torch.log(P)).sum(dim=1)  # entropy of each query's attention
            return {
                "loss": float(loss),
                **{f"loss_I{t+1}": float(li[self.type == t].mean()) for t in range(4)},
                "G1": G[0], "G2": G[1], "G3": G[2],
                "S21": S(2, 1), "S12": S(1, 2), "S31": S(3, 1), "S32": S(3, 2),
                "margin": float(yF.min()),
                "attn_entropy": float(H.mean()),
                "balance": float(g[self.type == 1].sum() / g[self.type == 2].sum()),
            }


def rel(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return float((a - b).norm() / max(float(b.norm()), 1e-300))


def check_case(binary, case, steps):
    j = dump(binary, steps, **case)
    ref = Dense(j)
    failures = []

    loss, _ = ref.loss()
    grads = torch.autograd.grad(loss, ref.params())
    e_loss = abs(float(loss) - j["loss0"]) / abs(float(loss))
    e_grad = rel(j["grad0"], ref.flat(grads))
    obs0 = ref.observables()

    lr_groups = j["group_lr"]
    opt = case.get("optimizer", "gd")
    groups = [{"params": [ref.W], "lr": lr_groups[0]}, {"params": [ref.WQ, ref.WK, ref.WV], "lr": lr_groups[1]}]
    if opt == "adam":
        o = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)
    else:
        o = torch.optim.SGD(groups, momentum=0.9 if opt == "momentum" else 0.0)
    theta0 = ref.flat(ref.params()).detach().clone()
    for _ in range(steps):
        o.zero_grad()
        l, _ = ref.loss()
        l.backward()
        o.step()
    theta = ref.flat(ref.params()).detach()
    e_theta = rel(torch.tensor(j["theta_final"]) - theta0, theta - theta0)
    obs = ref.observables()

    for name, err in (("loss", e_loss), ("gradient", e_grad), (f"displacement after {steps} steps", e_theta)):
        if not err < TOL:
            failures.append(f"{name}: relative error {err:.3e}")
    for when, mine, theirs in (("initial", j["obs0"], obs0), ("final", j["obs_final"], obs)):
        for k, name in enumerate(j["obs_names"]):
            a, b = mine[k], theirs[name]
            scale = max(abs(b), 1e-6 if name.startswith("S") and when == "initial" else abs(b))
            if name.startswith("S") and when == "initial":
                ok = abs(a) < 1e-12 and abs(b) < 1e-12
            else:
                ok = abs(a - b) <= TOL * max(scale, 1e-300)
            if not ok:
                failures.append(f"{when} {name}: flowsweep {a!r} reference {b!r}")
    return e_loss, e_grad, e_theta, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    rng = random.Random(20241123)
    bad = 0
    for c in range(args.cases):
        case = {
            "d": rng.randint(4, 24),
            "L": rng.randint(3, 7),
            "n": 6 * rng.randint(1, 6),
            "m": rng.randint(2, 20),
            "m1": rng.randint(2, 24),
            "seed": rng.randint(0, 2**32 - 1),
            "init": rng.choice(["kaiming", "theory"]),
            "init_scale": rng.choice([0.5, 1.0, 2.0]),
            "lr": rng.choice([0.01, 0.05, 0.1]),
            "lr_ratio": rng.choice([0.3, 1.0, 4.0]),
            "optimizer": ["gd", "momentum", "adam"][c % 3],
        }
        if case["optimizer"] == "adam":
            case["lr"] = 0.003
        e_loss, e_grad, e_theta, failures = check_case(args.dump, case, args.steps)
        status = "ok" if not failures else "FAIL"
        print(f"{status} {case}: loss {e_loss:.1e} grad {e_grad:.1e} theta {e_theta:.1e}")
        for f in failures:
            print("   ", f)
        bad += bool(failures)
    print(f"{args.cases - bad}/{args.cases} cases agree to {TOL:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
