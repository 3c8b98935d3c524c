"""Pictures of a sweep's output directory (what `flowsweep plot DIR ...` runs).

    python -m flowsweep.plot DIR                        # the standard set, into DIR/plots/
    ... --heatmap NAME [--x AXIS] [--y AXIS] [--facet AXIS] [--value median|frac] [--threshold T] [--where ...]
    ... --trajectory OBSERVABLE [--color AXIS] [--runs ID,... | --where KEY=VALUE,... | --first N]
    ... --curve QUANTITY --x AXIS [--color AXIS] [--where ...]
    ... --final-config [--at DETECTOR] [--where KEY=VALUE,... | --runs ID,...]

Heatmaps show, over two grid axes (log scale where the axis is log-spaced, named ticks where its values
are words), a detector's median flow time, the fraction of runs reaching it, or the median of a final
quantity (a phase-diagram column), faceted over a third axis, on one colour scale, logarithmic when the
values span more than a decade. A cell where the detector never fired is hatched, one where only some runs
reached it says which share did, and runs that diverged or failed are counted on the figure. Cells that
differ in axes not drawn are pooled by their median, and the title says so. With --threshold T, a line
joins the points where the value first crosses T along x, one per row (the phase boundary; phase.py).

Trajectories show an observable against flow time: the median and interquartile band over seeds, one line
per cell (or per value of --color, pooling the other axes), with each line's median phase times marked;
chosen runs (--runs, --first) are drawn one line each. Flow time is logarithmic when the phases happen
early. Curves show a per-run quantity (a detector's time, a final observable or column) against one axis:
median and interquartile band over seeds, one line per value of --color. The final configuration
(final_config.csv) is drawn as attention over tokens, one row per class, the median over the chosen runs;
with --at DETECTOR, the attention when that detector answered.

--where KEY=VALUE,... keeps the runs or cells with those grid values; a number matches at the digits it is
given with (lr_ratio=3.162 finds 3.1622776601683795).

From Python, a Sweep draws the same pictures (`sw.heatmap(...)`, `sw.trajectory(...)`, `sw.curve(...)`,
`sw.final_config(...)`): each returns the matplotlib Figure, which a notebook shows, or with out= writes
the PNG the command would."""
import argparse
import math
import os
import sys
import warnings

import matplotlib.colors as mcolors
import matplotlib.patches as mpatches
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import flowsweep
from flowsweep.phase import crossing, log_axis


class PlotError(flowsweep.SweepError):
    """A picture that cannot be drawn as asked (an unknown axis, detector or run; nothing matches)."""


def fail(msg):
    raise PlotError(msg)


# --- axes and values --------------------------------------------------------------------------------------

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


def edges(centres, log):
    c = np.log(centres) if log else centres.astype(float)
    if len(c) == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


def label_axis(panel, which, name, values, kind):
    """Names the x or y axis of a panel: ticks per value for a list, a log scale for a geomspace."""
    getattr(panel, f"set_{which}label")(name)
    if not spaced(kind, values):
        getattr(panel, f"set_{which}ticks")(np.arange(len(values)), [short(v) for v in values])
    elif kind == "geomspace":
        getattr(panel, f"set_{which}scale")("log")


def short(v):
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def cell_name(values):
    """"m=32, lr_ratio=10": grid values as a title or legend shows them."""
    return ", ".join(f"{k}={short(v)}" for k, v in values.items())


def spans_decades(values):
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return len(v) > 1 and v.min() > 0 and v.max() / v.min() > 10


# --- --where ----------------------------------------------------------------------------------------------

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


def parse_where(where):
    pairs = []
    for item in where.split(","):
        key, sep, value = item.partition("=")
        pairs.append((key.strip(), sep, value.strip(), item))
    return pairs


