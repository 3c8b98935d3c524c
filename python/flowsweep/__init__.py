"""Run a sweep and read a flowsweep output directory: the sweep as an xarray cube over its grid, its tables
in pandas.

    import flowsweep
    sw = flowsweep.open("out/quickstart")
    sw = flowsweep.run("sweeps/quickstart.toml", "out/quickstart")   # trains it first, then opens it
    sw.ds.sel(m=32, lr_ratio=10).loss     # every observable over (axes..., record); detector times,
                                          # final columns, run_id and status over (axes...)
    sw.runs, sw.cells, sw.final           # runs.csv, phase_diagram.csv, final_config.csv (None if absent)
    sw.manifest, sw.axes                  # manifest.json as a dict; the grid's axis names, slowest first
    sw.boundary("phase1_end", x="lr_ratio")   # where half the runs reach it along lr_ratio (phase.py)

The cube's dimension coordinates are the grid's axes with their own types (m = 16 is an integer, phi =
"relu" a string), so `.sel` takes the values a spec lists. A shard's directory holds part of the grid,
over one `run` dimension; `open` unstacks it into the same cube, NaN where the shard holds no run.
`run` (flowsweep/launch.py) starts the flowsweep binary on a spec file or a dict and returns what `open`
gives for its output.
"""
import builtins
import json
import os
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["open", "run", "Sweep", "SweepError", "InputError", "RunError"]
__version__ = "0.1.0"

TABLES = ("manifest.json", "runs.csv", "phase_diagram.csv", "trajectories.h5")


class SweepError(ValueError):
    """A directory that is not a readable flowsweep output; the message names the file."""


from .launch import InputError, RunError, run  # noqa: E402  (launch reads sweeps through open, below)


