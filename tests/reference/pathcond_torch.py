#!/usr/bin/env python3
"""Independent reference for pathcond's network (MODELS.md section 5): the ReLU MLP as torch.nn.Linear
layers, cross-entropy, autograd and torch.optim, against flowsweep's loss, gradient, a few hundred steps and
the loss and accuracy, fp64, on two moons and mixtures of random sizes. Exit status 0 when every case
agrees to 1e-9."""
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

    def observables(self):
        with torch.no_grad():
            z = self.forward()
            return {"loss": float(self.loss()), "accuracy": float((z.argmax(dim=1) == self.y).double().mean())}


def cases(binary, n_cases, steps):
    rng = random.Random(2602)
    for c in range(n_cases):
        case = {"depth": rng.randint(1, 4), "width": rng.randint(2, 12), "points": rng.randint(10, 60),
                "data": ["moons", "mixture"][c % 2], "classes": rng.randint(2, 4), "dim": rng.randint(1, 4),
                "rescale": ["none", "pathcond", "enorm"][c % 3], "init_scale": rng.choice([0.5, 1.0]),
                "seed": rng.randint(0, 10**6), "lr": 0.05, "optimizer": ["gd", "momentum", "adam"][(c // 3) % 3]}
        if case["optimizer"] == "adam":
            case["lr"] = 0.005
        j = dump(binary, "pathcond", steps, **case)
        errs, failures = check(Dense(j), j, steps, case["optimizer"])
        yield str(case), errs, failures


if __name__ == "__main__":
    run_main(cases, 9, 200)
