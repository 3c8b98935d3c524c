#!/usr/bin/env python3
"""Mutation fuzzing of specs with a fixed seed and count.

Seeds: every shipped sweep and every file of the corpus (past crashers, each headed by what it once did),
plus a few generated ones too large to commit. Each mutant goes through `validate`; of those that validate
and whose runs take at most 1000 steps, a shard of about 8 runs each goes through `run`. The contract checked:
  - the exit status is 0, 1 or 2 (validate: 0 or 2), never a signal or an abort;
  - nothing on stderr from a sanitizer, and no uncaught exception;
  - on exit 2, nothing written: the output directory does not exist;
  - on exit 0, a complete manifest.
A mutant that breaks it is written to --keep (default: the working directory's fuzz_failures/) so that it
can join the corpus once fixed."""
import argparse
import concurrent.futures
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile

SEED = 15
TOKENS = [
    "[", "]", "{", "}", "=", '"', "'", '"""', "'''", "\\", "\n", ".", ",", "#", " ", "[[x]]", "[grid]", "[params]",
    "[train]", "[detect]", "seed", "range", "linspace", "geomspace", "model", "name", "steps", "lr", "lr_ratio",
    "record_every", "precision", "optimizer", '"fp32"', '"adam"', '"scan_snap"', '"joma"', '"value_softmax"',
    "0", "-1", "1", "2", "1e308", "-1e308", "nan", "inf", "-inf", "1e-320", "0.0", "9223372036854775807",
    "-9223372036854775808", "99999999999", "true", "false", "1979-05-27T07:32:00Z", "0x7f", "0o17", "0b1",
    "\u00a7", "\u00a0", "\u2028", "\ufeff", "\U0001F600", "\x00", "\x7f", "\r", "\t", "[0, 2]", "[]", "{}",
    "{ range = [0, 3] }", "{ geomspace = [1, 10, 3] }", "{ linspace = [0, 1, 0] }",
]
RAW = [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x90\x28\xbc", b"\xed\xa0\x80", b"\xc0\xaf"]
SANITIZER = re.compile(r"Sanitizer|runtime error:|terminate called|Segmentation fault|Aborted|core dumped")


def mutate(rng, data, others):
    data = bytearray(data)
    for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 4)):
        op = rng.randrange(10)
        pos = rng.randint(0, len(data))
        if op == 0 and data:  # flip a byte
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:  # a token
            data[pos:pos] = rng.choice(TOKENS).encode()
        elif op == 2:  # bytes that are not UTF-8
            data[pos:pos] = rng.choice(RAW)
        elif op == 3 and data:  # delete a span
            data[pos:pos + rng.randint(1, 40)] = b""
        elif op in (4, 5):  # duplicate, or splice in, a line
            src = data if op == 4 else rng.choice(others)
            lines = bytes(src).split(b"\n")
            line = rng.choice(lines) + b"\n"
            at = bytes(data).rfind(b"\n", 0, pos) + 1
            data[at:at] = line
        elif op in (6, 8, 9):  # a number replaced by an extreme one, or by a plausible one
            nums = [m for m in re.finditer(rb"-?\d+(\.\d+)?(e-?\d+)?", bytes(data))]
            if nums:
                m = rng.choice(nums)
                extreme = ["0", "-1", "1e308", "-1e308", "nan", "inf", "1e-320", "9223372036854775807", "99999999999"]
                plausible = ["0", "1", "2", "3", "5", "8", "10", "0.5", "0.1", "1e-3", "100", "0.999"]
                data[m.start():m.end()] = rng.choice(extreme if op == 6 else plausible).encode()
        else:  # a line of another spec's section headers and keys, shuffled
            lines = bytes(data).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def generated():
    """Crashers too large to commit, made here."""
    return {
        "deep_header": b'model = "cooccurrence"\n[' + b".".join([b"a"] * 400_000) + b"]\n",
        "deep_dotted_key": b'model = "cooccurrence"\n' + b".".join([b"a"] * 400_000) + b" = 1\n",
        "deep_arrays": b'model = "cooccurrence"\nx = ' + b"[" * 100_000 + b"\n",
        "long_key": b'model = "cooccurrence"\n' + b"k" * 900_000 + b" = 1\n",
        "over_1MiB": b'model = "cooccurrence"\n' + b"#" * (1 << 20) + b"\n",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsweep", required=True)
    ap.add_argument("--sweeps", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--validate", type=int, default=3000, help="mutants through validate")
    ap.add_argument("--runs", type=int, default=200, help="small valid mutants through a short run")
    ap.add_argument("--keep", default="fuzz_failures")
    a = ap.parse_args()

    seeds = {os.path.basename(p): open(p, "rb").read()
             for p in sorted(glob.glob(os.path.join(a.sweeps, "*.toml")) + glob.glob(os.path.join(a.corpus, "*.toml")))}
    rng = random.Random(SEED)
    names = sorted(seeds)
    cases = [(f"corpus:{n}", seeds[n]) for n in names] + [(f"generated:{n}", d) for n, d in generated().items()]
    while len(cases) < a.validate:
        n = rng.choice(names)
        cases.append((f"mutant {len(cases)} of {n}", mutate(rng, seeds[n], [seeds[m] for m in names])))

    failures = []
    tmp = tempfile.mkdtemp(prefix="fuzz_")

    def keep(label, data, why):
        os.makedirs(a.keep, exist_ok=True)
        path = os.path.join(a.keep, re.sub(r"[^A-Za-z0-9_.-]", "_", label) + ".toml")
        open(path, "wb").write(data)
        failures.append(f"{label}: {why} (kept as {path})")

    def call(args, timeout):
        try:
            p = subprocess.run(args, capture_output=True, timeout=timeout)
            return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            return None, "", "timeout"

    def validate(k):
        label, data = cases[k]
        path = os.path.join(tmp, f"v{k}.toml")
        open(path, "wb").write(data)
        rc, out, err = call([a.flowsweep, "validate", path], 60)
        if rc not in (0, 2) or SANITIZER.search(err):
            keep(label, data, f"validate: exit {rc}: {err[-300:]}")
        return k, rc, out

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        validated = list(pool.map(validate, range(len(cases))))
    exits = {}
    for _, rc, _ in validated:
        exits[rc] = exits.get(rc, 0) + 1
    print(f"validate: {len(cases)} specs, exit codes {exits}")

    # Short runs of the valid mutants whose runs take at most 1000 steps: a shard of about 8 runs each.
    shards = {}
    for k, rc, out in validated:
        if rc != 0 or not out:
            continue
        m = re.search(r"(\d+) runs,", out)
        s = re.search(r"steps per run: (\d+)(?: to (\d+))?;", out)
        if m and s and int(s.group(2) or s.group(1)) <= 1000:
            shards[k] = max(1, -(-int(m.group(1)) // 8))
    small = sorted(shards)
    rng.shuffle(small)
    small = sorted(small[: a.runs])

    def run(k):
        label, data = cases[k]
        path = os.path.join(tmp, f"v{k}.toml")
        out = os.path.join(tmp, f"out{k}")
        # A valid mutant may be slow (a hundred classes under a sanitizer) without hanging: past 120 s it
        # gets SIGTERM, and must then stop within a minute and leave a resumable directory.
        proc = subprocess.Popen([a.flowsweep, "run", path, "--out", out, "--quiet", "--threads", "1", "--backend",
                                 "cpu", "--shard", f"0/{shards[k]}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, err_b = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                _, err_b = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                keep(label, data, "run: still running a minute after SIGTERM")
                return None
            err = err_b.decode(errors="replace")
            stopped = os.path.exists(os.path.join(out, "manifest.json")) and not json.load(
                open(os.path.join(out, "manifest.json")))["complete"]
            if proc.returncode != 1 or not stopped or SANITIZER.search(err):
                keep(label, data, f"run: stopped by SIGTERM after 120 s: exit {proc.returncode}, {err[-300:]}")
            return "stopped"
        rc, err = proc.returncode, err_b.decode(errors="replace")
        if rc not in (0, 1, 2) or SANITIZER.search(err):
            keep(label, data, f"run: exit {rc}: {err[-300:]}")
        elif rc == 2 and os.path.exists(out):
            keep(label, data, f"run: exit 2 but {out} was written: {err[-200:]}")
        elif rc == 0:
            try:
                ok = json.load(open(os.path.join(out, "manifest.json")))["complete"]
            except Exception as e:  # noqa: BLE001
                ok = False
                err = str(e)
            if not ok:
                keep(label, data, f"run: exit 0 without a complete manifest ({err[-200:]})")
        return rc

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        rcs = list(pool.map(run, small))
    print(f"run: {len(small)} specs (a shard of about 8 runs each), exit codes {{0: {rcs.count(0)}, 1: {rcs.count(1)}, "
          f"2: {rcs.count(2)}}}, {rcs.count('stopped')} stopped by SIGTERM after 120 s")

    for f in failures:
        print("FAIL " + f)
    print(f"{len(failures)} failures")
    subprocess.run(["rm", "-rf", tmp])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
