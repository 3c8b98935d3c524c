#!/usr/bin/env bash
# A real Slurm on this machine: munged, slurmctld and slurmd with a generated configuration in a
# temporary directory. Submits a sweep with `flowsweep slurm --submit` as an array of 4 tasks, requeues one
# task while it runs, waits for the merge job, compares the merged tables with a single-process run, and
# stops the daemons it started. Exit 0 on success, 1 on a failed check, 77 (skipped) where Slurm cannot run.
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
  for f in "$T"/log/*.log "$T"/out/slurm/logs/*; do
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

OUT=$T/out
SETS=(--set steps=3000 --set record_every=50)
"$FLOWSWEEP" slurm "$SPEC" --tasks 4 --parallel 4 --cpus-per-task 1 --out "$OUT" "${SETS[@]}" --submit > "$T/ids" ||
  fail "flowsweep slurm --submit"
cat "$T/ids"
ARRAY=$(awk '/^array/ {print $2}' "$T/ids")
MERGE=$(awk '/^merge/ {print $2}' "$T/ids")
[ -n "$ARRAY" ] && [ -n "$MERGE" ] || fail "no job ids"

# Requeue one task while it runs.
requeued=""
for i in $(seq 120); do
  task=$(squeue -h -j "$ARRAY" -t RUNNING -o %i 2>/dev/null | head -n 1)
  # A task that has journaled a finished run (its journal is past its header line).
  if [ -n "$task" ] && [ -n "$(find "$OUT" -name journal.fsj -size +1k 2>/dev/null)" ]; then
    scontrol requeue "$task" && requeued=$task
    break
  fi
  sleep 0.5
done
[ -n "$requeued" ] || fail "no running task to requeue"
echo "requeued $requeued"

for i in $(seq 600); do
  squeue -h -j "$MERGE" 2>/dev/null | grep -q . || break
  sleep 1
done
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
exit 0
