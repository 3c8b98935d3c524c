#!/usr/bin/env python3
"""Every sweep shipped in sweeps/ validates and runs end to end (one seed, three steps): exit 0, every run
ok, and tables whose column names are unique, so no observable, detector or final-configuration column
shadows another in runs.csv, phase_diagram.csv or trajectories.h5; sweeps/paper_tables.py reads the
output of each sweep it has a table for."""
import csv
import glob
import os
import subprocess
import sys
import tempfile

from checks import arguments, check, finish, h5_runs

import h5py


PAPER_TABLES = {"yang2024_cooccurrence", "yang2024_cooccurrence_ratio", "tian2023_scan_snap", "tian2024_joma", "tian2024_joma_toy", "tian2024_joma_rebound",
                "tian2024_joma_rebound_step", "tian2024_joma_rebound_long", "lebeurrier2026_pathcond",
                "lebeurrier2026_pathcond_demo", "varre2026_value_softmax", "varre2026_value_softmax_tied",
                "varre2026_value_softmax_regression", "varre2026_value_softmax_square_ratio"}


def main():
    fsw, qs = arguments()
    specs = sorted(glob.glob(os.path.join(os.path.dirname(qs), "*.toml")))
    check(len(specs) >= 8, f"{len(specs)} sweeps found")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            name = os.path.basename(spec)
            p = subprocess.run([fsw, "validate", spec], capture_output=True, text=True)
            check(p.returncode == 0, f"{name} validates ({p.stderr.strip()[:200]})")
            out = os.path.join(tmp, name)
            p = subprocess.run([fsw, "run", spec, "--out", out, "--quiet", "--set", "train.steps=3",
                                "--set", "train.flow_time=0", "--set", "train.record_every=1",
                                "--set", "grid.seed=[0]"], capture_output=True, text=True)
            check(p.returncode == 0, f"{name} runs end to end ({p.stderr.strip()[:200]})")
            if p.returncode != 0:
                continue
            runs = list(csv.reader(open(os.path.join(out, "runs.csv"))))
            head = runs[0]
            check(len(set(head)) == len(head), f"{name}: runs.csv columns unique")
            status = head.index("status")
            check(all(r[status] == "ok" for r in runs[1:]), f"{name}: every run ok")
            cells = next(csv.reader(open(os.path.join(out, "phase_diagram.csv"))))
            check(len(set(cells)) == len(cells), f"{name}: phase_diagram.csv columns unique")
            with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
                ids, _ = h5_runs(f)
                check(ids == [r[0] for r in runs[1:]], f"{name}: trajectories.h5 holds every run, in order")
            stem = name[: -len(".toml")]
            if stem in PAPER_TABLES:  # the script that lays the sweep beside the paper reads its output
                p = subprocess.run([sys.executable, os.path.join(os.path.dirname(qs), "paper_tables.py"), stem, out,
                                    "--png", os.path.join(tmp, stem + ".png")], capture_output=True, text=True)
                check(p.returncode == 0 and "|---" in p.stdout,
                      f"{name}: paper_tables.py prints its table ({p.stderr.strip()[-300:]})")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
