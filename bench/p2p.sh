#!/usr/bin/env bash
# The p2p network model against the direct one, side by side on one core:
# each scenario run once with `network.model = "p2p"` and once with
# "direct" (the same file otherwise; the direct model has no full or seed
# nodes, so they are left out of its copy). Prints wall and user seconds
# and peak RSS; BENCHMARKS.md records the figures.
#   bench/p2p.sh                       # default hour, QA 15 min (both), day-150's first hour
#   bench/p2p.sh scenarios/default.toml
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet
bin="$PWD/target/debug/hacasim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    scenarios=(scenarios/default.toml scenarios/qa/v1-200-nodes.toml scenarios/qa/v1-200-nodes-le.toml scenarios/day-150.toml)
fi
for s in "${scenarios[@]}"; do
    name=$(basename "$s" .toml)
    for model in p2p direct; do
        # day-150 under the p2p model: its first hour (a day is ~24x that).
        dur=$([[ $name == day-150 ]] && echo 1h || true)
        python3 scripts/network-model.py "$s" "$tmp/$name-$model.toml" "$model" $dur
        /usr/bin/time -f "$name $model: %e s wall, %U s user, %M KB peak RSS" \
            taskset -c 0 "$bin" run "$tmp/$name-$model.toml" --out "$tmp/out-$name-$model" --quiet --force
    done
done
