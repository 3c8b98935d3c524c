#!/usr/bin/env python3
"""flowsweep.run (python/flowsweep/launch.py): a sweep started from Python writes the bytes the command
line writes for the same spec and overrides, whether the spec is a file or a dict; its values reach the
spec as TOML reads them back; bad input raises InputError with the binary's file, line and key, and writes
nothing; a failure at run time raises RunError; an interrupt leaves a sweep that resume=True finishes with
the bytes of an uninterrupted run; and the binary is found beside a build's package."""
import contextlib
import io
import math
import os
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

from checks import arguments, check, finish, journal_records

import numpy as np

TABLES = ("runs.csv", "phase_diagram.csv", "final_config.csv")
SET = {"train.steps": 300, "grid.m": [8, 16], "grid.seed": range(2), "grid.lr_ratio": [1, 10]}
SET_CLI = ["--set", "train.steps=300", "--set", "grid.m=[8, 16]", "--set", "grid.seed={range = [0, 2]}",
           "--set", "grid.lr_ratio=[1, 10]"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tables(d):
    return {name: read(os.path.join(d, name)) for name in TABLES if os.path.exists(os.path.join(d, name))}


def same_value(a, b):
    """a as TOML read it back against the Python value b it was written from."""
    if hasattr(b, "tolist"):
        b = b.tolist()
    if isinstance(b, range):
        b = {"range": [b.start, b.stop]} if b.step == 1 and b.stop > b.start else list(b)
    if isinstance(b, float):
        return isinstance(a, float) and (math.isnan(a) and math.isnan(b) or (a == b and math.copysign(1, a) ==
                                                                              math.copysign(1, b)))
    if isinstance(b, (list, tuple)):
        return isinstance(a, list) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == {str(k) for k in b} and all(same_value(a[str(k)], v)
                                                                               for k, v in b.items())
    return type(a) is type(b) and a == b


@contextlib.contextmanager
def after_first_run(out, act):
    """Calls act() from another thread once a run is in out's journal, while the body runs."""
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if journal_records(os.path.join(out, "journal.fsj")):
                act()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def pid_running_into(out):
    """The pid of the flowsweep process whose command line names the output directory `out`."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = read(f"/proc/{pid}/cmdline").split(b"\0")
        except OSError:
            continue
        if b"run" in argv and out.encode() in argv:
            return int(pid)
    raise RuntimeError(f"no flowsweep process writing {out}")


def pictures(sw, fsw, tmp):
    """The Sweep's pictures are the command's, byte for byte, and leave a notebook's backend alone."""
    import io

    import matplotlib

    matplotlib.use("pdf")  # a backend of the user's: drawing must not switch it
    cases = [("heatmap", ("loss_below",), {"x": "lr_ratio", "y": "m"}, ["--heatmap", "loss_below", "--x", "lr_ratio",
                                                                        "--y", "m"]),
             ("trajectory", ("S21",), {"where": {"m": 16, "lr_ratio": 10}}, ["--trajectory", "S21", "--where",
                                                                             "m=16,lr_ratio=10"]),
             ("trajectory", ("loss",), {"first": 3, "log_time": True}, ["--trajectory", "loss", "--first", "3",
                                                                        "--log-time"]),
             ("curve", ("final_loss",), {"x": "lr_ratio", "color": "m"}, ["--curve", "final_loss", "--x", "lr_ratio",
                                                                          "--color", "m"]),
             ("final_config", (), {"where": "m=8"}, ["--final-config", "--where", "m=8"])]
    for n, (method, args, kw, cli) in enumerate(cases):
        png_cli, png_py = os.path.join(tmp, f"cli_{n}.png"), os.path.join(tmp, f"py_{n}.png")
        p = subprocess.run([fsw, "plot", sw.dir] + cli + ["--out", png_cli], capture_output=True, text=True)
        written = getattr(sw, method)(*args, out=png_py, **kw)
        fig = getattr(sw, method)(*args, **kw)
        shown = io.BytesIO()
        fig.savefig(shown, format="png", dpi=110)
        same = p.returncode == 0 and written == png_py and read(png_cli) == read(png_py)
        check(same and shown.getvalue() == read(png_cli),
              f"sw.{method}({', '.join(map(repr, args))}, {kw}) draws what flowsweep plot {' '.join(cli)} does, "
              f"as a Figure and as a PNG ({p.stderr.strip()[-200:]})")
    backend = matplotlib.get_backend()
    check(backend == "pdf", f"drawing leaves the user's matplotlib backend ({backend})")
    try:
        sw.trajectory("no_such_observable")
        check(False, "a picture that cannot be drawn raises SweepError")
    except flowsweep.SweepError as e:
        check("no observable 'no_such_observable'" in str(e), f"a picture that cannot be drawn raises SweepError "
                                                              f"({str(e)[:60]})")


def main():
    fsw, qs = arguments()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(qs)), "python"))
    global flowsweep
    import flowsweep
    from flowsweep.launch import find_binary, toml_document, toml_value

    # Values as TOML (tomllib, an independent reader) reads them back.
    values = [0, -7, 2**62, True, False, 0.1, 1e-5, 3.1622776601683795, 1e300, 5e-324, -0.0, math.inf, -math.inf,
              math.nan, "relu", 'a "quoted" \\ back\nslash\ttab', "ünïcode ✓ 𝜃", "del\x7f", [], [1, 2.5, "x"],
              [[1, 2], [3]], {"range": [0, 6]}, {"geomspace": [1, 10, 3]}, {"odd key": 1, "ok_key-2": [True]},
              range(0, 8), range(3, 9), range(0, 10, 2), np.float32(0.1), np.float64(2.5e-7), np.int64(-3),
              np.bool_(True), np.array([1.5, 2.0]), np.arange(3), (4, 5)]
    bad = [v for v in values if not same_value(tomllib.loads("v = " + toml_value(v))["v"], v)]
    check(not bad, f"{len(values)} Python values read back by tomllib as written (not: {bad})")
    spec = tomllib.loads(read(qs).decode())
    check(tomllib.loads(toml_document(spec)) == spec, "a spec read into a dict and written again reads back the same")
    try:
        toml_value(object())
        check(False, "a value with no TOML form is refused")
    except TypeError as e:
        check("no TOML value" in str(e), f"a value with no TOML form is refused ({e})")

    with tempfile.TemporaryDirectory() as tmp:
        def out(name):
            return os.path.join(tmp, name)

        p = subprocess.run([fsw, "run", qs, "--out", out("cli"), "--quiet"] + SET_CLI, capture_output=True, text=True)
        check(p.returncode == 0, f"the command line runs the reference sweep ({p.stderr.strip()[-200:]})")
        reference = tables(out("cli"))

        # A spec file with overrides, progress shown on stderr.
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            sw = flowsweep.run(qs, out("file"), set=SET, binary=fsw)
        check(tables(out("file")) == reference and len(reference) == 3,
              f"flowsweep.run on the spec file with set= writes the command line's bytes ({sorted(reference)})")
        check(isinstance(sw, flowsweep.Sweep) and len(sw.runs) == 8 and sw.axes == ["seed", "m", "lr_ratio"],
              f"it returns the sweep, opened ({len(sw.runs)} runs, axes {sw.axes})")
        check("8 runs (8 ok" in err.getvalue() and "\r" not in err.getvalue(),
              "its progress and summary reach stderr, as plain lines where stderr is a file")
        check(repr(sw) == f"<flowsweep.Sweep {out('file')!r}: cooccurrence, 8 runs (8 ok), complete; grid "
                          f"{' x '.join(a + ' 2' for a in sw.axes)}>", f"a sweep shows itself in a line ({sw!r})")
        pictures(sw, fsw, tmp)
        sw.close()

        # In a notebook or at a terminal the progress is one line rewritten in place, then the summary on
        # its own line; progress lines are not part of an error's message.
        err = io.StringIO()
        live, flowsweep.launch._live = flowsweep.launch._live, lambda: True
        try:
            with contextlib.redirect_stderr(err):
                flowsweep.run(qs, out("live"), set=dict(SET, **{"train.steps": 3000}), binary=fsw, threads=1,
                              slice=0.01, progress_every=0).close()
        finally:
            flowsweep.launch._live = live
        lines = err.getvalue().split("\n")
        shown = [i for i, line in enumerate(lines) if line.startswith("\rruns ")]
        check(len(shown) == 1 and lines[shown[0]].count("\rruns ") >= 3 and "\rruns 8/8 " in lines[shown[0]]
              and lines[shown[0] + 1].startswith("8 runs (8 ok"),
              f"a live progress line, rewritten in place, then the summary ({err.getvalue()[-300:]!r})")
        check(tables(out("live"))["runs.csv"].count(b"\n") == 9, "and the sweep it shows")

        # The spec as a dict, found through FLOWSWEEP_BINARY, on one thread, quiet.
        err = io.StringIO()
        os.environ["FLOWSWEEP_BINARY"] = fsw
        with contextlib.redirect_stderr(err):
            flowsweep.run(spec, out("dict"), set=SET, threads=1, quiet=True, csv_trajectories=True).close()
        del os.environ["FLOWSWEEP_BINARY"]
        check(tables(out("dict")) == reference, "the spec as a dict, on one thread, gives the same bytes")
        check(os.path.exists(out("dict/trajectories.csv")), "an option by name (csv_trajectories=True) reaches the "
                                                            "binary as --csv-trajectories")
        check(err.getvalue() == "", f"quiet=True shows nothing ({err.getvalue()[:100]!r})")
        flowsweep.run(qs, out("texts"), set=SET_CLI[1::2], binary=fsw, quiet=True).close()
        check(tables(out("texts")) == reference, "set= as the command line's KEY=VALUE texts gives the same bytes")

        # Bad input: the binary's message, nothing written.
        try:
            flowsweep.run(qs, out("bad_set"), set={"train.lrr": 3}, binary=fsw, quiet=True)
            check(False, "an unknown key in set= raises InputError")
        except flowsweep.InputError as e:
            check("train.lrr" in str(e) and "did you mean 'lr'" in str(e), f"an unknown key in set= raises "
                                                                            f"InputError naming it ({e})")
        check(not os.path.exists(out("bad_set")), "nothing is written for it")
        bad_spec = dict(spec, train=dict(spec["train"], lrr=1))
        try:
            flowsweep.run(bad_spec, out("bad_dict"), binary=fsw, quiet=True)
            check(False, "an unknown key in a dict spec raises InputError")
        except flowsweep.InputError as e:
            listing = [line for line in str(e).splitlines() if line.strip().endswith("lrr = 1")]
            at = listing[0].split()[0] if listing else "?"
            check(f"spec.toml:{at}: key 'train.lrr'" in str(e), f"an unknown key in a dict spec raises InputError "
                                                                 f"naming the line of the listing it shows ({at})")
        check(not os.path.exists(out("bad_dict")), "nothing is written for it")
        try:
            flowsweep.run(qs, out("bad_opt"), bogus=1, binary=fsw, quiet=True)
            check(False, "an unknown option raises InputError")
        except flowsweep.InputError as e:
            check("--bogus" in str(e), f"an unknown option raises InputError naming it ({str(e).splitlines()[0]})")

        # A failure at run time.
        try:
            flowsweep.run(qs, "/proc/flowsweep-test/out", set=SET, binary=fsw, quiet=True)
            check(False, "an output directory that cannot be made raises RunError")
        except flowsweep.RunError as e:
            check("cannot create output directory" in str(e) and e.sweep is None,
                  f"an output directory that cannot be made raises RunError ({str(e).splitlines()[-1]})")

        # An interrupt in the middle of a sweep, as a notebook's or a terminal's Ctrl-C reaches Python: SIGINT
        # to the main thread, here once the first run is in the journal (written every --slice 0.1 s).
        long = dict(SET, **{"train.steps": 60000})
        p = subprocess.run([fsw, "run", qs, "--out", out("long_cli"), "--quiet", "--threads", "2"] + SET_CLI +
                           ["--set", "train.steps=60000"], capture_output=True, text=True)
        check(p.returncode == 0, "the command line runs the long reference sweep")
        main_thread = threading.main_thread().ident

        # Python raises KeyboardInterrupt on SIGINT unless it started with SIGINT ignored, as a background job
        # of a shell script is (and so maybe this test): then it is set here, as a terminal or notebook has it.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with after_first_run(out("long"), lambda: signal.pthread_kill(main_thread, signal.SIGINT)):
                flowsweep.run(qs, out("long"), set=long, threads=2, slice=0.1, binary=fsw, quiet=True)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        signal.signal(signal.SIGINT, previous)
        manifest = json.loads(read(out("long/manifest.json"))) if os.path.exists(out("long/manifest.json")) else {}
        check(interrupted and manifest.get("complete") is False and manifest["counts"]["missing"] > 0,
              f"an interrupt stops the sweep part way, its tables written ({manifest.get('counts')})")
        check(os.path.exists(out("long/checkpoint.fsj")), "the runs in flight were saved")
        with flowsweep.open(out("long")) as part:
            check("missing), incomplete;" in repr(part), f"the stopped sweep says it is incomplete ({part!r})")
        flowsweep.run(qs, out("long"), set=long, threads=2, slice=0.1, resume=True, binary=fsw, quiet=True).close()
        check(tables(out("long")) == tables(out("long_cli")), "resume=True finishes it with the bytes of an "
                                                              "uninterrupted run")

        # SIGTERM from elsewhere (a scheduler) to the binary: it stops with exit 1, which raises RunError with
        # what it wrote.
        try:
            with after_first_run(out("term"), lambda: os.kill(pid_running_into(out("term")), signal.SIGTERM)):
                flowsweep.run(qs, out("term"), set=long, threads=2, slice=0.1, binary=fsw, quiet=True)
            check(False, "a binary stopped by SIGTERM raises RunError")
        except flowsweep.RunError as e:
            check(e.out == out("term") and isinstance(e.sweep, flowsweep.Sweep) and "incomplete" in repr(e.sweep),
                  f"a binary stopped by SIGTERM raises RunError, with the sweep it wrote ({e.sweep!r}; "
                  f"{str(e).splitlines()[-1]})")

    # The binary beside a build's python/ (a link into the source tree), neither on PATH nor named.
    bindir = os.path.dirname(os.path.abspath(fsw))
    if os.path.isdir(os.path.join(bindir, "python")):
        env = {k: v for k, v in os.environ.items() if k != "FLOWSWEEP_BINARY"}
        env.update(PYTHONPATH=os.path.join(bindir, "python"), PATH="/usr/bin:/bin")
        p = subprocess.run([sys.executable, "-c", "import flowsweep.launch as l; print(l.find_binary())"],
                           capture_output=True, text=True, env=env)
        check(p.stdout.strip() == os.path.abspath(fsw), f"the binary beside a build's python/ is found "
                                                        f"({p.stdout.strip() or p.stderr.strip()[-200:]})")
    else:
        print(f"left out: no python/ beside {fsw}, so finding the binary beside it is not checked")
    try:
        find_binary(os.path.join(bindir, "no-such-flowsweep"))
        check(False, "a binary that is not there is refused")
    except flowsweep.RunError as e:
        check("not an executable" in str(e), f"a binary that is not there is refused ({e})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
