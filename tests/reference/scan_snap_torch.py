#!/usr/bin/env python3
"""Independent reference for scan_snap in population mode (MODELS.md section 2): dense M-vectors over the
whole vocabulary, autograd and torch.optim, against flowsweep's loss, gradient, a few hundred steps and
the observables, fp64, on random class layouts. Exit status 0 when every case agrees to 1e-9."""
import random

import torch

from common import check, dump, run_main


class Dense:
    def __init__(self, j):
        p = j["params"]
        nl, npl, nc = int(p["num_last"]), int(p["num_next_per_last"]), int(p["num_common"])
        K = nl * npl
        needed = nc + 10 * K + nl + K
        M = int(p["M"]) or needed
        self.K, self.M, self.nc = K, M, nc
        # The generator of MODELS.md, written out again: class j's support and P(l|n).
        total = nc + 5.5
        P = torch.zeros(K, M)
        for c in range(K):
            P[c, :nc] = 1 / total
            for r in range(10):
                P[c, nc + 10 * c + r] = 0.1 * (r + 1) / total
        self.P = P
        self.query = torch.tensor([nc + 10 * K + c // npl for c in range(K)])
        self.target = torch.tensor([nc + 10 * K + nl + c for c in range(K)])
        th = torch.tensor(j["theta0"])
        self.Z = th[: M * M].reshape(M, M).clone().requires_grad_()
        self.Y = th[M * M :].reshape(M, M).clone().requires_grad_()

    def attention(self):
        e = self.P * torch.exp(self.Z[self.query])  # (K, M), zero off the support
        return e / e.sum(dim=1, keepdim=True)

    def loss(self):
        c = self.attention()
        f = c / c.norm(dim=1, keepdim=True)
        logits = f @ self.Y
        return torch.nn.functional.cross_entropy(logits, self.target)

    def params(self):
        return [self.Z, self.Y]

    def groups(self):
        return [[self.Z], [self.Y]]

    def flat(self, tensors):
        return torch.cat([t.reshape(-1) for t in tensors])

    def observables(self):
        with torch.no_grad():
            c = self.attention()
            K, nc = self.K, self.nc
            H = common = top = 0.0
            for j in range(K):
                d = c[j, nc + 10 * j : nc + 10 * j + 10]
                d = d / d.sum()
                H += float(-(d * torch.log(d)).sum())
                common += float(c[j, :nc].sum())
                top += float(d[-1])
            loss = float(self.loss())
            return {"loss": loss, "pop_loss": loss, "distinct_entropy": H / K, "common_mass": common / K,
                    "top_distinct": top / K}


def cases(binary, n_cases, steps):
    rng = random.Random(2023)
    for c in range(n_cases):
        case = {
            "num_last": rng.randint(1, 3), "num_next_per_last": rng.randint(1, 3), "num_common": rng.randint(1, 12),
            "init": "uniform", "seed": rng.randint(0, 10**6), "lr": rng.choice([0.1, 0.5, 1.0]),
            "lr_ratio": rng.choice([1, 2, 5]), "optimizer": ["gd", "momentum", "adam"][c % 3], "mode": "population",
        }
        if c % 4 == 3:
            case["M"] = 120  # unused tokens in the output
        if case["optimizer"] == "adam":
            case["lr"] = 0.01
        if case["optimizer"] == "momentum":
            case["lr"] = 0.05
        j = dump(binary, "scan_snap", steps, **case)
        errs, failures = check(Dense(j), j, steps, case["optimizer"])
        yield str(case), errs, failures


if __name__ == "__main__":
    run_main(cases, 8, 200)
