#!/usr/bin/env bash
# PHOLD side by side on this machine: hacasim's engine, a bare std
# BinaryHeap loop, nexosim 1.0 (bench/nexosim-phold, router design, one
# thread) and SimPy 4.1.2 (in bench/.venv, made once from
# bench/requirements.txt). Runs ROUNDS rounds (default 3), alternating the
# implementations, and prints each figure and the ratios of the medians.
#   bench/phold.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cargo build --release --locked --quiet -p sim-core --example phold
cargo build --release --locked --quiet --manifest-path bench/nexosim-phold/Cargo.toml
venv=bench/.venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s bench/requirements.txt "$venv/.requirements"; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
    cp bench/requirements.txt "$venv/.requirements"
fi
out=$(mktemp)
for r in $(seq "$rounds"); do
    target/release/examples/phold | tee -a "$out"
    bench/nexosim-phold/target/release/nexosim-phold | tee -a "$out"
    "$venv/bin/python" bench/simpy_phold.py | tee -a "$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    rates.setdefault(name, []).append(float(re.search(r"events_per_s=(\d+)", rest).group(1)))
med = {k: statistics.median(v) for k, v in rates.items()}
print()
for k, v in rates.items():
    print(f"{k:16s} median {med[k]/1e6:7.3f} M events/s   (min {min(v)/1e6:.3f}, max {max(v)/1e6:.3f})")
h = med["hacasim"]
print(f"\nhacasim / simpy           = {h / med['simpy']:.1f}x")
print(f"hacasim-invcdf / simpy    = {med['hacasim-invcdf'] / med['simpy']:.1f}x   (the engine with the inverse-CDF draw SimPy uses)")
print(f"hacasim / nexosim         = {h / med['nexosim']:.1f}x")
print(f"hacasim / bare BinaryHeap = {h / med['bare-binaryheap']:.2f}x")
PY
