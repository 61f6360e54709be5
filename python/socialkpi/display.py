"""KPI frames as an analyst reads them: each KPI formatted by its unit, in HTML and in text.

:func:`table` formats any KPI frame (and a :class:`~socialkpi.KpiResult`, whose notebook
display it is): ratios as percentages (0.0579 -> ``5.79%``), money with its currency, counts
with thousands separators, a missing value as ``—`` (never ``0``); each KPI's header carries
its goal and unit, and a tooltip with its definition and formula.

The HTML is written here, escaped with :func:`html.escape`, rather than with great_tables:
every text from the data must be escaped (an account named ``<script>`` shows as text), the
header tooltips, the null marker and the collapsed notes below the table are plain HTML that
great_tables would need raw-HTML escapes for, the same fragment goes into the offline report,
and it adds no dependency (great_tables brings six) to a package whose core needs two.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from socialkpi import KpiResult
    from socialkpi.formulas import KPI, Definitions
    from socialkpi.readers import ReadReport

__all__ = ["MISSING", "KpiTable", "added_column", "format_value", "table"]

MISSING = "—"
"""How a missing (null) value is shown: never as 0."""

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$"}
_UNIT_LABELS = {
    "ratio": "%",
    "percent": "%",
    "points": "pp",
    "count": "count",
    "money": "money",
    "number": "number",
}
# The columns ``compare=`` and ``targets=`` add after a KPI (docs/time.md), longest suffix
# first, with how each is shown: "same" in the KPI's own unit, "ratio" as a percentage,
# "change" as the KPI's unit but a difference of rates in percentage points.
_ADDED = (
    ("_ly_change_rate", "ratio", "change on a year before"),
    ("_change_rate", "ratio", "change"),
    ("_ly_change", "change", "change on a year before"),
    ("_change", "change", "change"),
    ("_attainment", "ratio", "attainment"),
    ("_target", "same", "target"),
    ("_prev", "same", "previous"),
    ("_ly", "same", "a year before"),
)
_DEFAULT_ROWS = 100


@functools.lru_cache(maxsize=1)
def _catalogue() -> dict[str, tuple[str, str, str, str]]:
    """Built-in KPI -> (goal, unit, formula, definition), read once from the core."""
    from socialkpi import _core

    return {
        name: (goal, unit, formula, definition)
        for name, goal, definition, formula, unit, _, _ in _core.catalog_rows()
    }


def kpi_units(names: Iterable[str], custom: Iterable[Sequence[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """``(units, goals)`` of the KPIs ``names``: a custom definition's, else the catalogue's.

    ``custom`` holds ``(name, formula, goal, unit, description)`` rows, as the core takes them.
    """
    rows = {r[0]: r for r in custom}
    builtin = _catalogue()
    units: dict[str, str] = {}
    goals: dict[str, str] = {}
    for name in names:
        if name in rows:
            goals[name], units[name] = rows[name][2], rows[name][3]
        elif name in builtin:
            goals[name], units[name] = builtin[name][0], builtin[name][1]
    return units, goals


def single_currency(tables: Iterable[Any]) -> str | None:
    """The one value of the ``currency`` columns of the in-memory frames among ``tables``."""
    found: set[str] = set()
    for t in tables:
        if isinstance(t, pl.DataFrame) and "currency" in t.columns:
            found.update(str(v) for v in t.get_column("currency").drop_nulls().unique().to_list())
        elif type(t).__module__.startswith("pandas") and "currency" in getattr(t, "columns", ()):
            found.update(str(v) for v in t["currency"].dropna().unique().tolist())
    return found.pop() if len(found) == 1 else None


def _decimals(magnitude: float, least: int) -> int:
    """Enough decimals for three significant digits of a small number, at least ``least``."""
    if magnitude == 0 or magnitude >= 1:
        return least
    return min(max(least, 2 - math.floor(math.log10(magnitude))), 8)


def format_value(value: Any, unit: str, currency: str | None = None) -> str:
    """One KPI value as text in its unit.

    >>> format_value(0.0579, "ratio"), format_value(12.5, "percent"), format_value(1234567, "count")
    ('5.79%', '12.50%', '1,234,567')
    >>> format_value(1234.5, "money", "EUR"), format_value(9.5, "money", "CHF"), format_value(0.004166, "money")
    ('€1,234.50', '9.50 CHF', '0.00417')
    >>> format_value(None, "ratio")
    '—'
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    if unit in ("ratio", "percent"):
        pct = value * 100 if unit == "ratio" else value
        return f"{pct:,.{_decimals(abs(pct), 2)}f}%"
    if unit == "points":  # a difference of two ratios (0.0123 -> 1.23 pp)
        pts = value * 100
        return f"{pts:,.{_decimals(abs(pts), 2)}f} pp"
    if unit == "money":
        # cents, or three significant digits for amounts under 0.10 (a CPE of 0.004 is not 0.00)
        size = abs(value)
        text = f"{size:,.{2 if size >= 0.1 else _decimals(size, 2)}f}"
        sign = "-" if value < 0 else ""
        if currency is None:
            return sign + text
        symbol = _SYMBOLS.get(currency.upper())
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    if unit == "count":
        return f"{value:,.2f}"
    return f"{value:,.{_decimals(abs(value), 0 if abs(value) >= 100 else 2)}f}"


