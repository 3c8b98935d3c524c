#!/usr/bin/env python3
"""The final attention configuration of every attention model (final_config.csv and trajectories.h5's
final_table), at the end and when each detector answered, against the same attention computed here with
numpy from the run's saved parameters and data (--save-params; for a phase time, those of the same run cut
at the table's step); the weights that sum to one do; and `flowsweep plot --final-config [--at]` draws it.

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
    "scan_snap": """model = "scan_snap"
[params]
num_last = 2
num_next_per_last = 2
num_common = 3
mode = "population"
init = "uniform"
[train]
lr = 1
lr_ratio = 5
steps = 300
record_every = 100
[grid]
seed = [0, 1]
""",
}


GRID_KEY = {"cooccurrence": "seed", "joma": "data", "value_softmax": "loss", "scan_snap": "seed"}  # each spec's axis
WEIGHT = {"cooccurrence": "attention", "joma": "attention", "value_softmax": "sigma", "scan_snap": "attention"}
# Detectors whose answer is given at the sample where it happens, so the table is taken at exactly that step.
AT_ONCE = {"phase1_end", "phase2_start", "loss_below", "polarised", "rebound"}
# A snap's or freeze's rate is a central difference: known one detection sample (here one step) later.
ONE_LATE = {"snap", "freeze"}


def num(v):
    return float(v) if v != "" else float("nan")


def run(fsw, tmp, name, steps=None):
    spec_text = SPECS[name]
    tag = name if steps is None else f"{name}_{steps}"
    if steps is not None:  # the same runs cut at `steps`: the parameters the flow had there
        spec_text = spec_text.replace("steps = 300", f"steps = {steps}").replace("steps = 500", f"steps = {steps}")
        spec_text = spec_text.replace("record_every = 100", "record_every = 1")
    spec = os.path.join(tmp, tag + ".toml")
    open(spec, "w").write(spec_text)
    out = os.path.join(tmp, tag)
    subprocess.run([fsw, "run", spec, "--out", out, "--quiet", "--save-params"], check=True)
    rows = defaultdict(list)
    for r in csv.DictReader(open(os.path.join(out, "final_config.csv"))):
        rows[r["run_id"]].append({k: num(v) for k, v in r.items() if k != "run_id"})
    runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
    return out, runs, rows


def h5_agrees(out, rows):
    """final_table in trajectories.h5 holds final_config.csv's rows, run by run (NaN where the CSV is empty)."""
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        fields = f["final_table"].attrs["fields"]
        fields = (fields.decode() if isinstance(fields, bytes) else fields).split(",")
        ids, var = h5_runs(f)
        table = var("final_table")
        for i, rid in enumerate(ids):
            for q, row in enumerate(rows[rid]):
                for j, name in enumerate(fields):
                    a, b = table[i, q, j], row[name]
                    if not (a == b or (np.isnan(a) and np.isnan(b))):
                        return False
            if len(rows[rid]) < table.shape[1] and not np.all(np.isnan(table[i, len(rows[rid]):])):
                return False
    return True


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# numpy's attention table of one run from its saved parameters: {key of a row: weight}, and the key of a
# final_config.csv row. Written from the models' definitions (MODELS.md), not from the engine's code.
def cooccurrence_table(g, r):
    d, L, n, m, m1 = 12, 5, 24, 8, 16
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
    return {key: v / cnt[key[:2]] for key, v in acc.items()}, cnt


def joma_table(g, r):
    theta, x_all = g["theta_final"][:], g["data_real"][:]
    C = 4
    MC = (len(x_all) - C * C) // (C + 1)  # x_k (C, MC) | xbar (MC) | targets y_k (C, C)
    z = theta[-MC:]  # the attention logits are the last group
    out = {}
    for k in range(C):
        x = x_all[k * MC : (k + 1) * MC]
        w = np.where(x > 0, x * np.exp((z - z[x > 0].max()) / 0.5), 0.0)
        for l, b in enumerate(w / w.sum()):
            out[(k, l)] = b
    return out, x_all


