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
