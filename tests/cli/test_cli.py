#!/usr/bin/env python3
"""The command line end to end: models, validate, run, the tables and manifest it writes, exit codes,
bad input (exit 2, nothing written), a diverging run, and thread-count independence of the tables."""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

from checks import arguments, check, finish



def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    fsw, qs = arguments()
    tiny = ["--set", "steps=40", "--set", "record_every=10", "--quiet"]

    rc, out, _ = run(fsw, "models")
    check(rc == 0 and "cooccurrence" in out and "phase1_end" in out and "lr_ratio" in out, "models lists keys")

    rc, out, _ = run(fsw, "validate", qs)
    check(rc == 0 and "36 runs" in out and "axis lr_ratio (geomspace, 3)" in out, "validate counts runs and axes")
    check("steps per run: 3000; 108000 run-steps in all" in out, "validate counts the steps")
    rc, out, _ = run(fsw, "validate", qs, "--set", "flow_time=3", "--set", "grid.lr=[0.01, 0.001]")
    check(rc == 0 and "steps per run: 300 to 3000; 118800 run-steps in all" in out,
          f"validate: steps from flow_time over an lr axis: {out.strip().splitlines()[-1]}")

    rc, _, err = run(fsw)
    check(rc == 2, "no subcommand: exit 2")
    rc, _, err = run(fsw, "run")
    check(rc == 2, "missing spec: exit 2")
    rc, _, err = run(fsw, "run", qs, "--backend", "tpu")
    check(rc == 2, "unknown backend: exit 2")

    with tempfile.TemporaryDirectory() as tmp:
        out1 = os.path.join(tmp, "a")
        rc, _, err = run(fsw, "run", qs, "--out", out1, "--threads", "1", "--csv-trajectories", *tiny)
        check(rc == 0, f"run exits 0 ({err.strip()})")
        check(err == "", "--quiet prints nothing")
        files = sorted(os.listdir(out1))
        check(files == [".lock", "final_config.csv", "journal.fsj", "manifest.json", "phase_diagram.csv", "runs.csv",
                        "trajectories.csv", "trajectories.h5"], f"output files {files}")
        runs = list(csv.DictReader(open(os.path.join(out1, "runs.csv"))))
        check(len(runs) == 36 and len({r["run_id"] for r in runs}) == 36, "36 rows with distinct run ids")
        check(all(r["status"] == "ok" and r["steps"] == "40" for r in runs), "every run ok at 40 steps")
        check({"seed", "m", "lr_ratio", "t_phase1_end", "dKQ_21", "final_margin"} <= set(runs[0]), "runs.csv columns")
        check(all(abs(float(r["t_final"]) - 40 * 0.01) < 1e-12 for r in runs), "t_final is steps * lr")
        pd = list(csv.DictReader(open(os.path.join(out1, "phase_diagram.csv"))))
        check(len(pd) == 6 and all(p["n_runs"] == "6" for p in pd), "phase diagram: 6 cells of 6 seeds")
        traj = list(csv.DictReader(open(os.path.join(out1, "trajectories.csv"))))
        check(len(traj) == 36 * 5, "trajectories: 5 records per run")
        m = json.load(open(os.path.join(out1, "manifest.json")))
        check(m["counts"] == {"runs": 36, "ok": 36, "diverged": 0, "failed": 0, "missing": 0} and m["complete"],
              "manifest counts")
        check(len(m["spec"]["hash"]) == 16 and m["backend"] == "cpu" and m["spec"]["overrides"], "manifest spec")
        prov = m.get("provenance", {})
        check(re.fullmatch(r"[0-9a-f]{40}|unknown", prov.get("commit", "")) is not None
              and isinstance(prov.get("tree_dirty"), bool) and prov.get("host") and prov.get("compiler")
              and prov.get("build_type") and "-W" in prov.get("cxx_flags", "")
              and prov.get("command_line", "").split()[1:4] == ["run", qs, "--out"], f"manifest provenance {prov}")
        rc, _, err = run(fsw, "run", qs, "--out", out1, "--threads", "1", "--csv-trajectories", "--resume",
                         *[a for a in tiny if a != "--quiet"])
        check(rc == 0 and "36 of them done before and resumed" in err, f"a resumed sweep says so ({err.strip()})")

        out2 = os.path.join(tmp, "b")
        rc, _, _ = run(fsw, "run", qs, "--out", out2, "--threads", "2", "--csv-trajectories", *tiny)
        for f in ("runs.csv", "phase_diagram.csv", "trajectories.csv"):
            check(open(os.path.join(out1, f)).read() == open(os.path.join(out2, f)).read(),
                  f"{f} identical for 1 and 2 threads")

        # Progress in a batch log: plain lines, the last one at the end; --quiet (above) silences it.
        rc, _, err = run(fsw, "run", qs, "--out", os.path.join(tmp, "progress"), "--set", "steps=40", "--threads", "2")
        lines = err.splitlines()
        check(rc == 0 and any(l.startswith("runs 36/36") and "run-steps/s" in l and "left" in l for l in lines)
              and "\r" not in err and "36 runs (36 ok" in lines[-1], f"progress lines in a log: {lines[-2:]}")
        check(sum(l.startswith("runs ") for l in lines) == 1, f"one progress line in a short log: {lines}")
        # --progress-every sets their cadence (a notebook wants more than one every 30 s).
        rc, _, err = run(fsw, "run", qs, "--out", os.path.join(tmp, "progress2"), "--set", "steps=400", "--threads", "2",
                         "--slice", "0.01", "--progress-every", "0")
        lines = [l for l in err.splitlines() if l.startswith("runs ")]
        check(rc == 0 and len(lines) >= 3 and lines[-1].startswith("runs 36/36"),
              f"a progress line every slice with --progress-every 0: {lines}")

        # Another sweep into the same directory is refused; with --force it replaces the tables whole.
        before = open(os.path.join(out1, "runs.csv")).read()
        rc, _, err = run(fsw, "run", qs, "--out", out1, "--set", "steps=20", "--set", "record_every=10", "--quiet")
        check(rc == 2 and "holds another sweep" in err and "--force" in err and
              open(os.path.join(out1, "runs.csv")).read() == before, f"another sweep is refused: {err.strip()}")
        rc, _, _ = run(fsw, "run", qs, "--out", out1, "--set", "steps=20", "--set", "record_every=10", "--quiet",
                       "--force")
        runs = list(csv.DictReader(open(os.path.join(out1, "runs.csv"))))
        check(rc == 0 and all(r["steps"] == "20" for r in runs), "with --force a second sweep replaces the tables")
        check(not os.path.exists(os.path.join(out1, "trajectories.csv")),
              "without --csv-trajectories the first run's trajectories.csv does not stay behind")
        check(not [f for f in os.listdir(out1) if ".tmp" in f], "no temporary files left")

        # One diverging run is marked; the others go on; exit 0.
        out3 = os.path.join(tmp, "c")
        rc, _, err = run(fsw, "run", qs, "--out", out3, "--set", "grid.lr=[0.01, 1e7]", "--set", "grid.seed=[0]",
                         "--set", "grid.m=[16]", "--set", "grid.lr_ratio=[1]", "--set", "steps=40",
                         "--set", "record_every=10")
        runs = list(csv.DictReader(open(os.path.join(out3, "runs.csv"))))
        check(rc == 0 and [r["status"] for r in runs] == ["ok", "diverged"], f"diverged run marked ({err.strip()})")
        check([l for l in err.splitlines() if l.startswith("runs ")][-1].startswith("runs 2/2 (1 diverged, 0 failed)"),
              f"the progress line counts it ({err.strip()})")
        check(abs(float(runs[1]["final_loss"])) > 1e6 and int(runs[1]["steps"]) < 40,
              f"diverged at its step, loss past the bound ({runs[1]['final_loss']})")
        pd = list(csv.DictReader(open(os.path.join(out3, "phase_diagram.csv"))))
        check([p["n_diverged"] for p in pd] == ["0", "1"], "phase diagram counts the diverged run")

        # Bad input: exit 2, names file, line and key, writes nothing.
        bad = os.path.join(tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write(open(qs).read().replace("m1 = 64", "m1 = 64\nwidht = 8"))
        out4 = os.path.join(tmp, "never")
        rc, _, err = run(fsw, "run", bad, "--out", out4)
        check(rc == 2, "bad spec: exit 2")
        check(f"{bad}:" in err and "key 'params.widht'" in err and "unknown key" in err, f"error names file, line, key: {err.strip()}")
        check(not os.path.exists(out4), "bad spec: nothing written")
        rc, _, err = run(fsw, "run", qs, "--out", out4, "--set", "lr=0")
        check(rc == 2 and "--set lr=0" in err and "train.lr" in err and not os.path.exists(out4), "bad --set: exit 2")
        rc, _, err = run(fsw, "run", os.path.join(tmp, "missing.toml"), "--out", out4)
        check(rc == 2 and "missing.toml" in err and not os.path.exists(out4), "missing spec file: exit 2")
        rc, _, err = run(fsw, "validate", bad)
        check(rc == 2 and "widht" in err, "validate reports the same error")

        # An unwritable output directory is a run-time failure: exit 1.
        blocker = os.path.join(tmp, "file")
        open(blocker, "w").close()
        rc, _, err = run(fsw, "run", qs, "--out", os.path.join(blocker, "sub"), *tiny)
        check(rc == 1 and "output directory" in err, "unwritable output: exit 1")

        # Slurm scripts: arrays split at MaxArraySize, throttled, requeue and signal set, a dependent merge.
        rc, out, err = run(fsw, "slurm", qs, "--tasks", "2500", "--parallel", "50", "--max-array-size", "1000",
                           "--out", os.path.join(tmp, "sl"), "--partition", "gpu", "--time", "02:00:00",
                           "--extra", "#SBATCH --qos=low")
        arrays = [l for l in out.splitlines() if l.startswith("#SBATCH --array=")]
        check(rc == 0 and arrays == ["#SBATCH --array=0-999%50", "#SBATCH --array=0-999%50", "#SBATCH --array=0-499%50"],
              f"2500 tasks split into arrays of at most 1000: {arrays}")
        offsets = [l for l in out.splitlines() if l.startswith("export FLOWSWEEP_SHARD_OFFSET=")]
        check([o.split("=")[1] for o in offsets] == ["0", "1000", "2000"], "array offsets 0, 1000, 2000")
        for want in ("#SBATCH --requeue", "#SBATCH --signal=B:USR1@", "export FLOWSWEEP_SHARDS=2500",
                     "#SBATCH --partition=gpu", "#SBATCH --time=02:00:00",
                     "#SBATCH --qos=low", "scontrol requeue", " merge ", "#SBATCH --ntasks=1"):
            check(want in out, f"slurm script has {want!r}")
        scripts = sorted(os.listdir(os.path.join(tmp, "sl", "slurm")))
        check(scripts == ["array_0.sbatch", "array_1.sbatch", "array_2.sbatch", "logs", "merge.sbatch", "spec.toml"],
              f"scripts {scripts}")
        rc, _, err = run(fsw, "slurm", bad, "--tasks", "2")
        check(rc == 2 and "widht" in err, "slurm refuses a bad spec before writing a job")

        # The GPU request follows the backend: by default a build with CUDA asks for a GPU per task and runs
        # on it; --backend cpu asks for none; --gres replaces --gpus-per-task; a build without CUDA asks for
        # none and refuses a GPU request.
        rc, version, _ = run(fsw, "--version")
        cuda = "(CUDA " in version
        check(rc == 0 and (cuda or "(CPU only)" in version), f"--version says whether the build has CUDA: {version.strip()}")
        sl5 = os.path.join(tmp, "sl5")
        rc, out, err = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5)
        if cuda:
            check(rc == 0 and "#SBATCH --gpus-per-task=1" in out and "--backend cuda" in out and "asks for a GPU" in err,
                  f"--backend auto with CUDA: a GPU per task ({err.strip()})")
            rc, out, _ = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5, "--backend", "cpu")
            check(rc == 0 and "--gpus-per-task" not in out and "--backend cpu" in out, "--backend cpu: no GPU asked for")
            rc, out, _ = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5, "--gpus-per-task", "0")
            check(rc == 0 and "--gpus-per-task" not in out and "--backend cpu" in out, "--gpus-per-task 0: no GPU")
            rc, out, _ = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5, "--gres", "gpu:a100:1")
            check(rc == 0 and "#SBATCH --gres=gpu:a100:1\n" in out and "--gpus-per-task" not in out
                  and "--backend cuda" in out, "--gres replaces --gpus-per-task")
        else:
            check(rc == 0 and "--gpus-per-task" not in out and "--backend cpu" in out, "no CUDA: the tasks run on CPUs")
            rc, _, err = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5, "--gpus-per-task", "1")
            check(rc == 2 and "without CUDA" in err, f"no CUDA: a GPU request is refused ({err.strip()})")
        rc, _, err = run(fsw, "slurm", qs, "--tasks", "2", "--out", sl5, "--backend", "cpu", "--gpus-per-task", "1")
        check(rc == 2 and "--backend cpu" in err, "--backend cpu with a GPU request is refused")
        rc, _, err = run(fsw, "slurm", qs, "--tasks", "2", "--out", os.path.join(tmp, "sl6"), "--gres", "gpu:1\nrm -rf x")
        check(rc == 2 and "--gres" in err and not os.path.exists(os.path.join(tmp, "sl6")),
              "--gres with a newline is refused, nothing written")

        # Scripts that cannot be hijacked: a newline in the spec's name stays inside the job name; values
        # that reach #SBATCH lines are checked; --extra is repeatable, checked, and reaches the merge job.
        evil = os.path.join(tmp, "evil.toml")
        open(evil, "w").write(open(qs).read().replace('name = "quickstart"', 'name = "x\\ntouch /tmp/PWNED\\n#"'))
        sl2 = os.path.join(tmp, "sl2")
        rc, out, err = run(fsw, "slurm", evil, "--tasks", "200", "--out", sl2, "--max-array-size", "1000",
                           "--extra", "#SBATCH --qos=low", "--extra", "#SBATCH --mem=8G")
        lines = out.splitlines()
        check(rc == 0 and not any("touch" in l and not l.startswith("#SBATCH --job-name=") for l in lines),
              "a newline in the spec's name adds no line to the scripts")
        check("warning: --tasks 200 for a sweep of 36 runs: 164 tasks will have no runs" in err,
              f"more tasks than runs is said ({err.strip()})")
        merge_script = open(os.path.join(sl2, "slurm", "merge.sbatch")).read()
        check("#SBATCH --qos=low\n#SBATCH --mem=8G" in merge_script and out.count("#SBATCH --mem=8G") == 2,
              "--extra twice, in the array and in the merge job")
        check("#SBATCH --open-mode=append" in out, "logs are appended across requeues")
        copy = os.path.join(sl2, "slurm", "spec.toml")
        check(os.path.exists(copy) and f"run '{copy}'" in out and open(copy).read() == open(evil).read(),
              "the tasks run a copy of the spec")
        cancel = out[out.index("cancel() {"):out.index("trap requeue")]
        check("trap cancel TERM" in out and "trap requeue USR1" in out and "scontrol requeue" not in cancel,
              "scancel (TERM) ends the task without requeueing it; USR1 requeues")
        check(" --resume &" in out, "every attempt of a task resumes what its directory holds")
        check('--threads "${SLURM_CPUS_PER_TASK:-0}"' in out, "a task uses the CPUs Slurm gave it")
        rc, out, _ = run(fsw, "slurm", qs, "--tasks", "2", "--out", os.path.join(tmp, "sl7"), "--backend", "cpu",
                         "--reuse", sl2, "--retry-failed")
        check(rc == 0 and f" --reuse '{os.path.abspath(sl2)}'" in out and " --retry-failed" in out,
              "--reuse and --retry-failed reach every task's run")
        rc, _, err = run(fsw, "slurm", qs, "--tasks", "2", "--out", os.path.join(tmp, "sl8"), "--reuse",
                         os.path.join(tmp, "nowhere"))
        check(rc == 2 and "--reuse" in err and not os.path.exists(os.path.join(tmp, "sl8")),
              "--reuse of a missing directory refused before any script is written")

        # The same command after a partial sweep submits only the shards that are not complete.
        sl4 = os.path.join(tmp, "sl4")
        rc, _, _ = run(fsw, "run", qs, "--shard", "0/3", "--out", os.path.join(sl4, "shard-0"), *tiny)
        rc2, _, _ = run(fsw, "run", qs, "--shard", "2/3", "--out", os.path.join(sl4, "shard-2"), *tiny)
        rc3, out, err = run(fsw, "slurm", qs, "--tasks", "3", "--out", sl4, *tiny[:-1])
        arrays = [l for l in out.splitlines() if l.startswith("#SBATCH --array=")]
        check(rc == rc2 == rc3 == 0 and arrays == ["#SBATCH --array=1"] and "2 of 3 shards are complete" in err,
              f"resubmission: only the unfinished shard ({arrays}, {err.strip()})")

        # status on a Slurm sweep's directory: every shard, the whole sweep, the runs left by their grid values;
        # on a merged directory: its counts and its missing runs.
        rc, out, err = run(fsw, "status", sl4)
        lines = out.splitlines()
        check(rc == 0 and lines[0].endswith("Slurm sweep of 3 shards, 36 runs: 24 done, 12 to run; shards 2 complete, "
                                            "0 running, 0 stopped, 1 pending")
              and "  shard-1: 0/12 runs done, pending" in lines and "  shard-0: 12/12 runs done, complete" in lines
              and any(l.startswith("  to run ") and "seed=" in l and "lr_ratio=" in l for l in lines),
              f"status of a Slurm sweep: {lines[:3]} ({err.strip()})")
        rc, _, _ = run(fsw, "merge", os.path.join(sl4, "shard-0"), os.path.join(sl4, "shard-2"), "--out",
                       os.path.join(sl4, "merged"), "--quiet")
        rc2, out, err = run(fsw, "status", os.path.join(sl4, "merged"))
        lines = out.splitlines()
        check(rc == 1 and rc2 == 0 and "merged, 36 runs: 24 ok, 0 diverged, 0 failed, 12 missing; incomplete" in lines[0]
              and lines[1].startswith("  missing ") and "in shard 1/3" in lines[1] and "m=" in lines[1],
              f"status of a merged directory: {lines[:2]} ({err.strip()})")

        for opt, value in (("--partition", "gpu\ntouch /tmp/PWNED"), ("--account", "a;b"), ("--time", "1:00 && x"),
                           ("--extra", "#SBATCH --qos=low\ntouch /tmp/PWNED"), ("--out", os.path.join(tmp, "a b"))):
            rc, out, err = run(fsw, "slurm", qs, "--tasks", "2", opt, value, *([] if opt == "--out" else ["--out", os.path.join(tmp, "sl3")]))
            check(rc == 2 and opt in err and not os.path.exists(os.path.join(tmp, "sl3")) and not os.path.exists(os.path.join(tmp, "a b")),
                  f"slurm {opt} {value!r}: exit 2, nothing written ({err.strip()})")

    return finish()


if __name__ == "__main__":
    sys.exit(main())
