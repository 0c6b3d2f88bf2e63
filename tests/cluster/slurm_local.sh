#!/usr/bin/env bash
# Run the ganstyle workflow on a real, single-node SLURM started on this machine.
#
#   sudo tests/cluster/slurm_local.sh [--keep]
#
# 1. installs Debian's slurm-wlm, munge, slurmdbd and mariadb-server if missing;
# 2. starts, all on 127.0.0.1 and with state in a temporary directory: munged
#    (unless one is running), MariaDB, slurmdbd (accounting, so that `sacct`
#    works as the executor plugin expects), slurmctld and one slurmd with two
#    fake GPUs (GRES on /dev/null and /dev/zero: SLURM schedules them and sets
#    CUDA_VISIBLE_DEVICES; TensorFlow finds no GPU and runs on the CPU);
# 3. runs the workflow on a tiny config twice: locally (`--cores`) and through
#    `--profile workflow/profiles/slurm`; while the SLURM run trains, requeues
#    one training job with `scontrol requeue` (what preemption does) once its
#    log shows training steps, before its first scheduled checkpoint, so that
#    only the checkpoint it writes on SIGTERM lets it resume;
# 4. checks with sacct and the controller's log that every non-local job ran as
#    a SLURM job, that GPUs went to exactly the rules the profile gives one
#    (set-resources with gpu), that the requeued job resumed from the
#    checkpoint it wrote on SIGTERM, and that both runs wrote the same results;
# 5. stops every daemon it started (also on failure or Ctrl-C).
#
# Exit status: 0 passed, 1 failed, 77 skipped (SLURM cannot be started here:
# the reason is printed on a line starting with "SKIP:").
# --keep keeps the temporary directory (logs, both runs' results) for inspection.
# Environment: GANSTYLE_SLURM_CULTURES (default "latin greek arabic"),
# GANSTYLE_SLURM_IMAGES (images per culture, default 60), GANSTYLE_SLURM_REQUEUE_RULE
# (default train_gan; empty: no requeue) and GANSTYLE_SLURM_REQUEUE_LOG (its rule log,
# %s standing for the job's wildcard values; default logs/gan/%s.log),
# GANSTYLE_SLURM_NO_INSTALL (1: skip instead of installing missing packages),
# GANSTYLE_SLURM_RESUME_PATTERN (regular expression of the log line that proves a
# resume, default: resumed from a checkpoint written on SIGTERM), GANSTYLE_SLURM_SNAKEFILE
# (default the repository's Snakefile).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1
CULTURES="${GANSTYLE_SLURM_CULTURES:-latin greek arabic}"
IMAGES="${GANSTYLE_SLURM_IMAGES:-60}"
REQUEUE_RULE="${GANSTYLE_SLURM_REQUEUE_RULE-train_gan}"
REQUEUE_LOG="${GANSTYLE_SLURM_REQUEUE_LOG:-logs/gan/%s.log}"
RESUME_PATTERN="${GANSTYLE_SLURM_RESUME_PATTERN:-resumed from \S+-interrupted\.npz}"
# a tqdm line of a training that has run steps: "latin seed0:  8%|▊   | 50/600 [00:02<..."
PROGRESS_PATTERN='\| *[1-9][0-9]*/[0-9]+ \['
SNAKEFILE="${GANSTYLE_SLURM_SNAKEFILE:-$REPO/Snakefile}"
PACKAGES=(slurm-wlm munge slurmdbd mariadb-server)
CLUSTER=ganstyletest
WORK_PREFIX=/tmp/ganstyle-slurm.   # this test's work directories: mktemp adds 6 characters
NODE=localhost
T0=$SECONDS
# sacct shows only jobs since midnight unless told otherwise
SACCT_SINCE=$(date +%Y-%m-%dT%H:%M:%S)

