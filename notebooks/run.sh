#!/usr/bin/env bash
# Makes the notebooks' venv (once, from requirements.txt), produces their
# inputs with hacasim into notebooks/inputs/, and executes every notebook
# headless into notebooks/executed/. Exits non-zero if any cell fails.
#   notebooks/run.sh                 # all notebooks
#   HACASIM=target/debug/hacasim notebooks/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"
hacasim=${HACASIM:-}
if [ -z "$hacasim" ]; then
    cargo build --locked --quiet
    hacasim="$root/target/debug/hacasim"
fi
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/.requirements"; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.requirements"
fi
# The Python package (burn_root.ipynb runs the engine in-process), built
# from this checkout into the notebooks' venv.
"$root/scripts/python-package.sh" "$venv/bin/python" >/dev/null
inputs="$here/inputs"
mkdir -p "$inputs/finality"
"$hacasim" run scenarios/trust-gap-modes.toml --quiet --force --out "$inputs/trust-gap-modes"
"$hacasim" sweep "$here/load-sweep.toml" --quiet --force --out "$inputs/load-sweep"
"$hacasim" sweep scenarios/sweeps/burn.toml --quiet --force --out "$inputs/burn"
for s in four-one-region proposer-crashed one-of-four-crashed two-of-four-crashed byzantine-minority; do
    "$hacasim" run "scenarios/tests/$s.toml" --quiet --force --out "$inputs/finality/$s"
done
notebooks=("$@")
if [ ${#notebooks[@]} -eq 0 ]; then
    notebooks=("$here"/*.ipynb)
fi
"$venv/bin/python" "$here/execute.py" "$here/executed" "${notebooks[@]}"