def _plain(value: Any) -> str:
    """A dimension value (account, platform, period) as text."""
    if value is None:
        return MISSING
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _Column:
    name: str
    unit: str | None  # None: a dimension column, shown as it is
    goal: str = ""
    tooltip: str = ""


def added_column(name: str, units: Mapping[str, str]) -> tuple[str, str, str] | None:
    """``(kpi, unit, what)`` of a column that ``compare=`` or ``targets=`` added after a KPI
    (``reach_target`` -> ``("reach", "count", "target")``), the unit it is shown in; None for
    any other column. ``units`` holds the frame's KPIs' units beside the catalogue's."""
    builtin = _catalogue()
    for suffix, shown, what in _ADDED:
        if not name.endswith(suffix):
            continue
        kpi = name[: -len(suffix)]
        unit = units.get(kpi) or (builtin[kpi][1] if kpi in builtin else None)
        if unit is None:
            continue
        if shown == "ratio":
            return kpi, "ratio", what
        if shown == "change" and unit in ("ratio", "percent"):
            # a rate's change is in percentage points (a percent unit is already x100)
            return kpi, "points" if unit == "ratio" else "percent", what
        return kpi, unit, what
    return None


_ADDED_TIPS = {
    "target": "The target of {kpi} for the row's group and days (targets=; pro-rated by days for a flow).",
    "attainment": "{kpi} / {kpi}_target (null where the target is 0 or missing).",
    "previous": "{kpi} of the earlier period compared with (compare='previous').",
    "a year before": "{kpi} a year before (compare='last_year').",
    "change": "The change of {kpi} on the earlier period: a difference, or a relative change for _rate.",
    "change on a year before": "The change of {kpi} on a year before: a difference, or a relative change for _rate.",
}


def _columns(
    frame: pl.DataFrame,
    units: Mapping[str, str],
    goals: Mapping[str, str],
    formulas: Mapping[str, str],
    definitions: Mapping[str, str],
) -> list[_Column]:
    builtin = _catalogue()
    out = []
    for name in frame.columns:
        unit = units.get(name) or (builtin[name][1] if name in builtin else None)
        added = None if unit is not None else added_column(name, units)
        if added is not None:
            unit = added[1]
        if unit is None or name == "currency" or not frame.schema[name].is_numeric():
            out.append(_Column(name, None))
            continue
        if added is not None:
            kpi, _, what = added
            out.append(_Column(name, unit, what, _ADDED_TIPS[what].format(kpi=kpi)))
            continue
        goal = goals.get(name) or (builtin[name][0] if name in builtin else "")
        formula = formulas.get(name) or (builtin[name][2] if name in builtin else "")
        meaning = definitions.get(name) or (builtin[name][3] if name in builtin else "")
        tip = "\n".join(t for t in (meaning, f"Formula: {formula}" if formula else "") if t)
        out.append(_Column(name, unit, goal, tip))
    return out


def _as_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    from socialkpi.exceptions import invalid_argument

    raise invalid_argument(
        f"sk.table takes a KPI frame (polars or pandas) or a KpiResult, not {type(frame).__name__}",
    )


