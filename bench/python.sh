#!/usr/bin/env bash
# The Python package against the command line, side by side on one core
# (BENCHMARKS.md, "Python"):
#   1. the default scenario's hour: `hacasim run` against hacasim.run(...)
#      followed by Run.write (the same directory), and hacasim.run alone;
#   2. a simulated day's requests table (day-150, 24 h) into a Polars
#      DataFrame: Run.requests against pl.read_parquet of the CLI's file.
#   bench/python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet
python=$(scripts/python-package.sh)
bin="$PWD/target/debug/hacasim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
one="taskset -c 0"
t() { /usr/bin/time -f "$1: %e s wall, %M KB peak RSS" "${@:2}"; }
t "cli run default" $one "$bin" run scenarios/default.toml --out "$tmp/cli" --quiet --force
t "python run+write default" $one "$python" -c "
import hacasim; hacasim.run('scenarios/default.toml').write('$tmp/py', force=True)"
t "python run default (no write)" $one "$python" -c "
import hacasim; hacasim.run('scenarios/default.toml')"
cmp -s "$tmp/cli/requests.parquet" "$tmp/py/requests.parquet" && echo "requests.parquet identical"
t "cli run day-150" $one "$bin" run scenarios/day-150.toml --out "$tmp/day" --quiet --force
$one "$python" - "$tmp/day/requests.parquet" <<'PY'
import sys, time
import polars as pl
import hacasim
path = sys.argv[1]
t = time.perf_counter()
run = hacasim.run("scenarios/day-150.toml", tables=["requests"])
print(f"python run day-150 (requests kept): {time.perf_counter() - t:.2f} s wall")
t = time.perf_counter(); a = run.requests; built = time.perf_counter() - t
best = {"Run.requests": built}
for _ in range(3):
    t = time.perf_counter(); b = pl.read_parquet(path); d = time.perf_counter() - t
    best["pl.read_parquet"] = min(best.get("pl.read_parquet", d), d)
assert a.equals(b), "the two frames differ"
print(f"day-150 requests: {a.height} rows; " + ", ".join(f"{k} {v:.3f} s" for k, v in best.items()))
PY
