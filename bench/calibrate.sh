#!/usr/bin/env bash
# The calibration's end-to-end check as a benchmark: times every operator on
# this machine's CPU, fits the profile, times layer stacks at shapes outside
# the grid and prints predicted against measured. Exits 1 when the median
# absolute error is >= 5% or the largest >= 15% (issue 7's thresholds).
# Then GEMM throughput against the machine's measured FMA peak.
#
#   bench/calibrate.sh            # full grid, about 4 minutes on 2 cores
#   bench/calibrate.sh --quick    # under a minute
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p gpu-kernels --bin hacasim-calibrate --example gemm_peak
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
target/release/hacasim-calibrate --backend cpu --quiet --out "$out/profile.toml" "$@" || status=$?
target/release/examples/gemm_peak
exit $status
