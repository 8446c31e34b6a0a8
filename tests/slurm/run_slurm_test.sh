#!/usr/bin/env bash
# End-to-end test on a real, throw-away single-node SLURM cluster on this host.
#
#   sudo tests/slurm/run_slurm_test.sh        (run as root; snakemake and python on PATH)
#
# 1. installs Debian's slurm-wlm and munge when missing, and the SLURM executor plugin
#    when the Python environment lacks it;
# 2. writes a slurm.conf for this host (one node, all its CPUs, no accounting) and starts
#    a private munged, slurmctld and slurmd, all with state, sockets and logs in a temp dir
#    and on free ports, so they touch no system configuration;
# 3. runs the slurm_smoke experiment with `snakemake --executor slurm` and the SLURM
#    workflow profile in a temporary copy of the checkout;
# 4. checks its outputs, and that every simulation ran as a SLURM job (slurmctld log and
#    the plugin's per-job logs) while aggregation and figures stayed local;
# 5. always stops the daemons it started and removes the temp dir (trap on EXIT).
# Set KEEP_TMP=1 to keep the temp dir (logs) for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXP=slurm_smoke
N_RUNS=4                                   # points in conf/experiment/slurm_smoke.yaml
log() { printf '[slurm-test] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts slurmd)"
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}
SNAKEMAKE=${SNAKEMAKE:-$(command -v snakemake || true)}
[ -n "$SNAKEMAKE" ] || die "snakemake not on PATH (pip install -e '.[pipeline]')"
# The snakemake launcher's own interpreter is the one whose packages matter.
SMPY=$(head -1 "$SNAKEMAKE" | sed -n 's/^#!\s*//p' | awk '{print $1}')
[ -x "${SMPY:-}" ] || SMPY=$PYTHON

# --- 1. software -------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi
PLUGIN_DIR="$ROOT/.cache/slurm-plugin"
if ! "$SMPY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
  if ! PYTHONPATH="$PLUGIN_DIR" "$SMPY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    log "installing snakemake-executor-plugin-slurm into $PLUGIN_DIR"
    # The plugin's other requirements (snakemake interfaces, pandas, numpy, pyyaml) come with
    # snakemake itself; installing without them keeps the environment's versions.
    "$SMPY" -m pip install -q --no-deps --target "$PLUGIN_DIR" \
      "snakemake-executor-plugin-slurm>=2.8" "snakemake-executor-plugin-slurm-jobstep>=0.6" "throttler>=1.2.2"
  fi
  export PYTHONPATH="$PLUGIN_DIR${PYTHONPATH:+:$PYTHONPATH}"
fi

# --- 2. a private cluster ----------------------------------------------------------------
T=$(mktemp -d /tmp/kvsched-slurm.XXXXXX)
chmod 700 "$T"
export SLURM_CONF="$T/slurm.conf"
declare -a PIDS=()

