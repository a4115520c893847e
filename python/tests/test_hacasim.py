"""The Python package against the command line: the CLI is the independent
implementation each result is compared with (same engine, but its own
loading, overriding, writing and reading paths), plus facts a caller can
check by hand (a duration override, an error's line).

Run by tests/python.rs (the README's test command) after
scripts/python-package.sh installed the wheel; HACASIM_BIN is the CLI.
"""

from __future__ import annotations

import _thread
import concurrent.futures
import filecmp
import os
import subprocess
import signal
import threading
import time
import tomllib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import hacasim

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("HACASIM_BIN", str(ROOT / "target/debug/hacasim"))
# Small and quick, with every table non-empty where it can be: inference
# requests, a market, TEE and ZK audits.
SCENARIO = ROOT / "scenarios/deflation.toml"
SHORT = {"duration": "3m"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT)


def cli_run(scenario: Path, out: Path, *extra: str) -> Path:
    p = cli("run", str(scenario), "--out", str(out), "--quiet", *extra)
    assert p.returncode == 0, p.stderr
    return out


def short_toml(tmp_path: Path) -> Path:
    """The scenario with the short duration, as a file of its own."""
    text = SCENARIO.read_text().replace('duration = "1h"', 'duration = "3m"', 1)
    assert 'duration = "3m"' in text
    path = tmp_path / "short.toml"
    path.write_text(text)
    return path


def test_a_dict_run_equals_the_cli_run_of_the_same_toml_table_by_table(tmp_path):
    path = short_toml(tmp_path)
    out = cli_run(path, tmp_path / "cli")
    run = hacasim.run(tomllib.loads(path.read_text()))
    for name in hacasim.TABLES:
        assert_frame_equal(run.table(name), pl.read_parquet(out / f"{name}.parquet"))
    assert run.requests.height > 0 and run.ledger.height > 0
    assert run.summary == __import__("json").loads((out / "summary.json").read_text())


def test_write_is_byte_identical_to_the_cli_run_directory(tmp_path):
    path = short_toml(tmp_path)
    out = cli_run(path, tmp_path / "cli", "--seed", "5")
    written = hacasim.run(path, seed=5).write(tmp_path / "py")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in written.iterdir())
    assert "report.html" in names and "requests.parquet" in names
    _, mismatch, errors = filecmp.cmpfiles(out, written, names, shallow=False)
    assert mismatch == [] and errors == []


def test_write_refuses_an_existing_directory_without_force(tmp_path):
    run = hacasim.run(ROOT / "scenarios/tests/four-one-region.toml")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep")
    with pytest.raises(ValueError):
        run.write(tmp_path / "x")
    assert (tmp_path / "x" / "mine.txt").read_text() == "keep"


def test_overrides_change_what_they_name_and_equal_an_edited_scenario(tmp_path):
    run = hacasim.run(SCENARIO, set={**SHORT, "economics.burn_fraction": 0.25})
    assert run.summary["sim_duration_s"] == 180.0
    assert run.blocks["committed_at_s"].max() <= 180.0
    edited = tomllib.loads(SCENARIO.read_text())
    edited["duration"] = "3m"
    edited["economics"]["burn_fraction"] = 0.25
    assert_frame_equal(run.ledger, hacasim.run(edited).ledger)
    assert "burn_fraction = 0.25" in run.scenario_toml


def test_an_unknown_override_is_a_scenario_error_naming_the_key():
    with pytest.raises(hacasim.ScenarioError) as e:
        hacasim.run(SCENARIO, set={"economics.burn_fracton": 0.5})
    assert e.value.key == "economics.burn_fracton"
    assert "burn_fraction" in str(e.value)  # did you mean


def test_a_bad_file_is_a_scenario_error_with_the_cli_message_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    lines = SCENARIO.read_text().splitlines()
    # A negative burn fraction on a line of its own, right after [economics].
    at = lines.index("[economics]") + 1
    lines.insert(at, "burn_fraction = -1.0")
    lines = [
        line
        for i, line in enumerate(lines)
        if not (line.startswith("burn_fraction") and i != at)
    ]
    path.write_text("\n".join(lines) + "\n")
    line = lines.index("burn_fraction = -1.0") + 1
    with pytest.raises(hacasim.ScenarioError) as e:
        hacasim.validate(path)
    assert (e.value.file, e.value.line, e.value.key) == (
        str(path),
        line,
        "economics.burn_fraction",
    )
    p = cli("validate", str(path))
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: {e.value}"


def test_a_bad_dict_names_the_key_and_no_line():
    d = tomllib.loads(SCENARIO.read_text())
    d["validators"][1]["power"] = "lots"
    with pytest.raises(hacasim.ScenarioError) as e:
        hacasim.run(d)
    assert e.value.file == "<dict>" and e.value.line is None
    assert e.value.key.startswith("validators")


