"""An independent oracle for conversion events and leads: written from the spec, never calling socialkpi.

Nothing here imports or calls socialkpi. The conversions table's ``kind`` is normalised and its
``source`` matched to a platform in plain Python (the source matching is the one of
tests/oracle_traffic.py, itself written from the spec); every sum, count and ratio is then written
in DuckDB SQL over plain polars tables, one aggregate per input table, joined on the group and
period keys, so that the engine's output can be compared cell by cell.

The spec, as implemented here:

- Conversion events: ``timestamp`` (naive = UTC) is converted to the report's time zone and its
  calendar day decides the period. ``kind`` is trimmed and lower-cased; only ``lead`` and
  ``sale`` are kept. Events with a null ``timestamp`` are dropped (with ``every=None`` too), as
  are events of any other kind. A ``source`` gives the event its ``platform`` (the matched
  platform, else the source exactly as given); a ``platform`` column, when the table has one,
  is used as given.
- Which table each measure comes from (never summed across tables):
  ``conversions``: the conversions table, else ``posts.conversions``, else ``traffic.conversions``;
  ``revenue``: the conversions table when it has ``value``, else ``posts.revenue``, else
  ``traffic.revenue``; ``leads``: the conversions table, else ``traffic.leads``, else
  ``accounts.leads``; ``profile_visits`` (for ``lead_rate``): posts when posts have the column,
  else the accounts table.
- From events: ``conversions`` / ``leads`` count sale / lead events (0 without any);
  ``revenue`` = Σ value of sale events, null when the group-period has sale events whose values
  are all null, 0 when it has none (values of lead events are ignored; negative values count).
  From a column of posts / traffic / accounts: Σ of the column, 0 where the group-period has no
  rows in that table, null where it has rows and every value is null.
- ``conversion_rate``: with conversions from posts, Σ conversions / Σ clicks over the posts where
  both are present; otherwise the group-period's conversions / Σ clicks of its posts. ``lead_rate``
  = leads / Σ profile_visits. Both are null when the denominator is 0 or null (no rows, or every
  value null).
- Rule 7 ("unknown is null, never 0"), as docs/kpis.md words it: when the result is per account
  (``account_id`` in ``by``), a table covers an account from the first to the last period in
  which it has rows of that account (with ``every=None``: the accounts it has rows of);
  otherwise it covers every group from its first to its last period. Outside that, ``conversions``, ``revenue`` and ``leads`` counted from the
  table are null (and so are the rates built on them), not 0.
- Rows: every (group, period) present in any table a requested KPI reads (full outer join).
  ``conversion_rate`` reads the conversions' table and posts; ``lead_rate`` the leads' table and
  the profile visits' table. Posts without ``published_at`` are dropped when ``every`` is set;
  traffic and account rows without a ``date`` are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl
from oracle_traffic import match_source

TRUNC = {"1d": "day", "1w": "week", "1mo": "month", "1q": "quarter", "1y": "year"}
EVENT_KPIS = ("conversions", "revenue", "leads", "conversion_rate", "lead_rate")

CONVERSIONS_TABLE = "conversions table"


def _cols(frame: pl.DataFrame | None) -> set[str]:
    return set() if frame is None else set(frame.columns)


def choose_sources(
    conversions: pl.DataFrame | None = None,
    posts: pl.DataFrame | None = None,
    traffic: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> dict[str, str | None]:
    """Measure -> the table it is read from (``"conversions table"``, ``"posts"``, ``"traffic"``,
    ``"accounts"``), or None when no given table has it."""
    ev, po, tr, ac = _cols(conversions), _cols(posts), _cols(traffic), _cols(accounts)
    has_events = conversions is not None

    def first(*options: tuple[bool, str]) -> str | None:
        return next((name for ok, name in options if ok), None)

    return {
        "conversions": first(
            (has_events, CONVERSIONS_TABLE), ("conversions" in po, "posts"), ("conversions" in tr, "traffic")
        ),
        "revenue": first(
            (has_events and "value" in ev, CONVERSIONS_TABLE),
            ("revenue" in po, "posts"),
            ("revenue" in tr, "traffic"),
        ),
        "leads": first(
            (has_events, CONVERSIONS_TABLE), ("leads" in tr, "traffic"), ("leads" in ac, "accounts")
        ),
        "profile_visits": first(("profile_visits" in po, "posts"), ("profile_visits" in ac, "accounts")),
        "clicks": first(("clicks" in po, "posts")),
    }


def normalise_kind(kind: str | None) -> str | None:
    """``lead`` or ``sale`` (trimmed, case-insensitive), else None (an unknown kind)."""
    if kind is None:
        return None
    k = kind.strip().lower()
    return k if k in ("lead", "sale") else None


def dropped_events(conversions: pl.DataFrame) -> dict[str, int]:
    """How many events each rule drops, counted independently: ``unknown kind`` and ``missing timestamp``."""
    kinds = [normalise_kind(k) for k in conversions.get_column("kind").to_list()]
    return {
        "unknown kind": sum(k is None for k in kinds),
        "missing timestamp": conversions.get_column("timestamp").null_count(),
    }


def events_with_platform(conversions: pl.DataFrame, sources: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The events with ``__kind`` (lead / sale / None) and, from ``source``, a ``platform`` column."""
    kinds = [normalise_kind(k) for k in conversions.get_column("kind").to_list()]
    out = conversions.with_columns(pl.Series("__kind", kinds, dtype=pl.String))
    if "platform" not in out.columns and "source" in out.columns:
        given = out.get_column("source").to_list()
        matched = [match_source(s, sources) for s in given]
        out = out.with_columns(
            pl.Series(
                "platform", [m if m is not None else s for m, s in zip(matched, given)], dtype=pl.String
            )
        )
    return out


