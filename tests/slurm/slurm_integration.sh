#!/usr/bin/env bash
# A real Slurm on this machine: munged, slurmctld and slurmd with a generated configuration in a
# temporary directory. Submits a sweep with `flowsweep slurm --submit` as an array of 4 tasks, requeues one
# task while it runs, waits for the merge job, compares the merged tables with a single-process run; then
# submits it again, scancels one task, checks that it stays cancelled and that status says so, submits the
# same command again and checks that only that shard runs and the tables are whole; extends it by seeds,
# reusing its runs; and stops the daemons it started. Exit 0 on success, 1 on a failed check, 77 (skipped) where Slurm cannot run.
set -uo pipefail
FLOWSWEEP=$(readlink -f "$1")
SPEC=$(readlink -f "$2")

skip() { echo "skipped: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
      skip "cannot install slurm-wlm and munge"
  else
    skip "slurm-wlm and munge are not installed and cannot be"
  fi
fi
[ "$(id -u)" -eq 0 ] || skip "starting slurmd needs root"

T=$(mktemp -d /tmp/flowsweep-slurm.XXXXXX)
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
mkdir -p "$T/state" "$T/spool" "$T/log" "$T/munge"
chmod 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$T/munge/munge.key"

cleanup() {
  [ -n "${SLURM_CONF:-}" ] && scontrol shutdown >/dev/null 2>&1
  sleep 1
  for p in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid"; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  sleep 1
  rm -rf "$T"
}
dump_logs() {
  for f in "$T"/log/*.log "$T"/out/slurm/logs/* "$T"/out2/slurm/logs/*; do
    [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
  done
}
trap cleanup EXIT

munged --force --socket="$T/munge/munge.sock" --key-file="$T/munge/munge.key" --pid-file="$T/munge/munged.pid" \
  --seed-file="$T/munge/munged.seed" --log-file="$T/log/munged.log" || skip "munged does not start here"

PORT=$((20000 + RANDOM % 20000))
cat > "$T/slurm.conf" <<CONF
ClusterName=flowsweeptest
SlurmctldHost=$HOST
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
MaxArraySize=1001
MpiDefault=none
SwitchType=switch/none
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for i in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed" && break
  sleep 1
done
sinfo -h -o %T | grep -qE "idle|mixed" || fail "the node did not come up: $(sinfo 2>&1)"
echo "slurm up: $(sinfo -h -o '%P %D %T')"

# Waits up to $2 seconds for job $1 to leave the queue.
wait_for_job() {
  for i in $(seq "$2"); do
    squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
    sleep 1
  done
}
# Prints a running task of array $1 once a shard under $2 has journaled a finished run (its journal is past
# its header line); prints nothing after a minute.
# A running task whose own shard has journalled a run: caught early (it has most of its runs ahead), so a
# signal sent now finds it running, not writing its tables after its last run.
running_task_with_a_record() {
  for i in $(seq 240); do
    local task
    for task in $(squeue -h -j "$1" -t RUNNING -o %i 2>/dev/null); do
      if [ -n "$(find "$2/shard-${task#*_}" -maxdepth 1 -name journal.fsj -size +1k 2>/dev/null)" ]; then
        echo "$task"
        return
      fi
    done
    sleep 0.25
  done
}

OUT=$T/out
# Long enough runs (about half a second each on one core) that a task is still running once its journal
# holds a few: at the quick start's 3000 steps a task of 9 runs could finish between two polls.
SETS=(--set steps=30000 --set record_every=500)
"$FLOWSWEEP" slurm "$SPEC" --tasks 4 --parallel 4 --cpus-per-task 1 --backend cpu --out "$OUT" "${SETS[@]}" --submit > "$T/ids" ||
  fail "flowsweep slurm --submit"
cat "$T/ids"
ARRAY=$(awk '/^array/ {print $2}' "$T/ids")
MERGE=$(awk '/^merge/ {print $2}' "$T/ids")
[ -n "$ARRAY" ] && [ -n "$MERGE" ] || fail "no job ids"

# Requeue one task while it runs.
requeued=$(running_task_with_a_record "$ARRAY" "$OUT")
[ -n "$requeued" ] && scontrol requeue "$requeued" || fail "no running task to requeue"
echo "requeued $requeued"
status=$("$FLOWSWEEP" status "$OUT")
echo "$status" | grep -q "array task ${ARRAY}_[0-9]" || fail "status of the running sweep names no array task: $status"
echo "ok: status while the sweep runs names each shard's array task: $(echo "$status" | sed -n 2p)"

wait_for_job "$MERGE" 600
squeue -h | grep -q . && fail "jobs still queued after 10 minutes: $(squeue)"
[ -f "$OUT/merged/manifest.json" ] || fail "the merge job wrote nothing"

"$FLOWSWEEP" run "$SPEC" --out "$T/single" "${SETS[@]}" --quiet || fail "single-process run"
for f in runs.csv phase_diagram.csv; do
  cmp -s "$OUT/merged/$f" "$T/single/$f" || fail "merged $f differs from the single-process run"
done
grep -q '"complete": true' "$OUT/merged/manifest.json" || fail "merged manifest is not complete"
shard=${requeued#*_}
resumed=$(grep -o '"resumed_runs": [0-9]*' "$OUT/shard-$shard/manifest.json")
echo "ok: 4 tasks, $requeued requeued (its shard after the requeue: $resumed), merged tables identical to a single-process run"
log="$OUT/slurm/logs/${requeued}.out"
grep -q "interrupted by signal" "$log" && grep -q "runs (" "$log" ||
  fail "the requeued task's log does not hold both attempts: $(cat "$log")"
echo "ok: the requeued task's log holds both attempts"
grep -q '"threads": 1,' "$OUT/shard-0/manifest.json" || fail "a task given 1 CPU did not run 1 thread"
echo "ok: tasks given --cpus-per-task 1 ran 1 thread"

# scancel cancels: the task is not requeued, its shard stays resumable, status says so, and the same
# command again submits only the unfinished shard and completes the sweep.
OUT2=$T/out2
"$FLOWSWEEP" slurm "$SPEC" --tasks 4 --parallel 4 --cpus-per-task 1 --backend cpu --out "$OUT2" "${SETS[@]}" --submit > "$T/ids2" ||
  fail "second flowsweep slurm --submit"
ARRAY2=$(awk '/^array/ {print $2}' "$T/ids2")
MERGE2=$(awk '/^merge/ {print $2}' "$T/ids2")
cancelled=$(running_task_with_a_record "$ARRAY2" "$OUT2")
[ -n "$cancelled" ] && scancel "$cancelled" || fail "no running task to cancel"
wait_for_job "$MERGE2" 600
state=$(scontrol show job "$cancelled" 2>/dev/null | grep -o 'JobState=[A-Z]*' | head -n 1)
restarts=$(scontrol show job "$cancelled" 2>/dev/null | grep -o 'Restarts=[0-9]*' | head -n 1)
[ "$state" = "JobState=CANCELLED" ] && [ "$restarts" = "Restarts=0" ] ||
  fail "scancel of $cancelled: $state $restarts, expected CANCELLED and no restart"
status=$("$FLOWSWEEP" status "$OUT2")
echo "$status" | head -n 1 | grep -q "1 stopped" || fail "status after scancel: $status"
echo "ok: scancel of $cancelled: cancelled, not requeued; status: $(echo "$status" | head -n 1)"
"$FLOWSWEEP" slurm "$SPEC" --tasks 4 --parallel 4 --cpus-per-task 1 --backend cpu --out "$OUT2" "${SETS[@]}" --submit \
  > "$T/ids3" 2> "$T/err3" || fail "resubmission"
grep -q "3 of 4 shards are complete" "$T/err3" || fail "resubmission did not skip the complete shards: $(cat "$T/err3")"
wait_for_job "$(awk '/^merge/ {print $2}' "$T/ids3")" 600
grep -q '"complete": true' "$OUT2/merged/manifest.json" || fail "the resubmitted sweep is not complete"
for f in runs.csv phase_diagram.csv; do
  cmp -s "$OUT2/merged/$f" "$T/single/$f" || fail "after scancel and resubmission, merged $f differs"
done
shard2=${cancelled#*_}
resumed2=$(grep -o '"resumed_runs": [0-9]*' "$OUT2/shard-$shard2/manifest.json")
echo "ok: resubmitted 1 of 4 shards (shard $shard2, $resumed2), merged tables identical to a single-process run"

# Extending the finished sweep by seeds: every task takes the runs it already has (by run id) from the
# earlier sweep's shards and trains only the new seeds; the merged tables equal a single-process run.
EXT=("${SETS[@]}" --set "grid.seed={ range = [0, 9] }")
"$FLOWSWEEP" slurm "$SPEC" --tasks 3 --parallel 3 --cpus-per-task 1 --backend cpu --out "$T/ext" "${EXT[@]}" \
  --reuse "$OUT2" --submit > "$T/ids5" || fail "submitting the extended sweep"
wait_for_job "$(awk '/^merge/ {print $2}' "$T/ids5")" 600
grep -q '"complete": true' "$T/ext/merged/manifest.json" || fail "the extended sweep is not complete"
reused=$(cat "$T"/ext/shard-*/manifest.json | grep -o '"reused_runs": [0-9]*' | awk '{s += $2} END {print s}')
before=$(($(wc -l < "$OUT2/merged/runs.csv") - 1))
[ "$reused" = "$before" ] || fail "the extended sweep reused $reused runs, the earlier sweep has $before"
"$FLOWSWEEP" run "$SPEC" --out "$T/ext-single" "${EXT[@]}" --quiet || fail "single-process run of the extended sweep"
for f in runs.csv phase_diagram.csv; do
  cmp -s "$T/ext/merged/$f" "$T/ext-single/$f" || fail "the extended sweep's merged $f differs from a single-process run"
done
echo "ok: extended by seeds over 3 tasks: $reused of $(($(wc -l < "$T/ext/merged/runs.csv") - 1)) runs reused, tables identical to a single-process run"

# A spec whose name tries to add a command to the scripts: submitted, it runs nothing extra.
sed "s|^name = .*|name = \"x\\\\ntouch $T/PWNED\\\\n#\"|" "$SPEC" > "$T/evil.toml"
grep -q 'PWNED' "$T/evil.toml" || fail "the injection spec was not written"
"$FLOWSWEEP" slurm "$T/evil.toml" --tasks 1 --backend cpu --out "$T/evil" --set steps=40 --set record_every=10 \
  --set "grid.seed=[0]" --submit > "$T/ids4" || fail "submitting the injection spec"
wait_for_job "$(awk '/^merge/ {print $2}' "$T/ids4")" 300
grep -q '"complete": true' "$T/evil/merged/manifest.json" || fail "the injection spec's sweep did not complete"
[ ! -e "$T/PWNED" ] || fail "a newline in the spec's name ran a command"
echo "ok: a spec name with a newline and a command, submitted, ran nothing extra"
exit 0