def matching(table, where, what):
    """The rows of `table` whose columns match every KEY=VALUE of `where` (numbers compared as numbers)."""
    keep = pd.Series(True, index=table.index)
    for key, sep, value, item in parse_where(where):
        if not sep or key not in table.columns:
            fail(f"--where {item}: expected KEY=VALUE with KEY one of: {', '.join(table.columns)}")
        col = table[key]
        try:
            keep &= matches_number(col.astype(float), value)
        except ValueError:
            keep &= col.astype(str) == value
    if not keep.any():
        fail(f"--where {where}: no {what} matches")
    return table[keep]


def select(runs, where):
    """Run ids matching `where`."""
    return list(matching(runs, where, "run").run_id)


def chosen(sw, where=None, runs=None, first=None):
    """The runs a picture of runs draws: those matching `where`, the ids `runs` (a list, or comma-separated),
    or the first `first`; all of them by default. Returns the matching rows of runs.csv, the ids, and whether
    they are pooled into bands (not when runs are named or counted)."""
    if runs and (where or first):
        fail("--runs with --where or --first: give one")
    table = matching(sw.runs, where, "run") if where else sw.runs
    if runs:
        ids = runs.split(",") if isinstance(runs, str) else [str(r) for r in runs]
    elif first:
        ids = list(table.run_id[:first])
    else:
        ids = list(table.run_id)
    return table, ids, not (runs or first)


def where_text(where):
    """`where` as --where's text: a dict {"m": 32, "lr_ratio": 10} or the text itself."""
    if where is None or isinstance(where, str):
        return where or None
    return ",".join(f"{k}={v}" for k, v in where.items())


def run_labels(sw, runs, ids):
    """Each run named by the grid values that differ among the plotted runs (its id where none do)."""
    axes = [a for a in sw.axes if a in runs.columns]
    rows = runs.set_index("run_id").loc[ids]
    varying = [a for a in axes if rows[a].nunique() > 1]
    if not varying:
        return {rid: rid for rid in ids}
    return {rid: " ".join(f"{a}={short(rows.at[rid, a])}" for a in varying) for rid in ids}


def fixed_values(sw, rows):
    """The grid values every one of `rows` shares (the seed too, when one is chosen): the cell a picture shows."""
    return {a: rows[a].iloc[0] for a in sw.axes if a in rows and rows[a].nunique() == 1}


def line_colors(n, values=None, log=False):
    """n colours that do not repeat: a sequential map along an ordered numeric axis, else a qualitative one."""
    v = numeric(values) if values is not None else None
    if v is not None and n > 1:
        p = np.log(v) if log and (v > 0).all() else v
        span = p.max() - p.min()
        return [colormaps["viridis"](0.9 * (x - p.min()) / span if span > 0 else 0.5) for x in p]
    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    return [cmap(i if n <= 20 else i / max(n - 1, 1)) for i in range(n)]


def grouped(rows, by):
    """(key tuple, rows) per distinct value of the columns `by`, in order; one group of every row without."""
    if not by:
        return [((), rows)]
    return [(k if isinstance(k, tuple) else (k,), g) for k, g in rows.groupby(by if len(by) > 1 else by[0], sort=True)]


def titled(sw, head, rows, band_line=None, drop=()):
    """A title that names the cell the rows share, what a band pools, and the runs that did not finish."""
    cell = {k: v for k, v in fixed_values(sw, rows).items() if k not in drop}
    lines = [head + (f" at {cell_name(cell)}" if cell else ""), band_line, outcome_note(rows)]
    return "\n".join(line for line in lines if line)


DPI = 110


def figure(size):
    """A figure drawn by Agg whatever pyplot's backend, and outside pyplot's list of figures: its layout is
    the same in a notebook as in a file, and a notebook shows it once, as the value a call returns."""
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save(fig, dest, rect=(0, 0, 1, 1)):
    """Writes the figure to the PNG `dest` and returns its path; with no `dest`, returns the figure."""
    fig.tight_layout(rect=rect)
    if dest is None:
        return fig
    fig.savefig(dest, dpi=DPI)
    return dest


