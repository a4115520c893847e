#!/usr/bin/env bash
# Makes every figure in reports/figures/ from its sweep, with the README's
# build (the dev profile, optimised): run from anywhere,
#   reports/figures/make.sh            # every figure
#   reports/figures/make.sh coupled    # one of them (coupled | shock: the end-state
#                                      # panel and the trajectories | qa | upgrade)
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
if [[ "$want" == all || "$want" == qa ]]; then
    # CometBFT's QA testnet: the p2p model and the direct model (the same
    # scenarios without full and seed nodes), one data centre and with
    # latency emulation; drawn with the notebooks' venv (matplotlib).
    qa=runs/qa
    mkdir -p "$qa"
    for le in "" -le; do
        tag=$([[ -z "$le" ]] && echo dc || echo le)
        "$bin" run "scenarios/qa/v1-200-nodes$le.toml" --out "$qa/p2p-$tag" --force --quiet
        python3 scripts/network-model.py "scenarios/qa/v1-200-nodes$le.toml" "$qa/direct-$tag.toml" direct
        "$bin" run "$qa/direct-$tag.toml" --out "$qa/direct-$tag" --force --quiet
    done
    if [[ ! -x notebooks/.venv/bin/python ]]; then
        python3 -m venv notebooks/.venv
        notebooks/.venv/bin/python -m pip install --quiet -r notebooks/requirements.txt
    fi
    notebooks/.venv/bin/python reports/figures/qa.py "$qa" reports/figures/qa-fidelity.png
fi
if [[ "$want" == all || "$want" == upgrade ]]; then
    # Issue #26: the model-upgrade sweep, its runs kept, drawn over time
    # with the notebooks' venv (matplotlib).
    "$bin" sweep scenarios/model-upgrade.toml --out runs/sweeps/upgrade --jobs "$jobs" --force --quiet --keep-runs
    if [[ ! -x notebooks/.venv/bin/python ]]; then
        python3 -m venv notebooks/.venv
        notebooks/.venv/bin/python -m pip install --quiet -r notebooks/requirements.txt
    fi
    notebooks/.venv/bin/python reports/figures/upgrade.py runs/sweeps/upgrade reports/figures/model-upgrade.png
fi
echo "made at commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
