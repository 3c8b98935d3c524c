#!/usr/bin/env python3
"""trajectories.h5 and the plots: the HDF5 file reopened (h5py and xarray) holds exactly what runs.csv and
trajectories.csv say for every run; --save-params keeps parameters from which the final configuration can
be recomputed independently; `flowsweep plot` makes non-empty PNGs from the quick-start output; a missing
or truncated file is a clear error naming it."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

from checks import arguments, check, finish, h5_runs, run_small_joma

import h5py
import numpy as np
import xarray as xr



def num(s):
    return math.nan if s in ("", "nan") else float(s)


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def same_time(a, b):  # runs.csv writes flow times to 15 significant digits
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-14 * abs(a)


def main():
    fsw, qs = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "qs")
        subprocess.run([fsw, "run", qs, "--out", out, "--quiet", "--save-params", "--csv-trajectories", "--set", "steps=400",
                        "--set", "record_every=25"], check=True)
        runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
        traj = list(csv.DictReader(open(os.path.join(out, "trajectories.csv"))))
        f = h5py.File(os.path.join(out, "trajectories.h5"), "r")
        ids, var = h5_runs(f)
        check(f.attrs["layout"].decode() == "grid" and ids == [r["run_id"] for r in runs],
              "h5 run_id over the grid, in runs.csv's order")
        axes = f.attrs["grid_axes"].decode().split()
        shape = tuple(f[a].shape[0] for a in axes)
        per_run = {name: var(name) for name in f if isinstance(f[name], h5py.Dataset) and f[name].ndim >= len(axes)
                   and f[name].shape[: len(axes)] == shape}
        mismatches = 0
        for i, r in enumerate(runs):
            at = np.unravel_index(i, shape)
            checks = [
                per_run["status"][i].decode() == r["status"],
                per_run["steps"][i] == int(r["steps"]),
                same_time(per_run["t_final"][i], num(r["t_final"])),
                all(same_time(per_run[c][i], num(r[c])) for c in r if c.startswith("t_") and c != "t_final"),
                all(same(per_run[c][i], num(r[c])) for c in r if c.startswith("dKQ_")),
                all(same(f[a][at[j]], num(r[a])) for j, a in enumerate(axes)),
            ]
            k = int(per_run["n_records"][i])
            last = {name: v[i, k - 1] for name, v in per_run.items() if v.ndim == 2}
            checks.append(all(same(last[c[len("final_"):]], num(r[c])) for c in r if c.startswith("final_") and c != "final_loss"))
            checks.append(same(last["loss"], num(r["final_loss"])))
            checks.append(bool(np.all(np.isnan(per_run["t"][i, k:]))))  # padded past the last record
            mismatches += not all(checks)
        check(mismatches == 0, f"every run's status, steps, times, detectors, final columns and grid values agree "
                               f"({mismatches} differ)")
        rows = {(t["run_id"], int(t["step"])): t for t in traj}
        bad = 0
        for i, rid in enumerate(ids):
            for k in range(int(per_run["n_records"][i])):
                t = rows[(rid, int(per_run["step"][i, k]))]
                bad += not all(same(per_run[name][i, k], num(t[name])) for name in t if name not in ("run_id", "step"))
        check(bad == 0 and len(rows) == sum(int(n) for n in per_run["n_records"]), f"trajectories agree ({bad} records differ)")

        # --save-params: the final change of W_K^T W_Q, recomputed here from the saved parameters.
        worst = worst_rnd = 0.0
        for i, rid in enumerate(ids):
            g = f["params"][rid]
            d, m, m1 = 16, int(runs[i]["m"]), 64
            def kq(theta):
                Q = theta[m1 * m : m1 * m + d * m].reshape(d, m)
                K = theta[m1 * m + d * m : m1 * m + 2 * d * m].reshape(d, m)
                return K[:3] @ Q[:3].T  # [nu, mu] = e_nu^T W_K^T W_Q e_mu
            dkq = kq(g["theta_final"][:]) - kq(g["theta_initial"][:])
            for nu in range(3):
                for mu in range(3):
                    worst = max(worst, abs(dkq[nu, mu] - num(runs[i][f"dKQ_{nu+1}{mu+1}"])))
            # every entry with a random word: its largest, median and 99th-percentile change
            def kq_all(theta):
                Q = theta[m1 * m : m1 * m + d * m].reshape(d, m)
                K = theta[m1 * m + d * m : m1 * m + 2 * d * m].reshape(d, m)
                return K @ Q.T
            full = np.abs(kq_all(g["theta_final"][:]) - kq_all(g["theta_initial"][:]))
            rnd = np.array([full[a, b] for a in range(d) for b in range(d) if a >= 3 or b >= 3])
            special = np.abs(dkq).min()
            for col, want in (("dKQ_random_max", rnd.max()), ("dKQ_random_median", np.quantile(rnd, 0.5)),
                              ("dKQ_random_q99", np.quantile(rnd, 0.99)),
                              ("dKQ_random_q99_ratio", np.quantile(rnd, 0.99) / special)):
                # relative: a change is a difference of nearby numbers, summed here in another order
                worst_rnd = max(worst_rnd, abs(want - num(runs[i][col])) / max(abs(want), 1e-300))
        check(worst < 1e-12, f"saved parameters reproduce dKQ (max difference {worst:.1e})")
        check(worst_rnd < 1e-9, f"and the random-word summary: largest, median, 99th percentile, ratio (max relative "
                                f"difference {worst_rnd:.1e})")
        f.close()

        ds = xr.open_dataset(os.path.join(out, "trajectories.h5"), engine="h5netcdf")
        at = [f"attention_at_{d}{s}" for d in ("phase1_end", "phase2_start", "loss_below") for s in ("", "_step")]
        check(dict(ds.sizes) == {"seed": 6, "m": 2, "lr_ratio": 3, "record": 17, "final_row": 48, "final_field": 11}
              and list(ds["run_id"].values.ravel()) == ids
              and list(ds["final_field"].values) == ["type", "query", "key", "positions", "attention"] + at,
              f"xarray reads named dimensions and run ids: {dict(ds.sizes)}")
        check(ds["t"].attrs.get("units", "").startswith("flow time"), "t carries its units")
        ds.close()

        # Plots from the quick-start output.
        p = subprocess.run([fsw, "plot", out], capture_output=True, text=True)
        pngs = [l for l in p.stdout.split() if l.endswith(".png")]
        check(p.returncode == 0 and len(pngs) >= 4, f"flowsweep plot made {len(pngs)} pictures ({p.stderr.strip()})")
        for png in pngs:
            data = open(png, "rb").read()
            check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, f"{os.path.basename(png)} is a non-empty PNG")
        p = subprocess.run([fsw, "plot", out, "--trajectory", "margin", "--runs", ",".join(ids[:2])],
                           capture_output=True, text=True)
        check(p.returncode == 0 and os.path.getsize(os.path.join(out, "plots", "trajectory_margin.png")) > 5000,
              "a trajectory plot of chosen runs")
        p = subprocess.run([fsw, "plot", out, "--trajectory", "loss", "--where", "m=32,lr_ratio=3.1622776601683795",
                            "--out", os.path.join(tmp, "where.png")], capture_output=True, text=True)
        check(p.returncode == 0 and os.path.getsize(os.path.join(tmp, "where.png")) > 5000,
              f"a trajectory plot of the runs matching grid values ({p.stderr.strip()[:160]})")
        # What --where selects and how the runs are named, from the plot module itself.
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(qs)), "python"))
        import flowsweep
        import flowsweep.plot as plot
        table = plot.pd.read_csv(os.path.join(out, "runs.csv"), dtype={"run_id": str})
        want = [r["run_id"] for r in runs if r["m"] == "32" and abs(float(r["lr_ratio"]) - 10**0.5) < 1e-12]
        got = plot.select(table, "m=32,lr_ratio=3.1622776601683795")
        check(len(want) == 6 and got == want, f"--where selects the 6 seeds of one cell: {len(got)}")
        check(plot.select(table, "m=32,lr_ratio=3.162") == want and plot.select(table, "m=32,lr_ratio=3.16") == want,
              "--where at the precision a legend shows (lr_ratio=3.162, 3.16) selects the same cell")
        labels = plot.run_labels(flowsweep.open(out), table, got)
        check(sorted(labels.values()) == [f"seed={k}" for k in range(6)], f"runs named by what differs: {labels}")
        for where, says in (("m=33", "no run matches"), ("width=32", "KEY=VALUE")):
            p = subprocess.run([fsw, "plot", out, "--trajectory", "loss", "--where", where], capture_output=True, text=True)
            check(p.returncode == 2 and says in p.stderr, f"--where {where}: exit 2 saying '{says}': {p.stderr.strip()[:160]}")

        # Axes of words (phi) and hand-picked numbers draw one cell per value; a median_ column draws too.
        jout = run_small_joma(fsw, tmp, ["identity", "relu", "silu"])
        p = subprocess.run([fsw, "plot", jout], capture_output=True, text=True)
        # one heatmap per detector (dip, rebound, share_mlp, share_attention) and the loss
        check(p.returncode == 0 and len([l for l in p.stdout.split() if l.endswith(".png")]) == 5,
              f"plots over an axis of words ({p.stderr.strip()[-300:]})")
        p = subprocess.run([fsw, "plot", jout, "--heatmap", "regained", "--where", "hidden=3"],
                           capture_output=True, text=True)
        check(p.returncode == 0 and os.path.getsize(os.path.join(jout, "plots", "heatmap_regained_median.png")) > 5000,
              f"a heatmap of a median_ column over the cells with hidden = 3 ({p.stderr.strip()[-300:]})")
        p = subprocess.run([fsw, "plot", jout, "--heatmap", "median_regained", "--where", "hidden=3"],
                           capture_output=True, text=True)
        check(p.returncode == 0 and os.path.getsize(os.path.join(jout, "plots", "heatmap_median_regained_median.png")) > 5000,
              f"the same named by its whole column, median_regained ({p.stderr.strip()[-300:]})")

        # Long series make blocks of a few runs (about 2^17 records a block), which cross the boundaries of
        # every axis: each block is several hyperslabs of the grid, and every run must land in its own place.
        spec = os.path.join(tmp, "blocks.toml")
        with open(spec, "w") as fh:
            fh.write('model = "value_softmax"\n[params]\nd = 3\nloss = "logistic"\na_init = "random"\n'
                     '[train]\nlr = 0.05\nsteps = 16000\nrecord_every = 1\nprecision = "fp32"\n'
                     '[grid]\nn = [2, 3, 4]\nv_scale = [0.3, 0.5, 0.7]\nseed = { range = [0, 3] }\n')
        bout = os.path.join(tmp, "blocks")
        subprocess.run([fsw, "run", spec, "--out", bout, "--quiet"], check=True)
        brows = list(csv.DictReader(open(os.path.join(bout, "runs.csv"))))
        with h5py.File(os.path.join(bout, "trajectories.h5"), "r") as bf:
            bids, bvar = h5_runs(bf)
            step, loss, n_rec = bvar("step"), bvar("loss"), bvar("n_records")
            grid_n = bf["n"][...]
            misplaced = [i for i, r in enumerate(brows)
                         if bids[i] != r["run_id"] or n_rec[i] != 16001 or loss[i, -1] != np.float64(num(r["final_loss"]))
                         or not np.array_equal(step[i], np.arange(16001))
                         or grid_n[np.unravel_index(i, bf["loss"].shape[:3])[0]] != int(r["n"])]
        check(len(brows) == 27 and not misplaced,
              f"27 runs of 16001 records written in blocks across the grid's axes, each in its place ({misplaced})")

        # Missing and truncated files are errors that name them.
        broken = os.path.join(tmp, "broken")
        shutil.copytree(out, broken)
        h5 = os.path.join(broken, "trajectories.h5")
        with open(h5, "r+b") as fh:
            fh.truncate(os.path.getsize(h5) // 3)
        p = subprocess.run([fsw, "plot", broken], capture_output=True, text=True)
        check(p.returncode == 2 and h5 in p.stderr, f"truncated h5 named: {p.stderr.strip()[:160]}")
        os.remove(h5)
        p = subprocess.run([fsw, "plot", broken], capture_output=True, text=True)
        check(p.returncode == 2 and h5 in p.stderr and "missing" in p.stderr, f"missing h5 named: {p.stderr.strip()}")
        p = subprocess.run([fsw, "plot", os.path.join(tmp, "nowhere")], capture_output=True, text=True)
        check(p.returncode == 2 and "nowhere" in p.stderr, "missing directory named")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