def outcome_note(rows):
    """"3 of 36 runs diverged, 1 failed": said on a figure whenever any run did not finish."""
    n = len(rows)
    status = rows["status"].value_counts() if "status" in rows else {}
    parts = [f"{status[s]} of {n} runs {s}" for s in ("diverged", "failed", "missing", "cancelled") if s in status]
    return "; ".join(parts)


# --- heatmaps ---------------------------------------------------------------------------------------------

def resolve_column(cells, name, value):
    """The phase-diagram column a heatmap draws, what to call it, and the reach column that goes with it."""
    if name in cells and name.startswith(("median_", "t_median_", "frac_")):  # a column named whole
        col = name
    elif value == "frac":
        col = f"frac_{name}"
    elif f"t_median_{name}" in cells:
        col = f"t_median_{name}"
    elif f"median_{name}" not in cells and f"frac_{name}" in cells:  # a yes/no final column: its fraction
        col = f"frac_{name}"
    else:
        col = f"median_{name}"
    if col not in cells:
        names = [c[len("frac_"):] for c in cells.columns if c.startswith("frac_")]
        names += [c[len("median_"):] for c in cells.columns if c.startswith("median_")]
        fail(f"no detector or median '{name}' in phase_diagram.csv; there: {', '.join(names)}")
    reach = f"frac_{col[len('t_median_'):]}" if col.startswith("t_median_") else None
    if col.startswith("t_median_"):
        what = f"median flow time of {col[len('t_median_'):]}"
    elif col.startswith("frac_") and f"t_median_{col[len('frac_'):]}" in cells:
        what = f"fraction of runs reaching {col[len('frac_'):]}"
    elif col.startswith("frac_"):
        what = f"fraction of runs with {col[len('frac_'):]}"
    else:
        what = f"median {col[len('median_'):]}"
    return col, what, reach


