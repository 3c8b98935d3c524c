"""Run a sweep from Python: `flowsweep.run` starts the flowsweep binary on a spec, shows its progress and
returns the sweep it wrote, opened.

    sw = flowsweep.run("sweeps/quickstart.toml", "out/q", set={"train.steps": 500, "grid.m": [8, 16]})
    sw = flowsweep.run({"model": "value_softmax", "train": {"lr": 0.1, "steps": 1000},
                        "grid": {"seed": range(8)}}, "out/vs", threads=4)

The binary does all the work and all the checking: bad input raises InputError with its message (the
file, line and key at fault; nothing is written), a failure at run time RunError. An interrupt (Ctrl-C,
or a notebook's interrupt) is passed on as SIGINT, so the binary stops as it does at a terminal: the runs
that finished are journaled and their tables written, the runs in flight checkpointed, and the same call
with `resume=True` goes on from there, bit for bit.
"""
import json
import math
import numbers
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Mapping

__all__ = ["run", "find_binary", "toml_value", "toml_document", "InputError", "RunError"]


class InputError(ValueError):
    """The binary refused its input (exit code 2): the spec, an override or an option. Nothing was written."""


class RunError(RuntimeError):
    """The sweep failed at run time (exit code 1): I/O, the device, a run that failed, an interruption.
    `sweep` is the output directory opened where its tables could be read (the runs that finished), else
    None; `out` is the directory, which `resume=True` goes on from."""

    def __init__(self, message, out=None, sweep=None):
        super().__init__(message)
        self.out, self.sweep = out, sweep


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _toml_key(key):
    key = str(key)
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(s):
    # JSON's escapes are TOML's, with the characters beyond ASCII written as they are (TOML, unlike JSON,
    # takes no surrogate pairs) and DEL, which JSON leaves alone and TOML does not allow, escaped.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v):
    """A Python value as a TOML value, as a spec or `--set` takes it: a bool, a number (floats exactly, by
    their shortest round-trip text), a string, a list or tuple, a dict (an inline table), numpy's scalars
    and arrays, and `range(a, b)` as the grid's `{range = [a, b]}`."""
    if hasattr(v, "tolist") and not isinstance(v, (bool, int, float, str)):
        return toml_value(v.tolist())  # numpy scalars and arrays
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, range):
        if v.step != 1 or v.stop <= v.start:
            return toml_value(list(v))
        return "{range = [%d, %d]}" % (v.start, v.stop)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML value for {v!r} ({type(v).__name__})")


def toml_document(spec):
    """A spec given as a dict as the TOML text of a spec file: its plain keys first, then each dict as a
    section ([params], [train], [detect], [grid])."""
    def entry(key, value):
        return f"{_toml_key(key)} = {toml_value(value)}"

    lines = [entry(k, v) for k, v in spec.items() if not isinstance(v, Mapping)]
    for k, v in spec.items():
        if isinstance(v, Mapping):
            lines += ["", f"[{_toml_key(k)}]"] + [entry(kk, x) for kk, x in v.items()]
    return "\n".join(lines) + "\n"


def find_binary(binary=None):
    """The flowsweep binary: `binary`, else $FLOWSWEEP_BINARY, else the one beside this package (a build's
    `python/` beside its `flowsweep`; an unpacked package's `share/flowsweep/python` under its
    `bin/flowsweep`), else `flowsweep` on PATH."""
    if binary is None:
        binary = os.environ.get("FLOWSWEEP_BINARY")
    if binary is not None:
        if not _executable(binary):
            raise RunError(f"{binary}: not an executable flowsweep binary")
        return binary
    # The parents are taken from the path as written: a build's python/ is a link into the source tree,
    # where the file system's own ".." would lead.
    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # build/python, share/flowsweep/python
    build_dir = os.path.dirname(python_dir)
    beside = [os.path.join(build_dir, "flowsweep"), os.path.join(os.path.dirname(os.path.dirname(build_dir)), "bin",
                                                                 "flowsweep")]
    for path in beside:
        if _executable(path):
            return path
    on_path = shutil.which("flowsweep")
    if on_path:
        return on_path
    raise RunError("no flowsweep binary: pass binary=..., set FLOWSWEEP_BINARY, or put flowsweep on PATH "
                   f"(looked beside this package too: {', '.join(beside)})")


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _options(kw):
    """Keyword arguments as the command line's options: team="warp" is --team warp, save_params=True is
    --save-params (False and None leave an option out), a list repeats it (reuse=[a, b])."""
    args = []
    for name, value in kw.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args


