#!/usr/bin/env python3
"""Independent reference for joma (MODELS.md section 3b): the model with dense matrices, autograd and
torch.optim, against flowsweep's loss, gradient, a few hundred steps and the observables, fp64, for
every phi, with and without a trained readout, a LayerNorm and label noise. Exit status 0 when every case agrees to 1e-9."""
import random

import torch

from common import check, dump, run_main


class Dense:
    def __init__(self, j):
        p = j["params"]
        self.C, nd, nc = int(p["C"]), int(p["n_distinct"]), int(p["n_common"])
        self.MC = (self.C * nd if p["data"] == "disjoint" else nd) + nc
        self.H = int(p["hidden"]) or self.C
        self.direct = int(p["hidden"]) == 0
        self.tau = float(p["tau"])
        self.phi = {"identity": lambda a: a, "relu": torch.relu, "silu": torch.nn.functional.silu}[p["phi"]]
        MC, H, C, d = self.MC, self.H, self.C, self.MC + 1
        rd = torch.tensor(j["rdata"])
        self.x = rd[: C * MC].reshape(C, MC)
        self.xbar = self.x.mean(dim=0)
        self.layer_norm = p["norm"] == "layer"
        # targets from their definition: the noise distribution is uniform, or the class's own frequencies
        # drawn after the data (checked for being a distribution, the drawn part only through the loss)
        eps = float(p["label_noise"])
        self.y = rd[(C + 1) * MC :].reshape(C, C)
        if p["noise"] == "uniform":
            self.y = (1 - eps) * torch.eye(C, dtype=torch.float64) + eps / C
        assert torch.allclose(self.y.sum(dim=1), torch.ones(C, dtype=torch.float64))
        if eps > 0:
            q = (self.y - (1 - eps) * torch.eye(C, dtype=torch.float64)) / eps
            assert bool((q > 0).all()) and torch.allclose(q.sum(dim=1), torch.ones(C, dtype=torch.float64))
        th = torch.tensor(j["theta0"])
        self.W = th[: d * H].reshape(d, H).clone().requires_grad_()
        nR = 0 if self.direct else H * C
        self.R = None if self.direct else th[d * H : d * H + nR].reshape(H, C).clone().requires_grad_()
        self.z = th[d * H + nR :].clone().requires_grad_()
        # z_hat's offset, from its definition at t = 0
        with torch.no_grad():
            self.offset = self.z - self.zhat_raw()

    def attention(self):
        e = self.x * torch.exp(self.z / self.tau)
        return e / e.sum(dim=1, keepdim=True)  # (C, MC)

    def loss(self):
        b = self.attention()
        f = torch.cat([b, torch.ones(self.C, 1)], dim=1)
        if self.layer_norm:
            f = torch.nn.functional.layer_norm(f, (self.MC + 1,), eps=1e-5)
        h = self.phi(f @ self.W)
        logits = h if self.direct else h @ self.R
        return torch.nn.functional.cross_entropy(logits, self.y)

    def params(self):
        return [self.W] + ([] if self.direct else [self.R]) + [self.z]

    def groups(self):
        return [[self.W] + ([] if self.direct else [self.R]), [self.z]]

    def flat(self, tensors):
        return torch.cat([t.reshape(-1) for t in tensors])

    def zhat_raw(self):
        V = self.W[: self.MC]
        return ((V**2).sum(dim=1) - self.xbar * (self.W**2).sum()) / (2 * self.tau)

    def observables(self):
        with torch.no_grad():
            b = self.attention()
            H = -(torch.where(b > 0, b * torch.log(b), torch.zeros(()))).sum(dim=1).mean()
            zh = self.zhat_raw() + self.offset
            dz, dh = self.z - self.z.mean(), zh - zh.mean()
            return {"loss": float(self.loss()), "attn_entropy": float(H),
                    "zhat_corr": float((dz @ dh) / (dz.norm() * dh.norm())), "max_attn": float(b.max(dim=1).values.mean())}


def cases(binary, n_cases, steps):
    rng = random.Random(2024)
    for c in range(n_cases):
        case = {
            "C": rng.randint(2, 6), "n_distinct": rng.randint(1, 4), "n_common": rng.randint(0, 5),
            "data": ["profile", "random", "disjoint"][(c // 2) % 3],
            "hidden": rng.choice([0, 3, 8]), "phi": ["identity", "relu", "silu"][c % 3],
            "tau": rng.choice([0.5, 1.0, 2.0]), "init_std": rng.choice([0.1, 0.5]), "seed": rng.randint(0, 10**6),
            "lr": 0.1, "lr_ratio": rng.choice([0.5, 1, 3]), "optimizer": ["gd", "momentum", "adam"][(c // 3) % 3],
            "norm": ["none", "layer"][(c // 2) % 2], "label_noise": [0.0, 0.2][(c // 4) % 2] if c < 8 else 0.3,
            "noise": "random" if c >= 8 else "uniform",
        }
        if case["optimizer"] == "adam":
            case["lr"] = 0.01
        if case["optimizer"] == "momentum":
            case["lr"] = 0.03  # at 0.1 (0.9 momentum) a LayerNorm case amplifies 1e-15 to 1e-8 in the reference alone
        j = dump(binary, "joma", steps, **case)
        errs, failures = check(Dense(j), j, steps, case["optimizer"])
        yield str(case), errs, failures


if __name__ == "__main__":
    run_main(cases, 12, 200)
