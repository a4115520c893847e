#!/usr/bin/env bash
# A Slurm job array that runs one shard of a sweep per array task, all
# writing into one shared output directory, then merges. Submit from the
# project root on a cluster with a shared filesystem:
#
#   sbatch --array=0-15 scenarios/cluster/slurm-array.sh scenarios/sweeps/burn.toml runs/sweeps/burn
#   sbatch --dependency=afterok:<array job id> --wrap "hacasim merge runs/sweeps/burn"
#
# Each task runs `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --resume`:
# a task that fails or is pre-empted can be resubmitted and redoes nothing
# that finished. (`hacasim sweep --slurm` arrives with issue #13.)
#SBATCH --job-name=hacasim-sweep
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
set -euo pipefail
sweep=${1:?sweep file}
out=${2:?output directory}
hacasim sweep "$sweep" --out "$out" --jobs "${SLURM_CPUS_PER_TASK:-1}" \
    --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --resume --quiet
