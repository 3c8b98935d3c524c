#!/usr/bin/env python3
"""Shards, resume and merge: shards of any N together give exactly the runs of the unsharded sweep, each
once, and the merged tables are byte-identical to a single-process run; kill -9 and SIGTERM in the middle
of a shard, then --resume: identical tables; merge names missing, failed and corrupt runs and refuses
another sweep's shard; status counts what is done; the Slurm array environment picks the shard."""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile

from checks import journal_records, arguments, check, finish
import random
import time

TABLES = ("runs.csv", "phase_diagram.csv", "trajectories.csv")


def same_tables(a, b):
    return all(open(os.path.join(a, t), "rb").read() == open(os.path.join(b, t), "rb").read() for t in TABLES)


def same_h5(a, b):
    """Every dataset of two trajectories.h5 files holds the same values (NaN equal to NaN)."""
    import h5py
    import numpy as np

    with h5py.File(os.path.join(a, "trajectories.h5"), "r") as fa, h5py.File(os.path.join(b, "trajectories.h5"), "r") as fb:
        names = sorted(k for k in fa if isinstance(fa[k], h5py.Dataset))
        if names != sorted(k for k in fb if isinstance(fb[k], h5py.Dataset)):
            return False
        for k in names:
            x, y = fa[k][()], fb[k][()]
            if x.dtype.kind == "f":
                if not np.array_equal(x, y, equal_nan=True):
                    return False
            elif not np.array_equal(x, y):
                return False
    return True


def finished(d):
    return sum(1 for r in journal_records(os.path.join(d, "journal.fsj")) if r[1] == 1)


def ids(d):
    return [r["run_id"] for r in csv.DictReader(open(os.path.join(d, "runs.csv")))]