class KpiTable:
    """A KPI frame formatted for reading; shows as HTML in a notebook and as text in a terminal.

    Attributes
    ----------
    frame
        The frame shown (polars), unchanged.
    currency
        The currency money KPIs are shown in (None: a ``currency`` column, else none).
    max_rows
        At most this many rows are shown (the first ones); the rest are counted below.
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        columns: list[_Column],
        *,
        currency: str | None,
        max_rows: int,
        result: KpiResult | None = None,
    ) -> None:
        self.frame = frame
        self.currency = currency
        self.max_rows = max_rows
        self._columns = columns
        self._result = result

    def rows(self) -> list[list[str]]:
        """The text of each shown cell, row by row (as the HTML and the text show them)."""
        shown = self.frame.head(self.max_rows)
        currencies = (
            shown.get_column("currency").cast(pl.String).to_list()
            if "currency" in shown.columns
            else [self.currency] * shown.height
        )
        out = []
        for row, cur in zip(shown.iter_rows(), currencies):
            out.append(
                [
                    _plain(v) if c.unit is None else format_value(v, c.unit, cur or self.currency)
                    for v, c in zip(row, self._columns)
                ]
            )
        return out

    def _header_label(self, c: _Column) -> str:
        if c.unit is None:
            return ""
        unit = self.currency if c.unit == "money" and self.currency else _UNIT_LABELS.get(c.unit, c.unit)
        return " · ".join(t for t in (c.goal, unit) if t)

    def to_html(self) -> str:
        """The table as an HTML fragment (scoped style, every text escaped)."""
        e = html.escape
        head = []
        for c in self._columns:
            if c.unit is None:
                head.append(f'<th scope="col" class="sk-dim">{e(c.name)}</th>')
            else:
                head.append(
                    f'<th scope="col" class="sk-kpi" title="{e(c.tooltip)}">{e(c.name)}'
                    f'<br><span class="sk-goal">{e(self._header_label(c))}</span></th>'
                )
        body = []
        for texts in self.rows():
            cells = []
            for text, c in zip(texts, self._columns):
                cls = "sk-dim" if c.unit is None else "sk-num"
                if text == MISSING:
                    cells.append(f'<td class="{cls} sk-missing" title="missing (null)">{MISSING}</td>')
                else:
                    cells.append(f'<td class="{cls}">{e(text)}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        parts = [
            '<div class="sk-table">',
            _STYLE,
            '<table class="sk-frame"><thead><tr>',
            "".join(head),
            "</tr></thead><tbody>",
            "".join(body),
            "</tbody></table>",
        ]
        if self.frame.height > self.max_rows:
            parts.append(f'<p class="sk-more">Showing {self.max_rows:,} of {self.frame.height:,} rows.</p>')
        if self._result is not None:
            parts.extend(_result_notes_html(self._result))
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_text(self) -> str:
        """The table as aligned text (numbers right-aligned), with the notes below."""
        names = [c.name for c in self._columns]
        units = [self._header_label(c) for c in self._columns]
        rows = self.rows()
        widths = [max(len(x) for x in col) for col in zip(names, units, *rows)] if names else []
        lines = []
        for texts in [names, units, *rows]:
            cells = [
                t.ljust(w) if c.unit is None else t.rjust(w) for t, w, c in zip(texts, widths, self._columns)
            ]
            lines.append("  ".join(cells).rstrip())
        lines.insert(2, "  ".join("-" * w for w in widths))
        if self.frame.height > self.max_rows:
            lines.append(f"(showing {self.max_rows:,} of {self.frame.height:,} rows)")
        if self._result is not None:
            lines.extend(_result_notes_text(self._result))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


def table(
    data: Any,
    *,
    currency: str | None = None,
    kpis: Iterable[KPI] = (),
    definitions: str | os.PathLike[str] | Definitions | None = None,
    max_rows: int = _DEFAULT_ROWS,
) -> KpiTable:
    """Formats a KPI frame for reading: each KPI by its unit, headers with goal and formula.

    Parameters
    ----------
    data
        A frame returned by :func:`socialkpi.compute` (polars or pandas), or the
        :class:`~socialkpi.KpiResult` of :func:`socialkpi.compute_details` (its warnings, rows
        dropped and engagement components are shown below the table, collapsed).
    currency
        The currency of the money KPIs (``"EUR"``; shown as ``€1,234.50``, an unknown code as
        ``1,234.50 CHF``). Default: the frame's ``currency`` column, row by row, else the
        result's currency, else none.
    kpis, definitions
        Custom KPIs (:class:`~socialkpi.KPI`) and a definition set (a vendor preset's name, a
        definition file or a :class:`~socialkpi.Definitions`) whose units and goals apply;
        built-in KPIs are known.
    max_rows
        Rows shown (the first ones); the rest are counted below the table.

    Returns
    -------
    KpiTable
        Shows as HTML in a notebook (``.to_html()``) and as text with ``print`` (``.to_text()``).
    """
    from socialkpi import KpiResult
    from socialkpi.formulas import definitions as vendor_definitions
    from socialkpi.formulas import load_kpis, vendor_presets

    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 0:
        from socialkpi.exceptions import invalid_argument

        raise invalid_argument(f"max_rows must be a whole number >= 0, not {max_rows!r}")
    result = data if isinstance(data, KpiResult) else None
    frame = _as_polars(result.frame if result is not None else data)
    rows = [k._row() for k in kpis]
    if isinstance(definitions, (str, os.PathLike)):
        name = os.fspath(definitions)
        definitions = vendor_definitions(name) if name in vendor_presets() else load_kpis(name)
    if definitions is not None:
        rows = [k._row() for k in definitions] + rows
    units: dict[str, str] = dict(result.units) if result is not None else {}
    goals: dict[str, str] = dict(result.goals) if result is not None else {}
    custom_units, custom_goals = kpi_units([r[0] for r in rows], rows)
    units.update(custom_units)
    goals.update(custom_goals)
    formulas = {r[0]: r[1] for r in rows}
    meanings = {r[0]: r[4] for r in rows}
    if result is not None:
        formulas = {**result.formulas, **formulas}
        meanings = {**result.definitions, **meanings}
        currency = currency or result.currency
    columns = _columns(frame, units, goals, formulas, meanings)
    return KpiTable(frame, columns, currency=currency, max_rows=max_rows, result=result)


def _details(summary: str, inner: str) -> str:
    return f'<details class="sk-notes"><summary>{html.escape(summary)}</summary>{inner}</details>'


def _html_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    e = html.escape
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="sk-num">{v:,}</td>' if isinstance(v, int) else f"<td>{e(_plain(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    return f'<table class="sk-frame">{thead}<tbody>{body}</tbody></table>'


def _components(result: KpiResult) -> str:
    return " + ".join(result.engagement_components)


def _result_notes_html(result: KpiResult) -> list[str]:
    e = html.escape
    out = []
    if result.warnings:
        items = "".join(f"<li>{e(w)}</li>" for w in result.warnings)
        out.append(_details(f"Warnings ({len(result.warnings)})", f"<ul>{items}</ul>"))
    dropped = sum(n for _, _, n in result.rows_dropped)
    read = ", ".join(f"{t}: {n:,}" for t, n in result.rows_read.items())
    if result.rows_dropped:
        out.append(
            _details(
                f"Rows dropped: {dropped:,} (rows read: {read})",
                _html_table(["table", "reason", "rows"], result.rows_dropped),
            )
        )
    elif read:
        out.append(f'<p class="sk-more">Rows read: {e(read)}; none dropped.</p>')
    if result.engagement_components:
        inner = f"<p>engagements = {e(_components(result))}</p>"
        if result.platform_components:
            inner += _html_table(
                ["platform", "components"],
                [(p, " + ".join(c)) for p, c in result.platform_components.items()],
            )
        out.append(_details("Engagement components", inner))
    if result.origins:
        out.append(_details("Counted from", _html_table(["KPI", "table"], sorted(result.origins.items()))))
    return out


def _result_notes_text(result: KpiResult) -> list[str]:
    out = []
    for w in result.warnings:
        out.append(f"warning: {w}")
    if result.rows_dropped:
        out.append("rows dropped: " + "; ".join(f"{t} {r}: {n:,}" for t, r, n in result.rows_dropped))
    if result.engagement_components:
        out.append(f"engagements = {_components(result)}")
        out.extend(f"  {p}: {' + '.join(c)}" for p, c in result.platform_components.items())
    if result.origins:
        out.append("counted from: " + ", ".join(f"{k}: {t}" for k, t in sorted(result.origins.items())))
    return out


def result_repr(result: KpiResult) -> str:
    """``repr(KpiResult)``: its size and KPIs, then the formatted table and the notes."""
    kpis = [k for k in result.formulas if k in result.frame.columns]
    head = f"KpiResult: {len(result.frame):,} rows; KPIs: {', '.join(kpis) or 'none'}"
    return head + "\n" + table(result, max_rows=20).to_text()


def result_html(result: KpiResult) -> str:
    return table(result).to_html()


def _report_facts(report: ReadReport) -> list[tuple[str, str]]:
    dropped = sum(n for _, n in report.rows_dropped)
    # without a preset, the headers were the canonical names, or columns= mapped them
    renamed = any(h.strip().lower() != c for h, c in report.header_map.items())
    facts = [
        ("table", report.table),
        (
            "preset",
            report.preset or ("none (headers mapped by columns=)" if renamed else "none (canonical headers)"),
        ),
        ("files", f"{len(report.files):,}"),
        ("rows read", f"{report.rows_read:,}"),
        ("rows kept", f"{report.rows_kept:,}"),
        ("rows dropped", f"{dropped:,}"),
    ]
    nulled = sum(n for _, _, n, _ in report.cells_nulled)
    if nulled:
        facts.append(("cells nulled", f"{nulled:,}"))
    return facts


def read_report_repr(report: ReadReport) -> str:
    """``repr(ReadReport)``: what was read, kept and dropped, one fact per line."""
    lines = [f"ReadReport({report.table}): " + ", ".join(f"{k} {v}" for k, v in _report_facts(report)[1:])]
    for f in report.files:
        lines.append(
            f"  file {f.path}: {f.rows_read:,} rows, preset {f.preset or 'none'}, {f.encoding or 'binary'}"
        )
    for reason, n in report.rows_dropped:
        lines.append(f"  dropped {reason}: {n:,}")
    for column, reason, n, samples in report.cells_nulled:
        lines.append(f"  nulled {column} ({reason}): {n:,}, e.g. {', '.join(repr(s) for s in samples[:3])}")
    for w in report.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def read_report_html(report: ReadReport) -> str:
    """The notebook display of a :class:`~socialkpi.ReadReport` (every text escaped)."""
    parts = ['<div class="sk-table">', _STYLE, _html_table([], _report_facts(report))]
    if report.files:
        parts.append(
            _details(
                f"Files ({len(report.files):,})",
                _html_table(
                    ["path", "preset", "encoding", "rows"],
                    [(f.path, f.preset or "none", f.encoding, f.rows_read) for f in report.files],
                ),
            )
        )
    if report.rows_dropped:
        parts.append(_details("Rows dropped", _html_table(["reason", "rows"], report.rows_dropped)))
    if report.cells_nulled:
        parts.append(
            _details(
                "Cells nulled",
                _html_table(
                    ["column", "reason", "cells", "samples"],
                    [(c, r, n, ", ".join(s[:3])) for c, r, n, s in report.cells_nulled],
                ),
            )
        )
    if report.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
        parts.append(_details(f"Warnings ({len(report.warnings)})", f"<ul>{items}</ul>"))
    if report.header_map:
        parts.append(
            _details("Header map", _html_table(["header", "column"], sorted(report.header_map.items())))
        )
    parts.append("</div>")
    return "".join(parts)


def definitions_repr(defs: Definitions) -> str:
    """``repr(Definitions)``: its name, then one line per KPI and per platform's components."""
    lines = [
        f"Definitions({defs.name!r}): {len(defs.kpis)} KPIs"
        + (f"; {defs.description}" if defs.description else "")
    ]
    lines.extend(f"  {k.name} ({k.goal}, {k.unit}) = {k.formula}" for k in defs.kpis)
    lines.extend(f"  engagement on {p}: {' + '.join(c)}" for p, c in defs.engagement.items())
    if defs.source:
        lines.append(f"  source: {defs.source}")
    return "\n".join(lines)