say() { printf '[slurm-test %4ds] %s\n' $((SECONDS - T0)) "$*"; }
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
remove_conf_link() {  # configless slurmd's link to its config cache, and /run/slurm if that empties it
    rm -f /run/slurm/conf
    rmdir /run/slurm 2>/dev/null || true
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------ can we?
[[ "$(uname -s)" == Linux ]] || skip "SLURM test needs Linux"
[[ $EUID -eq 0 ]] || skip "needs root (installs packages, starts slurmctld/slurmd as root); run with sudo"
python -c 'import snakemake_executor_plugin_slurm' 2>/dev/null \
    || skip "snakemake-executor-plugin-slurm is not installed: pip install -e \".[slurm]\""
# A run of this test stopped before its cleanup (a killed job, a machine snapshot taken mid-run) leaves
# slurmd's link into its work directory behind; with no SLURM daemon running, that link and directory are ours.
stale_link="$(readlink /run/slurm/conf 2>/dev/null || true)"
stale_work="/tmp/$(cut -d/ -f3 <<<"$stale_link")"
if [[ "$stale_link" == /tmp/* && "$stale_work" == "$WORK_PREFIX"* ]] && ! pgrep -x slurmctld >/dev/null && ! pgrep -x slurmd >/dev/null; then
    say "removing the link /run/slurm/conf and $stale_work left by an earlier run of this test"
    remove_conf_link
    rm -rf "$stale_work"
fi
[[ -e /etc/slurm/slurm.conf || -e /run/slurm/conf ]] \
    && skip "this machine already has a SLURM configuration (/etc/slurm/slurm.conf or /run/slurm/conf); not touching it"
pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null \
    && skip "slurmctld or slurmd is already running here"

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || skip "missing ${missing[*]} and no apt-get to install them"
    [[ "${GANSTYLE_SLURM_NO_INSTALL:-0}" == 1 ]] \
        && skip "missing ${missing[*]}; the default test run does not install system packages: select the test with 'python -m pytest -m slurm tests/cluster' (root, Debian/Ubuntu) to install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >/tmp/ganstyle-slurm-apt.log 2>&1 \
        || { tail -20 /tmp/ganstyle-slurm-apt.log; skip "apt-get install ${missing[*]} failed (log above)"; }
fi
INSTALL_SECONDS=$((SECONDS - T0))
say "packages installed ($INSTALL_SECONDS s): $(dpkg-query -W -f='${Package} ${Version}  ' "${PACKAGES[@]}")"

# ------------------------------------------------------------------ daemons
WORK="$(mktemp -d "${WORK_PREFIX}XXXXXX")"
chmod 755 "$WORK"
mkdir -p "$WORK"/{etc,log,run,state,spool/slurmd-$NODE,mysql,munge-key}
chmod 700 "$WORK/munge-key"
PIDS=()          # daemons we started, stopped in reverse order
SNAKEMAKE_PID=""
OWN_MUNGE_DIR=""

stop_pid() {  # TERM, wait up to 30 s, then KILL: only our own processes, by id
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    [[ -n "$SNAKEMAKE_PID" ]] && stop_pid "$SNAKEMAKE_PID"
    if [[ -n "${SLURM_CONF:-}" ]] && squeue -h >/dev/null 2>&1; then
        jobs=$(squeue -h -o %i)
        [[ -n "$jobs" ]] && scancel $jobs   # every job of this private cluster is the test's
        for _ in $(seq 60); do [[ -z "$(squeue -h 2>/dev/null)" ]] && break; sleep 0.5; done
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    # configless slurmd links its config cache here; remove the link if it is ours
    [[ "$(readlink /run/slurm/conf 2>/dev/null)" == "$WORK"/* ]] && remove_conf_link
    [[ -n "$OWN_MUNGE_DIR" ]] && rmdir "$OWN_MUNGE_DIR" 2>/dev/null
    if ((KEEP)); then say "kept $WORK"; else rm -rf "$WORK"; fi
    say "daemons stopped; total $((SECONDS - T0)) s"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for <seconds> <description> <command...>
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    fail "$what did not come up within $seconds s"
}

start_daemon() {  # start_daemon <name> <command...>: foreground daemon, its pid recorded
    local name=$1; shift
    "$@" >"$WORK/log/$name.out" 2>&1 &
    PIDS+=($!)
}

# munge: Slurm's clients always use the default socket, so reuse a running
# munged, else run our own there (with our own key) for the test's duration.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "using the munged already running on this machine"
else
    [[ -d /run/munge ]] || { mkdir -p /run/munge && OWN_MUNGE_DIR=/run/munge; }
    chmod 755 /run/munge
    mungekey --create --keyfile="$WORK/munge-key/munge.key" >/dev/null 2>&1 \
        || dd if=/dev/urandom of="$WORK/munge-key/munge.key" bs=1024 count=1 status=none
    chmod 600 "$WORK/munge-key/munge.key"
    # --force: a socket left in /run/munge by a munged that no longer runs (checked above) is not in use
    start_daemon munged munged --foreground --force --key-file="$WORK/munge-key/munge.key" \
        --log-file="$WORK/log/munged.log" --pid-file="$WORK/run/munged.pid" --seed-file="$WORK/run/munged.seed"
    wait_for 20 munged sh -c 'munge -n | unmunge'
fi

DB_PORT=$(free_port); DBD_PORT=$(free_port); CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
DB_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

# MariaDB for slurmdbd: private data directory, TCP on 127.0.0.1 only
mariadb-install-db --no-defaults --datadir="$WORK/mysql/data" --user=root \
    --auth-root-authentication-method=socket --skip-test-db >"$WORK/log/mariadb-install.log" 2>&1 \
    || { tail "$WORK/log/mariadb-install.log"; fail "mariadb-install-db"; }
start_daemon mariadbd mariadbd --no-defaults --datadir="$WORK/mysql/data" --socket="$WORK/mysql/mysqld.sock" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$WORK/run/mysqld.pid" \
    --log-error="$WORK/log/mariadb.log" --user=root --innodb-buffer-pool-size=64M
wait_for 60 MariaDB mariadb --no-defaults --socket="$WORK/mysql/mysqld.sock" -u root -e 'select 1'
mariadb --no-defaults --socket="$WORK/mysql/mysqld.sock" -u root -e "
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

export SLURM_CONF="$WORK/etc/slurm.conf"   # for our clients; slurmdbd finds slurmdbd.conf next to it
cat >"$WORK/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$WORK/log/slurmdbd.log
PidFile=$WORK/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
chmod 600 "$WORK/etc/slurmdbd.conf"

NCPU=$(nproc)
cat >"$SLURM_CONF" <<EOF
# single-node test cluster of tests/cluster/slurm_local.sh
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
# cred_expire also delays a requeued job's restart (default 120 s)
AuthInfo=cred_expire=30
CredType=cred/munge
# slurmd fetches this file from slurmctld and links it at /run/slurm/conf,
# where srun inside jobs finds it (the jobstep plugin drops SLURM_CONF)
SlurmctldParameters=enable_configless
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool/slurmd-%n
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd-%n.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
# no cgroups in containers: track processes by parent, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# the node declares more memory than it may have: jobs ask for what the profile
# says (memory is not enforced here); CPUs are the real ones
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=65536 Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$WORK/etc/gres.conf" <<EOF
# two fake GPUs: character devices SLURM can hand out, no CUDA behind them
NodeName=$NODE Name=gpu File=/dev/null
NodeName=$NODE Name=gpu File=/dev/zero
EOF

start_daemon slurmdbd slurmdbd -D
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
start_daemon slurmctld slurmctld -D -i -f "$SLURM_CONF"
wait_for 60 slurmctld scontrol ping
start_daemon slurmd env -u SLURM_CONF slurmd -D -N "$NODE" --conf-server "127.0.0.1:$CTLD_PORT"
wait_for 60 "node $NODE" sh -c '[ "$(sinfo -h -n '"$NODE"' -o %T)" = idle ]'
DAEMON_SECONDS=$((SECONDS - T0 - INSTALL_SECONDS))
say "SLURM $(sinfo -V | awk '{print $2}') up ($DAEMON_SECONDS s): $(sinfo -h -o '%P %D nodes, %c CPUs, gres %G, %T')"

# smoke test: a GPU job, and sacct sees it through slurmdbd
smoke=$(sbatch --parsable --gpus=1 -o "$WORK/log/smoke-%j.out" --wrap 'srun -n1 --gpus=1 printenv CUDA_VISIBLE_DEVICES')
wait_for 60 "accounting record of job $smoke" sh -c "sacct -n -X -S $SACCT_SINCE -j $smoke -o State | grep -q COMPLETED"
say "smoke job $smoke COMPLETED, CUDA_VISIBLE_DEVICES=$(cat "$WORK/log/smoke-$smoke.out")"

# ------------------------------------------------------------------ tiny workflow
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export GANSTYLE_GPU_LOCK_DIR="$WORK/gpu-locks"   # ganstyle.models.devices: nothing left in /tmp
python - "$REPO" "$WORK" "$IMAGES" $CULTURES <<'PYTHON' || fail "could not build the tiny corpus and config"
"""Tiny corpus (the first images of a few demo cultures) and a config for it."""
import shutil
import sys
from pathlib import Path

import yaml

from ganstyle.config import load_schema

repo, work, n_images, cultures = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = ["culture\tpath\tlabel\tgroup"]
groups = {}
for culture in cultures:
    source = repo / "data" / "demo" / culture
    images = sorted(p for p in source.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    if len(images) < n_images:
        raise SystemExit(f"{source}: {len(images)} images, the test wants {n_images}")
    target = work / "data" / culture
    target.mkdir(parents=True)
    for image in images[:n_images]:
        shutil.copy2(image, target / image.name)
    rows.append(f"{culture}\t{target}\t{culture.title()}\tgroup{len(rows) % 2}")
(work / "cultures.tsv").write_text("\n".join(rows) + "\n")

# small everything; keys the schema does not (yet) have are left out.  A GAN checkpoints only at its
# end (checkpoint_every = steps): the requeued job can resume only from the checkpoint it writes on SIGTERM.
wanted = {
    "cultures": str(work / "cultures.tsv"),
    "ingest": {"resolution": 32, "channels": 1, "min_images": 20, "heldout_fraction": 0.25},
    "gan": {"seeds": [0], "steps": 600, "batch_size": 8, "checkpoint_every": 600, "log_every": 50,
            "g_width": 8, "d_width": 8, "max_width": 32, "samples": 32, "grid": 4, "n_boot": 10},
    "transfer": {"enabled": False},
    "judge": {"width": 4, "epochs": 2},
    "similarity": {"n_components": 4, "n_boot": 10, "split_half_reps": 5, "probe_folds": 2},
    "clustering": {"max_clusters": 2},
    "stats": {"permutations": 19},
}
schema = load_schema("config")["properties"]
config = {}
for key, value in wanted.items():
    if key not in schema:
        print(f"tiny config: schema has no '{key}', left out")
    elif isinstance(value, dict) and "properties" in schema[key]:
        known = schema[key]["properties"]
        config[key] = {k: v for k, v in value.items() if k in known}
        for k in sorted(set(value) - set(known)):
            print(f"tiny config: schema has no '{key}.{k}', left out")
    else:
        config[key] = value
for run in ("local", "slurm"):
    (work / run).mkdir()
    (work / run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
print("tiny config:", yaml.safe_dump(config, default_flow_style=True, sort_keys=False).strip())
PYTHON

say "local run: snakemake --cores $NCPU"
t=$SECONDS
(cd "$WORK/local" && snakemake -s "$SNAKEFILE" --configfile config.yaml --cores "$NCPU" \
    --printshellcmds --rerun-incomplete >run.log 2>&1) \
    || { tail -40 "$WORK/local/run.log"; fail "local run failed (log above)"; }
LOCAL_SECONDS=$((SECONDS - t))
say "local run done in $LOCAL_SECONDS s"

say "SLURM run: snakemake --profile workflow/profiles/slurm"
t=$SECONDS
cd "$WORK/slurm"
snakemake -s "$SNAKEFILE" --configfile config.yaml --profile "$REPO/workflow/profiles/slurm" \
    --max-threads "$NCPU" --latency-wait 10 \
    --slurm-init-seconds-before-status-checks 5 --slurm-keep-successful-logs >run.log 2>&1 &
SNAKEMAKE_PID=$!

# requeue one training job while it trains, as preemption would: SLURM sends it SIGTERM, it
# checkpoints the steps it has run and the job goes back to the queue
REQUEUED_JOB=""
REQUEUED_WHAT=""
while kill -0 "$SNAKEMAKE_PID" 2>/dev/null; do
    if [[ -n "$REQUEUE_RULE" && -z "$REQUEUED_JOB" ]]; then
        # %k: the comment the plugin sets, rule_<rule>_wildcards_<values joined by _>
        while read -r job comment; do
            values="${comment#rule_${REQUEUE_RULE}_wildcards_}"
            printf -v rule_log "$REQUEUE_LOG" "$values"
            if grep -Eq "$PROGRESS_PATTERN" "$rule_log" 2>/dev/null; then
                scontrol requeue "$job"
                REQUEUED_JOB=$job; REQUEUED_WHAT="$values, its log at $(grep -Eo '[0-9]+/[0-9]+ \[' "$rule_log" | tail -1 | tr -d ' [') steps"
                say "requeued SLURM job $job ($REQUEUE_RULE $REQUEUED_WHAT) while it trained"
                break
            fi
        done < <(squeue -h -t RUNNING -o '%i %k' | grep " rule_${REQUEUE_RULE}_wildcards_" || true)
    fi
    sleep 0.5
done
wait "$SNAKEMAKE_PID" && status=0 || status=$?
SNAKEMAKE_PID=""
SLURM_SECONDS=$((SECONDS - t))
((status == 0)) || { tail -60 run.log; fail "SLURM run failed (exit $status, log above)"; }
say "SLURM run done in $SLURM_SECONDS s"

# ------------------------------------------------------------------ checks
RUN_ID=$(sed -n 's/^SLURM run ID: //p' run.log | head -1)
[[ -n "$RUN_ID" ]] || fail "no 'SLURM run ID' in the Snakemake log: did it use the slurm executor?"
echo
echo "== sacct: jobs of SLURM run $RUN_ID (-D: a requeued job shows once per start)"
sacct -D -X --starttime "$SACCT_SINCE" --name "$RUN_ID" --format=JobID,Comment%48,State,ExitCode,AllocTRES%40,NodeList,Elapsed
echo
python - "$RUN_ID" "$WORK" "$REQUEUE_RULE" "$REQUEUED_JOB" "$RESUME_PATTERN" "$SACCT_SINCE" "$REPO/workflow/profiles/slurm/config.yaml" <<'PYTHON' \
    || fail "the SLURM run's jobs are not as expected (PROBLEM lines above)"
"""Every job the SLURM run submitted is a COMPLETED SLURM job; GPUs only for training."""
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

run_id, work, requeue_rule, requeued_job, resume_pattern, since, profile = sys.argv[1], Path(sys.argv[2]), *sys.argv[3:]
# the rules the profile gives a GPU; test_slurm.py checks that they are the workflow's training rules
GPU_RULES = {rule for rule, resources in yaml.safe_load(Path(profile).read_text())["set-resources"].items() if resources.get("gpu")}
print(f"rules with a GPU in the profile: {sorted(GPU_RULES)}")
problems = []

log = (work / "slurm" / "run.log").read_text()
submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))  # snakemake id -> slurm id
slurm_ids = set(submitted.values())
local_rules = set(re.findall(r"^local(?:rule|checkpoint) (\w+):", log, re.M))


def executed_jobs(text):
    """rule -> jobs that a run's log shows starting.  Not the 'Job stats' table printed before
    running: jobs that follow a checkpoint (leakage_rows, corpus) are added to the DAG later."""
    return Counter(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", text, re.M))


sacct = subprocess.run(
    ["sacct", "-D", "-X", "-n", "--parsable2", "--starttime", since, "--name", run_id,
     "--format=JobIDRaw,Comment,State,AllocTRES"],
    capture_output=True, text=True, check=True).stdout
records = [line.split("|") for line in sacct.splitlines() if line]
final = {}
for job_id, comment, state, tres in records:
    final[job_id] = (comment, state, tres)  # sacct -D lists a job's starts oldest first
missing = slurm_ids - set(final)
if missing:
    problems.append(f"submitted but unknown to sacct: {sorted(missing)}")
ran = Counter()
for job_id, (comment, state, tres) in sorted(final.items(), key=lambda item: int(item[0])):
    rule = re.match(r"rule_(.+?)(_wildcards_|$)", comment)
    rule = rule.group(1) if rule else "?"
    ran[rule] += 1
    if state != "COMPLETED":
        problems.append(f"SLURM job {job_id} ({comment}) ended {state}")
    has_gpu = "gres/gpu=" in tres
    if has_gpu != (rule in GPU_RULES):
        problems.append(f"SLURM job {job_id} ({comment}): {'a GPU' if has_gpu else 'no GPU'} ({tres})")

expected = executed_jobs((work / "local" / "run.log").read_text())
expected = Counter({rule: n for rule, n in expected.items() if rule not in local_rules})
if ran != expected:
    problems.append(f"jobs per rule on SLURM {dict(ran)} != in the local run {dict(expected)}")

# the main scheduler logs "sched: Allocate JobId=N", the backfill scheduler "_start_job: Started JobId=N"
controller = (work / "log" / "slurmctld.log").read_text()
for job_id in sorted(slurm_ids, key=int):
    started = re.search(rf"(sched: Allocate|_start_job: Started) JobId={job_id} ", controller)
    if not started or f"_job_complete: JobId={job_id} done" not in controller:
        problems.append(f"slurmctld.log has no start and completion of job {job_id}")
allocations = len(re.findall(r"(sched: Allocate|_start_job: Started) JobId=", controller))
ids = "|".join(sorted(slurm_ids))
print("slurmctld.log, this run's jobs:")
for line in re.findall(rf"^.*(?:sched: Allocate|_start_job: Started|_job_complete:|requeue).*JobId=(?:{ids})\b.*$", controller, re.M):
    print("   ", line)

print(f"jobs per rule on SLURM: {dict(sorted(ran.items()))}; run locally by Snakemake: {sorted(local_rules)}")
print(f"slurmctld.log: {allocations} job starts; every job of this run started and done")
if requeue_rule and not ran[requeue_rule]:
    print(f"the workflow has no {requeue_rule} jobs: requeue not tested")
elif requeue_rule:
    if not requeued_job:
        problems.append(f"no {requeue_rule} job was requeued (none ran long enough to write a checkpoint?)")
    else:
        states = [state for job_id, _, state, _ in records if job_id == requeued_job]
        logs = [p for p in (work / "slurm" / "logs").rglob("*.log") if re.search(resume_pattern, p.read_text(errors="replace"))]
        print(f"requeued job {requeued_job}: states {' -> '.join(states)}; '{resume_pattern}' in {[str(p.relative_to(work)) for p in logs]}")
        if states[:1] != ["REQUEUED"] or states[-1:] != ["COMPLETED"]:
            problems.append(f"requeued job {requeued_job} went {states}, not REQUEUED ... COMPLETED")
        if not logs:
            problems.append(f"no rule log matches '{resume_pattern}': the requeued training did not resume from the checkpoint it wrote on SIGTERM")
for problem in problems:
    print("PROBLEM:", problem)
sys.exit(1 if problems else 0)
PYTHON

echo
echo "== results of the SLURM run vs the local run"
python - "$WORK/local/results" "$WORK/slurm/results" <<'PYTHON' \
    || fail "the SLURM run's results differ from the local run's (listed above)"
"""Same files; same arrays and tables (floats to 1e-6 relative).

Checkpoints are skipped (a requeued run has written more of them), and so are
benchmarks/ (each job's wall and CPU seconds, memory and I/O: measurements of the
job, not results); columns and keys that are wall-clock measurements are ignored, and binary files that embed
timestamps (.keras zips, PDFs) are only checked to exist, as is run_info.json (and
its HTML): it records the job that wrote it (threads, environment), not a result.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

local, slurm = Path(sys.argv[1]), Path(sys.argv[2])
TIMING = re.compile(r"(seconds|elapsed|_per_s(_|$)|^time$|wall)")
EXISTENCE_ONLY = {".keras", ".pdf", ".h5", ".zip"}


def files(root):
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.parts[len(root.parts)] not in {"checkpoints", "benchmarks"}}


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))
    return bool(np.array_equal(a, b))


def same_json(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        keys = {k for k in a.keys() | b.keys() if not TIMING.search(k)}
        return all(k in a and k in b and same_json(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and close(float(a), float(b))
    return a == b


def same(a: Path, b: Path) -> str:
    if a.read_bytes() == b.read_bytes():
        return "identical"
    suffix = a.suffix.lower()
    if suffix in EXISTENCE_ONLY or a.name in {"run_info.json", "run_info.html"}:
        return "exists"
    if suffix == ".npz":
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            ok = set(x.files) == set(y.files) and all(close(x[k], y[k]) for k in x.files)
    elif suffix in {".tsv", ".csv"}:
        sep = "\t" if suffix == ".tsv" else ","
        x, y = pd.read_csv(a, sep=sep), pd.read_csv(b, sep=sep)
        columns = [c for c in x.columns if not TIMING.search(str(c))]
        ok = list(x.columns) == list(y.columns) and len(x) == len(y) and all(
            close(x[c].to_numpy(), y[c].to_numpy()) if x[c].dtype.kind in "fiub" else x[c].equals(y[c])
            for c in columns)
    elif suffix == ".json":
        ok = same_json(json.loads(a.read_text()), json.loads(b.read_text()))
    else:
        return "DIFFERENT (binary)" if suffix in {".png", ".svg"} else "DIFFERENT"
    return "equal" if ok else "DIFFERENT"


only_local, only_slurm = files(local) - files(slurm), files(slurm) - files(local)
verdicts = {path: same(local / path, slurm / path) for path in sorted(files(local) & files(slurm))}
counts = {}
for verdict in verdicts.values():
    counts[verdict] = counts.get(verdict, 0) + 1
for path, verdict in verdicts.items():
    if verdict not in {"identical", "equal"}:
        print(f"  {verdict:20s} {path}")
print(f"{len(verdicts)} files in both runs: {counts}")
for path in sorted(only_local):
    print("  only in the local run:", path)
for path in sorted(only_slurm):
    print("  only in the SLURM run:", path)
bad = only_local or only_slurm or any(v == "DIFFERENT" for v in verdicts.values())
if any(v == "DIFFERENT (binary)" for v in verdicts.values()):
    print("note: images differ byte-wise; their numbers are compared through the tables and arrays")
sys.exit(1 if bad else 0)
PYTHON

echo
say "PASSED: packages $INSTALL_SECONDS s, SLURM start $DAEMON_SECONDS s, local run $LOCAL_SECONDS s, SLURM run $SLURM_SECONDS s"
