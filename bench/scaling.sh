#!/usr/bin/env bash
# Issue #8, items 3 and 4, measured (never asserted in tests):
#  * sweep scaling: the burn sweep (18 points x 2 seeds, 20 simulated minutes
#    each) with --jobs 1 and --jobs 2; prints the wall times and the ratio;
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

sed -e 's|^base = .*|base = "'"$PWD"'/scenarios/deflation.toml"|' -e 's|^duration = .*|duration = "20m"|' \
    scenarios/sweeps/burn.toml > "$work/burn.toml"
if [[ $what != memory ]]; then
for jobs in 1 2; do
    start=$(date +%s.%N)
    "$bin" sweep "$work/burn.toml" --out "$work/sweep-$jobs" --jobs "$jobs" --quiet
    end=$(date +%s.%N)
    echo "sweep --jobs $jobs: 36 runs in $(echo "$end - $start" | bc) s" | tee -a "$work/sweep.txt"
done
awk '/--jobs 1/ {a=$7} /--jobs 2/ {b=$7} END {printf "sweep speed-up, jobs 2 / jobs 1: %.2fx\n", a/b}' "$work/sweep.txt"
fi
[[ $what == sweep ]] && exit 0

for d in "$short" "$long"; do
    sed -e "s|^duration = .*|duration = \"$d\"|" scenarios/default.toml > "$work/default-$d.toml"
    /usr/bin/time -f "%M" -o "$work/rss-$d" "$bin" run "$work/default-$d.toml" --out "$work/run-$d" --quiet
    echo "default scenario, $d simulated: peak RSS $(cat "$work/rss-$d") KiB"
done
awk -v a="$(cat "$work/rss-$short")" -v b="$(cat "$work/rss-$long")" 'BEGIN {printf "peak RSS ratio, %s / %s: %.2fx\n", "'"$long"'", "'"$short"'", b/a}'
