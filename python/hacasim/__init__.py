"""hacasim from Python: run scenarios and sweeps in-process.

The Rust engine runs in this process with the GIL released (Ctrl-C stops
it); a run's tables come back as Polars DataFrames with the columns and
types of ``reports/README.md``, through the Arrow C stream interface,
without a copy. ``Run.write`` writes exactly the run directory that
``hacasim run`` writes, byte for byte.

    >>> import hacasim
    >>> run = hacasim.run("scenarios/default.toml", seed=7,
    ...                   set={"economics.burn_fraction": 0.5})
    >>> run.summary["consensus"]["block_interval_mean_s"]
    >>> run.requests.group_by("outcome").len()
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import polars as pl

from . import _hacasim
from ._hacasim import InternalError, ScenarioError

__all__ = [
    "run",
    "sweep",
    "validate",
    "Run",
    "ScenarioError",
    "InternalError",
    "TABLES",
]

#: The tables of a run, as ``Run.table`` names them.
TABLES: tuple[str, ...] = tuple(_hacasim.TABLES)

Scenario = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def _overrides(set: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if set is None:
        return None
    return dict(set)


def _scenario(scenario: Scenario) -> Any:
    if isinstance(scenario, Mapping):
        return dict(scenario)
    return os.fspath(scenario)


class Run:
    """A finished run: its summary and tables, held in memory.

    Tables are built when first asked for and then kept. ``Run.write(dir)``
    writes the command line's run directory; ``Run.report()`` its HTML.
    """

    def __init__(self, core: "_hacasim.RunCore") -> None:
        self._core = core
        self._tables: dict[str, pl.DataFrame] = {}
        self._summary: dict[str, Any] | None = None

    @property
    def seed(self) -> int:
        """The seed the run used."""
        return self._core.seed()

    @property
    def scenario_toml(self) -> str:
        """The resolved scenario (defaults filled in) as TOML."""
        return self._core.scenario_toml()

    @property
    def summary(self) -> dict[str, Any]:
        """The run's headline metrics: the same as its ``summary.json``."""
        if self._summary is None:
            self._summary = json.loads(self._core.summary_json())
        return self._summary

    def table(self, name: str) -> pl.DataFrame:
        """One table (``blocks``, ``consensus_rounds``, ``nodes``, ``requests``,
        ``gpu_nodes``, ``ledger`` or ``market``) as a Polars DataFrame."""
        if name not in self._tables:
            self._tables[name] = pl.DataFrame(self._core.table(name))
        return self._tables[name]

    @property
    def blocks(self) -> pl.DataFrame:
        """One row per committed height."""
        return self.table("blocks")

    @property
    def consensus_rounds(self) -> pl.DataFrame:
        """One row per (height, round) that started."""
        return self.table("consensus_rounds")

    @property
    def nodes(self) -> pl.DataFrame:
        """One row per validator (and, on the p2p model, per full and seed node)."""
        return self.table("nodes")

    @property
    def requests(self) -> pl.DataFrame:
        """One row per inference request."""
        return self.table("requests")

    @property
    def gpu_nodes(self) -> pl.DataFrame:
        """One row per GPU node."""
        return self.table("gpu_nodes")

    @property
    def ledger(self) -> pl.DataFrame:
        """Supply and flows at each ledger snapshot."""
        return self.table("ledger")

    @property
    def market(self) -> pl.DataFrame:
        """The market's trajectory (empty without a ``[market]``)."""
        return self.table("market")

    def write(self, dir: "str | os.PathLike[str]", *, force: bool = False) -> Path:
        """Writes the run directory ``hacasim run`` writes (scenario.toml,
        tables, summary.json, plots, report.html), byte-identical to it.
        An existing directory is replaced only with ``force``; every table
        must have been kept."""
        return Path(self._core.write(os.fspath(dir), force))

    def report(self, dir: "str | os.PathLike[str] | None" = None) -> Path:
        """Writes the run directory (to a new temporary folder unless ``dir``
        is given) and returns the path of its ``report.html``."""
        if dir is None:
            dir = Path(tempfile.mkdtemp(prefix="hacasim-run-")) / "run"
        return self.write(dir, force=True) / "report.html"

    def _repr_html_(self) -> str:
        c = self.summary.get("consensus", {})
        rows = "".join(
            f"<tr><td>{k}</td><td>{v}</td></tr>"
            for k, v in c.items()
            if not isinstance(v, (dict, list))
        )
        return f"<b>hacasim run</b> (seed {self.seed})<table>{rows}</table>"

    def __repr__(self) -> str:
        c = self.summary.get("consensus", {})
        return (
            f"<hacasim.Run seed={self.seed} "
            f"heights={c.get('heights_committed')} "
            f"sim={self.summary.get('sim_duration_s')} s>"
        )


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    set: Mapping[str, Any] | None = None,
    tables: "Iterable[str] | None" = None,
) -> Run:
    """Runs a scenario in-process and returns its ``Run``.

    ``scenario`` is a TOML file's path or a dict with the TOML's structure
    (its trace and profile files then relative to the working directory).
    ``seed`` replaces the scenario's seed; ``set`` applies dotted-key
    overrides as a sweep's ``[set]`` does, e.g.
    ``{"economics.burn_fraction": 0.5, "validators[0].count": 8}``.
    ``tables`` names the tables to keep (default: all): a run holds its
    records in memory, about 400 bytes per request, so a loop that reads
    only ``summary`` passes ``tables=()`` and holds none.

    Raises ``ScenarioError`` (with ``file``, ``line`` and ``key``) on a bad
    scenario, ``ValueError`` when the run exceeds ``[limits]``,
    ``KeyboardInterrupt`` on Ctrl-C, and ``InternalError`` on a bug.
    """
    keep = None if tables is None else list(tables)
    return Run(_hacasim.run(_scenario(scenario), seed=seed, set=_overrides(set), tables=keep))