@dataclass
class Sweep:
    dir: str
    manifest: dict
    ds: "xarray.Dataset"  # noqa: F821
    runs: "pandas.DataFrame"  # noqa: F821
    cells: "pandas.DataFrame"  # noqa: F821
    final: Optional["pandas.DataFrame"] = None  # noqa: F821
    axes: list = field(default_factory=list)

    @property
    def model(self):
        return self.manifest["spec"]["model"]

    def __repr__(self):
        counts = self.manifest.get("counts", {})
        shown = ", ".join(f"{counts[k]} {k}" for k in ("ok", "diverged", "failed", "missing") if counts.get(k))
        grid = " x ".join(f"{a} {self.ds.sizes[a]}" for a in self.axes if a in self.ds.sizes)
        state = "complete" if self.manifest.get("complete") else "incomplete"
        return (f"<flowsweep.Sweep {self.dir!r}: {self.model}, {counts.get('runs', len(self.runs))} runs ({shown}), "
                f"{state}; grid {grid or 'of one run'}>")

    def axis_kind(self, name):
        """list | range | linspace | geomspace: how the spec gave the axis (geomspace: draw it on a log scale)."""
        for a in self.manifest.get("axes", []):
            if a["name"] == name:
                return a["kind"]
        return None

    def by_run(self, ids=None, variables=None):
        """The cube's variables over one `run` dimension (the runs `ids`, default every run the directory
        holds, in grid order), with run_id and the axes as coordinates: what one picture of runs needs."""
        import numpy as np
        import xarray as xr

        rid = self.ds["run_id"].values
        flat = {r: i for i, r in enumerate(rid.ravel()) if isinstance(r, str) and r}
        if ids is None:
            ids = list(flat)
        unknown = [r for r in ids if r not in flat]
        if unknown:
            raise SweepError(f"{self.dir}: no run {', '.join(unknown[:5])} in this sweep")
        pos = np.unravel_index([flat[r] for r in ids], rid.shape) if ids else [[] for _ in rid.shape]
        sub = self.ds if variables is None else self.ds[list(variables)]
        out = sub.isel({a: xr.DataArray(np.asarray(p, dtype=int), dims="run") for a, p in zip(self.axes, pos)})
        return out.assign_coords(run=list(ids))

    # Pictures: what `flowsweep plot DIR ...` draws (flowsweep/plot.py), as a matplotlib Figure, or with
    # out= the PNG written and its path. `where` is a dict of grid values or --where's text.

    def heatmap(self, name, x=None, y=None, facet=None, value="median", where=None, out=None, threshold=None):
        """The phase diagram over axes x and y (default: the first two but seed), one panel per value of
        `facet`: a detector's median flow time (value="frac": the share of runs reaching it), or a
        phase_diagram.csv column's median; with `threshold`, a line through where it crosses it along x."""
        from . import plot

        return plot.heatmap(self, name, x, y, facet, value, plot.where_text(where), out, threshold)

    def boundary(self, name, x, value="frac", threshold=0.5, where=None):
        """The phase boundary along axis x: for each combination of the other axes (seed aside), where the
        share of runs reaching detector `name` (value="median": its median time, or a final column's median)
        first crosses `threshold`, interpolated between the two cells either side; a pandas DataFrame
        (flowsweep/phase.py)."""
        from . import phase, plot

        return phase.boundary(self, name, x, value, threshold, plot.where_text(where))

    def trajectory(self, observable="loss", color=None, where=None, runs=None, first=None, log_time=None, out=None):
        """An observable against flow time: median and interquartile band over seeds, a line per cell or per
        value of `color`; `runs` (ids) or `first` (a count) draw runs one line each."""
        from . import plot

        _, ids, banded = plot.chosen(self, plot.where_text(where), runs, first)
        return plot.trajectory(self, observable, ids, color, banded, log_time, out)

    def curve(self, quantity, x, color=None, where=None, out=None):
        """A per-run quantity (t_<detector>, final_<observable>, a final column) against axis x: median and
        band over seeds, a line per value of `color`."""
        from . import plot

        table, _, _ = plot.chosen(self, plot.where_text(where))
        return plot.curve(self, table, quantity, x, color, out)

    def final_config(self, at=None, where=None, runs=None, out=None):
        """The final attention configuration, one row per class, the median over the chosen runs; with `at`,
        the attention when that detector answered."""
        from . import plot

        _, ids, _ = plot.chosen(self, plot.where_text(where), runs)
        return plot.final_config(self, ids, out, at)

    def close(self):
        self.ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open(path):  # noqa: A001  (flowsweep.open, like xarray.open_dataset)
    """The sweep in output directory `path` (a run's --out, or a merge's)."""
    import pandas as pd
    import xarray as xr

    if not os.path.isdir(path):
        raise SweepError(f"{path}: not a directory")
    files = {name: os.path.join(path, name) for name in TABLES}
    for name, p in files.items():
        if not os.path.isfile(p):
            raise SweepError(f"{p}: missing (is {path} a flowsweep output directory?)")
    try:
        with builtins.open(files["manifest.json"]) as f:
            manifest = json.load(f)
        manifest["spec"]["model"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SweepError(f"{files['manifest.json']}: cannot read: {e}") from None
    try:
        runs = pd.read_csv(files["runs.csv"], dtype={"run_id": str})
        cells = pd.read_csv(files["phase_diagram.csv"])
        final_path = os.path.join(path, "final_config.csv")
        final = pd.read_csv(final_path, dtype={"run_id": str}) if os.path.isfile(final_path) else None
    except (OSError, ValueError) as e:
        raise SweepError(f"cannot read the tables in {path}: {e}") from None
    try:
        ds = xr.open_dataset(files["trajectories.h5"], engine="h5netcdf")
    except (OSError, ValueError, KeyError) as e:
        raise SweepError(f"{files['trajectories.h5']}: cannot read (missing or truncated?): {e}") from None
    axes = ds.attrs.get("grid_axes", "").split()
    if ds.attrs.get("layout") == "runs" and axes:
        ds = _unstack(ds, axes, manifest)
    return Sweep(dir=path, manifest=manifest, ds=ds, runs=runs, cells=cells, final=final, axes=axes)


def _unstack(ds, axes, manifest):
    """A shard's (run, ...) variables as the grid's (axes..., ...) cube, its run ids as run_id; every value
    of an axis the manifest lists is kept, NaN where the shard holds no run."""
    import numpy as np

    ds = ds.assign_coords(run_id=("run", ds["run"].values.astype(str))).set_coords(axes)
    ds = ds.drop_vars("run").set_index(run=axes).unstack("run")
    values = {a["name"]: a["values"] for a in manifest.get("axes", []) if "values" in a}
    ds = ds.reindex({a: np.asarray(values[a], dtype=ds[a].dtype) for a in axes if a in values})
    return ds.reset_coords("run_id").transpose(*axes, ...)