def heatmap(sw, name, x, y, facet, value, where, dest, threshold=None):
    cells = matching(sw.cells, where, "cell") if where else sw.cells
    col, what, reach = resolve_column(cells, name, value)
    axes = [a for a in sw.axes if a != "seed"]
    x = x or (axes[0] if axes else None)
    y = y or (axes[1] if len(axes) > 1 else None)
    if x is None:
        fail("the sweep has no axis but seed: nothing to draw a phase diagram over")
    for a in (x, y, facet):
        if a is not None and a not in cells:
            fail(f"no axis '{a}' in phase_diagram.csv; axes: {', '.join(axes)}")
    pooled = [a for a in axes if a not in (x, y, facet) and cells[a].nunique() > 1]
    facets = sorted(cells[facet].unique()) if facet else [None]
    values = cells[col].astype(float)
    finite = values[np.isfinite(values)]
    log = spans_decades(finite)
    norm = (mcolors.LogNorm(finite.min(), finite.max()) if log
            else mcolors.Normalize(finite.min(), finite.max()) if len(finite) else None)
    fig = figure((4.8 * len(facets), 4.2))
    panels = fig.subplots(1, len(facets), squeeze=False)
    never_drawn = partial_drawn = crossed = False
    for panel, fv in zip(panels[0], facets):
        sub = cells if fv is None else cells[cells[facet] == fv]
        keys = [k for k in (y, x) if k is not None]
        agg = {col: "median", "n_runs": "sum", "n_diverged": "sum", "n_failed": "sum"}
        if reach:
            agg[reach] = "mean"
        g = sub.groupby(keys, sort=True).agg(agg).reset_index()
        if y is None:
            pos, _ = positions(g[x].values, sw.axis_kind(x))
            panel.plot(pos, g[col], "o-")
            never = g[reach] == 0 if reach else g[col].isna()
            if never.any():
                panel.plot(pos[never.values], np.zeros(never.sum()), "x", color="0.4", label="never reached")
                panel.legend(fontsize=7)
            label_axis(panel, "x", x, g[x].values, sw.axis_kind(x))
            panel.set_ylabel(what)
            if log:
                panel.set_yscale("log")
            if threshold is not None:
                panel.axhline(threshold, color="0.3", linestyle="--", linewidth=1)
                c = boundary_at(sw, x, g[x].values, g[col].values, threshold)
                if c is not None:
                    panel.axvline(c, color="0.3", linestyle=":", linewidth=1)
                    crossed = True
        else:
            grid = g.pivot(index=y, columns=x, values=col)
            xs, ys = grid.columns.values, grid.index.values
            _, xe = positions(xs, sw.axis_kind(x))
            _, ye = positions(ys, sw.axis_kind(y))
            im = panel.pcolormesh(xe, ye, grid.values.astype(float), shading="flat", cmap="viridis", norm=norm)
            fig.colorbar(im, ax=panel, label=what + (" (log scale)" if log else ""))
            label_axis(panel, "x", x, xs, sw.axis_kind(x))
            label_axis(panel, "y", y, ys, sw.axis_kind(y))
            at = {(r[y], r[x]): r for r in g.to_dict("records")}
            for j, yv in enumerate(ys):
                for i, xv in enumerate(xs):
                    r = at.get((yv, xv))
                    if r is None:
                        continue
                    frac = r[reach] if reach else (0.0 if not np.isfinite(r[col]) else 1.0)
                    box = (xe[i], ye[j]), xe[i + 1] - xe[i], ye[j + 1] - ye[j]
                    cx, cy = centre(xe, i, sw.axis_kind(x)), centre(ye, j, sw.axis_kind(y))
                    if frac == 0 or not np.isfinite(r[col]):
                        panel.add_patch(mpatches.Rectangle(*box, facecolor="0.85", edgecolor="0.45", hatch="///",
                                                           linewidth=0))
                        never_drawn = True
                    elif frac < 1:
                        panel.text(cx, cy, f"{frac:.0%}", ha="center", va="center", fontsize=7, color="white",
                                   bbox=dict(boxstyle="round,pad=0.1", fc="black", alpha=0.35, lw=0))
                        partial_drawn = True
                    bad = r["n_diverged"] + r["n_failed"]
                    if bad:
                        panel.text(box[0][0], box[0][1], f" \u00d7{int(bad)}", ha="left", va="bottom", fontsize=6,
                                   color="red")
            if threshold is not None:
                points = [(boundary_at(sw, x, xs, grid.loc[yv].values, threshold),
                           centre(ye, j, sw.axis_kind(y))) for j, yv in enumerate(ys)]
                points = [(px, py) for px, py in points if px is not None]
                if points:
                    panel.plot(*zip(*points), "o-", color="white", markeredgecolor="black", linewidth=1.5,
                               markersize=5)
                    crossed = True
        if fv is not None:
            panel.set_title(f"{facet} = {short(fv)}", fontsize=9)
        if not len(finite):
            panel.text(0.5, 0.5, "no cell has a value", transform=panel.transAxes, ha="center", va="center")
    title = f"{sw.model}: {what}"
    if where:
        title += f" ({where})"
    if pooled:
        title += f"\nmedian over {', '.join(pooled)} (not drawn)"
    fig.suptitle(title, fontsize=10)
    notes = []
    if never_drawn:
        notes.append("hatched: never reached")
    if partial_drawn:
        notes.append("n%: share of the cell's runs that reached it")
    if threshold is not None:
        notes.append(f"line: where it crosses {threshold:g} along {x}" if crossed else
                     f"it crosses {threshold:g} along {x} nowhere")
    n_runs = int(cells["n_runs"].sum())
    n_div, n_fail = int(cells["n_diverged"].sum()), int(cells["n_failed"].sum())
    if n_div or n_fail:
        notes.append(f"\u00d7k: runs diverged or failed; {n_div} of {n_runs} runs diverged, {n_fail} failed")
    if notes:
        fig.text(0.5, 0.005, "; ".join(notes), ha="center", va="bottom", fontsize=7, color="0.25")
    return save(fig, dest, rect=(0, 0.04 if notes else 0, 1, 1))