def _overrides(given):
    """set= as --set's KEY=VALUE texts: a dict's values written as TOML, or the texts themselves."""
    if given is None:
        return []
    if isinstance(given, Mapping):
        return [f"{key}={toml_value(value)}" for key, value in given.items()]
    if isinstance(given, str):
        return [given]
    return [str(text) for text in given]


def run(spec, out, *, set=None, quiet=False, binary=None, **options):  # noqa: A002  (flowsweep run --set)
    """Runs `flowsweep run` on `spec` into `out` and returns `flowsweep.open(out)`.

    spec: a spec file's path, or the spec as a dict (its sections as dicts).
    set: overrides, `{"train.steps": 500, "grid.m": [8, 16], "grid.seed": range(4)}` (each `--set KEY=VALUE`),
        or the command line's texts themselves, `["train.steps=500", "grid.m=[8, 16]"]`.
    quiet: no progress on stderr (errors are raised either way). In a notebook or at a terminal the progress
        is one line rewritten every second (progress_every=SECONDS sets the cadence); elsewhere, as in a batch
        log, a line every 30 s.
    binary: the flowsweep binary (default: find_binary()).
    options: the command line's other options by name: backend="cpu", threads=4, resume=True, force=True,
        reuse=["out/old"], retry_failed=True, team="warp", save_params=True, checkpoint_every=30, ...
    """
    from . import open as open_sweep

    exe = find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="flowsweep-spec-") as tmp:
        spec_text = None
        if isinstance(spec, Mapping):
            spec_text = toml_document(spec)
            spec_path = os.path.join(tmp, "spec.toml")
            with open(spec_path, "w") as f:
                f.write(spec_text)
        else:
            spec_path = os.fspath(spec)
        argv = [exe, "run", spec_path, "--out", os.fspath(out)]
        for override in _overrides(set):
            argv += ["--set", override]
        live = not quiet and _live()
        if live:
            options = {"progress_every": 1, **options}
        argv += _options(options) + (["--quiet"] if quiet else [])
        rc, tail = _follow(argv, echo=not quiet, live=live)
    if rc == 0:
        return open_sweep(out)
    message = "\n".join(tail) or f"flowsweep exited with code {rc}"
    if rc == 2:
        if spec_text is not None:
            numbered = "\n".join(f"{i:4d}  {line}" for i, line in enumerate(spec_text.splitlines(), 1))
            message += f"\nthe spec was given as a dict; {os.path.basename(spec_path)} held:\n{numbered}"
        raise InputError(message)
    sweep = None
    try:
        sweep = open_sweep(out)
    except Exception:  # noqa: BLE001  (a run stopped before any table was written)
        pass
    raise RunError(message, out=os.fspath(out), sweep=sweep)


PROGRESS = re.compile(r"runs \d+/\d+ ")  # the binary's progress line, `runs 12/300  ...`


def _live():
    """Whether stderr shows a line rewritten in place: a notebook's output area, or a terminal."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


def _follow(argv, echo, live=False):
    """Runs argv, its output passed on to stderr line by line (a notebook shows it), progress lines rewritten
    in place where `live`; returns the exit code and its last lines but progress. An interrupt is passed on as
    SIGINT, waited for, and raised again."""
    tail = deque(maxlen=40)
    shown = 0  # the length of the progress line shown in place, not yet ended; 0: none
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        for line in proc.stdout:
            progress = PROGRESS.match(line) is not None
            if not progress:
                tail.append(line.rstrip("\n"))
            if not echo:
                continue
            if live and progress:
                text = line.rstrip("\n")
                sys.stderr.write("\r" + text + " " * max(0, shown - len(text)))
                shown = len(text)
            else:
                sys.stderr.write(("\n" if shown else "") + line)
                shown = 0
            sys.stderr.flush()
        return proc.wait(), list(tail)
    except BaseException:
        # The binary saves what it has and exits within about a second of SIGINT, as at a terminal.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait()
        raise
    finally:
        if shown:
            sys.stderr.write("\n")
        proc.stdout.close()
