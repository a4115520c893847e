#!/usr/bin/env bash
# Issue #8's realistic workload benchmark: scenarios/day-150.toml (150
# validators over 7 regions, ~100 inference requests/s of mixed modes) on
# one core (taskset -c 0), with the quorum fast path for the whole LONG
# duration, and with per-message vote delivery (its peer, the reference
# semantics) for SHORT, side by side in one invocation.
#   bench/workload.sh [LONG [SHORT]]      defaults: 24h 1h
set -euo pipefail
cd "$(dirname "$0")/.."
long=${1:-24h}
short=${2:-1h}
cargo build --locked --bin hacasim
bin=target/debug/hacasim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pin=(); command -v taskset >/dev/null && pin=(taskset -c 0)

run() { # name duration delivery
    local toml="$work/$1.toml"
    sed -e "s|^duration = .*|duration = \"$2\"|" -e "s|^\[mempool\]|[consensus]\nvote_delivery = \"$3\"\n\n[mempool]|" scenarios/day-150.toml > "$toml"
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/$1.rss" "${pin[@]}" "$bin" run "$toml" --out "$work/$1" --quiet
    end=$(date +%s.%N)
    local wall heights fast
    wall=$(echo "$end - $start" | bc)
    heights=$(grep -m1 '"heights_committed"' "$work/$1/summary.json" | tr -dc 0-9)
    fast=$(grep -m1 '"heights_quorum_fast_path"' "$work/$1/summary.json" | tr -dc 0-9)
    printf '%-12s %-6s %8.1f s wall  %6d heights (%d by the fast path)  %7.2f ms/height  peak RSS %s KiB\n' \
        "$3" "$2" "$wall" "$heights" "$fast" "$(echo "1000 * $wall / $heights" | bc -l)" "$(cat "$work/$1.rss")" | tee -a "$work/out.txt"
}
run quorum-short "$short" quorum
run per-message-short "$short" per_message
run quorum-long "$long" quorum
awk '/^per_message/ {p=$3} /^quorum/ && !q {q=$3} END {printf "per-message / quorum, wall time over %s simulated: %.1fx\n", "'"$short"'", p/q}' "$work/out.txt"
