from typing import Any, final

__version__: str
# pyo3 lists every name added to the module
__all__ = [
    "DefinitionError",
    "EngineError",
    "InputError",
    "KpiError",
    "QueryError",
    "SchemaError",
    "_AccountsMemo",
    "_KeptPages",
    "_States",
    "__version__",
    "catalog_rows",
    "check_formula",
    "check_post_ids",
    "compute",
    "contract_status",
    "states_every",
    "error_codes",
    "explain",
    "kpi_kind",
    "parse_definitions",
    "parse_values",
    "partial",
    "plan_kpis",
    "post_id_hashes",
    "presets",
    "read_table",
    "reader_presets",
    "shared_post_ids",
    "source_table",
    "vendor_definitions",
    "vendor_names",
]

# The exceptions' docstrings repeat those of src/errors.rs for the API reference (read from here).
class KpiError(Exception):
    """Base class of every socialkpi error; `.code` is stable."""

    code: str

class SchemaError(KpiError):
    """A table lacks a column or a column has the wrong type."""

class DefinitionError(KpiError):
    """A KPI is unknown or cannot be computed as asked."""

class InputError(KpiError):
    """The data breaks a rule of the KPI contract."""

class QueryError(KpiError):
    """The arguments of the call are invalid."""

class EngineError(KpiError):
    """The engine failed; the message says why."""

def error_codes() -> list[tuple[str, str, str]]: ...
def compute(
    kpis: list[str],
    by: list[str],
    every: str | None,
    tz: str,
    dedupe: str | None,
    posts: Any = None,
    accounts: Any = None,
    contracts: Any = None,
    traffic: Any = None,
    conversions: Any = None,
    sources: list[tuple[str, str]] = ...,
    custom: list[tuple[str, str, str, str, str]] = ...,
    engagement: list[tuple[str, list[str]]] = ...,
    max_staleness: int | None = ...,
    compare: list[str] = ...,
    window: str | None = ...,
    progress: Any = None,
    start: int | None = None,
    end: int | None = None,
    fill: bool = False,
    week_start: str | None = None,
    fiscal_year_start: str | None = None,
    memory_limit: int | None = ...,
) -> tuple[Any, dict[str, Any]]: ...
def source_table() -> list[tuple[str, str]]: ...
def contract_status(posts: Any, contracts: Any, as_of: int, tz: str) -> Any: ...
def states_every(every: str | None, start: int | None = None, end: int | None = None) -> str | None: ...
def catalog_rows() -> list[tuple[str, str, str, str, str, list[str], str]]: ...

_DefinitionRow = tuple[str, str, str, str, str]
_DefinitionsRow = tuple[str, str, str, list[tuple[str, list[str]]], list[_DefinitionRow]]

def check_formula(name: str, formula: str) -> None: ...
def parse_definitions(text: str, format: str, origin: str) -> _DefinitionsRow: ...
def vendor_definitions(name: str) -> _DefinitionsRow: ...
def vendor_names() -> list[str]: ...
def plan_kpis(
    kpis: list[str],
    custom: list[_DefinitionRow],
    posts_types: list[tuple[str, str]],
    accounts_types: list[tuple[str, str]] = ...,
    engagement: list[tuple[str, list[str]]] = ...,
) -> int: ...
def presets() -> list[tuple[str, list[str]]]: ...
def explain(name: str) -> str: ...
def kpi_kind(name: str) -> str: ...
def read_table(
    kind: str,
    files: list[tuple[str, Any]],
    preset: str | None = None,
    columns: list[tuple[str, str]] = ...,
    defaults: list[tuple[str, str]] = ...,
    snapshot: str | None = None,
    year: int | None = None,
    repeats: str = "unstated",
    day: str | None = None,
) -> tuple[Any, dict[str, Any]]: ...
def parse_values(
    values: Any, kind: str, year: int | None = None, day_first: bool | None = None
) -> tuple[Any, int, list[str]]: ...
def reader_presets() -> list[tuple[str, str, str | None, str, str, list[str]]]: ...

@final
class _AccountsMemo:
    def __init__(self) -> None: ...

@final
class _KeptPages:
    def __init__(self) -> None: ...
    def __enter__(self) -> _KeptPages: ...
    def __exit__(self, *args: object) -> bool: ...

def partial(
    kpis: list[str],
    by: list[str],
    every: str | None,
    tz: str,
    dedupe: str | None,
    posts: Any = None,
    accounts: Any = None,
    contracts: Any = None,
    traffic: Any = None,
    conversions: Any = None,
    sources: list[tuple[str, str]] = ...,
    custom: list[tuple[str, str, str, str, str]] = ...,
    engagement: list[tuple[str, list[str]]] = ...,
    max_staleness: int | None = ...,
    progress: Any = None,
    week_start: str | None = None,
    fiscal_year_start: str | None = None,
    memory_limit: int | None = ...,
    accounts_memo: _AccountsMemo | None = None,
    keep_post_ids: bool = True,
    posts_only: bool = False,
) -> _States: ...
def check_post_ids(lists: list[Any], keep: bool) -> tuple[int, Any | None]: ...
def shared_post_ids(lists: list[Any]) -> Any: ...
def post_id_hashes(ids: Any) -> Any: ...

@final
class _States:
    def finalize(
        self,
        kpis: list[str] | None = None,
        by: list[str] | None = None,
        every: str | None = None,
        every_given: bool = False,
        compare: list[str] = ...,
        window: str | None = ...,
        start: int | None = None,
        end: int | None = None,
        fill: bool = False,
        week_start: str | None = None,
        fiscal_year_start: str | None = None,
    ) -> tuple[Any, dict[str, Any]]: ...
    @staticmethod
    def merge(parts: list[_States]) -> _States: ...
    def update(self, newer: _States) -> _States: ...
    def save(self, path: str) -> None: ...
    @staticmethod
    def load(path: str) -> _States: ...
    def frame(self, with_ids: bool = True) -> tuple[Any, str]: ...
    def post_ids(self) -> Any | None: ...
    def with_post_ids(self, ids: Any) -> _States: ...
    @staticmethod
    def from_frame(frame: Any, header: str) -> _States: ...
    def spec(self) -> str: ...
    def sizes(self) -> tuple[list[tuple[str, int]], int | None]: ...
