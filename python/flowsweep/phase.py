"""Phase boundaries: where, along one grid axis, a phase-diagram quantity crosses a threshold.

    sw.boundary("polarised", x="lr_ratio")                  # where half the runs polarise, per other cell
    sw.boundary("loss_below", x="lr", value="median", threshold=10.0, where={"init": "theory"})

For each combination of the other axes (seed aside), the cells in order of x give a quantity v(x): the share
of runs that reached a detector (value="frac"), a detector's median flow time or a final column's median
(value="median"), as the heatmaps draw them. The boundary is the first pair of neighbouring values of x
whose v lie on either side of the threshold (v >= threshold counts as above), and the crossing the x at
which the straight line between them meets it: in log x where every x is positive and the axis is a
geomspace or spans more than a decade, else in x. A cell without a value (a median time no run reached) is
passed over. The table says which way v crosses and how often, so a quantity that goes up and down again
along x is not mistaken for one boundary."""
import math

import numpy as np
import pandas as pd


def log_axis(values, kind):
    """Whether x is interpolated in log x: positive values, a geomspace or more than a decade."""
    x = np.asarray(values, dtype=float)
    return bool(len(x) and (x > 0).all() and (kind == "geomspace" or x.max() / x.min() > 10))


def crossing(xs, values, threshold, log=False):
    """The first crossing of `threshold` by `values` along `xs` (sorted): a dict with `below` and `above`,
    the two x either side of it, `x_cross`, `at` (the indices of the two in xs and the fraction of the way
    from the first to the second, for drawing on an axis of cells), `crossing` (up: v rises past the
    threshold as x grows; down; above or below everywhere; no value) and `crossings`, how many times v
    crosses along x."""
    xs, v = np.asarray(xs, dtype=float), np.asarray(values, dtype=float)
    keep = np.flatnonzero(np.isfinite(v))
    out = {"below": math.nan, "above": math.nan, "x_cross": math.nan, "at": None, "crossings": 0}
    if not len(keep):
        return dict(out, crossing="no value")
    side = v[keep] >= threshold
    flips = np.flatnonzero(side[1:] != side[:-1])
    if not len(flips):
        return dict(out, crossing="above everywhere" if side[0] else "below everywhere")
    i, j = keep[flips[0]], keep[flips[0] + 1]
    f = (threshold - v[i]) / (v[j] - v[i])
    if log:
        x = math.exp(math.log(xs[i]) + f * (math.log(xs[j]) - math.log(xs[i])))
    else:
        x = xs[i] + f * (xs[j] - xs[i])
    up = bool(side[flips[0] + 1])
    return dict(out, below=xs[i] if up else xs[j], above=xs[j] if up else xs[i], x_cross=x,
                at=(int(i), int(j), float(f)), crossings=int(len(flips)), crossing="up" if up else "down")


def boundary(sw, name, x, value="frac", threshold=0.5, where=None):
    """One row per combination of the axes other than x and seed: those axes' values, then `below`, `above`,
    `x_cross`, `crossing` and `crossings` (see crossing), and `column`, the phase-diagram column used."""
    from . import plot

    cells = plot.matching(sw.cells, where, "cell") if where else sw.cells
    col, _, _ = plot.resolve_column(cells, name, value)
    axes = [a for a in sw.axes if a != "seed"]
    if x not in axes:
        plot.fail(f"no axis '{x}' to cross along; axes: {', '.join(axes)}")
    if plot.numeric(cells[x].values) is None:
        plot.fail(f"axis '{x}' holds words, not numbers: there is no value between two of its cells")
    log = log_axis(cells[x].unique(), sw.axis_kind(x))
    others = [a for a in axes if a != x]
    rows = []
    groups = cells.groupby(others if len(others) > 1 else others[0], sort=True) if others else [((), cells)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        part = part.sort_values(x)
        if part[x].duplicated().any():  # one cell per grid point; a table that breaks it is named, not averaged
            plot.fail(f"phase_diagram.csv holds two cells with the same {', '.join(axes)}")
        c = crossing(part[x].values, part[col].values, threshold, log)
        del c["at"]
        rows.append(dict(zip(others, key), **c))
    table = pd.DataFrame(rows, columns=others + ["below", "above", "x_cross", "crossing", "crossings"])
    table["column"] = col
    return table
