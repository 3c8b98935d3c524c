"""What every PyTorch reference shares: fetching a run from fs_dump, stepping the same optimiser with
torch.optim, and comparing loss, gradient, displacement after the steps, and observables."""
import argparse
import json
import subprocess
import sys

import torch

torch.set_default_dtype(torch.float64)
TOL = 1e-9


def dump(binary, model, steps, **params):
    args = [binary, model, str(steps)] + [f"{k}={v}" for k, v in params.items()]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def rel(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return float((a - b).norm() / max(float(b.norm()), 1e-300))


def make_optimizer(groups, lrs, optimizer):
    """groups: lists of tensors, one list per flowsweep parameter group."""
    pg = [{"params": g, "lr": lr} for g, lr in zip(groups, lrs)]
    if optimizer == "adam":
        return torch.optim.Adam(pg, betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.SGD(pg, momentum=0.9 if optimizer == "momentum" else 0.0)


def check(ref, j, steps, optimizer, obs_tol=None):
    """ref: a reference model built from dump j, with loss(), params(), groups(), flat(), observables().
    Returns (errors, failures)."""
    failures = []
    loss = ref.loss()
    grads = torch.autograd.grad(loss, ref.params())
    errs = {"loss": abs(float(loss) - j["loss0"]) / max(abs(float(loss)), 1e-300),
            "gradient": rel(j["grad0"], ref.flat(grads))}
    obs0 = ref.observables()
    theta0 = ref.flat(ref.params()).detach().clone()
    opt = make_optimizer(ref.groups(), j["group_lr"], optimizer)
    for _ in range(steps):
        opt.zero_grad()
        ref.loss().backward()
        opt.step()
    theta = ref.flat(ref.params()).detach()
    errs[f"displacement after {steps} steps"] = rel(torch.tensor(j["theta_final"]) - theta0, theta - theta0)
    obs = ref.observables()
    for name, e in errs.items():
        if not e < TOL:
            failures.append(f"{name}: relative error {e:.3e}")
    for when, mine, theirs in (("initial", j["obs0"], obs0), ("final", j["obs_final"], obs)):
        for k, name in enumerate(j["obs_names"]):
            if name not in theirs:
                continue
            a, b = mine[k], theirs[name]
            tol = (obs_tol or {}).get(name, TOL)
            if not abs(a - b) <= tol * max(abs(b), 1e-12):
                failures.append(f"{when} {name}: flowsweep {a!r} reference {b!r}")
    return errs, failures


def report(cases):
    """cases: iterable of (description, errs, failures). Returns the exit status."""
    bad = 0
    n = 0
    for desc, errs, failures in cases:
        n += 1
        status = "ok" if not failures else "FAIL"
        print(f"{status} {desc}: " + " ".join(f"{k.split()[0]} {v:.1e}" for k, v in errs.items()))
        for f in failures:
            print("   ", f)
        bad += bool(failures)
    print(f"{n - bad}/{n} cases agree to {TOL:g}")
    return 1 if bad else 0


def run_main(cases, n_cases, steps):
    """The command line every reference shares: --dump FS_DUMP [--cases N] [--steps K]; exits with report's status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--cases", type=int, default=n_cases)
    ap.add_argument("--steps", type=int, default=steps)
    args = ap.parse_args()
    sys.exit(report(cases(args.dump, args.cases, args.steps)))