def boundary_at(sw, x, xs, values, threshold):
    """Where on the drawn x axis `values` first crosses `threshold` (phase.crossing), or None: at the crossing
    itself on an axis drawn to scale, between the two cells' centres on an axis of cells."""
    kind = sw.axis_kind(x)
    numbers = numeric(xs)
    scaled = spaced(kind, xs)
    c = crossing(numbers if numbers is not None else np.arange(len(xs)), values, threshold,
                 numbers is not None and log_axis(numbers, kind))
    if c["at"] is None:
        return None
    if scaled:
        return c["x_cross"]
    i, j, f = c["at"]
    return i + f * (j - i)


def centre(e, i, kind):
    return math.sqrt(e[i] * e[i + 1]) if kind == "geomspace" and e[i] > 0 else (e[i] + e[i + 1]) / 2


# --- trajectories -----------------------------------------------------------------------------------------

def detectors_of(runs):
    return [c[2:] for c in runs.columns if c.startswith("t_") and c != "t_final"]


def reached_median(times):
    """The median phase time of the runs that reached it (NaN when none did)."""
    t = pd.to_numeric(times, errors="coerce").dropna()
    return float(t.median()) if len(t) else np.nan


def band(ts, vs):
    """Median and quartiles over runs of series sampled at their own flow times, on the longest run's times."""
    grid = max(ts, key=len)
    at = np.array([np.interp(grid, t, v, left=np.nan, right=np.nan) if len(t) > 1 else np.full(len(grid), np.nan)
                   for t, v in zip(ts, vs)])
    with warnings.catch_warnings():  # a time no run reached is NaN, as it should be
        warnings.simplefilter("ignore", RuntimeWarning)
        return grid, np.nanmedian(at, 0), np.nanpercentile(at, 25, 0), np.nanpercentile(at, 75, 0)


