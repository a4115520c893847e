#!/usr/bin/env bash
# Stops exactly the daemons that tests/cluster/slurm-up.sh started (their
# process ids are in its state file) and removes the state file.
set -uo pipefail

# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
if [[ ! -f $state ]]; then
    echo "slurm-down: no state file $state; nothing to stop" >&2
    exit 0
fi
# shellcheck disable=SC1090
source "$state"
for pid in "${slurmd_pid:-}" "${slurmctld_pid:-}" "${munge_pid:-}"; do
    alive "$pid" || continue
    kill "$pid"
    for _ in $(seq 50); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
done
rm -f "$state"
echo "stopped Slurm (state $state)"
