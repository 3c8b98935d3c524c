#!/usr/bin/env python3
"""The Python package (python/flowsweep): flowsweep.open gives the sweep as a cube over its grid whose every
value is the one runs.csv, final_config.csv and the journal's trajectories hold; a shard's file unstacks
into the same cube; and every kind of picture is drawn, with what a reader must be told on the figure
itself (diverged runs, never-reached cells, the cell shown, the log scales), read back from the figures."""
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile

from checks import arguments, check, finish, run_small_joma

import numpy as np


def num(s):
    return math.nan if s in ("", "nan") else float(s)


def same(a, b, rel=0.0):
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rel * abs(b)


class Figures:
    """Every figure the plot module saves, as what can be read back from it: its texts, hatched patches,
    colour norms, axis scales and filled bands."""

    def __init__(self, matplotlib):
        self.saved = []
        original = matplotlib.figure.Figure.savefig
        figures = self

        def savefig(fig, fname, *args, **kw):
            axes = fig.axes
            texts = [t.get_text() for t in fig.texts]
            if fig._suptitle is not None:
                texts.append(fig._suptitle.get_text())
            for ax in axes:
                texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
                if ax.get_legend():
                    texts += [t.get_text() for t in ax.get_legend().get_texts()]
            figures.saved.append({
                "path": str(fname),
                "text": "\n".join(texts),
                "hatched": sum(1 for ax in axes for p in ax.patches if p.get_hatch()),
                "norms": [type(c.norm).__name__ for ax in axes for c in ax.collections
                          if c.get_array() is not None and hasattr(c, "norm")],
                "xscale": [ax.get_xscale() for ax in axes],
                "bands": sum(1 for ax in axes for c in ax.collections if type(c).__name__ in ("PolyCollection",
                                                                                              "FillBetweenPolyCollection")),
            })
            return original(fig, fname, *args, **kw)

        matplotlib.figure.Figure.savefig = savefig

    def draw(self, plot, argv):
        """Runs the plot command in this process: the figures it saved, or the exit code it failed with."""
        first = len(self.saved)
        try:
            plot.main(argv)
        except SystemExit as e:
            return e.code
        return self.saved[first:]