def validate(
    scenario: Scenario, *, set: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Checks a scenario without running it (``hacasim validate``); returns
    its name, validator and region counts, duration and seed, or raises
    ``ScenarioError``."""
    return _hacasim.validate(_scenario(scenario), set=_overrides(set))


def sweep(
    sweep: "str | os.PathLike[str] | Mapping[str, Any]",
    *,
    jobs: int | None = None,
    out: "str | os.PathLike[str] | None" = None,
    per_run: bool = False,
    resume: bool = False,
    force: bool = False,
) -> pl.DataFrame:
    """Runs a sweep (a sweep TOML's path, or a dict of one whose ``base`` is
    relative to the working directory) exactly as ``hacasim sweep`` does,
    ``jobs`` runs at a time, and returns its ``points.parquet`` (one row per
    point, metrics averaged over seeds) or, with ``per_run``, its
    ``sweep.parquet`` (one row per (point, seed)).

    Without ``out`` the sweep directory is a temporary one, removed after;
    with it the directory stays (``resume`` continues one, ``force``
    replaces one).
    """
    keep = out is not None
    work = Path(out) if keep else Path(tempfile.mkdtemp(prefix="hacasim-sweep-")) / "sweep"
    try:
        with tempfile.TemporaryDirectory(prefix="hacasim-sweep-file-") as spec_dir:
            if isinstance(sweep, Mapping):
                spec = dict(sweep)
                if "base" in spec:
                    spec["base"] = os.path.abspath(spec["base"])
                path = Path(spec_dir) / "sweep.toml"
                path.write_text(_hacasim.dict_to_toml(spec))
            else:
                path = Path(os.fspath(sweep))
            _hacasim.sweep(
                os.fspath(path), os.fspath(work), jobs=jobs, resume=resume, force=force or not keep
            )
        name = "sweep.parquet" if per_run else "points.parquet"
        return pl.read_parquet(work / name)
    finally:
        if not keep:
            shutil.rmtree(work.parent, ignore_errors=True)
