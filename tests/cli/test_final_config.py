#!/usr/bin/env python3
"""The final attention configuration of every attention model (final_config.csv and trajectories.h5's
final_table) against the same attention computed here with numpy from the run's saved parameters and data
(--save-params); the weights that sum to one do; and `flowsweep plot --final-config` draws it.

    test_final_config.py --flowsweep BINARY --sweeps DIR"""
import csv
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import h5py
import numpy as np

from checks import arguments, check, finish, h5_runs

SPECS = {
    "cooccurrence": """model = "cooccurrence"
[params]
d = 12
L = 5
n = 24
m = 8
m1 = 16
init = "kaiming"
[train]
lr = 0.05
lr_ratio = 10
steps = 300
record_every = 100
[grid]
seed = [0, 1]
""",
    "joma": """model = "joma"
[params]
C = 4
n_distinct = 3
n_common = 2
hidden = 6
phi = "relu"
init_std = 0.3
[train]
lr = 0.1
lr_ratio = 10
steps = 300
record_every = 100
[grid]
data = ["profile", "disjoint"]
""",
    "value_softmax": """model = "value_softmax"
[params]
d = 5
n = 5
a_init = "random"
[train]
lr = 0.1
steps = 500
record_every = 100
[grid]
loss = ["logistic", "tied"]
""",
}


def run(fsw, tmp, name):
    spec = os.path.join(tmp, name + ".toml")
    open(spec, "w").write(SPECS[name])
    out = os.path.join(tmp, name)
    subprocess.run([fsw, "run", spec, "--out", out, "--quiet", "--save-params"], check=True)
    rows = defaultdict(list)
    for r in csv.DictReader(open(os.path.join(out, "final_config.csv"))):
        rows[r["run_id"]].append({k: float(v) for k, v in r.items() if k != "run_id"})
    runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
    return out, runs, rows


def h5_agrees(out, rows):
    """final_table in trajectories.h5 holds final_config.csv's rows, run by run."""
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        fields = f["final_table"].attrs["fields"]
        fields = (fields.decode() if isinstance(fields, bytes) else fields).split(",")
        ids, var = h5_runs(f)
        table = var("final_table")
        for i, rid in enumerate(ids):
            for q, row in enumerate(rows[rid]):
                if any(table[i, q, j] != row[name] for j, name in enumerate(fields)):
                    return False
            if len(rows[rid]) < table.shape[1] and not np.all(np.isnan(table[i, len(rows[rid]):])):
                return False
    return True


def verdict(model, out, rows, worst, what, sums, group):
    """The three checks every table gets: its weights as numpy's, their sums, and trajectories.h5."""
    check(worst < 1e-12, f"{model}: {what} as numpy's (max diff {worst:.1e})")
    check(sums < 1e-12, f"{model}: {group} sums to one ({sums:.1e})")
    check(h5_agrees(out, rows), f"{model}: trajectories.h5 final_table holds final_config.csv")


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def cooccurrence(fsw, tmp):
    out, runs, rows = run(fsw, tmp, "cooccurrence")
    d, L, n, m, m1 = 12, 5, 24, 8, 16
    worst, sums = 0.0, 0.0
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        for r in runs:
            g = f["params"][r["run_id"]]
            theta, idata = g["theta_final"][:], g["data_int"][:]
            Q = theta[m1 * m : m1 * m + d * m].reshape(d, m)  # word columns contiguous
            K = theta[m1 * m + d * m : m1 * m + 2 * d * m].reshape(d, m)
            tok = idata[: n * L].reshape(n, L)
            typ = idata[n * L + n : n * L + 2 * n]
            acc, cnt = defaultdict(float), defaultdict(int)
            for i in range(n):
                for l in range(L):
                    q = tok[i, l]
                    if q > 2:
                        continue
                    p = softmax(K[tok[i]] @ Q[q] / np.sqrt(m))
                    for k in range(L):
                        acc[(typ[i] + 1, q + 1, tok[i, k] + 1 if tok[i, k] <= 2 else 0)] += p[k]
                    cnt[(typ[i] + 1, q + 1)] += 1
            want = {key: v / cnt[key[:2]] for key, v in acc.items()}
            got = {(int(x["type"]), int(x["query"]), int(x["key"])): x["attention"] for x in rows[r["run_id"]]}
            for key in set(want) | set(got):
                worst = max(worst, abs(want.get(key, 0.0) - got.get(key, 0.0)))
            per = defaultdict(float)
            for (t, q, k), v in got.items():
                per[(t, q)] += v
            sums = max(sums, max(abs(s - 1) for s in per.values()))
            # I1 holds all three special words as queries, I4 only the common word.
            check(sorted({q for (t, q, k) in got if t == 1}) == [1, 2, 3]
                  and sorted({q for (t, q, k) in got if t == 4}) == [3], "cooccurrence: queries present per type")
    verdict("cooccurrence", out, rows, worst, "final attention per type, query and key", sums,
            "each query's attention over the keys")


