#!/usr/bin/env python3
"""The README and the tool agree: every command the README shows is run as written, in order, in a scratch
directory that holds the repository's sweeps (`flowsweep` is the built binary); every option of every
synopsis is one the command accepts; its sweep file validates; its Python runs. Commands that need what a
test cannot have here (a GPU, the build scripts that run this test) are named as left out, never passed."""
import os
import re
import subprocess
import sys
import tempfile

from checks import arguments, check, finish

# Shown in the README, not run here: the build and test scripts (this test is part of them) and the GPU steps.
LEFT_OUT = ("./scripts/quickstart.sh", "./scripts/test.sh", "cd build && ctest -L gpu", "python3 sweeps/bench/bench_gpu.py")


def blocks(text):
    """(language, lines) of every code block: fenced (``` with its language) and indented by four spaces."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, body = line[3:].strip(), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((lang or "text", body))
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            body = []
            while i < len(lines) and lines[i].startswith("    "):
                body.append(lines[i][4:])
                i += 1
            out.append(("indented", body))
            continue
        i += 1
    return out


def commands(lines):
    """Commands of a block, a continuation line (indented) joined to the one before, comments dropped."""
    cmds = []
    for line in lines:
        if line[:1].isspace() and cmds:
            cmds[-1] += " " + line.strip()
        elif line.strip():
            cmds.append(line.strip())
    return [re.sub(r"\s+#.*$", "", c) for c in cmds]


def is_synopsis(cmd):
    """A command with placeholders (SPEC.toml, DIR, [--option ...]) shows a usage, not a run."""
    return "[" in cmd or re.search(r"\b[A-Z][A-Z_]*\b", cmd) is not None


def main():
    fsw, qs = arguments()
    root = os.path.dirname(os.path.dirname(os.path.abspath(qs)))
    text = open(os.path.join(root, "README.md")).read()
    bindir = os.path.dirname(os.path.abspath(fsw))
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               PYTHONPATH=os.path.join(root, "python"))
    helps = {}

    def help_of(sub):
        if sub not in helps:
            p = subprocess.run([fsw, sub, "--help"], capture_output=True, text=True, env=env)
            helps[sub] = p.stdout + p.stderr
            if sub == "plot":  # further options go to the plotting module
                p = subprocess.run([sys.executable, "-m", "flowsweep.plot", "--help"], capture_output=True, text=True,
                                   env=env)
                helps[sub] += p.stdout
        return helps[sub]

    ran = synopses = 0
    left_out = []
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(root, "sweeps"), os.path.join(tmp, "sweeps"))
        os.makedirs(os.path.join(tmp, "docs"))
        for n, (lang, lines) in enumerate(blocks(text)):
            if lang == "toml":
                spec = os.path.join(tmp, f"readme_{n}.toml")
                open(spec, "w").write("\n".join(lines) + "\n")
                p = subprocess.run([fsw, "validate", spec], capture_output=True, text=True, env=env)
                check(p.returncode == 0, f"the README's sweep file validates ({p.stderr.strip()[:200]})")
                continue
            if lang == "python":
                p = subprocess.run([sys.executable, "-c", "\n".join(lines)], cwd=tmp, capture_output=True, text=True,
                                   env=env)
                check(p.returncode == 0, f"the README's Python runs ({p.stderr.strip()[-300:]})")
                continue
            for cmd in commands(lines):
                if any(cmd.startswith(x) for x in LEFT_OUT):
                    left_out.append(cmd)
                    continue
                if not cmd.startswith("flowsweep "):
                    continue
                if is_synopsis(cmd):
                    sub = cmd.split()[1]
                    h = help_of(sub)
                    options = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", cmd)))
                    missing = [o for o in options if o not in h]
                    check(not missing, f"flowsweep {sub}: every option the README shows is accepted "
                                       f"({len(options)}; not known: {missing})")
                    synopses += 1
                    continue
                p = subprocess.run(cmd, shell=True, cwd=tmp, capture_output=True, text=True, env=env)
                check(p.returncode == 0, f"as written: {cmd} ({p.stderr.strip()[-300:]})")
                ran += 1
    check(ran >= 8 and synopses >= 4, f"{ran} commands run and {synopses} synopses checked")
    for cmd in left_out:
        print(f"left out (needs a GPU, or is the script that runs this test): {cmd}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
