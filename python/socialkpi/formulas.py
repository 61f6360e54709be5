"""KPIs as data: formulas, definition files and vendor presets.

A KPI is a formula in a small language (see docs/formulas.md), checked and compiled by the
Rust core to the same partial states as the built-in KPIs:

>>> import socialkpi as sk
>>> er = sk.KPI("er_linkedin", "(clicks + likes + comments + shares + follows) / impressions")
>>> er.name, er.unit
('er_linkedin', 'ratio')

A bare column in a ratio means its sum (a ratio of sums, over the posts where both sides are
present); ``per_post(x)`` is the mean over posts; ``where`` filters; ``last(followers)`` is the
semi-additive snapshot. Definition files (YAML, TOML or JSON) hold many KPIs and per-platform
engagement components; vendor presets reproduce the formulas analytics tools publish.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from socialkpi import _core
from socialkpi.exceptions import DefinitionError, InputError, KpiError, QueryError, error, invalid_argument

__all__ = ["KPI", "Definitions", "check_kpis", "definitions", "load_kpis", "vendor_presets"]


# The longest definition file read (the core's limit, catalog/parse.rs MAX_BYTES): a larger
# file is refused before it is read into memory.
_MAX_FILE_BYTES = 4 << 20


def _text(value: object, what: str, code: str, kind: type[KpiError] = DefinitionError) -> str:
    """``value`` as text that can cross to the core: a ``str`` of characters only (a lone
    surrogate such as ``"\ud800"`` is half of a UTF-16 pair, not a character). Not text at all
    is ``invalid_argument``: a ``DefinitionError`` for a definition's own parts, else an
    ``ArgumentError``."""
    if not isinstance(value, str):
        message = f"{what} must be text, not {type(value).__name__}"
        if kind is DefinitionError:
            raise error(DefinitionError, "invalid_argument", message)
        raise invalid_argument(message)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = value[e.start]
        raise error(
            kind,
            code,
            f"{what} {value!r} holds {bad!r} at {e.start}, a lone surrogate that is not a character "
            "(often the remains of text decoded with errors='surrogateescape'); fix the text",
        ) from None
    return value


def column_name(name: str) -> str:
    """A column name from ``by=``, checked to be text the core can take."""
    return _text(name, "column name", "invalid_column_name", QueryError)


def _unit(formula: str) -> str:
    return "ratio" if "/" in formula or "per_post(" in formula or "mean(" in formula else "number"


@dataclass(frozen=True)
class KPI:
    """A KPI defined by a formula; pass it in ``kpis=[...]`` next to built-in names.

    Parameters
    ----------
    name
        The result column's name (letters, digits and ``_``). A KPI with a built-in's name
        takes its place in the call it is passed to.
    formula
        The formula (docs/formulas.md). Its syntax is checked at once (``DefinitionError``
        with the position and a caret); its columns are checked against the tables when it is
        computed.
    goal, unit, description
        Shown by :func:`socialkpi.explain` and carried on the result. ``unit`` defaults to
        ``"ratio"`` for formulas that divide or average, else ``"number"``.
    """

    name: str
    formula: str
    goal: str = "custom"
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        _text(self.name, "KPI name", "invalid_name")
        _text(self.formula, f"the formula of KPI {self.name!r}", "syntax_error")
        _core.check_formula(self.name, self.formula)
        if not self.unit:
            object.__setattr__(self, "unit", _unit(self.formula))

    def _row(self) -> tuple[str, str, str, str, str]:
        return (self.name, self.formula, self.goal, self.unit, self.description)


@dataclass(frozen=True)
class Definitions:
    """A set of KPI definitions: a definition file's, a vendor preset's, or the catalogue's.

    Iterating gives its :class:`KPI` objects; ``defs["engagement_rate"]`` one of them.
    Pass the set as ``definitions=`` to :func:`socialkpi.compute`: its KPIs take the place of
    the built-ins of the same names, and its engagement components apply to every engagement
    KPI of the call.

    Attributes
    ----------
    name, description, source
        What the set is and where its formulas come from (a vendor's published page).
    engagement
        Platform -> the post columns summed into ``eng`` on that platform (``"default"``: every
        other platform; ``"likes|reactions"``: likes, else reactions).
    kpis
        The KPIs it defines.
    """

    name: str
    description: str = ""
    source: str = ""
    engagement: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kpis: tuple[KPI, ...] = ()

    def __iter__(self) -> Iterator[KPI]:
        return iter(self.kpis)

    def __len__(self) -> int:
        return len(self.kpis)

    def __getitem__(self, name: str) -> KPI:
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(name)

    def names(self) -> list[str]:
        """The names of the KPIs the set defines."""
        return [k.name for k in self.kpis]

    def __repr__(self) -> str:
        from socialkpi import display

        return display.definitions_repr(self)

    def _repr_html_(self) -> str:
        from socialkpi import display

        return display.definitions_html(self)

    @classmethod
    def _from_row(cls, row: Any) -> Definitions:
        name, description, source, engagement, kpis = row
        return cls(
            name=name,
            description=description,
            source=source,
            engagement={p: tuple(c) for p, c in engagement},
            kpis=tuple(KPI(n, f, g, u, d) for n, f, g, u, d in kpis),
        )


_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}


def load_kpis(path: str | os.PathLike[str]) -> Definitions:
    """Reads a definition file (YAML, TOML or JSON, by its extension), or a vendor preset by
    name (``sk.load_kpis("hypeauditor")``, see :func:`vendor_presets`).

    The file has ``kpis`` (a list of ``name``, ``formula`` and optionally ``goal``, ``unit``,
    ``description``), optionally ``engagement`` (platform -> components) and ``name``,
    ``description``, ``source``. Its shape is published as a JSON Schema:
    ``socialkpi/definitions/schema.json``. Unknown keys are an error with the file, line and
    column (``DefinitionError`` code ``invalid_definitions``); each formula's syntax is checked.
    A file is at most 4 MiB (32 MiB once YAML aliases are written out; code ``file_too_large``)
    and defines at most 10,000 KPIs (``too_many_kpis``); see docs/formulas.md, Limits.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise error(
            DefinitionError,
            "invalid_argument",
            f"a definition file's path or a vendor preset's name is text or a path, not {type(path).__name__}",
        )
    text_path = os.fspath(path)
    ext = os.path.splitext(text_path)[1].lower()
    fmt = _FORMATS.get(ext)
    if fmt is None and not ext and not os.path.exists(text_path):
        return definitions(text_path)
    if fmt is None:
        raise error(
            DefinitionError,
            "unknown_format",
            f"{text_path}: definition files are YAML (.yaml, .yml), TOML (.toml) or JSON (.json)",
        )
    try:
        with open(text_path, "rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error(InputError, "file_not_found", f"definition file '{text_path}' does not exist") from None
    if len(data) > _MAX_FILE_BYTES:
        raise error(
            DefinitionError,
            "file_too_large",
            f"{text_path}: definition files are limited to {_MAX_FILE_BYTES} bytes ({_MAX_FILE_BYTES >> 20} MiB)",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(
            DefinitionError,
            "invalid_definitions",
            f"{text_path}: definition files are UTF-8 text; byte {e.start} is not ({e.reason})",
        ) from None
    return Definitions._from_row(_core.parse_definitions(text, fmt, text_path))


def definitions(name: str) -> Definitions:
    """A vendor preset (``"rivaliq"``, ``"socialinsider"``, ``"hypeauditor"``, ``"later"``), or
    ``"socialkpi"`` for the built-in catalogue, each formula written in the language."""
    return Definitions._from_row(_core.vendor_definitions(name))


def vendor_presets() -> list[str]:
    """The names of the vendor presets."""
    return list(_core.vendor_names())


def resolve(
    kpis: str | KPI | Iterable[str | KPI],
    defs: str | os.PathLike[str] | Definitions | None,
) -> tuple[list[str], list[tuple[str, str, str, str, str]], list[tuple[str, list[str]]]]:
    """Names, formula rows and engagement components for the core."""
    items: list[str | KPI] = [kpis] if isinstance(kpis, (str, KPI)) else list(kpis)
    if defs is not None and not isinstance(defs, (str, os.PathLike, Definitions)):
        raise error(
            DefinitionError,
            "invalid_argument",
            "definitions= takes a vendor preset's name, a definition file's path or a Definitions "
            f"set (sk.load_kpis), not {type(defs).__name__}",
        )
    if isinstance(defs, (str, os.PathLike)):
        text = os.fspath(defs)
        defs = load_kpis(text)
    names: list[str] = []
    custom: dict[str, KPI] = {}
    if defs is not None:
        for k in defs.kpis:
            custom[k.name] = k
    passed: dict[str, KPI] = {}
    for item in items:
        if isinstance(item, KPI):
            if item.name in passed and passed[item.name] != item:
                raise error(
                    DefinitionError,
                    "duplicate_kpi",
                    f"two KPIs named '{item.name}' were passed in kpis= with different formulas",
                )
            passed[item.name] = custom[item.name] = item
            names.append(item.name)
        else:
            names.append(_text(item, "KPI name", "invalid_name"))
    engagement = [(p, list(c)) for p, c in defs.engagement.items()] if defs is not None else []
    return names, [k._row() for k in custom.values()], engagement


def _kinds(table: Any) -> list[tuple[str, str]]:
    import polars as pl

    from socialkpi._tables import _kind, as_table

    if table is None:
        return []
    if isinstance(table, Mapping):
        return [(str(n), _kind(t)) for n, t in pl.Schema(table).items()]
    wrapped = as_table(table, "table")
    if isinstance(wrapped, list):
        paths = [str(p) for p in wrapped]
        lf = pl.scan_parquet(paths) if paths[0].endswith(".parquet") else pl.scan_csv(paths)
        return [(n, _kind(t)) for n, t in lf.collect_schema().items()]
    kinds: list[tuple[str, str]] = wrapped.kinds()
    return kinds


def check_kpis(
    kpis: str | KPI | Iterable[str | KPI],
    posts: Any,
    accounts: Any = None,
    *,
    definitions: str | os.PathLike[str] | Definitions | None = None,
) -> None:
    """Checks KPIs against the tables' columns without computing anything.

    ``posts`` and ``accounts`` are tables as for :func:`socialkpi.compute` (only their schema
    is read) or ``{column: polars dtype}`` mappings. Raises the error :func:`socialkpi.compute`
    would raise for a formula (position, caret, suggestion), a missing column or table.

    >>> import polars as pl
    >>> import socialkpi as sk
    >>> sk.check_kpis([sk.KPI("er", "eng / reach")], {"likes": pl.Int64, "reach": pl.Int64})
    """
    names, custom, engagement = resolve(kpis, definitions)
    _core.plan_kpis(names, custom, _kinds(posts), _kinds(accounts), engagement)
