#!/usr/bin/env bash
# Creates (once) the project's Python virtual environment in .venv from the
# pinned requirements.txt, and prints the path of its python.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements
if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt "$stamp"; then
    python3 -m venv .venv >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt >&2
    cp requirements.txt "$stamp"
fi
echo "$PWD/.venv/bin/python"
