#!/usr/bin/env python3
"""Independent reference for pathcond's network (MODELS.md section 5): the ReLU MLP as torch.nn.Linear
layers, cross-entropy, autograd and torch.optim, against flowsweep's loss, gradient, a few hundred steps
and the loss, accuracy and spread of log diag(G) (autograd on the network of squared weights), fp64, on two
moons and mixtures of random sizes, both initialisations. Exit status 0 when every case agrees to 1e-9,
and init = "torch_default" draws from the distribution of nn.Linear's own initialisation (two-sample
Kolmogorov-Smirnov against torch's draws, with Kaiming as the control that must be told apart)."""
import math
import random

import torch

from common import check, dump, run_main


class Dense:
    def __init__(self, j):
        p = j["params"]
        mixture = p["data"] == "mixture"
        self.inp = int(p["dim"]) if mixture else 2
        self.out = int(p["classes"]) if mixture else 2
        depth, h = int(p["depth"]), int(p["width"])
        self.P = int(p["points"])
        self.x = torch.tensor(j["rdata"]).reshape(self.P, self.inp)
        self.y = torch.tensor(j["idata"], dtype=torch.long)
        th = torch.tensor(j["theta0"])
        self.layers = []
        o = 0
        for l in range(depth + 1):
            ni, no = (self.inp if l == 0 else h), (self.out if l == depth else h)
            lin = torch.nn.Linear(ni, no, bias=l < depth).double()
            with torch.no_grad():
                lin.weight.copy_(th[o : o + no * ni].reshape(no, ni))
                o += no * ni
                if l < depth:
                    lin.bias.copy_(th[o : o + no])
                    o += no
            self.layers.append(lin)

    def forward(self):
        a = self.x
        for l, lin in enumerate(self.layers):
            a = lin(a)
            if l < len(self.layers) - 1:
                a = torch.relu(a)
        return a

    def loss(self):
        return torch.nn.functional.cross_entropy(self.forward(), self.y)

    def params(self):
        return [t for lin in self.layers for t in lin.parameters()]

    def groups(self):
        return [self.params()]

    def flat(self, tensors):
        return torch.cat([t.reshape(-1) for t in tensors])

    def log_g_spread(self):
        """The standard deviation of log diag(G), G the Gram matrix of the path-lifting: diag(G)_i is the
        sum over the paths through parameter i of the product of the other parameters' squares, i.e. the
        derivative of S(u) = the sum over all paths (from an input or a bias to an output) of the product
        of u = theta^2 along them, with respect to u_i. S is the network with weights u, no ReLU, input
        all ones, outputs summed; autograd gives every u_i's derivative at once."""
        u = [t.detach().square().requires_grad_() for t in self.params()]
        a = torch.ones(self.inp, dtype=torch.float64)
        k = 0
        for l, lin in enumerate(self.layers):
            w = u[k]
            a = w @ a + (u[k + 1] if lin.bias is not None else 0)
            k += 2 if lin.bias is not None else 1
        g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(a.sum(), u)])
        return float(torch.log(g).std(unbiased=False))

    def observables(self):
        spread = self.log_g_spread()
        with torch.no_grad():
            z = self.forward()
            return {"loss": float(self.loss()), "accuracy": float((z.argmax(dim=1) == self.y).double().mean()),
                    "logG_spread": spread}


def cases(binary, n_cases, steps):
    rng = random.Random(2602)
    for c in range(n_cases):
        case = {"depth": rng.randint(1, 4), "width": rng.randint(2, 12), "points": rng.randint(10, 60),
                "data": ["moons", "mixture"][c % 2], "classes": rng.randint(2, 4), "dim": rng.randint(1, 4),
                "rescale": ["none", "pathcond", "enorm"][c % 3], "init_scale": rng.choice([0.5, 1.0]),
                "init": ["kaiming", "torch_default"][(c // 2) % 2],
                "seed": rng.randint(0, 10**6), "lr": 0.05, "optimizer": ["gd", "momentum", "adam"][(c // 3) % 3]}
        if case["optimizer"] == "adam":
            case["lr"] = 0.005
        j = dump(binary, "pathcond", steps, **case)
        errs, failures = check(Dense(j), j, steps, case["optimizer"])
        yield str(case), errs, failures
    yield init_distribution(binary)


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = torch.sort(a).values, torch.sort(b).values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True).double() / len(a)
    fb = torch.searchsorted(b, grid, right=True).double() / len(b)
    return float((fa - fb).abs().max())


def normalised_init(theta, depth, h, inp=2, out=2):
    """Every weight and bias times sqrt(fan_in): uniform in (-1, 1) under nn.Linear's default."""
    parts, o = [], 0
    for l in range(depth + 1):
        ni, no = (inp if l == 0 else h), (out if l == depth else h)
        n = no * ni + (no if l < depth else 0)
        parts.append(theta[o : o + n] * math.sqrt(ni))
        o += n
    return torch.cat(parts)


def init_distribution(binary):
    """init = torch_default against torch.nn.Linear's own draws, layer shapes [2, 64, 64, 64, 2]."""
    depth, h = 3, 64
    ours = torch.cat([normalised_init(torch.tensor(dump(binary, "pathcond", 0, depth=depth, width=h,
                                                        init="torch_default", seed=s)["theta0"]), depth, h)
                      for s in range(3)])
    kaiming = normalised_init(torch.tensor(dump(binary, "pathcond", 0, depth=depth, width=h, seed=0)["theta0"]), depth, h)
    torch.manual_seed(2602)
    theirs = []
    for _ in range(3):
        for l in range(depth + 1):
            ni, no = (2 if l == 0 else h), (2 if l == depth else h)
            lin = torch.nn.Linear(ni, no, bias=l < depth)
            theirs += [p.detach().reshape(-1) * math.sqrt(ni) for p in lin.parameters()]
    theirs = torch.cat(theirs)
    d_ours, d_kaiming = ks_statistic(ours, theirs), ks_statistic(kaiming, theirs)
    # the 0.1% critical value of the two-sample statistic
    crit = 1.95 * math.sqrt((len(ours) + len(theirs)) / (len(ours) * len(theirs)))
    failures = []
    if not d_ours < crit:
        failures.append(f"torch_default: KS statistic {d_ours:.4f} against nn.Linear's draws, critical {crit:.4f}")
    if not float(ours.abs().max()) <= 1.0:
        failures.append(f"torch_default: a weight beyond 1/sqrt(fan_in) ({float(ours.abs().max()):.4f})")
    if not d_kaiming > crit:
        failures.append(f"the control: Kaiming-normal not told apart from nn.Linear's ({d_kaiming:.4f})")
    return (f"init torch_default against nn.Linear, {len(ours)} draws", {"KS": d_ours, "KS_kaiming_control": d_kaiming},
            failures)


if __name__ == "__main__":
    run_main(cases, 9, 200)