def trajectory(sw, observable, ids, color, banded, logt, dest):
    if observable not in sw.ds or sw.ds[observable].dims[-1:] != ("record",):
        names = [k for k, v in sw.ds.data_vars.items() if v.dims[-1:] == ("record",) and k not in ("step", "t")]
        fail(f"no observable '{observable}'; recorded: {', '.join(sorted(names))}")
    if color is not None and color not in sw.axes:
        fail(f"--color {color}: not an axis; axes: {', '.join(sw.axes)}")
    runs = sw.runs.set_index("run_id")
    for rid in ids:
        if rid not in runs.index:
            fail(f"no run '{rid}' in this sweep")
    sel = sw.by_run(ids, [observable, "t", "n_records"]).load()
    rows = runs.loc[ids]
    series = {}
    for n, rid in enumerate(ids):
        k = int(sel["n_records"].values[n])
        series[rid] = (sel["t"].values[n, :k], sel[observable].values[n, :k])
    detectors = detectors_of(sw.runs)
    varying = [a for a in sw.axes if a != "seed" and rows[a].nunique() > 1]
    if banded:
        by = [color] if color else varying
        groups = grouped(rows, by)
    else:
        labels = run_labels(sw, sw.runs, ids)
        groups = [((labels[rid],), rows.loc[[rid]]) for rid in ids]
        by = []
    kind = sw.axis_kind(by[0]) if len(by) == 1 else None
    keys = [g[0] for g in groups]
    colors = line_colors(len(groups), [k[0] for k in keys] if len(by) == 1 else None, kind == "geomspace")
    # Phase times: the median over each line's runs, of the runs that reached them.
    tmax = max((t[-1] for t, _ in series.values() if len(t)), default=1.0)
    phase_times = [reached_median(rows[f"t_{d}"]) for d in detectors if f"t_{d}" in rows]
    early = [t for t in phase_times if np.isfinite(t)]
    if logt is None:
        logt = bool(early) and max(early) < 0.15 * tmax
    fig = figure((7.8, 4.2))
    ax = fig.subplots()
    styles = ("--", ":", "-.", (0, (1, 3)), (0, (5, 2)), (0, (3, 1, 1, 1)), (0, (1, 1)), (0, (4, 4)))
    marked = set()
    for (key, members), c in zip(zip(keys, [g[1] for g in groups]), colors):
        ts = [series[r][0] for r in members.index]
        vs = [series[r][1] for r in members.index]
        label = cell_name(dict(zip(by, key))) if by else (key[0] if key else "all runs")
        if len(ts) > 1:
            t, med, lo, hi = band(ts, vs)
            keep = t > 0 if logt else np.ones(len(t), bool)
            ax.plot(t[keep], med[keep], color=c, label=f"{label} ({len(ts)} runs)")
            ax.fill_between(t[keep], lo[keep], hi[keep], color=c, alpha=0.2, linewidth=0)
        else:
            t, v = ts[0], vs[0]
            keep = t > 0 if logt else np.ones(len(t), bool)
            ax.plot(t[keep], v[keep], color=c, label=label)
        for d, style in zip(detectors, styles):
            td = reached_median(members[f"t_{d}"]) if f"t_{d}" in members else np.nan
            if np.isfinite(td) and (td > 0 or not logt):
                ax.axvline(float(td), color=c, linestyle=style, linewidth=0.9)
                marked.add(d)
    for d, style in zip(detectors, styles):  # one legend entry per detector drawn, in black
        if d in marked:
            ax.plot([], [], color="black", linestyle=style, linewidth=0.9, label=f"t_{d}")
    ax.set_xlabel("flow time t" + (" (log)" if logt else ""))
    if logt:
        ax.set_xscale("log")
    ax.set_ylabel(observable)
    values = np.concatenate([v for _, v in series.values()]) if series else np.array([])
    if observable.startswith("loss") and len(values) and np.nanmin(values) > 0:
        ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    band_line = None
    if banded and any(len(g[1]) > 1 for g in groups):
        pooled = [a for a in varying if a not in by]
        n_seeds = rows["seed"].nunique() if "seed" in rows else 1
        band_line = f"median and interquartile band over {n_seeds} seeds" + (f" and {', '.join(pooled)}" if pooled else "")
    ax.set_title(titled(sw, f"{sw.model}: {observable}", rows.reset_index(), band_line), fontsize=9)
    return save(fig, dest)


# --- curves: a per-run quantity against one axis -----------------------------------------------------------

def curve(sw, runs, quantity, x, color, dest):
    col = quantity if quantity in runs else f"t_{quantity}" if f"t_{quantity}" in runs else None
    numeric_cols = [c for c in runs.columns if c not in sw.axes and c not in ("run_id", "status")]
    if col is None:
        fail(f"no per-run quantity '{quantity}' in runs.csv; there: {', '.join(numeric_cols)}")
    if x is None or x not in sw.axes:
        fail(f"--curve needs --x AXIS, one of: {', '.join(a for a in sw.axes if a != 'seed')}")
    if color is not None and color not in sw.axes:
        fail(f"--color {color}: not an axis; axes: {', '.join(sw.axes)}")
    data = runs.copy()
    data[col] = pd.to_numeric(data[col], errors="coerce")
    by = [color] if color else []
    pooled = [a for a in sw.axes if a not in (x, color, "seed") and data[a].nunique() > 1]
    groups = grouped(data, by)
    keys = [g[0] for g in groups]
    colors = line_colors(len(groups), [k[0] for k in keys] if by else None, sw.axis_kind(color) == "geomspace")
    fig = figure((7.2, 4.2))
    ax = fig.subplots()
    partial = False
    for (key, members), c in zip(zip(keys, [g[1] for g in groups]), colors):
        stats = members.groupby(x, sort=True)[col].agg(
            median="median", q25=lambda s: s.quantile(0.25), q75=lambda s: s.quantile(0.75),
            reached=lambda s: s.notna().mean())
        pos, _ = positions(stats.index.values, sw.axis_kind(x))
        label = cell_name(dict(zip(by, key))) if by else "all runs"
        ax.plot(pos, stats["median"], "o-", color=c, label=label, markersize=4)
        ax.fill_between(pos, stats["q25"], stats["q75"], color=c, alpha=0.2, linewidth=0)
        some = (stats["reached"] < 1).values
        if some.any():
            ax.plot(pos[some], stats["median"].values[some], "o", markerfacecolor="white", color=c, markersize=6)
            partial = True
    if partial:
        ax.plot([], [], "o", markerfacecolor="white", color="black", label="not every run has a value")
    label_axis(ax, "x", x, sorted(data[x].unique()), sw.axis_kind(x))
    ax.set_ylabel(col)
    if spans_decades(data[col]):
        ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    band_line = f"median and interquartile band over {data['seed'].nunique() if 'seed' in data else 1} seeds"
    if pooled:
        band_line += f" and {', '.join(pooled)}"
    ax.set_title(titled(sw, f"{sw.model}: {col} against {x}", data, band_line, drop=(x,)), fontsize=9)
    return save(fig, dest)