def main():
    fsw, qs = arguments()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(qs)), "python"))
    import matplotlib

    import flowsweep
    import flowsweep.plot as plot

    figures = Figures(matplotlib)
    with tempfile.TemporaryDirectory() as tmp:
        # Every record kept: 4001 records a run make blocks of 32 runs, which cut across the grid's rows, so
        # the writer's selection of a block is exercised as well as its whole-chunk case.
        out = os.path.join(tmp, "qs")
        subprocess.run([fsw, "run", qs, "--out", out, "--quiet", "--csv-trajectories", "--set", "steps=4000",
                        "--set", "record_every=1"], check=True)
        sw = flowsweep.open(out)
        ds = sw.ds
        check(sw.axes == ["seed", "m", "lr_ratio"] and list(ds["loss"].dims) == ["seed", "m", "lr_ratio", "record"],
              f"the cube's dimensions are the grid's axes, slowest first, then record: {ds['loss'].dims}")
        check(ds["seed"].dtype.kind == "i" and ds["m"].dtype.kind == "i" and ds["lr_ratio"].dtype.kind == "f"
              and list(ds["m"].values) == [16, 32],
              f"axis types kept: seed {ds['seed'].dtype}, m {ds['m'].dtype}, lr_ratio {ds['lr_ratio'].dtype}")
        runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
        traj = {}
        for t in csv.DictReader(open(os.path.join(out, "trajectories.csv"))):
            traj.setdefault(t["run_id"], []).append(t)
        detectors = [c for c in runs[0] if c.startswith("t_") and c != "t_final"]
        bad = []
        for r in runs:
            cell = ds.sel(seed=int(r["seed"]), m=int(r["m"]), lr_ratio=float(r["lr_ratio"]))
            k = int(cell["n_records"])
            series = traj[r["run_id"]]
            ok = (str(cell["run_id"].values) == r["run_id"] and str(cell["status"].values) == r["status"]
                  and int(cell["steps"]) == int(r["steps"]) and k == len(series)
                  and all(same(cell[d], num(r[d]), 1e-14) for d in detectors)
                  and same(cell["loss"][k - 1], num(r["final_loss"]))
                  and all(same(cell["margin"][j], num(series[j]["margin"])) for j in (0, k // 2, k - 1))
                  and bool(np.isnan(cell["t"][k:]).all()))
            if not ok:
                bad.append(r["run_id"])
        check(not bad, f"ds.sel(seed, m, lr_ratio) of every run gives runs.csv's and trajectories.csv's values "
                       f"({len(bad)} differ: {bad[:3]})")
        one = ds.sel(m=32)
        check(list(one["loss"].dims) == ["seed", "lr_ratio", "record"]
              and ds.sel(lr_ratio=10.0)["t_phase1_end"].shape == (6, 2)
              and ds.sel(seed=3)["run_id"].shape == (2, 3),
              "selecting along each axis alone drops that axis")
        table = {}
        fields = list(ds["final_field"].values)
        for rid, rows in sw.final.groupby("run_id", sort=False):
            table[rid] = rows[fields].to_numpy(dtype=float)
        worst = 0
        for r in runs:
            cell = ds.sel(seed=int(r["seed"]), m=int(r["m"]), lr_ratio=float(r["lr_ratio"]))["final_table"].values
            want = table[r["run_id"]]
            same_nan = np.array_equal(np.isnan(cell[: len(want)]), np.isnan(want))
            diff = np.nan_to_num(np.abs(cell[: len(want)] - want))
            worst = max(worst, diff.max(), 0 if same_nan and np.isnan(cell[len(want):]).all() else 1)
        # final_config.csv holds 16 significant digits
        check(worst < 1e-15, f"final_table over the grid holds final_config.csv's rows (worst {worst:.1e})")
        by = sw.by_run()
        check(list(by["run"].values) == [r["run_id"] for r in runs] and by["loss"].dims == ("run", "record"),
              "by_run: the cube over one run dimension, in runs.csv's order")
        sw.close()

        # A shard's file holds part of the grid over one run dimension; open() gives the same cube, NaN
        # where another shard holds the run.
        whole = flowsweep.open(out).ds
        held = 0
        agree = True
        for i in range(2):
            sdir = os.path.join(tmp, f"shard{i}")
            subprocess.run([fsw, "run", qs, "--out", sdir, "--quiet", "--shard", f"{i}/2", "--set", "steps=4000",
                            "--set", "record_every=1"], check=True)
            part = flowsweep.open(sdir)
            has = np.vectorize(lambda v: isinstance(v, str))(part.ds["run_id"].values)
            held += int(has.sum())
            agree &= part.ds.attrs["layout"] == "runs" and part.ds["loss"].dims == whole["loss"].dims
            agree &= part.ds["m"].dtype == whole["m"].dtype
            mine = part.ds["loss"].values[has]
            agree &= bool(np.array_equal(mine, whole["loss"].values[has], equal_nan=True))
            agree &= bool(np.isnan(part.ds["loss"].values[~has]).all())
            part.close()
        check(agree and held == 36, f"each shard's cube holds its runs as the whole sweep's, NaN elsewhere ({held} runs)")

        # Axes of words stay words.
        jout = run_small_joma(fsw, tmp, ["identity", "relu"])
        j = flowsweep.open(jout)
        check(list(j.ds["phi"].values) == ["identity", "relu"] and j.ds.sel(phi="relu", hidden=3)["loss"].dims
              == ("seed", "record"), "an axis of words is a string coordinate that .sel takes")
        j.close()

        # Axes named as the file's own names: a sweep over the recording schedule (`record`, a dimension of
        # the file) and over `steps` (a variable of it).
        spec = os.path.join(tmp, "names.toml")
        with open(spec, "w") as fh:
            fh.write('model = "joma_toy"\n[train]\nrecords = 10\n[grid]\nrecord = ["linear", "log"]\n'
                     'steps = [40, 50]\nseed = [0, 1]\n')
        nout = os.path.join(tmp, "names")
        p = subprocess.run([fsw, "run", spec, "--out", nout, "--quiet"], capture_output=True, text=True)
        named = flowsweep.open(nout) if p.returncode == 0 else None
        check(named is not None and named.axes == ["record_axis", "steps", "seed"]
              and list(named.ds["steps"].values) == [40, 50] and "steps_of_run" in named.ds
              and int(named.ds["steps_of_run"].sel(record_axis="log", steps=50, seed=1)) == 50
              and named.ds["loss"].dims == ("record_axis", "steps", "seed", "record"),
              f"axes named record and steps: the dimension record_axis, the variable steps_of_run ({p.stderr.strip()})")

        # Pictures: every kind, with what they must say.
        got = figures.draw(plot, [out])
        check(isinstance(got, list) and len(got) == 7 and all(os.path.getsize(f["path"]) > 5000 for f in got),
              f"the standard set: six heatmaps and the loss ({len(got) if isinstance(got, list) else got})")
        cells = list(csv.DictReader(open(os.path.join(out, "phase_diagram.csv"))))
        t1 = [num(c["t_median_phase1_end"]) for c in cells]
        want = "LogNorm" if max(t1) / min(t1) > 10 else "Normalize"
        hm = [f for f in got if "phase1_end" in f["path"]][0]
        check(set(hm["norms"]) == {want}, f"phase1_end's heatmap: {want} for values from {min(t1):.3g} to {max(t1):.3g}")
        loss = [f for f in got if "trajectory_loss" in f["path"]][0]
        check(loss["bands"] == 6 and "interquartile band over 6 seeds" in loss["text"]
              and "m=16, lr_ratio=1 (6 runs)" in loss["text"],
              "the loss: one band over the 6 seeds of each of the 6 cells, each named")
        got = figures.draw(plot, [out, "--trajectory", "attn_entropy", "--where", "m=32,lr_ratio=10", "--out",
                                  os.path.join(tmp, "one_cell.png")])
        check(isinstance(got, list) and "at m=32, lr_ratio=10" in got[0]["text"] and got[0]["bands"] == 1,
              "a trajectory of one cell names the cell in its title")
        got = figures.draw(plot, [out, "--trajectory", "loss", "--color", "lr_ratio", "--log-time",
                                  "--out", os.path.join(tmp, "by_ratio.png")])
        check(isinstance(got, list) and got[0]["bands"] == 3 and got[0]["xscale"] == ["log"]
              and "over 6 seeds and m" in got[0]["text"],
              "--color lr_ratio: three bands pooling m, said in the title, on log flow time")
        got = figures.draw(plot, [out, "--curve", "phase1_end", "--x", "lr_ratio", "--color", "m"])
        check(isinstance(got, list) and got[0]["bands"] == 2 and got[0]["xscale"] == ["log"],
              "a curve: t_phase1_end against the geomspace lr_ratio on a log axis, one band per m")
        got = figures.draw(plot, [out, "--final-config", "--where", "m=16,lr_ratio=1"])
        check(isinstance(got, list) and "at m=16, lr_ratio=1" in got[0]["text"], "the final configuration of a cell")

        # A sweep where runs diverge says so on every heatmap.
        div = os.path.join(tmp, "div")
        subprocess.run([fsw, "run", qs, "--out", div, "--quiet", "--set", "steps=300", "--set", "lr=0.2"], check=True)
        n_div = sum(r["status"] == "diverged" for r in csv.DictReader(open(os.path.join(div, "runs.csv"))))
        got = figures.draw(plot, [div])
        check(0 < n_div < 36 and isinstance(got, list)
              and all(f"{n_div} of 36 runs diverged" in f["text"] for f in got),
              f"with {n_div} of 36 runs diverged, every picture says so")
        # A threshold that some cells never reach: hatched, and the cells where only some runs reach it say
        # which share did.
        nev = os.path.join(tmp, "never")
        subprocess.run([fsw, "run", qs, "--out", nev, "--quiet", "--set", "steps=300", "--set",
                        "detect.loss_threshold=0.03"], check=True)
        cells = list(csv.DictReader(open(os.path.join(nev, "phase_diagram.csv"))))
        never = sum(num(c["frac_loss_below"]) == 0 for c in cells)
        partial = [c for c in cells if 0 < num(c["frac_loss_below"]) < 1]
        got = figures.draw(plot, [nev, "--heatmap", "loss_below"])
        check(never > 0 and isinstance(got, list) and got[0]["hatched"] == never
              and "hatched: never reached" in got[0]["text"]
              and all(f"{num(c['frac_loss_below']):.0%}" in got[0]["text"] for c in partial),
              f"{never} never-reached cells hatched, {len(partial)} partly reached with their share")
        check(figures.draw(plot, [out, "--curve", "nothing", "--x", "m"]) == 2, "an unknown quantity: exit 2")

        # A yes/no final column is drawn as its share of runs; an index column has no cell value to draw.
        vs = os.path.join(tmp, "vs")
        subprocess.run([fsw, "run", os.path.join(os.path.dirname(qs), "varre2026_value_softmax_tied.toml"), "--out",
                        vs, "--quiet", "--set", "steps=2000", "--set", "grid.seed=[0, 1]"], check=True)
        cells = list(csv.DictReader(open(os.path.join(vs, "phase_diagram.csv"))))
        check("frac_winner_is_u0_argmax" in cells[0] and "median_winner" not in cells[0]
              and all(0 <= num(c["frac_winner_is_u0_argmax"]) <= 1 for c in cells),
              "value_softmax's phase diagram: frac_winner_is_u0_argmax, no median of the winner's index")
        got = figures.draw(plot, [vs, "--heatmap", "winner_is_u0_argmax", "--x", "lr_ratio", "--y", "v_scale"])
        check(isinstance(got, list) and "fraction of runs with winner_is_u0_argmax" in got[0]["text"],
              "a heatmap of the share of runs that end on argmax u(0)")
        check(figures.draw(plot, [vs, "--heatmap", "winner"]) == 2, "the winner's index: no heatmap, exit 2")

        # pip installs the package from the checkout, and it reads a sweep from anywhere.
        venv, src = os.path.join(tmp, "venv"), os.path.join(tmp, "python_src")
        shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(qs)), "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__"))
        p = subprocess.run(f"{sys.executable} -m venv --system-site-packages {venv} && {venv}/bin/pip install -q "
                           f"--no-build-isolation --no-deps {src} && cd / && {venv}/bin/python -c "
                           f"'import flowsweep; print(flowsweep.__file__, flowsweep.open(\"{out}\").ds.sizes[\"seed\"])'",
                           shell=True, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        check(p.returncode == 0 and "site-packages" in p.stdout and p.stdout.split()[-1] == "6",
              f"pip install ./python: flowsweep.open works from the installed package ({(p.stdout + p.stderr).strip()[-300:]})")

        # `flowsweep plot` finds the package beside its binary and draws with it.
        p = subprocess.run([fsw, "plot", out, "--heatmap", "loss_below", "--out", os.path.join(tmp, "cli.png")],
                           capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                if k != "PYTHONPATH"})
        check(p.returncode == 0 and os.path.getsize(os.path.join(tmp, "cli.png")) > 5000,
              f"flowsweep plot runs the package's module ({p.stderr.strip()[-200:]})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
