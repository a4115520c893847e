#!/usr/bin/env bash
# Issue #8, items 3 and 4, measured (never asserted in tests):
#  * sweep scaling: the burn sweep (18 points x 2 seeds, 20 simulated minutes
#    each, or SWEEP_DURATION) with --jobs 1 and --jobs 2, SWEEP_ROUNDS times
#    alternated; prints the wall times and the ratio of the fastest;
#  * memory in simulated time: peak RSS of the default scenario run for
#    SHORT and LONG simulated durations (default 1h and 24h); prints the ratio.
#
#   bench/scaling.sh [all|sweep|memory] [SHORT LONG]    e.g. bench/scaling.sh memory 1h 24h
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
short=${2:-1h}
long=${3:-24h}
# The dev profile the README uses (optimised; one Polars build shared with the tests).
cargo build --locked --bin hacasim
bin=target/debug/hacasim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed -e 's|^base = .*|base = "'"$PWD"'/scenarios/deflation.toml"|' -e 's|^duration = .*|duration = "'"${SWEEP_DURATION:-20m}"'"|' \
    scenarios/sweeps/burn.toml > "$work/burn.toml"
if [[ $what != memory ]]; then
# A sweep of short runs takes about a second, so one noisy moment moves the
# ratio: SWEEP_ROUNDS rounds (default 5), the two job counts alternated
# within each, and the ratio of the fastest of each.
for round in $(seq "${SWEEP_ROUNDS:-5}"); do
    for jobs in 1 2; do
        rm -rf "$work/sweep-$jobs"
        start=$(date +%s.%N)
        "$bin" sweep "$work/burn.toml" --out "$work/sweep-$jobs" --jobs "$jobs" --quiet
        end=$(date +%s.%N)
        echo "sweep --jobs $jobs: 36 runs in $(echo "$end - $start" | bc) s (round $round)" | tee -a "$work/sweep.txt"
    done
done
awk '/--jobs 1/ && (!a || $7 < a) {a=$7} /--jobs 2/ && (!b || $7 < b) {b=$7} END {printf "fastest: jobs 1 %.3f s, jobs 2 %.3f s; sweep speed-up, jobs 2 / jobs 1: %.2fx\n", a, b, a/b}' "$work/sweep.txt"
fi
[[ $what == sweep ]] && exit 0

# The default scenario's chat stream is diurnal (peak at 14 h, 2.3x the
# trough): a 24 h run spans the peak load, a 1 h run the trough, so its
# in-flight state (requests inside their 10-minute challenge window, queues)
# is larger for reasons other than time. The stationary variant (amplitude
# 0) isolates growth with simulated time. On the direct network model, as
# these figures were first measured: the p2p model (the scenario's own
# since session 10) would take half an hour for the day.
for variant in diurnal stationary; do
    for d in "$short" "$long"; do
        sed -e "s|^duration = .*|duration = \"$d\"|" -e 's|^model = "p2p"|model = "direct"|' scenarios/default.toml > "$work/$variant-$d.toml"
        [[ $variant == stationary ]] && sed -i -e 's|amplitude = 0.4|amplitude = 0.0|' "$work/$variant-$d.toml"
        /usr/bin/time -f "%M" -o "$work/rss-$variant-$d" "$bin" run "$work/$variant-$d.toml" --out "$work/run-$variant-$d" --quiet
        echo "default scenario ($variant), $d simulated: peak RSS $(cat "$work/rss-$variant-$d") KiB"
    done
    awk -v a="$(cat "$work/rss-$variant-$short")" -v b="$(cat "$work/rss-$variant-$long")" \
        'BEGIN {printf "peak RSS ratio (%s), %s / %s: %.2fx\n", "'"$variant"'", "'"$long"'", "'"$short"'", b/a}'
done