# --- final configuration ----------------------------------------------------------------------------------

# How each model's final_config.csv is drawn: the columns that make a picture's row, the column that
# makes its column (None: the order within the row), the weight.
FINAL_LAYOUT = {
    "cooccurrence": (["type", "query"], "key", "attention"),
    "joma": (["class"], "token", "attention"),
    "value_softmax": ([], "index", "sigma"),
    "scan_snap": (["class"], None, "attention"),
}


def final_config(sw, ids, dest, at=None):
    """The final attention, or with `at` a detector's name the attention when that detector answered
    (final_config.csv's <weight>_at_<detector>), over the runs where it did."""
    model = sw.model
    if model not in FINAL_LAYOUT or sw.final is None:
        fail(f"{model} has no final configuration table ({os.path.join(sw.dir, 'final_config.csv')})")
    rows_by, col_by, weight = FINAL_LAYOUT[model]
    table = sw.final[sw.final.run_id.isin(ids)]
    if table.empty:
        fail("no final configuration for the chosen runs in final_config.csv")
    what = f"final {weight}"
    if at:
        column = f"{weight}_at_{at}"
        if column not in table.columns:
            known = [c[len(weight) + 4:] for c in table.columns if c.startswith(weight + "_at_") and not c.endswith("_step")]
            fail(f"--at {at}: not a detector of {model} ({', '.join(known)})")
        table = table[table[column + "_step"].notna()]
        if table.empty:
            fail(f"--at {at}: {at} never answered in the chosen runs")
        steps = table.groupby("run_id")[column + "_step"].first()
        what = f"{weight} at {at} (median step {steps.median():g})"
        table = table.drop(columns=[weight]).rename(columns={column: weight})
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
    fig = figure((min(2.5 + 0.35 * len(cols), 14), min(1.8 + 0.3 * len(row_keys), 12)))
    ax = fig.subplots()
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, interpolation="nearest")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([f"{c:g}" if isinstance(c, (float, np.floating)) else str(c) for c in cols], fontsize=7)
    ax.set_xlabel(col_by + (" (0: random words pooled)" if model == "cooccurrence" else ""))
    ax.set_yticks(range(len(row_keys)))
    ax.set_yticklabels([" ".join(f"{n}={v:g}" for n, v in zip(rows_by, rk)) for rk in row_keys], fontsize=7)
    fig.colorbar(im, ax=ax, label=f"median {weight} over {table.run_id.nunique()} runs")
    ax.set_title(titled(sw, f"{model}: {what}", sw.runs[sw.runs.run_id.isin(table.run_id.unique())]), fontsize=9)
    return save(fig, dest)


# --- command line -----------------------------------------------------------------------------------------

def main(argv=None):
    try:
        return draw(argv)
    except PlotError as e:
        print(f"flowsweep plot: {e}", file=sys.stderr)
        sys.exit(2)