def value_softmax_table(g, r):
    theta = g["theta_final"][:]
    d = n = 5
    V, a = theta[: d * n].reshape(n, d), theta[d * n :]  # value column i contiguous
    z = V.T @ a if r["loss"] == "tied" else a  # (U a)_i with U stored by column
    return dict(enumerate(softmax(z))), None


def scan_snap_table(g, r):
    num_last, per, num_common = 2, 2, 3
    K = num_last * per
    S = num_common + 10  # each class's support: the common tokens, then its 10 distinct ones
    M = num_common + 10 * K + num_last + K
    Z = g["theta_final"][: M * M].reshape(M, M)  # the first group, row by query token
    sup, P = g["data_int"][:].reshape(K, S), g["data_real"][: K * S].reshape(K, S)
    out = {}
    for j in range(K):
        zq = Z[num_common + 10 * K + j // per]
        w = P[j] * np.exp(zq[sup[j]] - zq[sup[j]].max())
        for k, c in enumerate(w / w.sum()):
            out[(j, int(sup[j, k]))] = c
    return out, None


KEYS = {"cooccurrence": lambda x: (int(x["type"]), int(x["query"]), int(x["key"])),
        "joma": lambda x: (int(x["class"]), int(x["token"])),
        "value_softmax": lambda x: int(x["index"]),
        "scan_snap": lambda x: (int(x["class"]), int(x["token"]))}
TABLES = {"cooccurrence": cooccurrence_table, "joma": joma_table, "value_softmax": value_softmax_table,
          "scan_snap": scan_snap_table}


def table_error(model, want, got_rows, column):
    """Largest |numpy - ours| of a weight column over the rows numpy defines; a row it does not define is
    a key word absent from the type's samples (weight 0) or a type without that query word (NaN)."""
    got = {KEYS[model](x): x[column] for x in got_rows}
    worst = 0.0
    for key, v in got.items():
        if key in want:
            worst = max(worst, abs(want[key] - v))
        elif not (np.isnan(v) or v == 0):
            worst = max(worst, 1.0)
    return worst if set(want) <= set(got) else 1.0


def final_tables(fsw, tmp, model):
    """The final table against numpy, its weights' sums, and trajectories.h5."""
    out, runs, rows = run(fsw, tmp, model)
    w = WEIGHT[model]
    worst, sums = 0.0, 0.0
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        for r in runs:
            got = rows[r["run_id"]]
            want, extra = TABLES[model](f["params"][r["run_id"]], r)
            worst = max(worst, table_error(model, want, got, w))
            if model == "cooccurrence":
                per = defaultdict(float)
                for x in got:
                    if x["positions"] > 0:
                        per[(x["type"], x["query"])] += x[w]
                sums = max(sums, max(abs(v - 1) for v in per.values()))
                check(all(x["positions"] == extra.get((int(x["type"]), int(x["query"])), 0) for x in got),
                      f"cooccurrence ({r['seed']}): positions counts each type's query words")
                check(all(np.isnan(x[w]) == (x["positions"] == 0) for x in got),
                      f"cooccurrence ({r['seed']}): the attention is NaN exactly where no position holds the query")
                present = {(int(x["type"]), int(x["query"])) for x in got if x["positions"] > 0}
                # I1 holds all three special words as queries, I4 only the common word.
                check(sorted(q for t, q in present if t == 1) == [1, 2, 3]
                      and sorted(q for t, q in present if t == 4) == [3], "cooccurrence: queries present per type")
            elif model == "joma":
                C = 4
                MC = (len(extra) - C * C) // (C + 1)
                check(len(got) == C * MC, f"joma ({r['data']}): {C} classes x {MC} tokens")
                worst = max(worst, max(abs(x["frequency"] - extra[int(x["class"]) * MC + int(x["token"])]) for x in got))
                for k in range(C):
                    sums = max(sums, abs(sum(x[w] for x in got if x["class"] == k) - 1))
            elif model == "scan_snap":
                for j in {int(x["class"]) for x in got}:
                    sums = max(sums, abs(sum(x[w] for x in got if x["class"] == j) - 1))
            else:
                sums = max(sums, abs(sum(x[w] for x in got) - 1))
                s = [x[w] for x in got]
                check(int(np.argmax(s)) == int(float(r["winner"])), f"value_softmax ({r['loss']}): argmax is the winner")
    check(worst < 1e-12, f"{model}: the final {w} as numpy's from the saved parameters (max diff {worst:.1e})")
    check(sums < 1e-12, f"{model}: the {w} of each query sums to one ({sums:.1e})")
    check(h5_agrees(out, rows), f"{model}: trajectories.h5 final_table holds final_config.csv")
    return out, runs, rows


def phase_tables(fsw, tmp, model, runs, rows):
    """The weights at each detector's answer against numpy's attention from the parameters of the same run
    cut at the table's step. Returns the detectors checked."""
    w, axis = WEIGHT[model], GRID_KEY[model]
    detectors = [c[len(w) + 4 : -5] for c in rows[runs[0]["run_id"]][0] if c.startswith(w + "_at_") and c.endswith("_step")]
    checked = []
    for det in detectors:
        col = f"{w}_at_{det}"
        fired = [r for r in runs if not np.isnan(rows[r["run_id"]][0][col + "_step"])]
        never = [r for r in runs if r.get("step_" + det, "") in ("", "-1")]
        check(all(np.isnan(x[col]) for r in never for x in rows[r["run_id"]]),
              f"{model}: {col} is empty where {det} never fired")
        if not fired:
            continue
        r = fired[0]
        step = int(rows[r["run_id"]][0][col + "_step"])
        answer = int(float(r["step_" + det]))
        check(step == answer if det in AT_ONCE else step == answer + 1 if det in ONE_LATE else step > answer,
              f"{model}: {col} taken at step {step}, {det} answered {answer}")
        cut_out, cut_runs, _ = run(fsw, tmp, model, steps=step)
        twin = next(c for c in cut_runs if c[axis] == r[axis])
        with h5py.File(os.path.join(cut_out, "trajectories.h5"), "r") as f:
            want, _ = TABLES[model](f["params"][twin["run_id"]], twin)
        worst = table_error(model, want, rows[r["run_id"]], col)
        check(worst < 1e-12, f"{model}: {col} ({r[axis]}) is numpy's attention at step {step} (max diff {worst:.1e})")
        checked.append(det)
    return checked


def main():
    fsw, _ = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("cooccurrence", "joma", "value_softmax", "scan_snap"):
            _, runs, rows = final_tables(fsw, tmp, model)
            checked = phase_tables(fsw, tmp, model, runs, rows)
            check(len(checked) > 0, f"{model}: a table at a phase time checked ({', '.join(checked)})")
        for name, where in (("cooccurrence", "seed=0"), ("joma", "data=profile"), ("value_softmax", "loss=tied")):
            png = os.path.join(tmp, name + ".png")
            p = subprocess.run([fsw, "plot", os.path.join(tmp, name), "--final-config", "--where", where, "--out", png],
                               capture_output=True, text=True)
            check(p.returncode == 0 and os.path.getsize(png) > 1000 if os.path.exists(png) else False,
                  f"plot --final-config draws {name} ({p.stderr.strip()[-200:]})")
        for name, det in (("joma", "dip"), ("value_softmax", "polarised")):
            png = os.path.join(tmp, f"{name}_at_{det}.png")
            p = subprocess.run([fsw, "plot", os.path.join(tmp, name), "--final-config", "--at", det, "--out", png],
                               capture_output=True, text=True)
            check(p.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 1000,
                  f"plot --final-config --at {det} draws {name} ({p.stderr.strip()[-200:]})")
        p = subprocess.run([fsw, "plot", os.path.join(tmp, "joma"), "--final-config", "--at", "snap"],
                           capture_output=True, text=True)
        check(p.returncode != 0 and "dip" in p.stderr, f"--at names the model's detectors ({p.stderr.strip()[-120:]})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