def main():
    fsw, qs = arguments()
    quick = ["--set", "steps=300", "--set", "record_every=20", "--quiet", "--csv-trajectories"]
    with tempfile.TemporaryDirectory() as tmp:
        whole = os.path.join(tmp, "whole")
        subprocess.run([fsw, "run", qs, "--out", whole, "--threads", "2", *quick], check=True)
        all_ids = ids(whole)

        for n in (1, 2, 3, 5):
            dirs = [os.path.join(tmp, f"n{n}", f"shard-{i}") for i in range(n)]
            for i, d in enumerate(dirs):
                subprocess.run([fsw, "run", qs, "--out", d, "--shard", f"{i}/{n}", "--threads", "1", *quick], check=True)
            got = [x for d in dirs for x in ids(d)]
            check(sorted(got) == sorted(all_ids) and len(set(got)) == len(got), f"{n} shards hold every run once")
            merged = os.path.join(tmp, f"n{n}", "merged")
            p = subprocess.run([fsw, "merge", *dirs, "--out", merged, "--quiet", "--csv-trajectories"], capture_output=True, text=True)
            check(p.returncode == 0 and same_tables(merged, whole), f"{n} shards merge byte-identical ({p.stderr.strip()})")
            check(same_h5(merged, whole), f"{n} shards: the merged trajectories.h5 holds the single run's values")
        # balanced by cost: with 3 shards the largest holds no more than half the runs more than the smallest
        sizes = [len(ids(os.path.join(tmp, "n3", f"shard-{i}"))) for i in range(3)]
        check(max(sizes) - min(sizes) <= 6, f"shards balanced: {sizes}")

        # The Slurm array environment picks the shard.
        env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", FLOWSWEEP_SHARDS="3")
        d = os.path.join(tmp, "env-shard")
        subprocess.run([fsw, "run", qs, "--out", d, *quick], check=True, env=env)
        check(ids(d) == ids(os.path.join(tmp, "n3", "shard-1")), "SLURM_ARRAY_TASK_ID 1 of 3 is shard 1/3")
        env = dict(os.environ, SLURM_ARRAY_TASK_ID="0", FLOWSWEEP_SHARD_OFFSET="2", FLOWSWEEP_SHARDS="3")
        d = os.path.join(tmp, "env-offset")
        subprocess.run([fsw, "run", qs, "--out", d, *quick], check=True, env=env)
        check(ids(d) == ids(os.path.join(tmp, "n3", "shard-2")), "an array offset of 2 shifts task 0 to shard 2")

        # Extending a sweep by seeds reuses its finished runs (by run id): from a directory, and from a Slurm
        # sweep's shard-*/ directories; the tables equal a run of the extended sweep from scratch.
        base = os.path.join(tmp, "base")
        subprocess.run([fsw, "run", qs, "--out", base, "--threads", "2", *quick, "--set", "grid.seed=[0]"], check=True)
        n_base = len(ids(base))
        wider = ["--set", "grid.seed=[0, 1, 2]"]
        fresh = os.path.join(tmp, "wider-fresh")
        subprocess.run([fsw, "run", qs, "--out", fresh, "--threads", "2", *quick, *wider], check=True)
        for label, source in (("a directory", base), ("a Slurm sweep's shards", os.path.join(tmp, "n3"))):
            ext = os.path.join(tmp, "wider-" + str(len(label)))
            p = subprocess.run([fsw, "run", qs, "--out", ext, "--threads", "2", *quick, *wider, "--reuse", source],
                               capture_output=True, text=True)
            m = json.load(open(os.path.join(ext, "manifest.json")))
            want = n_base if source == base else len(ids(fresh))  # the full sweep holds every extended run
            got = m["timings"]["reused_runs"]
            check(p.returncode == 0 and got == want and same_tables(ext, fresh) and same_h5(ext, fresh),
                  f"extended by seeds, reusing {label}: {got} of {len(ids(fresh))} runs reused (want {want}), tables "
                  f"those of a fresh run ({p.stderr.strip()[-200:]})")
        bad = os.path.join(tmp, "bad-reuse")
        p = subprocess.run([fsw, "run", qs, "--out", bad, *quick, "--reuse", os.path.join(tmp, "nowhere")],
                           capture_output=True, text=True)
        check(p.returncode == 2 and "--reuse" in p.stderr and not os.path.exists(bad),
              f"--reuse of a directory with no journal: exit 2, nothing written ({p.stderr.strip()})")
        before = open(os.path.join(base, "runs.csv"), "rb").read()
        p = subprocess.run([fsw, "run", qs, "--out", base, *quick, *wider, "--reuse", base], capture_output=True, text=True)
        check(p.returncode == 2 and "--resume" in p.stderr and open(os.path.join(base, "runs.csv"), "rb").read() == before,
              f"--reuse of --out itself: exit 2, the directory untouched ({p.stderr.strip()})")

        # kill -9 and SIGTERM in the middle, then resume.
        slow = ["--set", "steps=3000", "--set", "record_every=20", "--quiet", "--threads", "1", "--csv-trajectories"]
        ref = os.path.join(tmp, "slow-ref")
        subprocess.run([fsw, "run", qs, "--out", ref, *slow], check=True)
        for sig in (signal.SIGKILL, signal.SIGTERM):
            d = os.path.join(tmp, f"killed-{int(sig)}")
            proc = subprocess.Popen([fsw, "run", qs, "--out", d, *slow])
            deadline = time.time() + 60
            while time.time() < deadline and finished(d) < 5:
                time.sleep(0.05)
            proc.send_signal(sig)
            rc = proc.wait()
            done_before = finished(d)
            if sig == signal.SIGTERM:
                m = json.load(open(os.path.join(d, "manifest.json")))
                check(rc == 1 and not m["complete"] and m["interrupted_by_signal"] == int(sig),
                      f"SIGTERM: exit 1, tables written, manifest says incomplete ({done_before} runs done)")
                st = subprocess.run([fsw, "status", d], capture_output=True, text=True).stdout
                check(f"{done_before} done" in st and "incomplete" in st, f"status: {st.splitlines()[0]}")
            else:
                check(rc == -9 and 0 < done_before < 36, f"kill -9 left {done_before} finished runs")
                st = subprocess.run([fsw, "status", d], capture_output=True, text=True)
                check(st.returncode == 0 and f"{done_before} done" in st.stdout and "incomplete" in st.stdout,
                      f"status after a kill -9 of a first attempt: {st.stdout.strip().splitlines()[:1]}")
            first = json.load(open(os.path.join(d, "manifest.json"))) if sig == signal.SIGTERM else None
            subprocess.run([fsw, "run", qs, "--out", d, "--resume", *slow], check=True)
            m = json.load(open(os.path.join(d, "manifest.json")))
            check(m["timings"]["resumed_runs"] >= done_before and m["complete"], f"resume took {m['timings']['resumed_runs']} finished runs")
            if first:
                taken = first["timings"]["steps_taken"] + m["timings"]["steps_taken"]
                # The run in flight is saved unless the signal landed in the last chunk of a run (then it
                # finished first); either way no step is taken twice.
                check(taken == 36 * 3000,
                      f"SIGTERM saved {first.get('checkpointed_runs', 0)} runs in flight; the two attempts took "
                      f"{taken} steps, the sweep's {36 * 3000}: none redone")
            check(same_tables(d, ref), f"after {signal.Signals(sig).name} and resume the tables are identical")
            check(len(ids(d)) == 36 and len(set(ids(d))) == 36, "every run once")

        # kill -9 at random moments, over and over, with checkpoints every 0.2 s: nothing lost, nothing twice.
        rng = random.Random(7)
        d = os.path.join(tmp, "kill-loop")
        args = [*slow, "--checkpoint-every", "0.2", "--slice", "0.05"]
        for attempt in range(6):
            proc = subprocess.Popen([fsw, "run", qs, "--out", d, *args] + (["--resume"] if attempt else []))
            time.sleep(rng.uniform(0.1, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        subprocess.run([fsw, "run", qs, "--out", d, "--resume", *args], check=True)
        recs = journal_records(os.path.join(d, "journal.fsj"))
        runs = [r[2] for r in recs if r[1] == 1]
        check(len(runs) == 36 and len(set(runs)) == 36, f"after 6 kills: {len(runs)} run records, {len(set(runs))} runs")
        check(same_tables(d, ref), "after 6 kills and a resume the tables are identical")

        # Merge with a shard missing, a corrupt record, a truncated record, and another sweep's shard.
        dirs = [os.path.join(tmp, "n3", f"shard-{i}") for i in range(3)]
        out = os.path.join(tmp, "partial")
        p = subprocess.run([fsw, "merge", dirs[0], dirs[2], "--out", out], capture_output=True, text=True)
        n_missing = len(ids(dirs[1]))
        check(p.returncode == 1 and p.stderr.count("missing: ") == n_missing and " in shard 1/3" in p.stderr,
              f"a missing shard: exit 1, its {n_missing} runs named with their shard")
        rows = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
        m = json.load(open(os.path.join(out, "manifest.json")))
        check(len(rows) == 36 and sum(r["status"] == "missing" for r in rows) == n_missing and not m["complete"],
              "merged tables written anyway, missing runs marked")
        # A flipped byte inside shard 0's first record, then a torn tail: each named, those runs missing.
        victim = os.path.join(dirs[0], "journal.fsj")
        data = open(victim, "rb").read()
        recs = journal_records(victim)
        first, last = recs[0], recs[-1]
        flipped = bytearray(data)
        flipped[first[0] + 40 + first[3] // 2] ^= 0x10
        open(victim, "wb").write(bytes(flipped))
        p = subprocess.run([fsw, "merge", *dirs, "--out", os.path.join(tmp, "m2")], capture_output=True, text=True)
        check(p.returncode == 1 and victim in p.stderr and "checksum" in p.stderr
              and p.stderr.count("missing: ") == len(recs), f"a corrupt record named, the runs from it on missing")
        open(victim, "wb").write(data[: last[0] + 40 + last[3] // 2])
        p = subprocess.run([fsw, "merge", *dirs, "--out", os.path.join(tmp, "m3")], capture_output=True, text=True)
        check(p.returncode == 1 and victim in p.stderr and "torn" in p.stderr and p.stderr.count("missing: ") == 1,
              "a torn tail named, its one run missing")
        p = subprocess.run([fsw, "run", qs, "--out", dirs[0], "--shard", "0/3", "--resume", *quick],
                           capture_output=True, text=True)
        check(p.returncode == 0 and "torn" in p.stderr and "run again" in p.stderr, f"resume names the torn tail: {p.stderr.strip()[:200]}")
        check(finished(dirs[0]) == len(recs), "and runs only that run again")
        p = subprocess.run([fsw, "merge", *dirs, "--out", os.path.join(tmp, "m7"), "--quiet", "--csv-trajectories"], capture_output=True, text=True)
        check(p.returncode == 0 and same_tables(os.path.join(tmp, "m7"), os.path.join(tmp, "n3", "merged")),
              "after that resume the merge is whole again and byte-identical")
        tables = os.path.join(dirs[2], "runs.csv")
        open(tables, "a").write("garbage\n")
        p = subprocess.run([fsw, "merge", *dirs, "--out", os.path.join(tmp, "m4")], capture_output=True, text=True)
        check(p.returncode == 1 and tables in p.stderr and "checksum" in p.stderr, "a changed shard table named")
        other = os.path.join(tmp, "other")
        subprocess.run([fsw, "run", qs, "--out", other, "--set", "steps=10", "--quiet"], check=True)
        p = subprocess.run([fsw, "merge", dirs[0], other, "--out", os.path.join(tmp, "m5")], capture_output=True, text=True)
        check(p.returncode == 2 and other in p.stderr and "another sweep" in p.stderr, "another sweep's shard refused")
        p = subprocess.run([fsw, "run", qs, "--out", dirs[0], "--resume", "--set", "steps=10", "--quiet"],
                           capture_output=True, text=True)
        check(p.returncode == 2 and "another sweep" in p.stderr, "resume into another sweep's directory refused")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