def draw(argv):
    ap = argparse.ArgumentParser(prog="flowsweep plot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--heatmap", metavar="NAME", help="a detector, or a phase_diagram.csv column (median_...)")
    ap.add_argument("--x", help="the heatmap's or the curve's horizontal axis")
    ap.add_argument("--y", help="the heatmap's vertical axis")
    ap.add_argument("--facet", help="one heatmap panel per value of this axis")
    ap.add_argument("--value", choices=("median", "frac"), default="median")
    ap.add_argument("--threshold", type=float, help="with --heatmap: a line through where the value crosses this "
                                                    "along --x (the phase boundary)")
    ap.add_argument("--trajectory", metavar="OBSERVABLE")
    ap.add_argument("--curve", metavar="QUANTITY", help="a runs.csv column (t_<detector>, final_<observable>, ...) "
                                                       "against --x")
    ap.add_argument("--color", metavar="AXIS", help="one line per value of this axis, pooling the others")
    t = ap.add_mutually_exclusive_group()
    t.add_argument("--log-time", dest="logt", action="store_true", default=None, help="log flow time")
    t.add_argument("--linear-time", dest="logt", action="store_false", help="linear flow time")
    ap.add_argument("--final-config", action="store_true",
                    help="the final attention configuration, one row per class, median over the chosen runs")
    ap.add_argument("--at", metavar="DETECTOR", help="with --final-config: the attention when DETECTOR answered")
    ap.add_argument("--runs", help="comma-separated run ids, drawn one line each")
    ap.add_argument("--where", help="only the runs or cells whose grid values match, e.g. hidden=64,lr_ratio=10")
    ap.add_argument("--first", type=int, help="the first N runs, drawn one line each")
    ap.add_argument("--out", help="PNG to write (default: DIR/plots/<name>.png)")
    a = ap.parse_args(argv)
    try:
        sw = flowsweep.open(a.dir)
    except flowsweep.SweepError as e:
        fail(str(e))
    plots = os.path.join(a.dir, "plots")
    os.makedirs(plots, exist_ok=True)
    made = []
    runs, ids, banded = chosen(sw, a.where, a.runs, a.first)
    if a.heatmap:
        made.append(heatmap(sw, a.heatmap, a.x, a.y, a.facet, a.value, a.where,
                            a.out or os.path.join(plots, f"heatmap_{a.heatmap}_{a.value}.png"), a.threshold))
    elif a.threshold is not None:
        fail("--threshold goes with --heatmap")
    if a.trajectory:
        made.append(trajectory(sw, a.trajectory, ids, a.color, banded, a.logt,
                               a.out or os.path.join(plots, f"trajectory_{a.trajectory}.png")))
    if a.curve:
        made.append(curve(sw, runs, a.curve, a.x, a.color,
                          a.out or os.path.join(plots, f"curve_{a.curve}_{a.x}.png")))
    if a.at and not a.final_config:
        fail("--at DETECTOR goes with --final-config")
    if a.final_config:
        made.append(final_config(sw, ids, a.out or os.path.join(plots, f"config_at_{a.at}.png" if a.at
                                                                 else "final_config.png"), a.at))
    if not (a.heatmap or a.trajectory or a.curve or a.final_config):
        axes = [n for n in sw.axes if n != "seed"]
        detectors = [c[len("frac_"):] for c in sw.cells.columns if c.startswith("frac_")]
        for d in detectors:
            if axes:
                made.append(heatmap(sw, d, None, None, axes[2] if len(axes) > 2 else None, "median", None,
                                    os.path.join(plots, f"heatmap_{d}_median.png")))
        # one band per cell, or per value of the first axis when the cells are too many for one picture
        cells = runs.groupby(axes).ngroups if axes else 1
        color = a.color or (axes[0] if cells > 12 and axes else None)
        made.append(trajectory(sw, "loss", ids, color, banded, a.logt,
                               os.path.join(plots, "trajectory_loss.png")))
    for m in made:
        print(m)
    sw.close()


if __name__ == "__main__":
    main()
