"""An independent oracle for the money KPIs (issue 3): contracts, post spend, conversions, revenue.

Nothing here imports or calls socialkpi. The spec of issue 3 (and docs/kpis.md) is written out
directly in DuckDB SQL over plain polars tables, so that the engine's output can be compared
cell by cell. The contract side is done the slow, obvious way: every contract is expanded into
one row per calendar day it covers, the days are bucketed into periods, and a contract's fee
and posts agreed are shared out by the number of its days in each period.

Resolutions of points the spec leaves open (see tests/test_money.py, which pins each one):

- The fee part of ``cost`` is null in a group-period with no contract day (a sum over no
  contract), so ``cost`` is null where the group-period has posts, every ``spend`` is null (or
  there is no ``spend`` column) and no contract day; it is 0 only where there are neither posts
  nor contract days.
- ``posts_agreed`` is a flow: 0 (not null) in a group-period with no contract day.
- ``delivered`` posts are grouped by the post's own by-values and period.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

TRUNC = {"1d": "day", "1w": "week", "1mo": "month", "1q": "quarter", "1y": "year"}
POST_FLOWS = ("impressions", "clicks", "conversions", "revenue")
COST_KPIS = {"cost", "cpm", "cpc", "cpe", "cpa", "roas", "roi"}
CONTRACT_KPIS = {"posts_agreed", "delivery_rate"}


def _eng(cols: set[str]) -> str:
    """eng = coalesce(likes, reactions) + comments + shares + saves; null only when all are null."""
    like = [c for c in ("likes", "reactions") if c in cols]
    comps = ([f"coalesce({', '.join(like)})"] if like else []) + [
        c for c in ("comments", "shares", "saves") if c in cols
    ]
    if not comps:
        return "NULL::DOUBLE"
    return (
        f"CASE WHEN {' AND '.join(f'({c}) IS NULL' for c in comps)} THEN NULL "
        f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in comps)} END"
    )


def _match(posts_cols: set[str], contract_cols: set[str]) -> str:
    """A post p matches a contract c (the day window is added by the caller)."""
    cond = ["p.account_id = c.account_id"]
    if "campaign" in posts_cols:
        cond.append("p.campaign = c.campaign")
    if "content_type" in contract_cols:
        post_ct = "p.content_type" if "content_type" in posts_cols else "NULL"
        cond.append(f"(c.content_type IS NULL OR {post_ct} = c.content_type)")
    cond.append('p.day BETWEEN c.start AND c."end"')
    return " AND ".join(cond)


def _register_posts(con: duckdb.DuckDBPyConnection, posts: pl.DataFrame, tz: str, every: str | None) -> None:
    con.register("raw_posts", posts.to_arrow())
    cols = set(posts.columns)
    if "published_at" in cols:
        day = f"CAST(timezone('{tz}', published_at::TIMESTAMP AT TIME ZONE 'UTC') AS DATE)"
    else:
        day = "NULL::DATE"
    period = f"CAST(date_trunc('{TRUNC[every]}', day) AS DATE)" if every else "NULL::DATE"
    con.execute(
        f"CREATE VIEW p AS SELECT *, {_eng(cols)} AS eng, {period} AS period_start, 1 AS __one "
        f"FROM (SELECT *, {day} AS day FROM raw_posts)"
    )


def _register_contracts(con: duckdb.DuckDBPyConnection, contracts: pl.DataFrame, every: str | None) -> None:
    con.register("raw_contracts", contracts.with_row_index("__cid").to_arrow())
    con.execute('CREATE VIEW c AS SELECT *, ("end" - start) + 1 AS __ndays, 1 AS __one FROM raw_contracts')
    # one row per contract per calendar day it covers (end inclusive)
    con.execute(
        "CREATE VIEW c_days AS SELECT * EXCLUDE (__d), CAST(__d AS DATE) AS day FROM "
        '(SELECT *, unnest(generate_series(start::TIMESTAMP, "end"::TIMESTAMP, INTERVAL 1 DAY)) AS __d FROM c)'
    )
    period = f"CAST(date_trunc('{TRUNC[every]}', day) AS DATE)" if every else "NULL::DATE"
    con.execute(f"CREATE VIEW c_days_p AS SELECT *, {period} AS period_start FROM c_days")


def oracle_money(
    posts: pl.DataFrame | None,
    contracts: pl.DataFrame | None,
    kpis: list[str],
    by: list[str],
    every: str | None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """The money KPIs per group and period, straight from the spec, in DuckDB SQL."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = list(by) + (["period_start"] if every else [])
    gk = keys or ["__one"]  # a constant key stands in for "one overall group"
    gk_sql = ", ".join(gk)
    use_contracts = contracts is not None and any(k in COST_KPIS | CONTRACT_KPIS for k in kpis)

    parts: list[tuple[str, str]] = []  # (alias, query), each grouped by gk
    pcols: set[str] = set()
    if posts is not None:
        _register_posts(con, posts, tz, every)
        pcols = set(posts.columns)

        def col_sum(c: str) -> str:
            return f"sum({c})::DOUBLE" if c in pcols else "NULL::DOUBLE"

        if {"conversions", "clicks"} <= pcols:
            both = "conversions IS NOT NULL AND clicks IS NOT NULL"
            conv_rate = (
                f"sum(CASE WHEN {both} THEN conversions END)::DOUBLE"
                f" / nullif(sum(CASE WHEN {both} THEN clicks END), 0)::DOUBLE"
            )
        else:
            conv_rate = "NULL::DOUBLE"
        flows = ", ".join(f"{col_sum(c)} AS {c}" for c in POST_FLOWS)
        parts.append(
            (
                "pa",
                f"SELECT {gk_sql}, count(*) AS __n, {flows}, sum(eng)::DOUBLE AS engagements, "
                f"{col_sum('spend')} AS __spend, {conv_rate} AS conversion_rate FROM p GROUP BY {gk_sql}",
            )
        )
    if use_contracts:
        assert contracts is not None
        _register_contracts(con, contracts, every)
        # per contract and period: the number of its days inside the period
        share = (
            f"SELECT __cid, {gk_sql}, any_value(fee) AS fee, any_value(posts_agreed) AS posts_agreed, "
            f"any_value(__ndays) AS __ndays, count(*) AS __in FROM c_days_p GROUP BY __cid, {gk_sql}"
        )
        parts.append(
            (
                "ca",
                f"SELECT {gk_sql}, sum(fee::DOUBLE * __in / __ndays) AS __fee, "
                f"sum(posts_agreed::DOUBLE * __in / __ndays) AS __agreed FROM ({share}) GROUP BY {gk_sql}",
            )
        )
        if posts is not None:
            ccols = set(contracts.columns)
            parts.append(
                (
                    "da",
                    f"SELECT {gk_sql}, count(*) AS __delivered FROM p "
                    f"WHERE EXISTS (SELECT 1 FROM c WHERE {_match(pcols, ccols)}) GROUP BY {gk_sql}",
                )
            )

    rows = " UNION ".join(
        f"SELECT DISTINCT {gk_sql} FROM {src}"
        for src in (["p"] if posts is not None else []) + (["c_days_p"] if use_contracts else [])
    )
    joins = " ".join(
        f"LEFT JOIN ({q}) {alias} ON " + " AND ".join(f"r.{k} IS NOT DISTINCT FROM {alias}.{k}" for k in gk)
        for alias, q in parts
    )
    have = {alias for alias, _ in parts}
    n = "coalesce(pa.__n, 0)" if "pa" in have else "0"
    spend = "pa.__spend" if "pa" in have else "NULL::DOUBLE"
    fee = "ca.__fee" if "ca" in have else "NULL::DOUBLE"

    def flow(c: str) -> str:
        return f"CASE WHEN {n} = 0 THEN 0 ELSE pa.{c} END" if "pa" in have else "0::DOUBLE"

    base = (
        f"SELECT r.*, {', '.join(f'{flow(c)} AS {c}' for c in (*POST_FLOWS, 'engagements'))}, "
        f"{'pa.conversion_rate' if 'pa' in have else 'NULL::DOUBLE'} AS conversion_rate, "
        f"CASE WHEN {spend} IS NULL AND {fee} IS NULL THEN (CASE WHEN {n} = 0 THEN 0 END)::DOUBLE "
        f"ELSE coalesce({spend}, 0) + coalesce({fee}, 0) END AS cost, "
        f"{'coalesce(ca.__agreed, 0)' if 'ca' in have else 'NULL'}::DOUBLE AS posts_agreed, "
        f"{'coalesce(da.__delivered, 0)' if 'da' in have else '0'}::DOUBLE AS __delivered "
        f"FROM ({rows}) r {joins}"
    )
    exprs = {
        "impressions": "impressions",
        "clicks": "clicks",
        "engagements": "engagements",
        "conversions": "conversions",
        "revenue": "revenue",
        "conversion_rate": "conversion_rate",
        "cost": "cost",
        "cpm": "cost / nullif(impressions, 0) * 1000",
        "cpc": "cost / nullif(clicks, 0)",
        "cpe": "cost / nullif(engagements, 0)",
        "cpa": "cost / nullif(conversions, 0)",
        "roas": "revenue / nullif(cost, 0)",
        "roi": "(revenue - cost) / nullif(cost, 0)",
        "posts_agreed": "posts_agreed",
        "delivery_rate": "__delivered / nullif(posts_agreed, 0)",
    }
    select = ", ".join([*keys, *(f"({exprs[k]})::DOUBLE AS {k}" for k in kpis)])
    out = con.sql(f"SELECT {select} FROM ({base})").pl()
    return out.sort(keys, nulls_last=True) if keys else out


