#!/usr/bin/env python3
"""Phase boundaries (python/flowsweep/phase.py): crossing() against crossings worked out by hand (log and
linear x, rising and falling, cells without a value, a quantity that crosses twice); Sweep.boundary on a
real sweep against the crossings read from its phase_diagram.csv here; the heatmap's boundary line at those
crossings; and bad requests as errors, exit code 2 from the command."""
import csv
import math
import os
import subprocess
import sys
import tempfile

from checks import arguments, check, finish


def close(a, b, rel=1e-12):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rel * max(abs(a), abs(b))


def first_crossing(rows, x, col, threshold):
    """The first pair of neighbouring cells (by x, cells without a value passed over) on either side of
    threshold, and the crossing in log x: (x below, x above, x_cross), or None."""
    pts = sorted((float(r[x]), float(r[col])) for r in rows if r[col] not in ("", "nan"))
    for (x0, v0), (x1, v1) in zip(pts, pts[1:]):
        if (v0 >= threshold) != (v1 >= threshold):
            f = (threshold - v0) / (v1 - v0)
            xc = math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))
            return (x0, x1, xc) if v1 >= threshold else (x1, x0, xc)
    return None


def main():
    fsw, qs = arguments()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(qs)), "python"))
    import flowsweep
    from flowsweep.phase import crossing

    # By hand: v from 0 to 0.25 to 1 over x = 1, 10, 100 crosses 0.5 a third of the way from 10 to 100.
    c = crossing([1, 10, 100], [0, 0.25, 1], 0.5, log=True)
    check(c["crossing"] == "up" and c["below"] == 10 and c["above"] == 100 and c["crossings"] == 1
          and close(c["x_cross"], 10 * 10 ** (1 / 3)) and c["at"] == (1, 2, 1 / 3),
          f"rising, in log x: 10^(4/3) ({c})")
    c = crossing([1, 10, 100], [0, 0.25, 1], 0.5)
    check(close(c["x_cross"], 40.0), f"rising, in x: 40 ({c['x_cross']})")
    c = crossing([1, 10, 100], [1, 0.75, 0], 0.5, log=True)
    check(c["crossing"] == "down" and c["below"] == 100 and c["above"] == 10
          and close(c["x_cross"], 10 * 10 ** (1 / 3)), f"falling: below is the side under the threshold ({c})")
    c = crossing([1, 2, 3, 4], [0, math.nan, math.nan, 1], 0.5)
    check(close(c["x_cross"], 2.5) and c["at"] == (0, 3, 0.5), f"cells without a value are passed over ({c})")
    c = crossing([1, 2, 3], [0, 1, 0], 0.5)
    check(c["crossing"] == "up" and c["crossings"] == 2 and close(c["x_cross"], 1.5),
          f"up and down again: the first crossing, and two counted ({c})")
    c = crossing([1, 2], [0, 0.5], 0.5)
    check(close(c["x_cross"], 2.0) and c["crossing"] == "up", f"a value at the threshold counts as above ({c})")
    check(crossing([1, 2], [0.6, 0.7], 0.5)["crossing"] == "above everywhere"
          and crossing([1, 2], [0.1, 0.2], 0.5)["crossing"] == "below everywhere"
          and crossing([1, 2], [math.nan, math.nan], 0.5)["crossing"] == "no value"
          and math.isnan(crossing([1, 2], [0.6, 0.7], 0.5)["x_cross"]), "no crossing: said which, x_cross NaN")

    with tempfile.TemporaryDirectory() as tmp:
        # A loss threshold that the slower attention rates do not reach in 300 steps.
        out = os.path.join(tmp, "b")
        subprocess.run([fsw, "run", qs, "--out", out, "--quiet", "--set", "steps=300", "--set",
                        "detect.loss_threshold=0.03", "--set", "grid.m=[16]", "--set",
                        'grid.init=["kaiming", "theory"]', "--set", "grid.lr_ratio={geomspace = [1, 10, 5]}", "--set",
                        "grid.seed={range = [0, 4]}"], check=True)
        cells = list(csv.DictReader(open(os.path.join(out, "phase_diagram.csv"))))
        sw = flowsweep.open(out)
        for name, value, threshold, col in (("loss_below", "frac", 0.5, "frac_loss_below"),
                                            ("loss_below", "median", 2.0, "t_median_loss_below"),
                                            ("phase1_end", "median", 0.3, "t_median_phase1_end")):
            table = sw.boundary(name, x="lr_ratio", value=value, threshold=threshold)
            rows = {r["init"]: r for r in table.to_dict("records")}
            ok, found = set(rows) == {"kaiming", "theory"} and (table["column"] == col).all(), 0
            for init in ("kaiming", "theory"):
                want = first_crossing([c for c in cells if c["init"] == init], "lr_ratio", col, threshold)
                got = rows.get(init, {})
                if want is None:
                    ok &= got.get("crossing") in ("above everywhere", "below everywhere", "no value")
                else:
                    found += 1
                    ok &= (close(got["below"], want[0]) and close(got["above"], want[1])
                           and close(got["x_cross"], want[2]) and got["crossing"] in ("up", "down"))
            check(ok, f"{col} crossing {threshold} along lr_ratio, per init, as read from phase_diagram.csv "
                      f"({found} crossings):\n{table.to_string()}")
            if col == "frac_loss_below":
                check(found >= 1, "the sweep has a boundary to find")
                crossings = table

        # The heatmap's line passes through those crossings, one point a row of init (a list of words,
        # drawn a cell each, at 0 and 1).
        fig = sw.heatmap("loss_below", x="lr_ratio", y="init", value="frac", threshold=0.5)
        lines = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_marker() == "o"]
        want = [(r["x_cross"], float(i)) for i, r in enumerate(crossings.to_dict("records"))
                if r["crossing"] in ("up", "down")]
        got = list(zip(*lines[0].get_data())) if len(lines) == 1 else []
        check(len(got) == len(want) and all(close(a, c) and b == d for (a, b), (c, d) in zip(got, want)),
              f"the heatmap's boundary line at the crossings ({got} against {want})")
        check(any("line: where it crosses 0.5 along lr_ratio" in t.get_text() for t in fig.texts),
              "and the figure says what the line is")

        # Bad requests: an error naming what is wrong; from the command, exit code 2.
        for kw, what in (({"name": "loss_below", "x": "init"}, "holds words"),
                         ({"name": "loss_below", "x": "nothing"}, "no axis 'nothing'"),
                         ({"name": "nothing", "x": "lr_ratio"}, "no detector or median 'nothing'")):
            try:
                sw.boundary(**kw)
                check(False, f"boundary({kw}) is an error")
            except flowsweep.SweepError as e:
                check(what in str(e), f"boundary({kw}): {e}")
        sw.close()
        png = os.path.join(tmp, "h.png")
        p = subprocess.run([fsw, "plot", out, "--heatmap", "loss_below", "--value", "frac", "--x", "lr_ratio", "--y",
                            "init", "--threshold", "0.5", "--out", png], capture_output=True, text=True)
        check(p.returncode == 0 and os.path.getsize(png) > 5000, f"flowsweep plot --threshold ({p.stderr.strip()})")
        p = subprocess.run([fsw, "plot", out, "--trajectory", "loss", "--threshold", "0.5"], capture_output=True,
                           text=True)
        check(p.returncode == 2 and "--threshold goes with --heatmap" in p.stderr, f"--threshold alone: exit 2 "
                                                                                   f"({p.stderr.strip()})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