def joma(fsw, tmp):
    out, runs, rows = run(fsw, tmp, "joma")
    worst, sums = 0.0, 0.0
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        for r in runs:
            g = f["params"][r["run_id"]]
            theta, x_all = g["theta_final"][:], g["data_real"][:]
            C = 4
            MC = len(x_all) // (C + 1)
            z = theta[-MC:]  # the attention logits are the last group
            got = rows[r["run_id"]]
            check(len(got) == C * MC, f"joma ({r['data']}): {C} classes x {MC} tokens")
            for k in range(C):
                x = x_all[k * MC : (k + 1) * MC]
                w = np.where(x > 0, x * np.exp((z - z[x > 0].max()) / 0.5), 0.0)
                b = w / w.sum()
                mine = [row for row in got if row["class"] == k]
                worst = max(worst, max(abs(row["attention"] - b[int(row["token"])]) for row in mine))
                worst = max(worst, max(abs(row["frequency"] - x[int(row["token"])]) for row in mine))
                sums = max(sums, abs(sum(row["attention"] for row in mine) - 1))
    verdict("joma", out, rows, worst, "b_k of every class", sums, "each class's attention")


def value_softmax(fsw, tmp):
    out, runs, rows = run(fsw, tmp, "value_softmax")
    worst, sums = 0.0, 0.0
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        for r in runs:
            theta = f["params"][r["run_id"]]["theta_final"][:]
            d = n = 5
            V, a = theta[: d * n].reshape(n, d), theta[d * n :]  # value column i contiguous
            z = V.T @ a if r["loss"] == "tied" else a  # (U a)_i with U stored by column
            s = softmax(z)
            got = rows[r["run_id"]]
            worst = max(worst, max(abs(row["sigma"] - s[int(row["index"])]) for row in got))
            sums = max(sums, abs(sum(row["sigma"] for row in got) - 1))
            check(int(np.argmax(s)) == int(float(r["winner"])), f"value_softmax ({r['loss']}): argmax is the winner")
    verdict("value_softmax", out, rows, worst, "sigma(a), logistic and tied", sums, "sigma")
    return out


def main():
    fsw, _ = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        cooccurrence(fsw, tmp)
        joma(fsw, tmp)
        value_softmax(fsw, tmp)
        for name, where in (("cooccurrence", "seed=0"), ("joma", "data=profile"), ("value_softmax", "loss=tied")):
            png = os.path.join(tmp, name + ".png")
            p = subprocess.run([fsw, "plot", os.path.join(tmp, name), "--final-config", "--where", where, "--out", png],
                               capture_output=True, text=True)
            check(p.returncode == 0 and os.path.getsize(png) > 1000 if os.path.exists(png) else False,
                  f"plot --final-config draws {name} ({p.stderr.strip()[-200:]})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
