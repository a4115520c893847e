#!/usr/bin/env bash
# Makes every figure in reports/figures/ from its sweep, with the README's
# build (the dev profile, optimised): run from anywhere,
#   reports/figures/make.sh            # both figures
#   reports/figures/make.sh coupled    # one of them (coupled | shock)
# Each figure is the sweep's own panel as `hacasim report` draws it; the
# sweep directories stay under runs/sweeps/ to look at. Prints the commit
# the figures were made at (the README names it beside each figure).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${JOBS:-$(nproc)}"
cargo build --locked --quiet
bin=target/debug/hacasim

make_figure() { # sweep file, sweep directory, panel, figure
    "$bin" sweep "$1" --out "$2" --jobs "$jobs" --force --quiet
    cp "$2/$3.png" "reports/figures/$4.png"
    echo "reports/figures/$4.png ← $1 ($3)"
}

want="${1:-all}"
if [[ "$want" == all || "$want" == coupled ]]; then
    make_figure scenarios/coupled-vs-decoupled.toml runs/sweeps/coupled-vs-decoupled \
        sweep_architecture_panel coupled-vs-decoupled
fi
if [[ "$want" == all || "$want" == shock ]]; then
    make_figure scenarios/shock-dual-vs-single.toml runs/sweeps/shock \
        sweep_design_panel shock-dual-vs-single
fi
echo "made at commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
