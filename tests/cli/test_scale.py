#!/usr/bin/env python3
"""Many runs: a grid is counted before it is expanded, 10^5 tiny runs stream through bounded memory into a
handful of files, and a SIGTERM in the middle of a long sweep stops it at the end of a slice."""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from checks import arguments, check, finish


# Peak RSS allowed for 10^5 runs: the runs in flight, one slice's finished runs, one block of HDF5 rows
# and a few numbers per run. Holding every run's series (as flowsweep once did) takes 2.7 GB.
RSS_LIMIT_MB = 300


def seeds(n):
    return ["--set", f"grid.seed={{range=[0, {n}]}}"]


def main():
    fsw, sweeps = arguments()
    spec = os.path.join(os.path.dirname(sweeps), "bench", "host_scale.toml")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        p = subprocess.run([fsw, "validate", spec, *seeds(1000000), "--set", "grid.lr={geomspace=[0.001, 1, 1000000]}"],
                           capture_output=True, text=True)
        took = time.perf_counter() - t0
        check(p.returncode == 2 and "host_scale.toml" in p.stderr and "seed 1000000 x lr 1000000" in p.stderr,
              f"a grid of 10^12 runs: exit 2 naming its axes in {took:.2f} s ({p.stderr.strip()})")

        p = subprocess.run([fsw, "validate", spec, *seeds(10000000)], capture_output=True, text=True)
        check(p.returncode == 0 and "10000000 runs" in p.stdout and "2e+09 run-steps" in p.stdout
              and len(p.stdout) < 2000, f"validate of 10^7 runs answers in a few lines: {p.stdout.splitlines()[-1:]}")

        out = os.path.join(tmp, "out")
        proc = subprocess.Popen([fsw, "run", spec, "--out", out, "--quiet", *seeds(100000)])
        _, status, usage = os.wait4(proc.pid, 0)
        rss = usage.ru_maxrss / 1024
        check(status == 0, "10^5 runs finish")
        check(rss < RSS_LIMIT_MB, f"10^5 runs: peak RSS {rss:.0f} MB < {RSS_LIMIT_MB} MB")
        files = sorted(os.listdir(out))
        check(files == [".lock", "final_config.csv", "journal.fsj", "manifest.json", "phase_diagram.csv", "runs.csv",
                        "trajectories.h5"], f"10^5 runs: six files and the lock ({files})")
        with open(os.path.join(out, "runs.csv")) as f:
            rows = sum(1 for _ in csv.DictReader(f))
        m = json.load(open(os.path.join(out, "manifest.json")))
        check(rows == 100000 and m["counts"]["ok"] == 100000, f"every run in runs.csv ({rows})")
        check(os.path.getsize(os.path.join(out, "manifest.json")) < 20000, "the manifest stays small (a range axis by its ends)")

        # A SIGTERM a second into a sweep that would take half a minute: it stops at the end of a slice.
        out = os.path.join(tmp, "stopped")
        proc = subprocess.Popen([fsw, "run", spec, "--out", out, "--quiet", *seeds(1000000)], stderr=subprocess.PIPE,
                                text=True)
        time.sleep(1.5)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        took = time.perf_counter() - t0
        m = json.load(open(os.path.join(out, "manifest.json")))
        done = m["counts"]["ok"]
        check(proc.returncode == 1 and not m["complete"] and 0 < done < 1000000,
              f"SIGTERM: exit 1 after {took:.1f} s with {done} runs done, tables written")
        check(os.path.exists(os.path.join(out, "checkpoint.fsj")), "the checkpoint is on disk")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
