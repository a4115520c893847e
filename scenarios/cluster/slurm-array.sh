#!/usr/bin/env bash
# A Slurm job array that runs one shard of a sweep per array task, all
# writing into one shared output directory, then merges.
#
# `hacasim sweep SWEEP --slurm [--submit]` writes (and submits) such an array
# for you, as OUT/slurm/array.sbatch and OUT/slurm/merge.sbatch, with absolute
# paths, and creates OUT before any task starts; prefer it. This script is the
# same thing by hand. Submit from the project root on a cluster with a shared
# filesystem:
#
#   sbatch --array=0-15 scenarios/cluster/slurm-array.sh scenarios/sweeps/burn.toml runs/sweeps/burn 16
#   sbatch --dependency=afterok:<array job id> --wrap "hacasim merge runs/sweeps/burn"
#
# Each task runs `--shard $SLURM_ARRAY_TASK_ID/COUNT --resume`: a task that
# fails or is pre-empted is resubmitted alone and redoes nothing that
# finished:
#
#   sbatch --array=7 scenarios/cluster/slurm-array.sh scenarios/sweeps/burn.toml runs/sweeps/burn 16
#
# COUNT (the third argument) is the number of shards of the whole array: a
# task resubmitted alone is an array of one, so SLURM_ARRAY_TASK_COUNT, the
# default, is right only for the first submission.
#SBATCH --job-name=hacasim-sweep
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --requeue
set -euo pipefail
sweep=${1:?sweep file}
out=${2:?output directory}
count=${3:-${SLURM_ARRAY_TASK_COUNT:?shard count}}
hacasim sweep "$sweep" --out "$out" --jobs "${SLURM_CPUS_PER_TASK:-1}" \
    --shard "${SLURM_ARRAY_TASK_ID}/${count}" --resume --quiet
