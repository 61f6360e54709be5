"""What a KPI computation returns beside its frame (:class:`KpiResult`), built from what
the core reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from socialkpi import display
from socialkpi._tables import _ArrowStream
from socialkpi.readers import ReadReport, read_report


@dataclass(frozen=True)
class KpiResult:
    """A KPI frame with what was used to compute it.

    Attributes
    ----------
    frame
        One row per group and period: the ``by`` columns, ``period_start`` (when ``every`` is
        set), then one column per KPI.
    definitions
        KPI name -> the definition used (see :func:`explain`).
    formulas
        KPI name -> the formula it was computed by (built-in KPIs: the catalogue's formula).
    engagement_components
        The post columns summed into ``eng`` (``"likes|reactions"`` means reactions stand in
        where likes are missing); empty when no engagement KPI was asked for.
    platform_components
        Platform -> its components, where a definition set gives a platform other components
        than ``engagement_components``.
    rows_read
        Table -> rows read.
    rows_dropped
        ``(table, reason, rows)`` for every row a KPI left out (rule 6 of the KPI contract).
        For a table read by :func:`read_posts` (or another reader), the rows its read
        dropped come first, with the reason prefixed ``read:`` (``read: total_row``).
    warnings
        Preset members that were left out because their table or column was not given.
    origins
        For ``conversions``, ``revenue`` and ``leads``: the table each was counted from (each is
        counted from one table only: conversion events, else posts, else traffic, else
        accounts).
    reads
        Table -> the :class:`ReadReport` of each table that a reader returned.
    units, goals
        KPI -> its unit (``count``, ``ratio``, ``percent``, ``money``, ``number``) and goal, from
        the definition used (the catalogue's or a custom one); :func:`table` formats by them.
    currency
        The one value of the ``currency`` column of the tables passed as frames, when a money
        KPI was asked for (None otherwise).
    timings
        Seconds spent bringing the needed columns across the Python boundary (``crossing_s``)
        and computing (``engine_s``).
    kinds
        KPI -> how it adds up over time: ``flow`` (counts, sums and money, and
        ``follower_growth``: the values of consecutive periods add up to the whole's),
        ``snapshot`` (``followers``, ``followers_start``) or ``ratio`` (ratios, shares, means);
        ``targets=`` pro-rates the targets of flows by days (docs/time.md).
    over_time
        KPI -> what the columns ``compare=``, ``window=`` and ``targets=`` added for it hold, in
        words (which earlier period, which window, how targets were matched); empty without
        them. :func:`explain` gives the same text.
    coverage
        The days each table covered (a polars DataFrame: ``table``, ``account_id``, ``first``,
        ``last``), per account where the table has ``account_id`` (else one row with a null
        ``account_id``), for the contracts, conversions, traffic and accounts tables read. The
        cost, conversions, revenue, leads and sessions a table reports are null (unknown) in a
        period outside its coverage (per account when ``by`` has ``account_id``), never 0.
    """

    frame: Any
    definitions: dict[str, str] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    engagement_components: list[str] = field(default_factory=list)
    platform_components: dict[str, list[str]] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_dropped: list[tuple[str, str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    reads: dict[str, ReadReport] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    goals: dict[str, str] = field(default_factory=dict)
    currency: str | None = None
    coverage: Any = None
    kinds: dict[str, str] = field(default_factory=dict)
    over_time: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return display.result_repr(self)

    def _repr_html_(self) -> str:
        return display.result_html(self)


def coverage_frame(rows: list[tuple[str, str | None, int | None, int | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={"table": pl.String, "account_id": pl.String, "first": pl.Int32, "last": pl.Int32},
        orient="row",
    )
    return frame.with_columns(pl.col("first", "last").cast(pl.Date))


def result_of(
    capsule: Any,
    details: dict[str, Any],
    custom: Sequence[Sequence[str]],
    tables: dict[str, Any],
    output: str,
) -> KpiResult:
    """The :class:`KpiResult` of a frame the core computed and the details it reported;
    ``tables`` are the tables as the caller passed them (for their read reports and currency)."""
    frame: Any = pl.DataFrame(_ArrowStream(capsule))
    if output == "pandas":
        frame = frame.to_pandas()
    reads = {name: r for name, t in tables.items() if (r := read_report(t)) is not None}
    units, goals = display.kpi_units(dict(details["formulas"]), custom)
    money = "money" in units.values()
    read_drops = [(name, f"read: {reason}", n) for name, r in reads.items() for reason, n in r.rows_dropped]
    return KpiResult(
        frame=frame,
        definitions=dict(details["definitions"]),
        formulas=dict(details["formulas"]),
        engagement_components=list(details["engagement_components"]),
        platform_components={p: list(c) for p, c in details["platform_components"]},
        rows_read={table: int(n) for table, n in details["rows_read"]},
        rows_dropped=read_drops + [(t, r, int(n)) for t, r, n in details["rows_dropped"]],
        warnings=list(details["warnings"]),
        origins=dict(details["origins"]),
        timings=dict(details["timings"]),
        reads=reads,
        coverage=coverage_frame(list(details["coverage"])),
        units=units,
        goals=goals,
        kinds=dict(details["kinds"]),
        over_time=dict(details.get("over_time", {})),
        currency=display.single_currency(tables.values()) if money else None,
    )
