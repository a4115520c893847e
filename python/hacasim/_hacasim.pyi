"""Type stubs of the extension module (the Rust half of ``hacasim``).

Use the documented API in ``hacasim`` (``run``, ``sweep``, ``validate``,
``Run``); these are its building blocks.
"""

from typing import Any, Mapping

TABLES: list[str]

class ScenarioError(ValueError):
    """A scenario or sweep that is not valid."""

    file: str
    """The file (``"<dict>"`` for a dict) the problem is in."""
    line: int | None
    """1-based line of the offending key, None where it cannot be located."""
    key: str
    """Dotted key path, e.g. ``validators[2].power``."""
    reason: str
    """The message alone, without file, line and key."""

class InternalError(RuntimeError):
    """A bug of hacasim (a broken invariant or a Rust panic)."""

class ArrowTable:
    """One table; Polars reads it through the Arrow PyCapsule interface."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...

class RunCore:
    """A finished run held in memory."""

    def summary_json(self) -> str: ...
    def scenario_toml(self) -> str: ...
    def seed(self) -> int: ...
    def table(self, name: str) -> ArrowTable: ...
    def write(self, dir: str, force: bool) -> str: ...

def run(
    scenario: str | Mapping[str, Any],
    seed: int | None = None,
    set: Mapping[str, Any] | None = None,
    tables: list[str] | None = None,
) -> RunCore: ...
def validate(
    scenario: str | Mapping[str, Any], set: Mapping[str, Any] | None = None
) -> dict[str, Any]: ...
def sweep(
    sweep: str,
    out: str,
    jobs: int | None = None,
    resume: bool = False,
    force: bool = False,
) -> None: ...
def dict_to_toml(d: Mapping[str, Any]) -> str: ...
