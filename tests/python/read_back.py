"""Reads a hacasim run directory's Parquet tables with polars, DuckDB and
pandas, and checks their row counts against summary.json.

Usage: read_back.py RUN_DIR
"""
import json
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl

run = Path(sys.argv[1])
summary = json.loads((run / "summary.json").read_text())
expected = {
    "blocks": summary["consensus"]["heights_committed"],
    "requests": summary["requests"]["submitted"],
    "ledger": summary["consensus"]["heights_committed"] + 1,
}
for table in ["blocks", "consensus_rounds", "nodes", "requests", "gpu_nodes", "ledger"]:
    path = run / f"{table}.parquet"
    n_polars = pl.read_parquet(path).height
    n_duckdb = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
    n_pandas = len(pd.read_parquet(path))
    assert n_polars == n_duckdb == n_pandas, (table, n_polars, n_duckdb, n_pandas)
    if table in expected:
        assert n_polars == expected[table], (table, n_polars, expected[table])
    print(f"{table}: {n_polars} rows (polars, duckdb, pandas agree)")

# Trust-gap quantiles recomputed in Python (nearest rank) match the summary
# to its documented precision (bounded histograms: within 2**-11).
req = pl.read_parquet(run / "requests.parquet")
for mode in ["tee", "zk", "vanilla"]:
    gaps = sorted(req.filter(pl.col("mode") == mode)["trust_gap_s"].drop_nulls().to_list())
    if not gaps:
        continue
    import math
    p99 = gaps[max(1, math.ceil(0.99 * len(gaps))) - 1]
    assert abs(p99 - summary["trust_gap_s"][mode]["p99"]) <= p99 * 2**-11, (mode, p99)
print("ok")
