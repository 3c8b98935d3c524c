#!/usr/bin/env python3
"""Host cost of a sweep of many tiny runs, and how fast a stop is honoured.

Runs sweeps/bench/host_scale.toml (value_softmax, d = n = 4, 200 steps, 50 log-spaced records, fp64) at
10^4, 10^5 and 10^6 runs
through flowsweep on this machine's CPU, and, with --baseline, the same sweeps through another
flowsweep binary (an earlier version) side by side. For each: wall time split into training (the
executor's slices, manifest timings.advance_s) and host work (everything else: grid, journal, tables),
host microseconds per run, peak RSS, files and bytes written. Then a stop: SIGTERM a few seconds into
the 10^6-run sweep, and the seconds until the checkpoint is on disk and until the process has exited.

    python3 sweeps/bench/bench_host.py --flowsweep build/flowsweep [--baseline OLD/flowsweep] [--sizes 4,5,6]
                                       [--set train.steps=1] [--repeat 5] [--shard-of 8 --shards 1000]

--shard-of P times one task of a 10^P-run sweep cut into --shards shards (shard 3, as a Slurm array task
runs it) and `flowsweep status` on its directory: what planning a large sweep's shards costs a task, in
time and memory, beside the runs it trains.

--set changes the sweep as `flowsweep run --set` does (one step and two records a run: the host's share of
the GPU benchmark's value_softmax case); --repeat runs each line that many times, the binaries in turn,
and reports the run of median wall time.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "host_scale.toml")


def files_and_bytes(d):
    n, b = 0, 0
    for root, _, files in os.walk(d):
        for f in files:
            n += 1
            b += os.path.getsize(os.path.join(root, f))
    return n, b


def seeds(n):
    return ["--set", f"grid.seed={{range=[0, {n}]}}"]


def command(binary, n, out, threads, sets):
    return [binary, "run", SPEC, "--out", out, "--quiet", "--threads", str(threads), *seeds(n),
            *(x for kv in sets for x in ("--set", kv))]


def timed(cmd, quiet=False):
    """Wall seconds and peak RSS (MB) of a command, which must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with status {status}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def run_once(binary, n, out, threads, sets=()):
    wall, rss_mb = timed(command(binary, n, out, threads, sets))
    m = json.load(open(os.path.join(out, "manifest.json")))
    # The earlier version reports its whole loop as wall_s; its training and host work were one loop.
    train = m["timings"].get("advance_s", m["timings"]["wall_s"])
    n_files, n_bytes = files_and_bytes(out)
    return {"wall": wall, "train": train, "rss_mb": rss_mb, "files": n_files, "mb": n_bytes / 1e6}


def shard_task(binary, p, shards, out, threads, sets=()):
    """One task's shard of a 10^p-run sweep, then status on it: their wall seconds and peak RSS."""
    run = timed(command(binary, 10 ** p, out, threads, sets) + ["--shard", f"3/{shards}"])
    status = timed([binary, "status", out], quiet=True)
    return run, status


def stop_latency(binary, n, out, threads, after_s, sets=()):
    proc = subprocess.Popen(command(binary, n, out, threads, sets), stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    cp = os.path.join(out, "checkpoint.fsj")
    saved = None
    while proc.poll() is None:
        if saved is None and os.path.exists(cp):
            saved = time.perf_counter() - t0
        time.sleep(0.005)
    exited = time.perf_counter() - t0
    if saved is None and os.path.exists(cp):
        saved = exited
    m = json.load(open(os.path.join(out, "manifest.json")))
    done = m["counts"]["ok"] + m["counts"]["diverged"] + m["counts"]["failed"]
    return saved, exited, done, m.get("checkpointed_runs", 0), proc.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flowsweep", required=True)
    ap.add_argument("--baseline", help="another flowsweep binary, run on the same sweeps")
    ap.add_argument("--sizes", default="4,5,6", help="powers of ten of the run counts")
    ap.add_argument("--baseline-sizes", default="4,5", help="the baseline's (it holds every run in memory)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--stop-after", type=float, default=4.0, help="seconds before the SIGTERM (0: no stop)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a change to the sweep, as "
                    "flowsweep run --set takes it (repeatable)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each line; the run of median wall time is shown")
    ap.add_argument("--shard-of", type=int, default=0, metavar="P", help="also a task of a 10^P-run sweep")
    ap.add_argument("--shards", type=int, default=1000, help="the shards of that sweep")
    a = ap.parse_args()

    print(f"# flowsweep host cost: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{a.threads} threads, {time.strftime('%Y-%m-%d')}")
    print("# value_softmax d = n = 4, 200 steps, 50 log-spaced records, fp64; --backend cpu" +
          "".join(f"; --set {kv}" for kv in a.set) + (f"; median of {a.repeat} runs" if a.repeat > 1 else ""))
    tmp = tempfile.mkdtemp(prefix="fs-host-")
    try:
        lines = [(label, binary, p) for label, binary, sizes in
                 (("flowsweep", a.flowsweep, a.sizes), ("baseline", a.baseline, a.baseline_sizes))
                 if binary for p in [int(x) for x in sizes.split(",") if x]]
        if lines:
            print()
            print("| binary | runs | wall s | training s | host s | host us/run | peak RSS MB | files | MB written |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        runs = {line: [] for line in lines}
        for _ in range(a.repeat):  # the lines in turn, so a drift in the machine's speed reaches each alike
            for line in lines:
                label, binary, p = line
                out = os.path.join(tmp, f"{label}-{p}")
                runs[line].append(run_once(binary, 10 ** p, out, a.threads, a.set))
                shutil.rmtree(out, ignore_errors=True)
        for line in lines:
            label, _, p = line
            n = 10 ** p
            r = sorted(runs[line], key=lambda x: x["wall"])[len(runs[line]) // 2]
            host = r["wall"] - r["train"]
            print(f"| {label} | 10^{p} | {r['wall']:.2f} | {r['train']:.2f} | {host:.2f} | {host / n * 1e6:.1f} | "
                  f"{r['rss_mb']:.0f} | {r['files']} | {r['mb']:.0f} |", flush=True)
        if a.shard_of > 0:
            p, n = a.shard_of, a.shards
            print()
            print(f"| binary | task | its runs | run wall s | run peak RSS MB | status wall s | status peak RSS MB |")
            print("|---|---|---:|---:|---:|---:|---:|")
            for label, binary in (("flowsweep", a.flowsweep), ("baseline", a.baseline)):
                if not binary:
                    continue
                out = os.path.join(tmp, f"{label}-shard")
                (rw, rm), (sw, sm) = shard_task(binary, p, n, out, a.threads, a.set)
                shutil.rmtree(out, ignore_errors=True)
                print(f"| {label} | 3/{n} of 10^{p} runs | {10 ** p // n} | {rw:.2f} | {rm:.0f} | {sw:.2f} | {sm:.0f} |",
                      flush=True)
        own_sizes = [int(x) for x in a.sizes.split(",") if x]
        if a.stop_after > 0 and own_sizes:
            p = max(own_sizes)
            saved, exited, done, held, rc = stop_latency(a.flowsweep, 10 ** p, os.path.join(tmp, "stop"), a.threads,
                                                         a.stop_after, a.set)
            print()
            print(f"SIGTERM {a.stop_after:.0f} s into the 10^{p}-run sweep: checkpoint on disk after "
                  f"{saved if saved is not None else float('nan'):.2f} s ({held} runs in flight saved), process "
                  f"exited after {exited:.2f} s (exit {rc}) with the tables of its {done} finished runs written")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
