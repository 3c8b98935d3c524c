#!/usr/bin/env python3
"""What a sweep will write, said before it runs: `flowsweep validate`'s outputs line against the files that
`flowsweep run` then writes, for three models, with and without --save-params and --csv-trajectories; a run
that stops early writes less than said; `flowsweep run` warns, before its first run, when the output
directory's file system has less room than the sweep needs; `flowsweep slurm` says what the shards and the
merge write."""
import os
import re
import signal
import subprocess
import tempfile
import time

from checks import arguments, check, finish

UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}
SIZE = r"([0-9.]+) (B|kB|MB|GB|TB|PB)"


def size(m):
    return float(m[0]) * UNITS[m[1]]


def footprint(text):
    """validate's outputs line: the total, each file it names, and what the two options add."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("outputs:"))
    total = size(re.search(r"outputs: about " + SIZE, line).groups())
    files = {name: size((v, u)) for name, v, u in re.findall(r"([a-z_]+\.(?:h5|fsj|csv)) " + SIZE, line)}
    save = size(re.search(r"--save-params adds about " + SIZE, line).groups())
    csv = size(re.search(r"--csv-trajectories about " + SIZE, line).groups())
    return total, files, save, csv


def written(out):
    names = ["journal.fsj", "trajectories.h5", "runs.csv", "phase_diagram.csv", "final_config.csv",
             "trajectories.csv"]
    return {n: os.path.getsize(os.path.join(out, n)) for n in names if os.path.exists(os.path.join(out, n))}


def within(est, actual, lo, hi):
    return actual > 0 and lo <= est / actual <= hi


def main():
    fsw, qs = arguments()
    sweeps = os.path.dirname(qs)
    cases = [  # (name, spec, --set): three models, series of 41 to 501 records, tables or none
        ("quickstart", qs, ["steps=400", "record_every=10"]),
        ("joma_toy", os.path.join(sweeps, "tian2024_joma_toy.toml"), ["steps=2000"]),
        ("scan_snap", os.path.join(sweeps, "tian2023_scan_snap.toml"),
         ["grid.num_last=[1,2]", "grid.seed={range=[0,3]}"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec, sets in cases:
            args = [a for s in sets for a in ("--set", s)]
            v = subprocess.run([fsw, "validate", spec, *args], capture_output=True, text=True)
            check(v.returncode == 0, f"{name}: validate exits 0")
            total, files, save, csv = footprint(v.stdout)
            plain, extra = os.path.join(tmp, name), os.path.join(tmp, name + "_all")
            subprocess.run([fsw, "run", spec, *args, "--out", plain, "--quiet"], check=True)
            subprocess.run([fsw, "run", spec, *args, "--out", extra, "--quiet", "--save-params", "--csv-trajectories"],
                           check=True)
            got, got_all = written(plain), written(extra)
            print(f"  {name}: said {total:.0f} B {files}, +{save:.0f}, +{csv:.0f}; wrote {got}, with both {got_all}")
            # The journal and the HDF5 file follow from the sizes alone; the CSV files' text width varies.
            for f in ("journal.fsj", "trajectories.h5"):
                check(f in files and within(files[f], got[f], 0.8, 1.25), f"{name}: {f} as said, within 25%")
            for f in ("final_config.csv", "runs.csv"):  # where the line names them (over 1% of the total)
                if f in files:
                    check(within(files[f], got[f], 1 / 1.7, 1.7), f"{name}: {f} as said, within a factor 1.7")
            check(within(total, sum(got.values()), 0.75, 1.33), f"{name}: all the outputs as said, within a third")
            added = got_all["journal.fsj"] + got_all["trajectories.h5"] - got["journal.fsj"] - got["trajectories.h5"]
            check(within(save, added, 0.8, 1.25), f"{name}: what --save-params adds as said, within 25%")
            check(within(csv, got_all["trajectories.csv"], 0.6, 1.67),
                  f"{name}: trajectories.csv as said, within 0.6-1.7x")

        # Runs that stop early write fewer records than said, never more.
        spec, args = qs, ["--set", "steps=3000", "--set", "stop_after=[\"phase1_end\"]"]
        total, files, _, _ = footprint(subprocess.run([fsw, "validate", spec, *args], capture_output=True,
                                                      text=True).stdout)
        out = os.path.join(tmp, "stopped")
        subprocess.run([fsw, "run", spec, *args, "--out", out, "--quiet"], check=True)
        got = written(out)
        check(got["journal.fsj"] < 0.5 * files["journal.fsj"],
              f"early stop: the journal well under what is said ({got['journal.fsj']} < {files['journal.fsj']:.0f} B)")

        # Room: 10^7 runs of 10^6 records, petabytes that no disk here holds. The warning comes before the
        # first run, naming the directory; the sweep is then stopped and left resumable.
        big = os.path.join(tmp, "big")
        p = subprocess.Popen([fsw, "run", qs, "--out", big, "--set", "grid.seed={range=[0,10000000]}",
                              "--set", "grid.m=[16]", "--set", "grid.lr_ratio=[1]", "--set", "steps=1000000",
                              "--set", "record_every=1"],
                             stderr=subprocess.PIPE, text=True)
        lines, deadline = [], time.time() + 120
        while time.time() < deadline:
            ln = p.stderr.readline()
            if not ln:
                break
            lines.append(ln)
            if ln.startswith("warning:") or "runs/s" in ln:
                break
        p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
        warn = next((ln for ln in lines if ln.startswith("warning:")), "")
        print("  " + warn.strip())
        check(re.search(re.escape(big) + r" has " + SIZE + r" free, and this sweep writes about [0-9.]+ PB", warn)
              is not None, "a sweep larger than the disk is warned of, naming the directory, its room and the size")
        check("--resume" in warn, "the warning says how the sweep goes on once the disk is full")

        # A Slurm sweep: the shards write the sweep's files, and the merge job its tables once more.
        r = subprocess.run([fsw, "slurm", qs, "--out", os.path.join(tmp, "slurm"), "--tasks", "4"],
                           capture_output=True, text=True)
        m = re.search(r"the sweep writes about " + SIZE + r" \(its shards " + SIZE + r", the merged tables " + SIZE,
                      r.stderr)
        shards = footprint(subprocess.run([fsw, "validate", qs], capture_output=True, text=True).stdout)
        check(r.returncode == 0 and m is not None, "slurm says what the sweep writes")
        if m:
            whole, parts, merged = size(m.groups()[0:2]), size(m.groups()[2:4]), size(m.groups()[4:6])
            check(within(parts, shards[0], 0.95, 1.05) and within(whole, parts + merged, 0.95, 1.05)
                  and merged < parts, f"slurm: the shards as validate says, and the merged tables besides ({m[0]})")

        # A sweep that fits says nothing of room.
        r = subprocess.run([fsw, "run", qs, "--out", os.path.join(tmp, "fits"), "--set", "steps=10"],
                           capture_output=True, text=True)
        check(r.returncode == 0 and "free" not in r.stderr, "a sweep that fits gives no warning of room")
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
