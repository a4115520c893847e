#!/usr/bin/env bash
# The GPU tests of gpu-kernels, counted. They are `#[ignore]`d (a plain
# `cargo test` lists them as ignored instead of passing them with nothing
# run); where `nvidia-smi -L` lists a GPU this runs them (`-- --ignored`)
# and fails if any fails. Either way the last line is
#
#   GPU tests run: N of M
#
# N the ignored tests that ran and passed, M how many there are. With no GPU
# N is 0 and the exit status 0: the default `cargo test` already checks the
# clean "no GPU" error path (cuda::tests::open_fails_with_one_line_…).
#
#   gpu-kernels/gpu-tests.sh            # from anywhere; CARGO_TARGET_DIR is honoured
set -euo pipefail
cd "$(dirname "$0")/.."
# Library, binary and integration-test targets, not doctests (whose
# `ignore` blocks are not meant to compile).
targets=(-p gpu-kernels --locked --tests)
cargo test "${targets[@]}" --no-run
total=$(cargo test "${targets[@]}" -- --ignored --list 2>/dev/null | grep -c ': test$' || true)
if ! gpu=$(nvidia-smi -L 2>&1) || ! grep -q '^GPU ' <<<"$gpu"; then
    echo "no GPU (nvidia-smi -L: ${gpu:-nothing})" | head -n 1
    echo "GPU tests run: 0 of $total"
    exit 0
fi
echo "$gpu"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test "${targets[@]}" -- --ignored 2>&1 | tee "$log" || status=$?
passed=$(grep -cE '^test .* \.\.\. ok$' "$log" || true)
echo "GPU tests run: $passed of $total"
exit $status
