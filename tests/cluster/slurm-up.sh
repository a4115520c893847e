#!/usr/bin/env bash
# Starts a one-node Slurm (controller and compute daemon on this machine) for
# the tests in tests/slurm.rs; see shared/SLURM.md for why these settings.
#
#   tests/cluster/slurm-up.sh      # prints "started ..." or "reused ..." last
#   tests/cluster/slurm-down.sh    # stops exactly the daemons this started
#
# Needs root (Debian or Ubuntu): installs slurmctld slurmd slurm-client munge
# if absent, writes /etc/munge/munge.key (if absent) and /etc/slurm/slurm.conf,
# starts munged, slurmctld and slurmd, records their process ids in
# $HACASIM_SLURM_DIR/state (default /var/tmp/hacasim-slurm) and waits until
# sinfo shows the node idle. If the state file is there and sinfo answers, the
# running Slurm is reused. A slurm.conf that this script did not write is never
# overwritten.
#
# Exit status: 0 up; 3 packages missing and not installable; 4 a daemon did
# not start or the node did not become idle; 5 a foreign Slurm configuration.
set -uo pipefail

# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
conf=/etc/slurm/slurm.conf
marker="# written by hacasim tests/cluster/slurm-up.sh"
timeout=${HACASIM_SLURM_TIMEOUT:-90}

started=() # daemons this run started: stopped again if a later step fails
fail() { # status message
    echo "slurm-up: $2" >&2
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null
    done
    ((${#started[@]})) && rm -f "$state"
    exit "$1"
}

node_idle() {
    sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

# Reuse a Slurm this script started earlier, if it still answers.
if [[ -f $state ]]; then
    # shellcheck disable=SC1090
    source "$state"
    if alive "${slurmctld_pid:-}" && alive "${slurmd_pid:-}" && node_idle &&
        { [[ -z ${munge_pid:-} ]] || alive "$munge_pid"; }; then
        echo "reused Slurm (state $state)"
        exit 0
    fi
    echo "slurm-up: stale state file $state; starting afresh" >&2
    alive "${munge_pid:-}" && our_munged=$munge_pid # still ours to stop
    for pid in "${slurmd_pid:-}" "${slurmctld_pid:-}"; do
        alive "$pid" && kill "$pid" 2>/dev/null
    done
    rm -f "$state"
fi

if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
    fail 5 "$conf exists and was not written by this script; refusing to touch a real Slurm"
fi

# Packages.
need=()
for b in /usr/sbin/slurmctld:slurmctld /usr/sbin/slurmd:slurmd /usr/bin/sbatch:slurm-client /usr/sbin/munged:munge; do
    [[ -x ${b%%:*} ]] || need+=("${b#*:}")
done
if ((${#need[@]})); then
    [[ $(id -u) == 0 ]] || fail 3 "packages missing (${need[*]}) and not root to install them"
    command -v apt-get >/dev/null || fail 3 "packages missing (${need[*]}) and no apt-get"
    echo "slurm-up: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp)
    if ! { timeout 300 apt-get install -y -q --no-install-recommends "${need[@]}" >"$apt_log" 2>&1 ||
        { timeout 300 apt-get update -q >>"$apt_log" 2>&1 &&
            timeout 300 apt-get install -y -q --no-install-recommends "${need[@]}" >>"$apt_log" 2>&1; }; }; then
        tail -n 20 "$apt_log" >&2
        rm -f "$apt_log"
        fail 3 "cannot install ${need[*]}"
    fi
    rm -f "$apt_log"
    for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
        [[ -x $b ]] || fail 3 "$b missing after installing"
    done
fi
[[ $(id -u) == 0 ]] || fail 4 "starting the daemons needs root"

mkdir -p "$dir/ctld" "$dir/d" || fail 4 "cannot create $dir"
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
real_mem=$((mem_mb > 2048 ? mem_mb - 1024 : mem_mb / 2))

# Munge: a key of random bytes, a run directory, the daemon as user munge.
install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge || fail 4 "munge directories"
install -d -o munge -g munge -m 755 /run/munge || fail 4 "/run/munge"
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none || fail 4 "cannot write the munge key"
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
munge_pid=""
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    munge_pid=${our_munged:-}
    [[ -n $munge_pid ]] || echo "slurm-up: munged already running (not started here); using it" >&2
else
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged >"$dir/munged.out" 2>&1 || { cat "$dir/munged.out" >&2; fail 4 "munged did not start"; }
    for _ in $(seq 50); do
        [[ -s /run/munge/munged.pid ]] && break
        sleep 0.1
    done
    munge_pid=$(cat /run/munge/munged.pid 2>/dev/null)
    [[ -n $munge_pid ]] && started+=("$munge_pid")
    munge -n | unmunge >/dev/null 2>&1 || fail 4 "munge -n | unmunge fails"
fi

mkdir -p /etc/slurm
cat >"$conf" <<EOF || fail 4 "cannot write $conf"
$marker
ClusterName=hacasim
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
# Schedule pending jobs (the array's later tasks, a job whose dependency was
# just met) within a second or two rather than the default minute.
SchedulerParameters=sched_interval=1,bf_interval=1
MinJobAge=600
KillWait=5
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

start() { # name pidfile command...
    local name=$1 pidfile=$2
    shift 2
    rm -f "$pidfile"
    "$@" >"$dir/$name.out" 2>&1 || { tail -n 20 "$dir/$name.out" "$dir/$name.log" >&2 2>/dev/null; fail 4 "$name did not start"; }
    for _ in $(seq 100); do
        [[ -s $pidfile ]] && alive "$(cat "$pidfile")" && return 0
        sleep 0.1
    done
    tail -n 20 "$dir/$name.out" "$dir/$name.log" >&2 2>/dev/null
    fail 4 "$name did not start (no process id in $pidfile)"
}

# -c: start without the jobs an earlier controller left (a finished test's).
start slurmctld "$dir/slurmctld.pid" /usr/sbin/slurmctld -c
slurmctld_pid=$(cat "$dir/slurmctld.pid")
started+=("$slurmctld_pid")
start slurmd "$dir/slurmd.pid" /usr/sbin/slurmd
slurmd_pid=$(cat "$dir/slurmd.pid")
started+=("$slurmd_pid")
cat >"$state" <<EOF
munge_pid=$munge_pid
slurmctld_pid=$slurmctld_pid
slurmd_pid=$slurmd_pid
EOF

deadline=$((SECONDS + timeout))
until node_idle; do
    if ((SECONDS >= deadline)); then
        sinfo -N >&2 2>&1
        tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 2>/dev/null
        fail 4 "node $host not idle after ${timeout}s (logs in $dir)"
    fi
    sleep 0.5
done
echo "started Slurm: node $host, $cpus CPUs, state $state"
