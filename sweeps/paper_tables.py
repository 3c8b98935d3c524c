#!/usr/bin/env python3
"""The tables (and pictures) that lay a paper sweep's output beside the paper's own, printed as markdown.

    sweeps/paper_tables.py yang2024_cooccurrence OUT             phase 1's end, the loss threshold, the I2
                                                                 and I3 losses' early rise, the balance of
                                                                 their gradients, the scores' share of the
                                                                 loss decrease, and the final W_K^T W_Q
                                                                 against the paper's signs, per grid cell
                                                                 (also yang2024_cooccurrence_ratio)
    sweeps/paper_tables.py tian2023_scan_snap OUT [--png FILE]   final distinct-token entropy, mean and
                                                                 standard deviation over seeds, per num_last,
                                                                 eta_Z and eta_Y / eta_Z
    sweeps/paper_tables.py tian2024_joma OUT                     phi = identity: the correlation of the
                                                                 attention logits with the JoMA prediction
    sweeps/paper_tables.py tian2024_joma_rebound OUT [--png FILE] the share of the attention entropy's fall
                                                                 regained by the end, per norm, label noise,
                                                                 phi, lr_ratio and lr
    sweeps/paper_tables.py tian2024_joma_rebound_step OUT        the same at lr 0.01 and 0.003
    sweeps/paper_tables.py tian2024_joma_rebound_long OUT        the same to flow time 4000
    sweeps/paper_tables.py tian2024_joma_toy OUT                 the dip and how much of it is regained, per K
    sweeps/paper_tables.py lebeurrier2026_pathcond OUT          the speed-up to the loss threshold and the loss
                                                                 at step 500, per init, lr, init_scale, depth
                                                                 and width, and how often each trend the paper
                                                                 predicts holds
    sweeps/paper_tables.py lebeurrier2026_pathcond_demo OUT      the two-moons demo's losses at 500, 2000 and
                                                                 3000 steps, per rescaling
    sweeps/paper_tables.py varre2026_value_softmax OUT           how many runs polarise, when, onto argmax
                                                                 u(0) or not, with order crossings or not,
                                                                 per loss, v_scale and lr_ratio (also
                                                                 varre2026_value_softmax_tied, _regression)
    sweeps/paper_tables.py varre2026_value_softmax_square_ratio OUT [--png FILE]
                                                                 the square loss: runs polarised per
                                                                 lr_ratio, n and v_scale, and the critical
                                                                 lr_ratio where half of them do

OUT is the sweep's output directory (flowsweep run sweeps/<name>.toml --out OUT). Every number is computed
here from OUT, so the tables in docs/RESULTS.md are reproduced by running the sweep and this script."""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
for package in (os.path.join(HERE, "..", "python"), os.path.join(HERE, "..", "share", "flowsweep", "python")):
    if os.path.isdir(os.path.join(package, "flowsweep")):
        sys.path.insert(0, package)
        break
import flowsweep  # noqa: E402


