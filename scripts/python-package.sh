#!/usr/bin/env bash
# Builds the Python package `hacasim` (python/) as a wheel with maturin and
# installs it into the project's .venv (or into the environment of the
# python given as $1, e.g. the notebooks' venv). Prints that python.
#
# It builds with the workspace's shared `dev` profile (optimised, see the
# root Cargo.toml) into target/, so it reuses everything `cargo run` and
# `cargo test` compiled: Polars is not compiled again. `pip install ./python`
# works too, on its own, but builds a release profile from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
venv_python=$(scripts/pyenv.sh)
python=${1:-$venv_python}
mkdir -p target
out=$(mktemp -d target/wheels.XXXXXX)   # one per call: two installs may run at once
trap 'rm -rf "$out"' EXIT
"$(dirname "$venv_python")/maturin" build --quiet --locked --profile dev \
    --manifest-path python/Cargo.toml --interpreter "$python" --out "$out" >&2
"$python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    "$out"/hacasim-*.whl >&2
echo "$python"
