#!/usr/bin/env python3
"""Regression tests for the defects a fault and fuzz campaign found: one sweep per directory, a lock, write
errors, damaged manifests, hostile specs. Each check says what it guards against."""
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from checks import arguments, check, finish  # noqa: E402


def run(*args, timeout=300, preexec=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, errors="replace", timeout=timeout,
                       preexec_fn=preexec)
    return p.returncode, p.stdout, p.stderr


def tables(out):
    return {f: open(os.path.join(out, f), "rb").read() for f in ("runs.csv", "phase_diagram.csv")}


def main():
    fsw, qs = arguments()
    sweeps = os.path.dirname(qs)
    tiny = ["--set", "steps=40", "--set", "record_every=10", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        # 1. One sweep per directory, and one process. A long sweep holds the lock: a second process is
        #    refused (exit 2) whatever its spec, status says the sweep is running, and the first sweep's
        #    records stay whole.
        long_out = os.path.join(tmp, "long")
        long_sweep = ["--set", "grid.seed=[0]", "--set", "steps=100000", "--set", "record_every=5000"]
        first = subprocess.Popen([fsw, "run", qs, "--out", long_out, "--threads", "1", "--quiet", *long_sweep],
                                 stderr=subprocess.PIPE, text=True)
        for _ in range(200):
            if os.path.exists(os.path.join(long_out, "manifest.json")):
                break
            time.sleep(0.05)
        rc, out, err = run(fsw, "status", long_out)
        check(rc == 0 and "running or to run" in out, f"status during a first run: {out.splitlines()[0] if out else err.strip()}")
        for label, extra in (("another sweep", ["--set", "steps=30"]), ("the same sweep", long_sweep)):
            rc, _, err = run(fsw, "run", qs, "--out", long_out, "--quiet", *extra)
            check(rc == 2 and "in use by another flowsweep process (pid" in err,
                  f"{label} into a directory in use: exit 2 ({err.strip()})")
        rc, _, err = run(fsw, "run", qs, "--out", long_out, "--quiet", "--force", "--set", "steps=30")
        check(rc == 2 and "in use" in err, "--force does not break another process's lock")
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
        rc, out, _ = run(fsw, "status", long_out)
        check(rc == 0 and "incomplete" in out and "running" not in out,
              f"status after the sweep stopped: {out.splitlines()[0] if out else ''}")
        rc, _, err = run(fsw, "run", qs, "--out", long_out, "--resume", "--quiet", "--threads", "2", *long_sweep,
                         timeout=900)
        m = json.load(open(os.path.join(long_out, "manifest.json")))
        check(rc == 0 and m["complete"] and m["counts"]["ok"] == 6, f"the interrupted sweep resumes whole ({err.strip()})")

        # While a sweep runs, progress.json holds its rate, and status estimates the time left from it; the
        #    file goes when the attempt ends, so a finished directory holds only its tables.
        eta_out = os.path.join(tmp, "eta")
        proc = subprocess.Popen([fsw, "run", qs, "--out", eta_out, "--threads", "1", "--quiet", "--set", "steps=20000",
                                 "--set", "record_every=1000"], stderr=subprocess.PIPE, text=True)
        progress, out = os.path.join(eta_out, "progress.json"), ""
        for _ in range(600):
            if os.path.exists(progress) and json.load(open(progress))["done"] > 0:
                _, out, _ = run(fsw, "status", eta_out)
                if "left at this attempt's rate" in out:
                    break
            time.sleep(0.05)
        check("left at this attempt's rate" in out, f"status of a running sweep estimates the time left: {out[:200]}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        check(not os.path.exists(progress), "progress.json goes when the attempt ends")
        # The same on a Slurm sweep's directory: shard 0 of 2 running, shard 1 not started.
        sl = os.path.join(tmp, "eta_slurm")
        os.makedirs(os.path.join(sl, "slurm"))
        proc = subprocess.Popen([fsw, "run", qs, "--out", os.path.join(sl, "shard-0"), "--shard", "0/2", "--threads", "1",
                                 "--quiet", "--set", "steps=20000", "--set", "record_every=1000"],
                                stderr=subprocess.PIPE, text=True)
        out = ""
        for _ in range(600):
            _, out, _ = run(fsw, "status", sl)
            if "time left" in out:
                break
            time.sleep(0.05)
        check("time left: about" in out and "for the running shards" in out and "then 1 pending shards, about" in out,
              f"status of a Slurm sweep estimates the running and the pending shards' time: {out[:400]}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

        # A run that fails (here: memory refused to one cell's parameters) is recorded as failed, stays failed on
        #    a plain --resume, and only it is trained again with --retry-failed.
        big = os.path.join(tmp, "big.toml")
        open(big, "w").write('name = "failing"\nmodel = "joma"\nseed = 1\n[params]\nC = 2\nn_distinct = 16000\n'
                             'n_common = 4000\ndata = "random"\n[train]\nsteps = 2\nrecord_every = 1\n'
                             '[grid]\nhidden = [4, 1024]\nseed = [0, 1]\n')
        fail_out = os.path.join(tmp, "failing")
        cpu1 = ["--backend", "cpu", "--threads", "1", "--quiet"]

        def small_memory():
            resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))

        def statuses():
            path = os.path.join(fail_out, "runs.csv")
            return [r["status"] for r in csv.DictReader(open(path))] if os.path.exists(path) else None

        # A sanitizer's shadow memory does not fit in 400 MB of address space: such a build cannot start.
        if run(fsw, "--version", preexec=small_memory)[0] != 0:
            print("skip failed runs and --retry-failed: this build cannot start within a 400 MB address space")
        else:
            rc, _, err = run(fsw, "run", big, "--out", fail_out, *cpu1, preexec=small_memory)
            check(rc == 1 and statuses() == ["ok", "ok", "failed", "failed"],
                  f"the runs that cannot get their memory fail, the others finish: {statuses()} ({err.strip()[-200:]})")
            rc, out, _ = run(fsw, "status", fail_out)
            check(rc == 0 and "4 done (2 failed)" in out and out.count("  failed ") == 2 and "hidden=1024, seed=0" in out,
                  f"status names the failed runs by their grid values: {out.strip()}")
            rc, _, _ = run(fsw, "run", big, "--out", fail_out, "--resume", *cpu1)
            check(rc == 1 and statuses() == ["ok", "ok", "failed", "failed"], "a plain --resume keeps failed runs failed")
            rc, _, err = run(fsw, "run", big, "--out", fail_out, "--resume", "--retry-failed", *cpu1)
            m = json.load(open(os.path.join(fail_out, "manifest.json")))
            check(rc == 0 and statuses() == ["ok"] * 4 and m["timings"]["resumed_runs"] == 2,
                  f"--retry-failed trains only the failed runs again: {statuses()}, {m['timings']['resumed_runs']} "
                  "resumed")

        # A finished scan_snap sweep, then a co-occurrence sweep into its directory: refused, nothing
        # touched; with --force nothing of the first stays (its final_config.csv, its plots).
        snap_out = os.path.join(tmp, "snap")
        rc, _, err = run(fsw, "run", os.path.join(sweeps, "tian2023_scan_snap.toml"), "--out", snap_out, "--quiet",
                         "--set", "grid.seed=[0]", "--set", "grid.num_last=[1]", "--set", "grid.lr=[1]",
                         "--set", "steps=10")
        os.makedirs(os.path.join(snap_out, "plots"))
        open(os.path.join(snap_out, "plots", "old.png"), "w").write("x")
        before = {f: open(os.path.join(snap_out, f), "rb").read() for f in os.listdir(snap_out) if f.endswith(".csv")}
        check(rc == 0 and "final_config.csv" in before, "a scan_snap sweep writes final_config.csv")
        rc, _, err = run(fsw, "run", qs, "--out", snap_out, *tiny)
        after = {f: open(os.path.join(snap_out, f), "rb").read() for f in os.listdir(snap_out) if f.endswith(".csv")}
        check(rc == 2 and "holds another sweep ('tian2023_scan_snap'" in err and before == after,
              f"another sweep into a finished directory: exit 2, nothing changed ({err.strip()})")
        rc, _, err = run(fsw, "run", qs, "--out", snap_out, *tiny, "--resume")
        check(rc == 2 and "--resume" in err and "another sweep" in err, "--resume into another sweep: exit 2")
        rc, _, err = run(fsw, "run", qs, "--out", snap_out, *tiny, "--force")
        left = sorted(os.listdir(snap_out))
        own = os.path.join(snap_out, "final_config.csv")  # the co-occurrence sweep writes its own
        check(rc == 0 and "plots" not in left and open(own).readline().startswith("run_id,type,query,key,"),
              f"--force leaves nothing of the other sweep: {left}")

        # A damaged manifest is not trusted: an edit is found by its checksum.
        good = os.path.join(tmp, "good")
        run(fsw, "run", qs, "--out", good, *tiny)
        rc, _, err = run(fsw, "merge", good, "--out", long_out)
        check(rc == 2 and "holds another sweep" in err and tables(long_out)["runs.csv"],
              f"merge into another sweep's directory: exit 2 ({err.strip()})")
        mpath = os.path.join(good, "manifest.json")
        text = open(mpath).read()
        open(mpath, "w").write(text.replace('"count": 1', '"count": 0'))
        for cmd in (["status", good], ["merge", good, "--out", os.path.join(tmp, "merged")]):
            rc, _, err = run(fsw, *cmd)
            check(rc == 2 and f"{mpath}: checksum mismatch" in err, f"{cmd[0]} of an edited manifest: exit 2 naming it")
        rc, _, err = run(fsw, "run", qs, "--out", good, *tiny)
        check(rc == 0, f"a run of the same sweep into it goes on: the journal says whose it is ({err.strip()})")
        open(mpath, "w").write(text[: len(text) // 2])
        rc, _, err = run(fsw, "status", good)
        check(rc == 2 and "corrupt manifest" in err and mpath in err, "a torn manifest: exit 2 naming it")

        # 2. A write that fails (here a file-size limit; a full disk fails the same way) stops the sweep
        #    cleanly: exit 1, no abort, a message naming the file; --resume then finishes it, and its
        #    tables equal those of a sweep never stopped.
        ref = os.path.join(tmp, "ref")
        run(fsw, "run", qs, "--out", ref, "--set", "steps=400", "--set", "record_every=1", "--quiet", "--threads", "2")
        full = os.path.join(tmp, "full")

        def small_disk():
            resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

        rc, _, err = run(fsw, "run", qs, "--out", full, "--set", "steps=400", "--set", "record_every=1", "--quiet",
                         "--threads", "2", preexec=small_disk)
        check(rc == 1 and "journal.fsj" in err and "resume" in err, f"a failed write: exit 1 naming the file ({err.strip()})")
        check(not [f for f in os.listdir(full) if ".tmp" in f], "a failed write leaves no temporary files")
        rc, _, err = run(fsw, "run", qs, "--out", full, "--set", "steps=400", "--set", "record_every=1", "--quiet",
                         "--threads", "2", "--resume")
        check(rc == 0 and tables(full) == tables(ref), f"after a failed write, --resume gives the tables of a clean run ({err.strip()})")

        # 3. Each value of an axis once.
        dup = os.path.join(tmp, "dup.toml")
        open(dup, "w").write(open(qs).read().replace("m = [16, 32]", "m = [16, 16, 32]"))
        rc, _, err = run(fsw, "run", dup, "--out", os.path.join(tmp, "dup"))
        check(rc == 2 and f"{dup}:" in err and "'grid.m'" in err and "appears twice" in err
              and not os.path.exists(os.path.join(tmp, "dup")), f"a duplicate axis value: exit 2, nothing written ({err.strip()})")
        rc, _, err = run(fsw, "validate", qs, "--set", "grid.lr_ratio=[1, 1.0]")
        check(rc == 2 and "appears twice" in err, "1 and 1.0 are the same value")

        # 4. A spec over 64 KB runs to the end; trajectories.h5 keeps it whole.
        big = os.path.join(tmp, "big.toml")
        open(big, "w").write(open(qs).read().replace('name = "quickstart"', 'name = "quickstart"\ndescription = "' + "y" * 100_000 + '"'))
        rc, _, err = run(fsw, "run", big, "--out", os.path.join(tmp, "big"), *tiny)
        check(rc == 0, f"a 100 KB spec runs ({err.strip()})")
        try:
            import h5py
            with h5py.File(os.path.join(tmp, "big", "trajectories.h5")) as f:
                spec = f.attrs["spec"]
                spec = spec.decode() if isinstance(spec, bytes) else spec
                check(spec == open(big).read(), "trajectories.h5 holds the 100 KB spec whole")
        except ImportError:
            check(False, "h5py is needed to read trajectories.h5")

        # 5. Bytes that are not UTF-8 (here in the spec's path) are replaced in the manifest, never thrown over.
        odd_dir = os.path.join(tmp.encode(), b"odd\xff")
        os.makedirs(odd_dir)
        odd = os.path.join(odd_dir, b"spec.toml")
        open(odd, "wb").write(open(qs, "rb").read())
        odd_out = os.path.join(tmp, "odd")
        p = subprocess.run([fsw.encode(), b"run", odd, b"--out", odd_out.encode(), *[a.encode() for a in tiny]],
                           capture_output=True)
        check(p.returncode == 0, f"a spec path with a byte 0xff runs ({p.stderr[-200:]!r})")
        m = json.load(open(os.path.join(odd_out, "manifest.json")))
        check("\ufffd" in m["spec"]["path"], "the manifest replaces the byte that is not UTF-8")
        rc, _, err = run(fsw, "merge", odd_out, "--out", os.path.join(tmp, "odd_merged"), "--quiet")
        check(rc == 0, f"merge reads it ({err.strip()})")

        # 6. Shards: a shard count above the number of runs is refused or empty, never a crash.
        rc, _, err = run(fsw, "run", qs, "--out", os.path.join(tmp, "s"), "--shard", "0/1000000000000", *tiny)
        check(rc == 2 and "--shard 0/1000000000000" in err, f"--shard 0/10^12: exit 2 ({err.strip()})")
        rc, _, err = run(fsw, "run", qs, "--out", os.path.join(tmp, "s"), "--shard", "50/100", *tiny)
        m = json.load(open(os.path.join(tmp, "s", "manifest.json")))
        check(rc == 0 and m["counts"]["runs"] == 0, f"a shard beyond the 36 runs is empty ({err.strip()})")

        # 7. A giant axis is counted, not built: answered at once.
        for rng in ("[0, 99999999999]", "[0, 9223372036854775807]"):
            t0 = time.time()
            rc, _, err = run(fsw, "validate", qs, "--set", f"grid.seed={{ range = {rng} }}", timeout=30)
            check(rc == 2 and "more than the 100000000 runs" in err and time.time() - t0 < 5,
                  f"range {rng}: exit 2 in {time.time() - t0:.2f} s ({err.strip()})")

        # 9. Hostile files.
        deep = os.path.join(tmp, "deep.toml")
        open(deep, "w").write('model = "cooccurrence"\n[' + ".".join(["a"] * 500_000) + "]\n")
        rc, _, err = run(fsw, "validate", deep)
        check(rc == 2 and f"{deep}:2" in err, f"a header nested 500000 deep: exit 2 ({err[:120].strip()})")
        tricky = os.path.join(tmp, "tricky.toml")
        open(tricky, "wb").write(b's = """\\\n\xc2\xa7"""\nmodel = "cooccurrence"\n')
        rc, _, err = run(fsw, "validate", tricky)
        check(rc == 2 and f"{tricky}:2:1: a non-ASCII character after a line-ending backslash" in err,
              f"a line-ending backslash before U+00A7: exit 2 ({err.strip()})")
        for label, text in (("in a table header", b'model = "cooccurrence"\n[pa\xc2\xa7rams]\n'),
                            ("after a value", b'model = "cooccurrence"\nseed = 1\xc3\xa9\n'),
                            ("after a backslash in a multi-line string", b'model = "cooccurrence"\nname = """\\\xc3\xa9"""\n')):
            odd_spec = os.path.join(tmp, "odd.toml")
            open(odd_spec, "wb").write(text)
            rc, _, err = run(fsw, "validate", odd_spec)
            check(rc == 2 and f"{odd_spec}:" in err and "non-ASCII" in err, f"non-ASCII {label}: exit 2 ({err.strip()})")
        fine = os.path.join(tmp, "fine.toml")
        open(fine, "w", encoding="utf-8").write(open(qs).read().replace(
            'name = "quickstart"', '# café, naïve, Ω, 日本\nname = "quickstart — é"\ndescription = """Ω\nß\\\n   x"""'))
        rc, out, err = run(fsw, "validate", fine)
        check(rc == 0, f"non-ASCII in strings and comments is fine ({err.strip()})")
        bad_utf8 = os.path.join(tmp, "bad_utf8.toml")
        open(bad_utf8, "wb").write(b'model = "cooccurrence"\nname = "\xc3\x28"\n')
        rc, _, err = run(fsw, "validate", bad_utf8)
        check(rc == 2 and f"{bad_utf8}:2:9: invalid UTF-8" in err, f"invalid UTF-8: exit 2 naming line and column ({err.strip()})")
        rc, _, err = run(fsw, "validate", tmp)
        check(rc == 2 and "is a directory" in err, f"a directory as the spec: {err.strip()}")
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        rc, _, err = run(fsw, "validate", fifo, timeout=10)
        check(rc == 2 and "not a regular file" in err, f"a FIFO as the spec: exit 2 at once ({err.strip()})")
        rc, _, err = run(fsw, "validate", qs, "--set", "bogus.x=1")
        check(rc == 2 and err.startswith("error: --set 'bogus.x=1'"), f"--set bogus.x=1 blames --set: {err.strip()}")
        huge = os.path.join(tmp, "huge.toml")
        open(huge, "w").write('model = "cooccurrence"\n' + "k" * 5_000_000 + " = 1\n")
        rc, _, err = run(fsw, "validate", huge)
        check(rc == 2 and len(err) < 400, f"a 5 MB spec: exit 2 with a short message ({err.strip()})")
        longkey = os.path.join(tmp, "longkey.toml")
        open(longkey, "w").write('model = "cooccurrence"\n' + "k" * 900_000 + " = 1\n")
        rc, _, err = run(fsw, "validate", longkey)
        check(rc == 2 and len(err) < 400 and "(900000 bytes)" in err, f"a 900 KB key is quoted cut ({len(err)} bytes)")

        # The default thread count follows the CPUs the process may use, not the machine's.
        pinned = os.path.join(tmp, "pinned")
        rc, _, err = run("taskset", "-c", "0", fsw, "run", qs, "--out", pinned, *tiny)
        m = json.load(open(os.path.join(pinned, "manifest.json")))
        check(rc == 0 and m["threads"] == 1, f"taskset -c 0: one thread ({m.get('threads')})")

        # status after a kill -9 of a first run: the directory is still a sweep's.
        killed = os.path.join(tmp, "killed")
        p = subprocess.Popen([fsw, "run", qs, "--out", killed, "--threads", "1", "--quiet", "--set", "steps=20000"])
        for _ in range(200):
            if os.path.exists(os.path.join(killed, "manifest.json")):
                break
            time.sleep(0.05)
        time.sleep(0.3)
        p.kill()
        p.wait()
        rc, out, err = run(fsw, "status", killed)
        check(rc == 0 and "incomplete" in out, f"status after kill -9: {out.splitlines()[0] if out else err.strip()}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
