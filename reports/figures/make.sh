#!/usr/bin/env bash
# Makes every figure in reports/figures/ from its sweep, with the README's
# build (the dev profile, optimised): run from anywhere,
#   reports/figures/make.sh            # every figure
#   reports/figures/make.sh coupled    # one sweep's (coupled | shock: the end-state
#                                      # panel and the trajectories)
# Each figure is one of the sweep's own plots as `hacasim report` draws it;
# the sweep directories stay under runs/sweeps/ to look at. Prints the commit
# the figures were made at (the README names it beside each figure).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${JOBS:-$(nproc)}"
cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/hacasim"

make_figure() { # sweep file, sweep directory, then pairs of plot and figure
    local sweep=$1 dir=$2
    shift 2
    "$bin" sweep "$sweep" --out "$dir" --jobs "$jobs" --force --quiet
    while [[ $# -ge 2 ]]; do
        cp "$dir/$1.png" "reports/figures/$2.png"
        echo "reports/figures/$2.png ← $sweep ($1)"
        shift 2
    done
}

want="${1:-all}"
if [[ "$want" == all || "$want" == coupled ]]; then
    make_figure scenarios/coupled-vs-decoupled.toml runs/sweeps/coupled-vs-decoupled \
        sweep_architecture_panel coupled-vs-decoupled
fi
if [[ "$want" == all || "$want" == shock ]]; then
    make_figure scenarios/shock-dual-vs-single.toml runs/sweeps/shock \
        sweep_design_panel shock-dual-vs-single \
        sweep_market_trajectories shock-trajectories
fi
echo "made at commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