def definitions_html(defs: Definitions) -> str:
    """The notebook display of a :class:`~socialkpi.Definitions` (every text escaped)."""
    e = html.escape
    parts = ['<div class="sk-table">', _STYLE, f"<p><strong>{e(defs.name)}</strong>"]
    if defs.description:
        parts.append(f": {e(defs.description)}")
    parts.append("</p>")
    parts.append(
        _html_table(
            ["KPI", "goal", "unit", "formula", "description"],
            [(k.name, k.goal, k.unit, k.formula, k.description) for k in defs.kpis],
        )
    )
    if defs.engagement:
        parts.append(
            _details(
                "Engagement components",
                _html_table(
                    ["platform", "components"], [(p, " + ".join(c)) for p, c in defs.engagement.items()]
                ),
            )
        )
    if defs.source:
        parts.append(f'<p class="sk-more">Source: {e(defs.source)}</p>')
    parts.append("</div>")
    return "".join(parts)


_STYLE = (
    "<style>"
    ".sk-table{overflow-x:auto}"
    ".sk-table table.sk-frame{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:0.3em 0}"
    ".sk-table th,.sk-table td{padding:0.25em 0.6em;border-bottom:1px solid rgba(128,128,128,0.3)}"
    ".sk-table th{text-align:left;vertical-align:bottom}"
    ".sk-table th.sk-kpi,.sk-table td.sk-num{text-align:right}"
    ".sk-table th.sk-kpi{cursor:help}"
    ".sk-table .sk-goal{font-weight:normal;font-size:0.8em;opacity:0.7;white-space:nowrap}"
    ".sk-table .sk-missing{opacity:0.55}"
    ".sk-table .sk-more{font-size:0.85em;opacity:0.8;margin:0.2em 0}"
    ".sk-table details.sk-notes{margin:0.2em 0}"
    ".sk-table details.sk-notes summary{cursor:pointer}"
    "</style>"
)
