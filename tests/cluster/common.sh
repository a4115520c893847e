# Shared by slurm-up.sh and slurm-down.sh (sourced).
dir=${HACASIM_SLURM_DIR:-/var/tmp/hacasim-slurm}
state=$dir/state

alive() { # pid: a live process (not a zombie left unreaped in a container)
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}