def traffic_with_platform(traffic: pl.DataFrame, sources: Mapping[str, str] | None = None) -> pl.DataFrame:
    if "platform" in traffic.columns or "source" not in traffic.columns:
        return traffic
    given = traffic.get_column("source").to_list()
    matched = [match_source(s, sources) for s in given]
    return traffic.with_columns(
        pl.Series("platform", [m if m is not None else s for m, s in zip(matched, given)], dtype=pl.String)
    )


def _local_day(col: str, tz: str) -> str:
    """The calendar day, in ``tz``, of a naive-UTC or time-zone-aware timestamp column."""
    return f"CAST(timezone('{tz}', ({col})::TIMESTAMP AT TIME ZONE 'UTC') AS DATE)"


def _period(every: str | None) -> str:
    return f"CAST(date_trunc('{TRUNC[every]}', __day) AS DATE)" if every else "NULL::DATE"


def oracle_events(
    kpis: list[str],
    by: list[str],
    every: str | None,
    tz: str = "UTC",
    *,
    conversions: pl.DataFrame | None = None,
    posts: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
    traffic: pl.DataFrame | None = None,
    sources: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """conversions, revenue, leads, conversion_rate and lead_rate per group and period, from the spec."""
    unknown = set(kpis) - set(EVENT_KPIS)
    assert not unknown, f"the oracle does not know {unknown}"
    src = choose_sources(conversions, posts, traffic, accounts)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = list(by) + (["period_start"] if every else [])
    gk = keys or ["__one"]  # a constant key stands in for "one overall group"
    gk_sql = ", ".join(gk)
    period = _period(every)

    # the tables each requested KPI reads
    needs = {
        "conversions": {src["conversions"]},
        "revenue": {src["revenue"]},
        "leads": {src["leads"]},
        "conversion_rate": {src["conversions"], "posts"},
        "lead_rate": {src["leads"], src["profile_visits"]},
    }
    read: set[str] = set()
    for k in kpis:
        missing = {t for t in needs[k] if t is None}
        assert not missing, f"{k}: no given table has its input"
        read |= {t for t in needs[k] if t is not None}
    if "conversion_rate" in kpis and src["conversions"] != "posts":
        assert src["clicks"] == "posts", "conversion_rate: posts with clicks are needed"

    views: dict[str, str] = {}  # table -> view name
    if CONVERSIONS_TABLE in read:
        assert conversions is not None
        con.register("raw_e", events_with_platform(conversions, sources).to_arrow())
        day = _local_day('"timestamp"', tz)
        con.execute(
            f"CREATE VIEW e AS SELECT *, {period} AS period_start, 1 AS __one FROM "
            f"(SELECT *, {day} AS __day FROM raw_e) "
            "WHERE __day IS NOT NULL AND __kind IS NOT NULL"
        )
        views[CONVERSIONS_TABLE] = "e"
    if "posts" in read:
        assert posts is not None
        con.register("raw_p", posts.to_arrow())
        day = _local_day("published_at", tz) if "published_at" in posts.columns else "NULL::DATE"
        where = "WHERE __day IS NOT NULL" if every else ""
        con.execute(
            f"CREATE VIEW p AS SELECT *, {period} AS period_start, 1 AS __one FROM "
            f"(SELECT *, {day} AS __day FROM raw_p) {where}"
        )
        views["posts"] = "p"
    if "traffic" in read:
        assert traffic is not None
        con.register("raw_t", traffic_with_platform(traffic, sources).to_arrow())
        con.execute(
            f"CREATE VIEW t AS SELECT *, {period} AS period_start, 1 AS __one FROM "
            "(SELECT *, CAST(CAST(date AS VARCHAR)[1:10] AS DATE) AS __day FROM raw_t) "
            "WHERE __day IS NOT NULL"
        )
        views["traffic"] = "t"
    if "accounts" in read:
        assert accounts is not None
        con.register("raw_a", accounts.to_arrow())
        con.execute(
            f"CREATE VIEW a AS SELECT *, {period} AS period_start, 1 AS __one FROM "
            "(SELECT *, CAST(date AS DATE) AS __day FROM raw_a) WHERE __day IS NOT NULL"
        )
        views["accounts"] = "a"

    def col_sum(table: str, col: str) -> str:
        present = {"posts": posts, "traffic": traffic, "accounts": accounts, CONVERSIONS_TABLE: conversions}
        return f"sum({col})::DOUBLE" if col in _cols(present[table]) else "NULL::DOUBLE"

    # one aggregate per table, grouped by the keys
    aggs: dict[str, str] = {}
    if "e" in views.values():
        has_value = "value" in _cols(conversions)
        value = "sum(\"value\") FILTER (WHERE __kind = 'sale')::DOUBLE" if has_value else "NULL::DOUBLE"
        aggs["e"] = (
            f"SELECT {gk_sql}, count(*) AS __n, count(*) FILTER (WHERE __kind = 'sale') AS __sales, "
            f"count(*) FILTER (WHERE __kind = 'lead') AS __leads, {value} AS __value FROM e GROUP BY {gk_sql}"
        )
    if "p" in views.values():
        pcols = _cols(posts)
        if {"conversions", "clicks"} <= pcols:
            both = "conversions IS NOT NULL AND clicks IS NOT NULL"
            rate = (
                f"sum(CASE WHEN {both} THEN conversions END)::DOUBLE"
                f" / nullif(sum(CASE WHEN {both} THEN clicks END), 0)::DOUBLE"
            )
        else:
            rate = "NULL::DOUBLE"
        aggs["p"] = (
            f"SELECT {gk_sql}, count(*) AS __n, {col_sum('posts', 'clicks')} AS __clicks, "
            f"{col_sum('posts', 'profile_visits')} AS __pv, {col_sum('posts', 'conversions')} AS __conv, "
            f"{col_sum('posts', 'revenue')} AS __rev, {rate} AS __rate FROM p GROUP BY {gk_sql}"
        )
    if "t" in views.values():
        aggs["t"] = (
            f"SELECT {gk_sql}, count(*) AS __n, {col_sum('traffic', 'leads')} AS __leads, "
            f"{col_sum('traffic', 'conversions')} AS __conv, {col_sum('traffic', 'revenue')} AS __rev "
            f"FROM t GROUP BY {gk_sql}"
        )
    if "a" in views.values():
        aggs["a"] = (
            f"SELECT {gk_sql}, count(*) AS __n, {col_sum('accounts', 'leads')} AS __leads, "
            f"{col_sum('accounts', 'profile_visits')} AS __pv FROM a GROUP BY {gk_sql}"
        )

    rows = " UNION ".join(f"SELECT DISTINCT {gk_sql} FROM {v}" for v in views.values())
    joins = " ".join(
        f"LEFT JOIN ({q}) {alias} ON " + " AND ".join(f"r.{k} IS NOT DISTINCT FROM {alias}.{k}" for k in gk)
        for alias, q in aggs.items()
    )

    # coverage: each table's first and last period, per account when the result is per account
    per_account = "account_id" in by
    for view in views.values():
        select_by, group_by = ("account_id, ", "GROUP BY account_id") if per_account else ("", "")
        span = (
            f"SELECT {select_by}min(period_start) AS __lo, max(period_start) AS __hi, "
            f"CASE WHEN count(*) > 0 THEN 1 END AS __has FROM {view} {group_by}"
        )
        on = (
            " AND ".join(f"r.{k} IS NOT DISTINCT FROM cov_{view}.{k}" for k in ["account_id"] if per_account)
            or "TRUE"
        )
        joins += f" LEFT JOIN ({span}) cov_{view} ON {on}"

    def within(alias: str, value: str) -> str:
        """``value`` where the table covers the row's group and period, else null (rule 7)."""
        inside = f"r.period_start BETWEEN cov_{alias}.__lo AND cov_{alias}.__hi" if every else "TRUE"
        return f"(CASE WHEN cov_{alias}.__has IS NOT NULL AND {inside} THEN {value} END)::DOUBLE"

    def flow(alias: str, col: str) -> str:
        """Σ of a column: 0 without rows in the table, null when its rows' values are all null."""
        return within(alias, f"CASE WHEN coalesce({alias}.__n, 0) = 0 THEN 0 ELSE {alias}.{col} END")

    alias_of = {CONVERSIONS_TABLE: "e", "posts": "p", "traffic": "t", "accounts": "a"}
    exprs: dict[str, str] = {}
    if src["conversions"] is not None:
        al = alias_of[src["conversions"]]
        exprs["conversions"] = within("e", "coalesce(e.__sales, 0)") if al == "e" else flow(al, "__conv")
    if src["revenue"] is not None:
        al = alias_of[src["revenue"]]
        exprs["revenue"] = (
            within("e", "CASE WHEN coalesce(e.__sales, 0) = 0 THEN 0 ELSE e.__value END")
            if al == "e"
            else flow(al, "__rev")
        )
    if src["leads"] is not None:
        al = alias_of[src["leads"]]
        exprs["leads"] = within("e", "coalesce(e.__leads, 0)") if al == "e" else flow(al, "__leads")
    if "conversion_rate" in kpis:
        if src["conversions"] == "posts":
            exprs["conversion_rate"] = "p.__rate"
        else:
            exprs["conversion_rate"] = f"{exprs['conversions']} / nullif(p.__clicks, 0)"
    if "lead_rate" in kpis:
        pv = f"{alias_of[str(src['profile_visits'])]}.__pv"
        exprs["lead_rate"] = f"{exprs['leads']} / nullif({pv}, 0)"

    select = ", ".join([*(f"r.{k}" for k in keys), *(f"({exprs[k]})::DOUBLE AS {k}" for k in kpis)])
    out = con.sql(f"SELECT {select} FROM ({rows}) r {joins}").pl()
    return out.sort(keys, nulls_last=True) if keys else out