def oracle_contract_status(
    posts: pl.DataFrame, contracts: pl.DataFrame, as_of: dt.date, tz: str = "UTC"
) -> pl.DataFrame:
    """One row per contract in input order: its columns, then delivery against THAT contract.

    A post in two overlapping contracts counts for each; only posts whose day is <= as_of count.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _register_posts(con, posts, tz, None)
    _register_contracts(con, contracts, None)
    match = _match(set(posts.columns), set(contracts.columns))
    reach = "p.reach" if "reach" in posts.columns else "NULL"
    own = ", ".join(f'c."{col}"' for col in contracts.columns)
    q = f"""
        SELECT {own}, count(p.__one) AS delivered,
               sum(p.eng)::DOUBLE AS __eng, sum({reach})::DOUBLE AS __reach, c.__cid
        FROM c LEFT JOIN p ON {match} AND p.day <= DATE '{as_of.isoformat()}'
        GROUP BY ALL ORDER BY c.__cid"""
    out = con.sql(q).pl()
    delivered = pl.col("delivered")
    some = delivered > 0
    return out.select(
        *contracts.columns,
        delivered.cast(pl.Int64),
        pl.max_horizontal(pl.col("posts_agreed") - delivered, pl.lit(0)).cast(pl.Int64).alias("remaining"),
        pl.max_horizontal((pl.col("end") - pl.lit(as_of)).dt.total_days(), pl.lit(0))
        .cast(pl.Int64)
        .alias("days_left"),
        pl.when(some).then(pl.col("fee").cast(pl.Float64) / delivered).alias("cost_per_post"),
        pl.when(some).then(pl.col("__eng")).alias("engagements"),
        pl.when(some).then(pl.col("__reach")).alias("reach"),
    )