def markdown(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def label(v):
    """A grid value as a table shows it: numbers in their shortest form, names as they are."""
    return v if isinstance(v, str) else f"{v:g}"


def canonical(sw):
    """The sweep's fixed keys as the manifest states them: {key: value as text}."""
    return dict(line.split("=", 1) for line in sw.manifest["spec"]["canonical"].splitlines() if "=" in line)


def ok_runs(sw):
    runs = sw.runs
    bad = runs[runs.status != "ok"]
    return runs[runs.status == "ok"], len(bad)


def scan_snap(sw, png):
    """Final distinct-token entropy per (num_last, eta_Z, eta_Y / eta_Z): mean ± sd over seeds."""
    runs, bad = ok_runs(sw)
    g = runs.groupby(["num_last", "lr", "lr_ratio"])["final_distinct_entropy"]
    stats = g.agg(["mean", "std", "count"]).reset_index()
    ratios = sorted(stats.lr_ratio.unique())
    rows = []
    for (nl, lr), part in stats.groupby(["num_last", "lr"]):
        cells = []
        for r in ratios:
            s = part[part.lr_ratio == r]
            cells.append(f"{s['mean'].iloc[0]:.3f} ± {s['std'].iloc[0]:.3f}" if len(s) else "")
        rows.append([f"{nl:g}", f"{lr:g}"] + cells)
    n = int(stats["count"].min())
    print(f"final distinct-token entropy (nats), mean ± sd over {n} seeds; {bad} runs not ok\n")
    print(markdown(["num_last", "eta_Z"] + [f"eta_Y/eta_Z = {r:g}" for r in ratios], rows))
    if png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        lasts = sorted(stats.num_last.unique())
        fig, axes = plt.subplots(1, len(lasts), figsize=(3.2 * len(lasts), 3.0), sharey=True)
        axes = np.atleast_1d(axes)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(ratios)))
        for ax, nl in zip(axes, lasts):
            for color, r in zip(colors, ratios):
                s = stats[(stats.num_last == nl) & (stats.lr_ratio == r)].sort_values("lr")
                sd = s["std"] if s["std"].notna().all() else None  # one seed: no spread to draw
                ax.errorbar(s.lr, s["mean"], yerr=sd, color=color, marker="o", ms=3, capsize=2,
                            label=f"{r:g}")
            ax.set_xscale("log")
            lrs = sorted(stats.lr.unique())
            ax.set_xticks(lrs)
            ax.set_xticklabels([f"{x:g}" for x in lrs])
            ax.minorticks_off()
            ax.set_xlabel("eta_Z")
            ax.set_title(f"num_last = {nl:g}", fontsize=9)
        axes[0].set_ylabel("final distinct-token entropy")
        axes[-1].legend(title="eta_Y / eta_Z", fontsize=7, title_fontsize=7)
        fig.suptitle(f"{sw.manifest.get('spec', {}).get('name', 'scan_snap')}: mean ± sd over {n} seeds", fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        print(f"\n{png}")


def joma(sw, png):
    """phi = identity: the centred correlation of the attention logits z with the JoMA prediction z_hat,
    its lowest value over the flow (after t = 0) and its final value, over seeds."""
    ds = sw.ds
    if "identity" not in [str(v) for v in ds["phi"].values]:
        sys.exit("tian2024_joma: no phi = identity runs in " + sw.dir)
    rows = []
    sel = ds.sel(phi="identity")
    for h in sel["hidden"].values:
        for lr in sel["lr"].values:
            for r in sel["lr_ratio"].values:
                cell = sel.sel(hidden=h, lr=lr, lr_ratio=r)
                corr, t = cell["zhat_corr"].values, cell["t"].values  # (seed, record)
                lows, at, finals = [], [], []
                for c_row, t_row in zip(corr, t):
                    keep = ~np.isnan(c_row)
                    c_row, t_row = c_row[keep], t_row[keep]
                    k = 1 + int(np.argmin(c_row[1:]))
                    lows.append(c_row[k]), at.append(t_row[k]), finals.append(c_row[-1])
                rows.append([f"{h:g}", f"{lr:g}", f"{r:g}", f"{min(lows):.3f} - {max(lows):.3f}",
                             f"{min(at):g} - {max(at):g}", f"{min(finals):.3f} - {max(finals):.3f}",
                             f"{np.nanmax(cell['regained'].values):.3f}"])
    n = ds.sizes.get("seed", 1)
    print(f"phi = identity: correlation of z with z_hat, range over {n} seeds\n")
    print(markdown(["hidden", "lr", "lr_ratio", "lowest (t > 0)", "at t", "final", "regained, largest"], rows))


def largest_regained(h, floor=0.05):
    """The largest share of its fall the entropy h (one run's records) ever regains: the most of
    (h - m) / (h0 - m) over the flow, m the lowest value so far, once the fall h0 - m exceeds floor nats."""
    h = h[~np.isnan(h)]
    if len(h) < 2:
        return float("nan")
    m = np.minimum.accumulate(h)
    fall = h[0] - m
    ok = fall > floor
    return float(np.max((h[ok] - m[ok]) / fall[ok])) if ok.any() else 0.0


def joma_rebound(sw, png):
    """Per cell and phi: the largest share of the attention entropy's fall regained at any time, the
    share regained at the end, and the median time of the minimum (where the dip fired)."""
    runs, bad = ok_runs(sw)
    ds = sw.ds
    phis = [p for p in ("identity", "relu", "silu") if p in set(runs.phi)]
    keys = [k for k in ("norm", "label_noise", "lr_ratio", "lr") if k in runs.columns]  # the grid's axes
    rows = []
    for key, part in runs.groupby(keys if len(keys) > 1 else keys[0], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = []
        for p in phis:
            h = ds["attn_entropy"].sel({**dict(zip(keys, key)), "phi": p}).values.reshape(-1, ds.sizes["record"])
            big = [largest_regained(row) for row in h]
            one = part[part.phi == p]
            dipped = one["t_dip"].notna()
            where = f"min at t {one['t_dip'].median():.0f} ({dipped.sum()}/{len(one)})" if dipped.any() else "no dip"
            cells.append(f"{np.nanmedian(big):.2f} [{np.nanmin(big):.2f}, {np.nanmax(big):.2f}] / "
                         f"{one['regained'].median():.2f}, {where}")
        rows.append([label(k) for k in key] + cells)
    n = int(runs.groupby(keys + ["phi"]).size().min())
    t_end = runs["t_final"].max()
    print(f"the share of the attention entropy's fall regained: the largest at any time, median [range] over {n} "
          f"seeds / at t = {t_end:g}, median; and the median time of the minimum where the dip fired (seeds "
          f"with a dip); {bad} runs not ok\n")
    print(markdown(keys + phis, rows))
    if png and "norm" in keys and "label_noise" in keys:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        noises = [float(v) for v in ds["label_noise"].values]
        norms = [str(v) for v in ds["norm"].values]
        lr = float(min(ds["lr"].values))
        fig, axes = plt.subplots(len(norms), len(noises), figsize=(3.0 * len(noises), 2.4 * len(norms)),
                                 sharex=True, sharey=True, squeeze=False)
        colors = {"identity": "C0", "relu": "C1", "silu": "C2"}
        for i, nm in enumerate(norms):
            for j, eps in enumerate(noises):
                ax = axes[i][j]
                for p in phis:
                    for r, style in ((1.0, "-"), (10.0, ":")):
                        cell = ds.sel(norm=nm, label_noise=eps, phi=p, lr_ratio=r, lr=lr)
                        h = np.nanmedian(cell["attn_entropy"].values, axis=0)
                        t = cell["t"].values[0]
                        ax.plot(t, h, style, color=colors[p], lw=1.2, label=f"{p}, lr_ratio {r:g}")
                ax.set_xscale("log")
                ax.set_title(f"norm = {nm}, label_noise = {eps:g}", fontsize=8)
                if j == 0:
                    ax.set_ylabel("attention entropy")
                if i == len(norms) - 1:
                    ax.set_xlabel("flow time")
        axes[0][-1].legend(fontsize=6, loc="lower left")
        fig.suptitle(f"joma, hidden 64, lr {lr:g}: median over seeds", fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        print(f"\n{png}")


def joma_toy(sw, png):
    """The reduced dynamics: how often the entropy dips, and the share of the fall regained at the end."""
    runs, bad = ok_runs(sw)
    rows = []
    for K, part in runs.groupby("K"):
        dipped = part["t_dip"].notna()
        reg = part["regained"]
        rows.append([f"{K:g}", f"{dipped.sum()} / {len(part)}", f"{part['t_dip'].median():.3g}",
                     f"{reg.median():.3f}", f"{reg.min():.3f} - {reg.max():.3f}"])
    print(f"joma_toy: the attention entropy's dip and rebound; {bad} runs not ok\n")
    print(markdown(["K", "dipped", "t_dip, median", "regained, median", "regained, range"], rows))


def value_softmax(sw, png):
    """Per cell of the grid's axes but seed: how many runs polarised (max sigma above the threshold), when
    (the median over those that did), the final largest weight, how many ended on argmax u(0), how many had
    an order crossing of the logits; and for the tied loss the winning column's final norm."""
    runs, bad = ok_runs(sw)
    keys = canonical(sw)
    axes = [a for a in sw.axes if a != "seed"]
    tied = (runs["loss"] == "tied").all() if "loss" in sw.axes else keys.get("loss") == "tied"
    rows = []
    for key, part in runs.groupby(axes, sort=True) if axes else [((), runs)]:
        key = key if isinstance(key, tuple) else (key,)
        pol = part["t_polarised"].dropna()
        row = [label(k) for k in key] + [
            f"{len(pol)} / {len(part)}", f"{pol.median():.3g}" if len(pol) else "-",
            f"{part['final_max_sigma'].median():.3f}",
            f"{int(part['winner_is_u0_argmax'].sum())} / {len(part)}",
            f"{int((part['order_crossings'] > 0).sum())} / {len(part)}"]
        if tied:
            row.append(f"{part['final_winner_norm'].median():.3g}")
        rows.append(row)
    t_end = runs["t_final"].max()
    print(f"value_softmax to flow time {t_end:g}: polarised = max sigma above {keys.get('polar_threshold', '?')}; "
          f"{runs.groupby(axes).size().min() if axes else len(runs)} seeds a cell; {bad} runs not ok\n")
    head = axes + ["polarised", "t_polarised, median", "final max sigma, median", "winner = argmax u(0)",
                   "order crossings"] + (["final winner norm, median"] if tied else [])
    print(markdown(head, rows))


def span(values, fmt):
    """The median and the range of `values` (NaNs left out): `0.15 (0.08 - 0.26)`, or `-` if none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not len(v):
        return "-"
    return f"{np.median(v):{fmt}} ({v.min():{fmt}} - {v.max():{fmt}})"


def cooccurrence(sw, png):
    """Per cell of the grid's axes but seed, two tables. The phases: when phase 1 ends (every sample
    correct) and the loss passes its threshold; how many runs' I2 or I3 loss rises above its initial value
    before phase 1 ends (and, over every cell, how that goes with the sign of G3 at t = 0); the balance
    sum_I2 g / sum_I3 g at phase 1's end and at the end (the paper's automatic balancing: near 1); the
    scores' largest share of the loss decrease and how often it passed phase2_share. The final attention:
    how many runs end with the paper's signs (dKQ_21, dKQ_12 > 0 > dKQ_31, dKQ_32), the smallest of those
    four |dKQ| over the largest, the 99th percentile and the median of the changes on a random word (the
    paper: an order larger), the largest of the four, and the final attention entropy against ln L, that
    of uniform attention."""
    runs = sw.runs
    ds = sw.by_run(variables=["t", "loss_I2", "loss_I3", "balance", "share_scores", "G3"])
    t, share = ds["t"].values, ds["share_scores"].values  # (run, record)
    keys = canonical(sw)
    ok = (runs["status"] == "ok").values
    predicted = runs[["dKQ_21", "dKQ_12", "dKQ_31", "dKQ_32"]]

    def rises(obs):  # per run: whether obs passes its initial value before phase 1 ends (no: it never ends)
        return [bool(np.nanmax(np.where(tt <= t1, l, np.nan)) > l[0]) if t1 == t1 else False
                for tt, l, t1 in zip(t, ds[obs].values, runs["t_phase1_end"])]

    runs = runs.assign(
        rises_I2=rises("loss_I2"),
        rises_I3=rises("loss_I3"),
        balance_phase1=[float(b[np.nonzero(tt <= t1)[0][-1]]) if t1 == t1 else np.nan
                        for tt, b, t1 in zip(t, ds["balance"].values, runs["t_phase1_end"])],
        max_share_scores=np.nanmax(np.where(np.isnan(share), -np.inf, share), axis=1),
        G3_start=ds["G3"].values[:, 0],
        signs=(runs["dKQ_21"] > 0) & (runs["dKQ_12"] > 0) & (runs["dKQ_31"] < 0) & (runs["dKQ_32"] < 0),
        smallest=predicted.abs().min(axis=1),
        largest=predicted.abs().max(axis=1))
    bad = int((~ok).sum())
    not_ok = ", ".join(f"{n} {status}" for status, n in runs[~ok].groupby("status").size().items())
    runs = runs[ok]
    axes = [a for a in sw.axes if a != "seed"]
    phases, final = [], []
    for key, part in runs.groupby(axes if len(axes) > 1 else axes[0], sort=True) if axes else [((), runs)]:
        key = [label(k) for k in (key if isinstance(key, tuple) else (key,))]
        n = len(part)
        phases.append(key + [
            str(n), span(part["t_phase1_end"], ".3g"), span(part["t_loss_below"], ".3g"),
            f"{int(part['rises_I2'].sum())} / {int(part['rises_I3'].sum())}",
            span(part["balance_phase1"], ".2f"), span(part["final_balance"], ".2f"),
            span(part["max_share_scores"], ".2g"), f"{int(part['t_phase2_start'].notna().sum())}"])
        final.append(key + [
            f"{int(part['signs'].sum())} / {n}", span(part["smallest"] / part["dKQ_random_max"], ".2g"),
            span(part["smallest"] / part["dKQ_random_q99"], ".2g"),
            span(part["smallest"] / part["dKQ_random_median"], ".3g"), span(part["largest"], ".2g"),
            span(part["final_attn_entropy"], ".4f")])
    L = float(keys.get("L", "nan"))
    print(f"cooccurrence to flow time {runs['t_final'].max():g}, median (range) over the runs of a cell; "
          f"{bad} runs not ok{' (' + not_ok + ')' if bad else ''}\n")
    print(markdown(axes + ["runs ok", "t phase1_end", f"t loss < {keys.get('loss_threshold', '?')}",
                           "I2 / I3 loss rises in phase 1", "balance at phase1_end", "balance at the end",
                           "largest share_scores", f"share_scores > {keys.get('phase2_share', '?')}"], phases))
    lines = []
    for below, part in runs.groupby(runs["G3_start"] < 0):
        lines.append(f"- G3 at t = 0 {'below' if below else 'at or above'} 0: the I2 loss rises in "
                     f"{int(part['rises_I2'].sum())}, the I3 loss in {int(part['rises_I3'].sum())} of {len(part)} runs")
    print("\nthe early rise by the common word's initial response G3 (every cell together):\n")
    print("\n".join(lines))
    print(f"\nthe final change of W_K^T W_Q: the paper's signs (dKQ_21, dKQ_12 > 0 > dKQ_31, dKQ_32), the "
          f"smallest of the four's magnitudes over the largest, the 99th percentile and the median of the random "
          f"words' (dKQ_random_max, _q99, _median), the largest of the four; and the final attention entropy "
          f"(uniform attention: ln L = {np.log(L):.4f})\n")
    print(markdown(axes + ["paper's signs", "smallest / random max", "smallest / random q99",
                           "smallest / random median", "largest of the four", "attention entropy"], final))


def value_softmax_ratio(sw, png):
    """The square loss over a fine grid of lr_ratio: the share of runs that polarise per cell, then the
    phase boundary, where that share first passes one half along lr_ratio (Sweep.boundary)."""
    cells = sw.cells
    keys = canonical(sw)
    rows_axes = [a for a in sw.axes if a not in ("seed", "lr_ratio")]
    ratios = sorted(cells["lr_ratio"].unique())
    rows = []
    for key, part in cells.groupby(rows_axes, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        share = dict(zip(part["lr_ratio"], part["frac_polarised"] * part["n_runs"]))
        rows.append([label(k) for k in key] + [f"{share[r]:.0f}" if r in share else "" for r in ratios])
    n = int(cells["n_runs"].min())
    print(f"value_softmax, loss {keys.get('loss', '?')}, d = {keys.get('d', '?')}: runs polarised by flow time "
          f"{sw.runs['t_final'].max():g} (max sigma above {keys.get('polar_threshold', '?')}), of {n} a cell; "
          f"columns: lr_ratio\n")
    print(markdown(rows_axes + [f"{r:.3g}" for r in ratios], rows))
    b = sw.boundary("polarised", x="lr_ratio")
    print("\nwhere half the runs polarise along lr_ratio (interpolated in log lr_ratio between the cells "
          "either side)\n")
    print(markdown(rows_axes + ["below", "above", "critical lr_ratio", "crossing"],
                   [[label(r[a]) for a in rows_axes] + [f"{r['below']:.3g}", f"{r['above']:.3g}",
                                                        f"{r['x_cross']:.3g}", r["crossing"]]
                    for r in b.to_dict("records")]))
    if png:
        sw.heatmap("polarised", x="lr_ratio", y="v_scale", facet="n" if "n" in rows_axes else None,
                   value="frac", threshold=0.5, out=png)
        print(f"\n{png}")


def pathcond_demo(sw, png):
    """The two-moons demo: the loss at steps 500, 2000 and 3000 per rescaling, each seed and the median."""
    ds = sw.ds
    steps = [500, 2000, 3000]
    rescale = [str(v) for v in ds["rescale"].values]
    rows = []
    for name in rescale:
        cell = ds.sel(rescale=name)
        st, loss = cell["step"].values, cell["loss"].values  # (seed, record)
        cols = []
        for s in steps:
            at = [row_l[np.where(row_s == s)[0][0]] if (row_s == s).any() else np.nan for row_s, row_l in zip(st, loss)]
            cols.append(f"{np.nanmedian(at):.4f} ({' '.join(f'{x:.3f}' for x in at)})")
        rows.append([name] + cols)
    lead = []
    base = ds.sel(rescale="none")
    for name in rescale:
        if name == "none":
            continue
        cell = ds.sel(rescale=name)
        for s in steps:
            k = np.where(cell["step"].values[0] == s)[0]
            if len(k) == 0:
                continue
            ahead = int((cell["loss"].values[:, k[0]] < base["loss"].values[:, k[0]]).sum())
            lead.append(f"{name} below none at step {s}: {ahead} of {cell.sizes['seed']} seeds")
    print(f"two-moons demo: loss at steps {', '.join(map(str, steps))}, median (each seed)\n")
    print(markdown(["rescale"] + [f"step {s}" for s in steps], rows))
    print("\n" + "\n".join(f"- {x}" for x in lead))


def pathcond_trends(sw, png):
    """Per cell: the median speed-up t(none) / t(rescaled) to the loss threshold, and the median loss at
    step 500 of each rescaling; then, per init and rescaling, how often a deeper, a narrower or a smaller
    initialisation gives a larger speed-up (the paper's prediction), over the pairs of cells that differ
    in that axis alone."""
    cells = sw.cells
    ds = sw.ds
    step = 500
    axes = [a for a in ("init", "lr", "init_scale", "depth", "width") if a in cells.columns]
    col = "speedup_time_to_loss_vs_none"

    def loss_at(sel):
        st, loss = ds["step"].sel(sel).values, ds["loss"].sel(sel).values  # (seed, record)
        at = [row_l[np.where(row_s == step)[0][0]] for row_s, row_l in zip(st, loss) if (row_s == step).any()]
        return float(np.median(at)) if at else float("nan")

    rows, speed = [], {}
    for key, part in cells.groupby(axes, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        sel = dict(zip(axes, key))
        cell = []
        for rs in ("pathcond", "enorm"):
            v = part[part.rescale == rs][col]
            speed[(rs,) + key] = float(v.iloc[0]) if len(v) else float("nan")
            cell.append(f"{speed[(rs,) + key]:.2f}")
        losses = [loss_at({**sel, "rescale": rs}) for rs in ("none", "pathcond", "enorm")]
        runs = sw.runs
        for a, v in sel.items():
            runs = runs[runs[a] == v]
        reached = " / ".join(f"{runs[runs.rescale == rs]['t_time_to_loss'].notna().sum()}"
                             for rs in ("none", "pathcond", "enorm"))
        rows.append([label(k) for k in key] + cell + [reached] +
                    [f"{x:.3f}" for x in losses])
    thr = canonical(sw).get("loss_threshold", "?")
    n = ds.sizes.get("seed", 1)
    print(f"speed-up t(none) / t(rescaled) to loss {thr}, median over the seeds (of {n}) where both reached it "
          f"(nan: none did), and the median loss at step {step}\n")
    print(markdown(axes + ["pathcond speed-up", "enorm speed-up", "seeds reaching it: none / pathcond / enorm",
                           f"none, step {step}", f"pathcond, step {step}", f"enorm, step {step}"], rows))
    # the prediction: speed-up grows with depth, falls with width and with init_scale
    trends = {"depth": +1, "width": -1, "init_scale": -1}
    lines = []
    inits = sorted(cells["init"].unique()) if "init" in axes else [None]
    for init in inits:
        for rs in ("pathcond", "enorm"):
            parts = []
            for axis, sign in trends.items():
                if axis not in axes:
                    continue
                i = axes.index(axis)
                agree = total = 0
                for key, v in speed.items():
                    if key[0] != rs or (init is not None and key[1 + axes.index("init")] != init):
                        continue
                    values = sorted(cells[axis].unique())
                    j = values.index(key[1 + i])
                    if j + 1 == len(values):
                        continue
                    other = key[: 1 + i] + (values[j + 1],) + key[2 + i:]
                    w = speed.get(other, float("nan"))
                    if np.isnan(v) or np.isnan(w):
                        continue
                    total += 1
                    agree += (w - v) * sign > 0
                word = {"depth": "deeper", "width": "narrower", "init_scale": "smaller init_scale"}[axis]
                parts.append(f"{word}: larger in {agree} of {total}")
            lines.append(f"- {rs}{'' if init is None else ', init ' + init}: " + "; ".join(parts))
    print("\nthe paper's trends (pairs of neighbouring cells that differ in one axis, both speed-ups finite):\n")
    print("\n".join(lines))


TABLES = {"yang2024_cooccurrence": cooccurrence, "yang2024_cooccurrence_ratio": cooccurrence,
          "tian2023_scan_snap": scan_snap, "tian2024_joma": joma, "tian2024_joma_toy": joma_toy,
          "tian2024_joma_rebound": joma_rebound, "tian2024_joma_rebound_step": joma_rebound,
          "tian2024_joma_rebound_long": joma_rebound,
          "lebeurrier2026_pathcond": pathcond_trends, "lebeurrier2026_pathcond_demo": pathcond_demo,
          "varre2026_value_softmax": value_softmax, "varre2026_value_softmax_tied": value_softmax,
          "varre2026_value_softmax_regression": value_softmax,
          "varre2026_value_softmax_square_ratio": value_softmax_ratio}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", choices=sorted(TABLES))
    ap.add_argument("out", help="the sweep's output directory")
    ap.add_argument("--png", help="the table's picture, where it has one")
    a = ap.parse_args()
    try:
        sw = flowsweep.open(a.out)
    except flowsweep.SweepError as e:
        sys.exit(str(e))
    TABLES[a.sweep](sw, a.png)


if __name__ == "__main__":
    main()
