#!/usr/bin/env python3
"""Pictures of a sweep's output directory.

    plot.py DIR                                   # the standard set, into DIR/plots/
    plot.py DIR --heatmap DETECTOR [--x AXIS] [--y AXIS] [--facet AXIS] [--value median|frac] [--where ...]
    plot.py DIR --trajectory OBSERVABLE [--runs ID,ID,... | --where KEY=VALUE,... | --first N]
    plot.py DIR --final-config [--where KEY=VALUE,... | --runs ID,...]

Heatmaps show, over two grid axes (log scale where the axis is log-spaced, named ticks where its values
are words), a detector's median time or the fraction of runs reaching it, or the median of a final
quantity (the phase diagram's median_ columns), faceted over a third axis, on one colour scale; cells
that differ in axes not drawn are pooled by their median. Trajectories show an observable against
flow time for chosen runs with their phase times marked, each run named by the grid values that tell it
from the others. The final configuration (final_config.csv) is drawn as attention over tokens, one row per
class (per sample type and query word for cooccurrence), the median over the chosen runs (every run
without --where or --runs)."""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def fail(msg):
    print(f"plot.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load(outdir):
    paths = {name: os.path.join(outdir, name) for name in ("manifest.json", "runs.csv", "phase_diagram.csv",
                                                          "trajectories.h5")}
    for name, path in paths.items():
        if not os.path.isfile(path):
            fail(f"{path}: missing (is {outdir} a flowsweep output directory?)")
    try:
        manifest = json.load(open(paths["manifest.json"]))
    except (OSError, ValueError) as e:
        fail(f"{paths['manifest.json']}: cannot read: {e}")
    try:
        runs = pd.read_csv(paths["runs.csv"], dtype={"run_id": str})
        cells = pd.read_csv(paths["phase_diagram.csv"])
    except (OSError, ValueError, pd.errors.ParserError) as e:
        fail(f"cannot read the tables in {outdir}: {e}")
    try:
        h5 = h5py.File(paths["trajectories.h5"], "r")
        h5["run"][0]
    except (OSError, KeyError, ValueError) as e:
        fail(f"{paths['trajectories.h5']}: cannot read (missing or truncated?): {e}")
    return manifest, runs, cells, h5


def axis_kinds(manifest):
    return {a["name"]: a["kind"] for a in manifest.get("axes", [])}


def heatmap(outdir, manifest, cells, detector, x, y, facet, value, dest):
    """A detector's median time or reach (or, for a name with a median_ column, that per-cell median)
    over two axes; cells that differ only in axes not drawn are pooled by their median."""
    kinds = axis_kinds(manifest)
    if detector in cells and detector.startswith(("median_", "t_median_", "frac_")):  # a column named whole
        col, what = detector, detector.replace("_", " ", 1)
    elif value == "frac":
        col, what = f"frac_{detector}", f"fraction reaching {detector}"
    elif f"t_median_{detector}" in cells:
        col, what = f"t_median_{detector}", f"median flow time of {detector}"
    else:
        col, what = f"median_{detector}", f"median {detector}"
    if col not in cells:
        names = [c[len("frac_"):] for c in cells.columns if c.startswith("frac_")]
        names += [c[len("median_"):] for c in cells.columns if c.startswith("median_")]
        fail(f"no detector or median '{detector}' in {outdir}/phase_diagram.csv; there: {', '.join(names)}")
    axes = [a for a in kinds if a != "seed"]
    x = x or (axes[0] if axes else None)
    y = y or (axes[1] if len(axes) > 1 else None)
    if x is None:
        fail("the sweep has no axis but seed: nothing to draw a phase diagram over")
    for a in (x, y, facet):
        if a is not None and a not in cells:
            fail(f"no axis '{a}' in {outdir}/phase_diagram.csv; axes: {', '.join(axes)}")
    facets = sorted(cells[facet].unique()) if facet else [None]
    finite = cells[col][np.isfinite(cells[col].astype(float))]
    vmin, vmax = (finite.min(), finite.max()) if len(finite) else (None, None)  # one scale for every facet
    fig, panels = plt.subplots(1, len(facets), figsize=(4.5 * len(facets), 3.8), squeeze=False)
    for panel, fv in zip(panels[0], facets):
        sub = cells if fv is None else cells[cells[facet] == fv]
        if y is None:
            sub = sub.groupby(x, as_index=False)[col].median()
            pos, _ = positions(sub[x].values, kinds.get(x))
            panel.plot(pos, sub[col], "o-")
            label_axis(panel, "x", x, sub[x].values, kinds)
            panel.set_ylabel(what)
        else:
            grid = sub.pivot_table(index=y, columns=x, values=col, aggfunc="median", dropna=False)
            _, xe = positions(grid.columns.values, kinds.get(x))
            _, ye = positions(grid.index.values, kinds.get(y))
            im = panel.pcolormesh(xe, ye, grid.values.astype(float), shading="flat", cmap="viridis",
                                  vmin=vmin, vmax=vmax)
            fig.colorbar(im, ax=panel, label=what)
            label_axis(panel, "x", x, grid.columns.values, kinds)
            label_axis(panel, "y", y, grid.index.values, kinds)
        if fv is not None:
            panel.set_title(f"{facet} = {fv}")
    fig.suptitle(f"{manifest['spec']['model']}: {col}")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


def numeric(values):
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None


def spaced(kind, values):
    """A range, linspace or geomspace axis of numbers is drawn to scale; a list (of numbers picked by hand,
    or of words such as phi = relu) one cell per value, in order."""
    return kind in ("range", "linspace", "geomspace") and numeric(values) is not None


def positions(values, kind):
    """Where an axis's values sit and the cell edges around them."""
    if not spaced(kind, values):
        return np.arange(len(values)), np.arange(len(values) + 1) - 0.5
    c = numeric(values)
    return c, edges(c, kind == "geomspace")


def label_axis(panel, which, name, values, kinds):
    """Names the x or y axis of a panel: ticks per value for a list, a log scale for a geomspace."""
    getattr(panel, f"set_{which}label")(name)
    if not spaced(kinds.get(name), values):
        getattr(panel, f"set_{which}ticks")(np.arange(len(values)), [short(v) for v in values])
    elif kinds.get(name) == "geomspace":
        getattr(panel, f"set_{which}scale")("log")


def edges(centres, log):
    c = np.log(centres) if log else centres.astype(float)
    if len(c) == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


def run_labels(manifest, runs, ids):
    """Each run named by the grid values that differ among the plotted runs (its id where none do)."""
    axes = [n for n in axis_kinds(manifest) if n in runs.columns]
    rows = runs.set_index("run_id").loc[ids]
    varying = [a for a in axes if rows[a].nunique() > 1]
    if not varying:
        return {rid: rid for rid in ids}
    return {rid: " ".join(f"{a}={short(rows.at[rid, a])}" for a in varying) for rid in ids}


def short(v):
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def significant_digits(text):
    """Significant digits written in a number: 3 in '3.16', 4 in '3.162', 2 in '1.5e-3'."""
    mantissa = text.lower().lstrip("+-").split("e")[0].replace(".", "").lstrip("0")
    return max(len(mantissa), 1)


def matches_number(col, text):
    """col == the number in text: to 1e-12, or, where nothing matches so, at the digits given (the legends
    and labels show 4), so that lr_ratio=3.162 finds 3.1622776601683795."""
    x = float(text)
    exact = np.isclose(col, x, rtol=1e-12, atol=0)
    if exact.any():
        return exact
    digits = significant_digits(text)
    return col.map(lambda v: math.isfinite(v) and float(f"{v:.{digits}g}") == float(f"{x:.{digits}g}"))


def matching(table, where, what):
    """The rows of `table` whose columns match every KEY=VALUE of `where` (numbers compared as numbers)."""
    keep = pd.Series(True, index=table.index)
    for item in where.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in table.columns:
            fail(f"--where {item}: expected KEY=VALUE with KEY one of: {', '.join(table.columns)}")
        col = table[key]
        try:
            keep &= matches_number(col.astype(float), value.strip())
        except ValueError:
            keep &= col.astype(str) == value.strip()
    if not keep.any():
        fail(f"--where {where}: no {what} matches")
    return table[keep]


def select(runs, where):
    """Run ids matching `where`."""
    return list(matching(runs, where, "run").run_id)


def trajectory(manifest, runs, h5, observable, ids, dest):
    if observable not in h5:
        names = [k for k in h5.keys() if isinstance(h5[k], h5py.Dataset) and h5[k].ndim == 2 and k not in ("step", "t")]
        fail(f"no observable '{observable}'; recorded: {', '.join(sorted(names))}")
    all_ids = [s.decode() if isinstance(s, bytes) else s for s in h5["run"][:]]
    detectors = [c[2:] for c in runs.columns if c.startswith("t_") and c not in ("t_final",)]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    known = set(all_ids) & set(runs.run_id)
    for rid in ids:
        if rid not in known:
            fail(f"no run '{rid}' in this sweep")
    labels = run_labels(manifest, runs, ids)
    for n, rid in enumerate(ids):
        i = all_ids.index(rid)
        k = int(h5["n_records"][i])
        t, v = h5["t"][i, :k], h5[observable][i, :k]
        color = colors[n % len(colors)]
        ax.plot(t, v, color=color, label=labels[rid])
        row = runs[runs.run_id == rid].iloc[0]
        for d, style in zip(detectors, ("--", ":", "-.", (0, (1, 3)))):
            td = row.get(f"t_{d}")
            if td is not None and not (isinstance(td, float) and math.isnan(td)):
                ax.axvline(float(td), color=color, linestyle=style, linewidth=0.9,
                           label=f"{d}" if n == 0 else None)
    ax.set_xlabel("flow time t")
    ax.set_ylabel(observable)
    if observable.startswith("loss") and np.nanmin(h5[observable][:]) > 0:
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{manifest['spec']['model']}: {observable}")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


# How each model's final_config.csv is drawn: the columns that make a picture's row, the column that
# makes its column (None: the order within the row), the weight.
FINAL_LAYOUT = {
    "cooccurrence": (["type", "query"], "key", "attention"),
    "joma": (["class"], "token", "attention"),
    "value_softmax": ([], "index", "sigma"),
    "scan_snap": (["class"], None, "attention"),
}


def final_config(outdir, manifest, runs, ids, where, dest):
    model = manifest["spec"]["model"]
    path = os.path.join(outdir, "final_config.csv")
    if model not in FINAL_LAYOUT or not os.path.isfile(path):
        fail(f"{model} has no final configuration table ({path})")
    rows_by, col_by, weight = FINAL_LAYOUT[model]
    table = pd.read_csv(path, dtype={"run_id": str})
    table = table[table.run_id.isin(ids)]
    if table.empty:
        fail(f"no final configuration for the chosen runs in {path}")
    table = table.copy()
    if col_by is None:
        col_by = "position"
        table[col_by] = table.groupby(["run_id"] + rows_by).cumcount()
    key = rows_by + [col_by]
    med = table.groupby(key)[weight].median().reset_index()
    records = med.to_dict("records")  # by column name: "class" is no attribute name
    row_keys = sorted({tuple(r[c] for c in rows_by) for r in records})
    cols = sorted(med[col_by].unique())
    grid = np.full((len(row_keys), len(cols)), np.nan)
    for r in records:
        grid[row_keys.index(tuple(r[c] for c in rows_by)), cols.index(r[col_by])] = r[weight]
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * len(cols), 14), min(1.5 + 0.3 * len(row_keys), 12)))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, interpolation="nearest")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([f"{c:g}" if isinstance(c, (float, np.floating)) else str(c) for c in cols], fontsize=7)
    ax.set_xlabel(col_by + (" (0: random words pooled)" if model == "cooccurrence" else ""))
    ax.set_yticks(range(len(row_keys)))
    ax.set_yticklabels([" ".join(f"{n}={v:g}" for n, v in zip(rows_by, rk)) for rk in row_keys], fontsize=7)
    fig.colorbar(im, ax=ax, label=f"median {weight} over {table.run_id.nunique()} runs")
    ax.set_title(f"{model}: final {weight}" + (f" ({where})" if where else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--heatmap", metavar="DETECTOR")
    ap.add_argument("--x")
    ap.add_argument("--y")
    ap.add_argument("--facet")
    ap.add_argument("--value", choices=("median", "frac"), default="median")
    ap.add_argument("--trajectory", metavar="OBSERVABLE")
    ap.add_argument("--final-config", action="store_true",
                    help="the final attention configuration, one row per class, median over the chosen runs")
    ap.add_argument("--runs", help="comma-separated run ids")
    ap.add_argument("--where", help="only the runs (trajectories) or cells (heatmaps) whose grid values match, "
                                    "e.g. hidden=64,lr_ratio=10")
    ap.add_argument("--first", type=int, default=4, help="without --runs: the first N runs")
    ap.add_argument("--out", help="PNG to write (default: DIR/plots/<name>.png)")
    a = ap.parse_args()
    if not os.path.isdir(a.dir):
        fail(f"{a.dir}: not a directory")
    manifest, runs, cells, h5 = load(a.dir)
    plots = os.path.join(a.dir, "plots")
    os.makedirs(plots, exist_ok=True)
    made = []
    if a.runs and a.where:
        fail("--runs and --where: give one")
    ids = a.runs.split(",") if a.runs else select(runs, a.where) if a.where else list(runs.run_id[: a.first])
    if a.heatmap:
        shown = matching(cells, a.where, "cell") if a.where else cells
        made.append(heatmap(a.dir, manifest, shown, a.heatmap, a.x, a.y, a.facet, a.value,
                            a.out or os.path.join(plots, f"heatmap_{a.heatmap}_{a.value}.png")))
    if a.trajectory:
        made.append(trajectory(manifest, runs, h5, a.trajectory, ids,
                               a.out or os.path.join(plots, f"trajectory_{a.trajectory}.png")))
    if a.final_config:
        chosen = ids if (a.runs or a.where) else list(runs.run_id)
        made.append(final_config(a.dir, manifest, runs, chosen, a.where,
                                 a.out or os.path.join(plots, "final_config.png")))
    if not a.heatmap and not a.trajectory and not a.final_config:
        axes = [n for n in axis_kinds(manifest) if n != "seed"]
        detectors = [c[len("frac_"):] for c in cells.columns if c.startswith("frac_")]
        for d in detectors:
            if axes:
                made.append(heatmap(a.dir, manifest, cells, d, None, None, axes[2] if len(axes) > 2 else None,
                                    "median", os.path.join(plots, f"heatmap_{d}_median.png")))
        made.append(trajectory(manifest, runs, h5, "loss", ids, os.path.join(plots, "trajectory_loss.png")))
    for m in made:
        print(m)


if __name__ == "__main__":
    main()
