#!/usr/bin/env bash
# A one-node SLURM cluster with accounting on this machine: to try `hydra/launcher=slurm` without
# a cluster, and what the tests under tests/cluster/ run on.
#
#   scripts/slurm_local.sh start  [DIR]   install what is missing (Debian/Ubuntu, as root), write a
#                                         config into DIR, start the daemons, wait for the node idle
#   scripts/slurm_local.sh status [DIR]   the daemons (running or not) and `sinfo`
#   scripts/slurm_local.sh stop   [DIR]   cancel the cluster's jobs, stop the daemons it started,
#                                         by the PIDs it wrote (never by name)
#   export SLURM_CONF=DIR/etc/slurm.conf  then sinfo, sbatch, squeue, and:
#   python scripts/train.py -m hydra/launcher=slurm hydra.launcher.cpus_per_task=1 ...
#
# SLURM_LOCAL_CPUS=4: the node offers 4 CPUs whatever the machine has (jobs that mostly wait
# then share the cores). DIR is $SLURM_LOCAL_DIR, else /tmp/sparsegrad-slurm: the config, the daemons' state, logs and
# PID files all live there, nothing in /etc. Five plain processes (no systemd): munged,
# mariadbd, slurmdbd, slurmctld, slurmd, each on a free port of 127.0.0.1. Accounting
# (slurmdbd + MariaDB) is what lets submitit see a job that SLURM killed: without it a sweep
# waits forever for it. ProctrackType=proctrack/linuxproc and TaskPlugin=task/none need no
# cgroups, so it runs in containers. Exit status: 0 done, 3 the cluster cannot be had here
# (not root with the packages missing, or no apt-get), 1 anything else (see DIR/log/).
set -euo pipefail

cmd=${1:-}
DIR=${2:-${SLURM_LOCAL_DIR:-/tmp/sparsegrad-slurm}}
PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # in start order; stopped in reverse
HOST=$(hostname -s)
export SLURM_CONF=$DIR/etc/slurm.conf

say() { echo "slurm_local: $*" >&2; }
cannot() { say "$*"; exit 3; }

install_missing() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || cannot "needs root to install ${missing[*]} (or install them: apt-get install ${missing[*]})"
  command -v apt-get >/dev/null || cannot "no apt-get to install ${missing[*]} (Debian's packages; install them yourself)"
  say "installing ${missing[*]} (~40 s)"
  # policy-rc.d 101: the packages' own services are not started (we start our own daemons)
  local policy=/usr/sbin/policy-rc.d made_policy=
  [ -e $policy ] || { printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
     "${missing[@]}" >"${TMPDIR:-/tmp}/slurm_local-apt.log" 2>&1) \
    || { [ -z "$made_policy" ] || rm -f $policy; say "apt-get failed: see ${TMPDIR:-/tmp}/slurm_local-apt.log"; exit 1; }
  [ -z "$made_policy" ] || rm -f $policy
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Is the process PID still the daemon NAME we started? (a PID file can outlive its process)
ours() {
  local pid=$1 name=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name"
}

pid_of() { cat "$DIR/pids/$1" 2>/dev/null || true; }

running() { ours "$(pid_of "$1")" "$1"; }

launch() {  # launch NAME CMD...: in a session of its own (a terminal's Ctrl-C or a test's group kill skip it)
  local name=$1; shift
  setsid "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name"
}

wait_for() {  # wait_for SECONDS WHAT CMD...: until CMD succeeds; fail (showing the log) if a daemon died
  local seconds=$1 what=$2 d; shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    for d in "${DAEMONS[@]}"; do
      if [ -e "$DIR/pids/$d" ] && ! running "$d"; then
        say "$d exited while waiting for $what:"; tail -n 15 "$DIR/log/$d".* >&2 || true; return 1
      fi
    done
    sleep 0.2
  done
  say "timed out after ${seconds}s waiting for $what (logs in $DIR/log)"; return 1
}