def test_a_value_python_cannot_express_in_toml_is_a_type_error():
    d = tomllib.loads(SCENARIO.read_text())
    d["seed"] = object()
    with pytest.raises(TypeError, match="seed"):
        hacasim.run(d)


def test_validate_describes_the_scenario():
    v = hacasim.validate(SCENARIO)
    assert v["name"] == tomllib.loads(SCENARIO.read_text())["name"]
    assert v["duration_s"] == 3600.0


def test_the_same_seed_gives_identical_tables_and_another_seed_does_not():
    a, b = (hacasim.run(SCENARIO, seed=3, set=SHORT) for _ in range(2))
    c = hacasim.run(SCENARIO, seed=4, set=SHORT)
    for name in hacasim.TABLES:
        assert_frame_equal(a.table(name), b.table(name))
    assert a.summary == b.summary
    assert not a.requests.equals(c.requests)


def test_runs_from_a_python_thread_pool_equal_the_same_runs_one_by_one():
    seeds = [11, 12, 13, 14]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda s: hacasim.run(SCENARIO, seed=s, set=SHORT), seeds))
    for seed, run in zip(seeds, parallel):
        alone = hacasim.run(SCENARIO, seed=seed, set=SHORT)
        assert run.seed == seed
        assert_frame_equal(run.requests, alone.requests)
        assert run.summary == alone.summary


def test_a_sweep_equals_the_cli_sweep_points_parquet(tmp_path):
    spec = {
        "base": str(SCENARIO),
        "seeds": 2,
        "set": {"duration": "2m"},
        "axes": {"economics.burn_fraction": [0.0, 1.0]},
    }
    path = tmp_path / "s.toml"
    path.write_text(
        f'base = "{SCENARIO}"\nseeds = 2\n[set]\nduration = "2m"\n'
        '[axes]\n"economics.burn_fraction" = [0.0, 1.0]\n'
    )
    p = cli("sweep", str(path), "--out", str(tmp_path / "cli"), "--quiet", "--jobs", "2")
    assert p.returncode == 0, p.stderr
    want = pl.read_parquet(tmp_path / "cli/points.parquet")
    assert_frame_equal(hacasim.sweep(path, jobs=1), want)
    assert_frame_equal(hacasim.sweep(spec, jobs=2), want)
    rows = hacasim.sweep(path, per_run=True)
    assert_frame_equal(rows, pl.read_parquet(tmp_path / "cli/sweep.parquet"))
    assert rows.height == 4


def test_a_bad_sweep_is_a_scenario_error_naming_file_line_and_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'base = "{SCENARIO}"\nseeds = 0\n')
    with pytest.raises(hacasim.ScenarioError) as e:
        hacasim.sweep(path)
    assert (e.value.file, e.value.line, e.value.key) == (str(path), 2, "seeds")
    p = cli("sweep", str(path), "--out", str(tmp_path / "out"))
    assert p.returncode == 2
    assert p.stderr.strip() == f"error: {e.value}"


def test_ctrl_c_interrupts_a_run_promptly():
    # Half an hour of the default scenario takes tens of seconds; Ctrl-C
    # (here the same signal flag, set from a timer) must stop it within a
    # second. A process started in the background by a non-interactive
    # shell inherits SIGINT ignored, and then Python installs no handler and
    # `interrupt_main` does nothing: install the handler a terminal's or a
    # notebook's Python has, so the test means the same wherever it runs.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.5, _thread.interrupt_main)
        started = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            hacasim.run(ROOT / "scenarios/default.toml", set={"duration": "30m"})
        assert time.monotonic() - started < 2.0
    finally:
        signal.signal(signal.SIGINT, previous)
    # The engine is usable again afterwards.
    assert hacasim.run(ROOT / "scenarios/tests/four-one-region.toml").blocks.height > 0


def test_an_unknown_table_is_a_value_error_listing_the_tables():
    run = hacasim.run(ROOT / "scenarios/tests/four-one-region.toml")
    with pytest.raises(ValueError, match="consensus_rounds"):
        run.table("rounds")


def test_a_run_keeping_some_tables_has_those_whole_and_refuses_the_rest(tmp_path):
    full = hacasim.run(SCENARIO, set=SHORT)
    some = hacasim.run(SCENARIO, set=SHORT, tables=["requests", "blocks"])
    assert_frame_equal(some.requests, full.requests)
    assert_frame_equal(some.blocks, full.blocks)
    assert some.summary == full.summary
    with pytest.raises(ValueError, match="not kept"):
        some.ledger
    with pytest.raises(ValueError, match="not kept"):
        some.write(tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert hacasim.run(SCENARIO, set=SHORT, tables=()).summary == full.summary
