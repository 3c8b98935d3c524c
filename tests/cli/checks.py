"""A check list for the command-line tests: each check prints ok or FAIL; finish() gives the exit status."""
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def finish():
    print(f"{len(FAILS)} failures")
    return 1 if FAILS else 0


def arguments():
    """--flowsweep BINARY --sweeps DIR: the binary and the quick-start spec."""
    import argparse
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsweep", required=True)
    ap.add_argument("--sweeps", required=True)
    a = ap.parse_args()
    return a.flowsweep, os.path.join(a.sweeps, "quickstart.toml")


def journal_records(path):
    """The framed records of a journal.fsj, read without checking their checksums (host/journal.h):
    a list of (offset of the frame, kind, grid index, payload bytes)."""
    import os
    import struct

    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    pos = data.index(b"\n") + 1
    out = []
    while pos + 40 <= len(data):
        magic, kind, index, _records, _rows, size, _sum = struct.unpack_from("<4sIQIIQQ", data, pos)
        if magic != b"FSJ1" or pos + 40 + size > len(data):
            break
        out.append((pos, kind, index, size))
        pos += 40 + size
    return out


def h5_runs(f):
    """An open trajectories.h5 read run by run, whatever its layout (host/h5.h): the run ids in grid order,
    and a function giving a variable as an array over (run, ...)."""
    def text(x):
        return x.decode() if isinstance(x, bytes) else str(x)

    if text(f.attrs["layout"]) == "grid":
        lead = len(text(f.attrs["grid_axes"]).split())
        ids = [text(x) for x in f["run_id"][...].ravel()]

        def var(name):
            a = f[name][...]
            return a.reshape((-1,) + a.shape[lead:])
    else:
        ids = [text(x) for x in f["run"][:]]

        def var(name):
            return f[name][...]
    return ids, var


def run_small_joma(fsw, tmp, phis):
    """A 60-step joma sweep over phi (words), hidden (hand-picked numbers) and two seeds, run into
    tmp/joma: its output directory."""
    import os
    import subprocess

    spec, out = os.path.join(tmp, "joma.toml"), os.path.join(tmp, "joma")
    with open(spec, "w") as fh:
        fh.write('model = "joma"\n[params]\nC = 4\nn_distinct = 3\nn_common = 2\n[train]\nlr = 0.1\nsteps = 60\n'
                 f'[grid]\nphi = [{", ".join(chr(34) + p + chr(34) for p in phis)}]\nhidden = [0, 3]\nseed = [0, 1]\n')
    subprocess.run([fsw, "run", spec, "--out", out, "--quiet"], check=True)
    return out