write_config() {
  mkdir -p "$DIR"/{etc,run,log,pids,state,spool,munge,mysql}
  chmod 755 "$DIR" "$DIR/etc"; chmod 700 "$DIR/munge"
  local cpus mem_mb
  cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
  mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  cat >"$DIR/etc/ports" <<EOF
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
DBD_PORT=$(free_port)
DB_PORT=$(free_port)
EOF
  # shellcheck disable=SC1091
  . "$DIR/etc/ports"
  local auth="AuthType=auth/munge
AuthInfo=socket=$DIR/run/munge.socket"
  cat >"$DIR/etc/slurm.conf" <<EOF
# Written by scripts/slurm_local.sh: one node ($HOST), accounting through slurmdbd + MariaDB.
ClusterName=sparsegrad
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
$auth
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# Clients reach slurmdbd with this as their munge options (AuthInfo is for the rest): our munged's socket
AccountingStoragePass=socket=$DIR/run/munge.socket
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
# A cancelled job is SIGKILLed this long after its SIGTERM (submitit ignores SIGTERM): 30 s by default
KillWait=10
InactiveLimit=0
$( [ "$cpus" -gt "$(nproc)" ] && echo "SlurmdParameters=config_overrides   # more CPUs than the machine has (SLURM_LOCAL_CPUS)" )
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$DIR/etc/slurmdbd.conf" <<EOF
$auth
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm-local
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/etc/slurmdbd.conf"
  [ -s "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null \
    || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$DIR/munge/munge.key"
}

start() {
  install_missing
  [ "$(id -u)" = 0 ] || cannot "the daemons run as root here (SlurmUser=root); run it as root"
  if running slurmd && running slurmctld; then say "already running ($SLURM_CONF)"; status_line; return 0; fi
  stop_daemons 2>/dev/null || true   # what is left of an earlier start
  write_config
  # shellcheck disable=SC1091
  . "$DIR/etc/ports"
  local sql="mariadb --no-defaults --socket=$DIR/run/mysqld.sock -u root"

  launch munged munged --foreground --force --socket="$DIR/run/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
  wait_for 20 munged munge --socket="$DIR/run/munge.socket" -n

  if [ ! -d "$DIR/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DIR/mysql" --user=root --auth-root-authentication-method=normal \
      --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 || { say "mariadb-install-db failed: $DIR/log/mariadb-install.log"; exit 1; }
  fi
  launch mariadbd mariadbd --no-defaults --datadir="$DIR/mysql" --socket="$DIR/run/mysqld.sock" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --user=root --pid-file="$DIR/run/mariadbd.pid" --log-error="$DIR/log/mariadbd.log" \
    --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900
  wait_for 60 mariadbd $sql -e "SELECT 1"
  $sql -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-local';
           GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

  launch slurmdbd slurmdbd -D   # (reads slurmdbd.conf beside $SLURM_CONF)
  wait_for 60 slurmdbd sacctmgr -i show cluster
  sacctmgr -i add cluster sparsegrad >/dev/null 2>&1 || true   # (already there after a restart)

  launch slurmctld slurmctld -D -i -f "$SLURM_CONF"
  wait_for 60 slurmctld scontrol ping
  launch slurmd slurmd -D -N "$HOST" -f "$SLURM_CONF"
  node_idle() { [ "$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null)" = idle ]; }
  wait_for 60 "the node idle in sinfo" node_idle
  say "cluster up: export SLURM_CONF=$SLURM_CONF"
  status_line
}

status_line() { sinfo -N -o "%N %P %T %c %m" >&2 || true; }

status() {
  local d state=0
  for d in "${DAEMONS[@]}"; do
    if running "$d"; then echo "$d running (pid $(pid_of "$d"))"; else echo "$d not running"; state=1; fi
  done
  [ $state = 0 ] && status_line
  echo "export SLURM_CONF=$SLURM_CONF"
  return $state
}

stop_daemons() {  # in reverse order, each by its PID: TERM, then KILL after 15 s
  local i d pid
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    d=${DAEMONS[i]}
    pid=$(pid_of "$d")
    if ours "$pid" "$d"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 75); do ours "$pid" "$d" || break; sleep 0.2; done
      if ours "$pid" "$d"; then say "$d ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$DIR/pids/$d"
  done
}

stop() {
  if running slurmctld; then   # the cluster's jobs first, so that none outlives it
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  stop_daemons
  say "stopped (state and logs kept in $DIR)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [DIR]" >&2; exit 2 ;;
esac
