#!/usr/bin/env python3
"""Independent reference for value_softmax (MODELS.md section 4): each loss written directly in PyTorch,
autograd and torch.optim, against flowsweep's loss, gradient, a few hundred steps and the observables,
fp64; and X's singular values (regression) evenly spaced from 1 to 1/kappa. Exit status 0 when every
case agrees to 1e-9."""
import random

import torch

from common import check, dump, run_main


class Dense:
    def __init__(self, j):
        p = j["params"]
        self.loss_kind = p["loss"]
        self.d = int(p["d"])
        self.n = self.d if self.loss_kind == "tied" else int(p["n"])
        self.N = int(p["N"])
        rd = torch.tensor(j["rdata"])
        t = self.N if self.loss_kind == "regression" else self.d
        self.beta = rd[:t]
        self.X = rd[t:].reshape(self.N, self.d) if self.loss_kind == "regression" else None
        th = torch.tensor(j["theta0"])
        # flowsweep stores value column i contiguously: V[:, i] = th[i*d:(i+1)*d]
        self.V = th[: self.d * self.n].reshape(self.n, self.d).T.clone().requires_grad_()
        self.a = th[self.d * self.n :].clone().requires_grad_()
        self.w = self.X.T @ self.beta if self.X is not None else self.beta

    def sigma(self):
        z = self.V @ self.a if self.loss_kind == "tied" else self.a
        return torch.softmax(z, dim=0)

    def loss(self):
        y = self.V @ self.sigma()
        if self.loss_kind in ("logistic", "tied"):
            return torch.nn.functional.softplus(-(self.beta @ y))
        if self.loss_kind == "square":
            return 0.5 * ((y - self.beta) ** 2).sum()
        return ((self.beta - self.X @ y) ** 2).sum()

    def params(self):
        return [self.V, self.a]

    def groups(self):
        return [[self.V], [self.a]]

    def flat(self, tensors):
        V, a = tensors
        return torch.cat([V.T.reshape(-1), a])

    def observables(self):
        with torch.no_grad():
            s = self.sigma()
            win = int(torch.argmax(s))
            v = self.V[:, win]
            return {"loss": float(self.loss()), "entropy": float(-(s * torch.log(s)).sum()),
                    "max_sigma": float(s[win]), "argmax": float(win), "winner_norm": float(v.norm()),
                    "u_winner": float(v @ self.w)}


def cases(binary, n_cases, steps):
    rng = random.Random(2026)
    for c in range(n_cases):
        loss = ["logistic", "square", "regression", "tied"][c % 4]
        case = {"d": rng.randint(2, 9), "n": rng.randint(2, 9), "N": rng.randint(2, 12), "kappa": rng.choice([1, 3, 30]),
                "loss": loss, "v_scale": 0.5, "a_init": "random", "seed": rng.randint(0, 10**6),
                "lr": 0.05, "lr_ratio": rng.choice([0.5, 1, 3]), "optimizer": ["gd", "momentum", "adam"][(c // 4) % 3]}
        if case["optimizer"] == "adam":
            case["lr"] = 0.01
        j = dump(binary, "value_softmax", steps, **case)
        ref = Dense(j)
        errs, failures = check(ref, j, steps, case["optimizer"])
        if ref.X is not None:
            sv = torch.linalg.svdvals(ref.X)
            k = min(ref.N, ref.d)
            want = torch.linspace(1, 1 / case["kappa"], k) if k > 1 else torch.ones(1)
            e = float((sv - want).abs().max())
            errs["singular values"] = e
            if not e < 1e-12:
                failures.append(f"singular values of X: {sv.tolist()} want {want.tolist()}")
        yield str(case), errs, failures


if __name__ == "__main__":
    run_main(cases, 12, 300)
