#!/usr/bin/env python3
"""Independent reference for the cooccurrence model: MODELS.md section 1 written densely in PyTorch
(one-hot matrices, full matrix products, autograd, torch.optim), checked against flowsweep's loss,
gradient, a few hundred optimiser steps and the observables, in fp64, on random sizes and seeds.
Exit status 0 when every case agrees to a relative error below 1e-9."""
import math
import random

import torch

from common import check, dump, run_main


class Dense:
    """F(X) = sum_l sum_j a_j w_j^T W_V X softmax(X^T W_K^T W_Q x_l / sqrt(m)), X one-hot (d, L)."""

    def __init__(self, j):
        p = j["params"]
        self.d, self.L, self.n, self.m, self.m1 = (int(p[k]) for k in ("d", "L", "n", "m", "m1"))
        d, L, n, m, m1 = self.d, self.L, self.n, self.m, self.m1
        idata = torch.tensor(j["idata"], dtype=torch.long)
        tok = idata[: n * L].reshape(n, L)
        self.y = idata[n * L : n * L + n].double()
        self.type = idata[n * L + n : n * L + 2 * n]
        self.X = torch.nn.functional.one_hot(tok, d).double().transpose(1, 2)  # (n, d, L)
        th = torch.tensor(j["theta0"])
        dm = d * m
        # flowsweep stores word columns contiguously: (d, m); the paper's matrices are (m, d).
        self.W = th[: m1 * m].reshape(m1, m).clone().requires_grad_()
        self.WQ = th[m1 * m : m1 * m + dm].reshape(d, m).T.clone().requires_grad_()
        self.WK = th[m1 * m + dm : m1 * m + 2 * dm].reshape(d, m).T.clone().requires_grad_()
        self.WV = th[m1 * m + 2 * dm :].reshape(d, m).T.clone().requires_grad_()
        self.a = torch.tensor(j["fixed"])[:m1]
        self.kq0 = (self.WK.T @ self.WQ).detach()[:3, :3].clone()

    def forward(self):
        QX = self.WQ @ self.X  # (n, m, L)
        KX = self.WK @ self.X
        S = KX.transpose(1, 2) @ QX / math.sqrt(self.m)  # (n, L keys, L queries)
        self.attn = torch.softmax(S, dim=1)
        out = (self.a @ self.W @ self.WV) @ self.X  # (n, L): a^T W W_V x_k
        return (out.unsqueeze(2) * self.attn).sum(dim=(1, 2))

    def loss(self):
        return torch.nn.functional.softplus(-self.y * self.forward()).mean()

    def params(self):
        return [self.W, self.WQ, self.WK, self.WV]

    def groups(self):
        return [[self.W], [self.WQ, self.WK, self.WV]]

    def flat(self, tensors):
        W, WQ, WK, WV = tensors
        return torch.cat([W.reshape(-1), WQ.T.reshape(-1), WK.T.reshape(-1), WV.T.reshape(-1)])

    def observables(self):
        with torch.no_grad():
            F = self.forward()
            yF = self.y * F
            li = torch.nn.functional.softplus(-yF)
            g = torch.sigmoid(-yF)
            u = self.a @ self.W
            KQ = (self.WK.T @ self.WQ)[:3, :3] - self.kq0
            S = lambda nu, mu: float(KQ[nu - 1, mu - 1])
            P = self.attn
            H = -(P * torch.log(P)).sum(dim=1)
            return {
                "loss": float(li.mean()),
                **{f"loss_I{t+1}": float(li[self.type == t].mean()) for t in range(4)},
                **{f"G{k+1}": float(u @ self.WV[:, k]) for k in range(3)},
                "S21": S(2, 1), "S12": S(1, 2), "S31": S(3, 1), "S32": S(3, 2),
                "margin": float(yF.min()),
                "attn_entropy": float(H.mean()),
                "balance": float(g[self.type == 1].sum() / g[self.type == 2].sum()),
            }


def cases(binary, n_cases, steps):
    rng = random.Random(20241123)
    for c in range(n_cases):
        case = {
            "d": rng.randint(4, 24), "L": rng.randint(3, 7), "n": 6 * rng.randint(1, 6),
            "m": rng.randint(2, 20), "m1": rng.randint(2, 24), "seed": rng.randint(0, 2**32 - 1),
            "init": rng.choice(["kaiming", "theory"]), "init_scale": rng.choice([0.5, 1.0, 2.0]),
            "lr": rng.choice([0.01, 0.05, 0.1]), "lr_ratio": rng.choice([0.3, 1.0, 4.0]),
            "optimizer": ["gd", "momentum", "adam"][c % 3],
        }
        if case["optimizer"] == "adam":
            case["lr"] = 0.003
        j = dump(binary, "cooccurrence", steps, **case)
        # S is a change from initialisation: compare it absolutely at the start, where it is zero.
        errs, failures = check(Dense(j), j, steps, case["optimizer"])
        failures = [f for f in failures if not (f.startswith("initial S") and "flowsweep 0.0" in f)]
        yield str(case), errs, failures


if __name__ == "__main__":
    run_main(cases, 8, 300)