cleanup() {
  local rc=$?
  set +e
  if [ -f "$SLURM_CONF" ] && [ -n "${PIDS[*]:-}" ]; then
    scancel --quiet --full --partition=debug 2>/dev/null
  fi
  # Everything this test started carries SLURM_CONF=$T/slurm.conf in its environment
  # (daemons, job steps, snakemake); stop those processes by id, newest first.
  local pids=() p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    if { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
      pids+=("$p")
    fi
  done
  for p in "${PIDS[@]}"; do pids+=("$p"); done
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null
    for _ in $(seq 50); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.2
    done
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
  fi
  if [ "$rc" != 0 ]; then
    for f in slurmctld.log slurmd.log munged.log snakemake.log; do
      [ -f "$T/$f" ] && { log "--- tail of $f"; tail -n 40 "$T/$f" >&2; }
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
  [ "$rc" = 0 ] && log "PASS" || log "exit status $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')   # below slurmd's own count, or it drains
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
mkdir -p "$T/state" "$T/spool"

log "munged ($T)"
mungekey --create --keyfile="$T/munge.key" 2>/dev/null || \
  { dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none; }
chmod 400 "$T/munge.key"
munged --foreground --force --key-file="$T/munge.key" --socket="$T/munge.sock" \
  --pid-file="$T/munged.pid" --log-file="$T/munged.log" --seed-file="$T/munged.seed" \
  >>"$T/munged.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge.sock" ] || die "munged did not start"

cat > "$SLURM_CONF" <<EOF
# Throw-away single-node cluster for tests/slurm/run_slurm_test.sh
ClusterName=kvsched-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
ReturnToService=2
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Default=YES Nodes=$HOST MaxTime=INFINITE State=UP
EOF

log "slurmctld and slurmd ($HOST, $CPUS CPUs, $MEM MB, ports $CTLD_PORT/$SLURMD_PORT)"
slurmctld -D -i -f "$SLURM_CONF" >>"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >>"$T/slurmd.out" 2>&1 &
PIDS+=($!)

state=""
for _ in $(seq 120); do
  state=$(sinfo -h -N -n "$HOST" -o '%t' 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || die "node $HOST not idle after 60 s (state '${state}')"
log "node $HOST is idle"

# --- 3. the experiment through the SLURM executor ----------------------------------------
W="$T/work"
mkdir -p "$W"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$W"
[ -f "$W/conf/experiment/$EXP.yaml" ] || die "no conf/experiment/$EXP.yaml in the checkout"
export PYTHONPATH="$W/src${PYTHONPATH:+:$PYTHONPATH}"
# Inside a job the plugin runs the rule through `srun` with every SLURM_* variable but the
# job's identity removed, SLURM_CONF included, and srun would look for /etc/slurm/slurm.conf.
# A real cluster has that file; this one lives in $T, so jobs find an srun that names it.
mkdir -p "$T/bin"
printf '#!/bin/sh\nexport SLURM_CONF=%s\nexec %s "$@"\n' "$SLURM_CONF" "$(command -v srun)" > "$T/bin/srun"
chmod +x "$T/bin/srun"
export PATH="$T/bin:$(dirname "$SNAKEMAKE"):$(dirname "$PYTHON"):$PATH"
unset KVSCHED_CONF_DIR

log "snakemake --executor slurm (log: snakemake.log)"
( cd "$W" && "$SNAKEMAKE" --executor slurm --workflow-profile workflow/profiles/slurm \
    --config "experiments=[$EXP]" \
    --slurm-no-account --slurm-keep-successful-logs --slurm-init-seconds-before-status-checks 5 \
    --latency-wait 10 ) >"$T/snakemake.log" 2>&1 || die "snakemake failed"

# --- 4. checks ---------------------------------------------------------------------------
R="$W/results"
for f in "$EXP/runs.parquet" "$EXP/runs.csv" "$EXP/latency_vs_memory.png" "$EXP/latency_vs_memory.pdf" \
         "$EXP/notebooks/latency_vs_memory.ipynb"; do
  [ -s "$R/$f" ] || die "missing output results/$f"
done
n_summaries=$(find "$R/runs/$EXP" -name summary.json | wc -l)
[ "$n_summaries" = "$N_RUNS" ] || die "expected $N_RUNS run summaries, found $n_summaries"
rows=$("$PYTHON" -c "import pandas as pd, sys; print(len(pd.read_parquet(sys.argv[1])))" "$R/$EXP/runs.parquet")
[ "$rows" = "$N_RUNS" ] || die "runs.parquet has $rows rows, expected $N_RUNS"

# Every simulate job was allocated and completed by slurmctld ...
n_alloc=$(grep -c 'sched: Allocate JobId=' "$T/slurmctld.log" || true)
n_done=$(grep -cE '_job_complete: JobId=[0-9]+ done' "$T/slurmctld.log" || true)
# simulate runs are batched by the profile's group-components (simulate=8)
N_JOBS=$(( (N_RUNS + 7) / 8 ))
[ "$n_alloc" -ge "$N_JOBS" ] || die "slurmctld allocated $n_alloc jobs, expected >= $N_JOBS"
[ "$n_done" -ge "$N_JOBS" ] || die "slurmctld completed $n_done jobs, expected >= $N_JOBS"
# ... with plugin logs for the grouped simulate jobs, and none for the local rules.
LOGS="$W/.snakemake/slurm_logs"
n_sim_logs=$(find "$LOGS" -path '*simulate*' -name '*.log' 2>/dev/null | wc -l)
[ "$n_sim_logs" -ge "$N_JOBS" ] || die "expected >= $N_JOBS SLURM logs for grouped simulate jobs, found $n_sim_logs"
for r in aggregate figure sweep_claims notebook_sweep_figure report; do
  [ ! -d "$LOGS/rule_$r" ] || die "local rule $r was submitted to SLURM"
done
grep -q "$HOST" <(find "$LOGS" -path '*simulate*' -name '*.log' -exec cat {} +) || die "SLURM job logs do not name host $HOST"
squeue -h | grep -q . && die "jobs still queued: $(squeue -h)"
log "ok: $N_RUNS simulate runs ran in $N_JOBS grouped SLURM job(s) ($n_alloc allocated, $n_done completed); outputs present"
