"""An independent oracle for the money KPIs (issue 3): contracts, post spend, conversions, revenue.

Nothing here imports or calls socialkpi. The spec of issue 3 (and docs/kpis.md) is written out
directly in DuckDB SQL over plain polars tables, so that the engine's output can be compared
cell by cell. The contract side is done the slow, obvious way: every contract is expanded into
one row per calendar day it covers, the days are bucketed into periods, and a contract's fee
and posts agreed are shared out by the number of its days in each period.

Rule 7 of docs/kpis.md ("unknown is null, never 0"), as docs/kpis.md words it: when the result is per
account (``account_id`` in ``by``), a table covers an account from the first to the last period
in which it has rows of that account (with ``every=None``: the accounts it has rows of);
otherwise it covers every group from its first to its last period (with ``every=None``: all).
Outside that, what the table reports is unknown:

- ``spend`` (the posts' part of ``cost``), ``conversions`` and ``revenue`` from posts are null in a
  group-period the posts do not cover, 0 in one they cover without posts in it;
- the fee part of ``cost`` is null in a group-period the contracts do not cover, 0 in one they
  cover without a contract day;
- ``cost`` is the sum of its known parts (a part reported as null counts as 0 beside a known
  one), and null when neither part is known: so it is null where the posts' spend is all null
  (or there is no ``spend`` column) and the contracts do not cover the group-period.
- ``impressions``, ``clicks`` and ``engagements`` stay 0 where a group-period has no posts.
- ``posts_agreed`` is a flow: 0 (not null) in a group-period with no contract day.
- ``delivered`` posts are grouped by the post's own by-values and period.
"""

from __future__ import annotations

import datetime as dt
import math

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


def attribution(posts_cols: set[str], contract_cols: set[str]) -> str:
    """What ties a post to a contract besides account, platform and window (docs/kpis.md): the
    campaign when both tables carry one, else the posts' sponsored flag, else nothing."""
    if "campaign" in posts_cols and "campaign" in contract_cols:
        return "campaign"
    return "sponsored" if "sponsored" in posts_cols else "account"


def sponsored_sql(dtype: pl.DataType) -> str:
    """The posts' sponsored flag as a DuckDB condition: true only where the post is sponsored."""
    if dtype == pl.Boolean:
        return "coalesce(p.sponsored, false)"
    if dtype.is_numeric():
        return "coalesce(p.sponsored <> 0, false)"
    return "coalesce(lower(trim(CAST(p.sponsored AS VARCHAR))) IN ('true', 't', 'yes', 'y', '1'), false)"


def _match(posts_cols: set[str], contract_cols: set[str], sponsored: str = "") -> str:
    """A post p matches a contract c (the day window is added by the caller); `sponsored` is
    the condition of a sponsored post (`sponsored_sql`) when posts carry the flag."""
    cond = ["p.account_id = c.account_id"]
    if "platform" in posts_cols and "platform" in contract_cols:
        cond.append("p.platform = c.platform")
    tie = attribution(posts_cols, contract_cols)
    if tie == "campaign":
        cond.append("p.campaign = c.campaign")
    elif tie == "sponsored":
        cond.append(sponsored)
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


OPEN_END = dt.date(9999, 1, 1)


def close_open_ends(contracts: pl.DataFrame, last_post: dt.date | None) -> pl.DataFrame:
    """An end in the year 9999 means "no end": such a contract runs through the last day the
    inputs hold, the last post's day or the latest start or other end of the contracts,
    and never ends before its own start (docs/kpis.md, open-ended contracts)."""
    is_open = pl.col("end") >= OPEN_END
    known = [d for d in (contracts["start"].max(), contracts.filter(~is_open)["end"].max(), last_post) if d]
    through = max(known) if known else None
    return contracts.with_columns(
        pl.when(is_open)
        .then(pl.max_horizontal("start", pl.lit(through, pl.Date)))
        .otherwise("end")
        .alias("end")
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
        last_post = None
        if posts is not None and "published_at" in posts.columns:
            last_post = con.execute("SELECT max(day) FROM p").fetchall()[0][0]
        contracts = close_open_ends(contracts, last_post)
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
            spons = sponsored_sql(posts.schema["sponsored"]) if "sponsored" in pcols else ""
            parts.append(
                (
                    "da",
                    f"SELECT {gk_sql}, count(*) AS __delivered FROM p "
                    f"WHERE EXISTS (SELECT 1 FROM c WHERE {_match(pcols, ccols, spons)}) GROUP BY {gk_sql}",
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
    # coverage: each table's first and last period, per account when the result is per account
    per_account = "account_id" in by
    spans = {"pc": "p"} if posts is not None else {}
    if use_contracts:
        spans["cc"] = "c_days_p"
    for alias, src in spans.items():
        select_by, group_by = ("account_id, ", "GROUP BY account_id") if per_account else ("", "")
        span = (
            f"SELECT {select_by}min(period_start) AS __lo, max(period_start) AS __hi, "
            "CASE WHEN count(*) > 0 THEN 1 END AS __has "
            f"FROM {src} {group_by}"
        )
        on = (
            " AND ".join(f"r.{k} IS NOT DISTINCT FROM {alias}.{k}" for k in ["account_id"] if per_account)
            or "TRUE"
        )
        joins += f" LEFT JOIN ({span}) {alias} ON {on}"

    def covered(alias: str) -> str:
        if alias not in spans:
            return "FALSE"
        inside = f"r.period_start BETWEEN {alias}.__lo AND {alias}.__hi" if every else "TRUE"
        return f"({alias}.__has IS NOT NULL AND {inside})"

    n = "coalesce(pa.__n, 0)" if "pa" in have else "0"
    spend = f"CASE WHEN {covered('pc')} THEN (CASE WHEN {n} = 0 THEN 0 ELSE pa.__spend END) END"
    if "pa" not in have:
        spend = "NULL::DOUBLE"
    fee = f"CASE WHEN {covered('cc')} THEN coalesce(ca.__fee, 0) END" if "ca" in have else "NULL::DOUBLE"

    def flow(c: str) -> str:
        if "pa" not in have:
            return "0::DOUBLE"
        if c in ("conversions", "revenue"):  # rule 7: unknown outside the posts' coverage
            return f"CASE WHEN {n} = 0 THEN (CASE WHEN {covered('pc')} THEN 0 END) ELSE pa.{c} END"
        return f"CASE WHEN {n} = 0 THEN 0 ELSE pa.{c} END"

    base = (
        f"SELECT r.*, {', '.join(f'{flow(c)} AS {c}' for c in (*POST_FLOWS, 'engagements'))}, "
        f"{'pa.conversion_rate' if 'pa' in have else 'NULL::DOUBLE'} AS conversion_rate, "
        f"CASE WHEN ({spend}) IS NULL AND ({fee}) IS NULL THEN NULL::DOUBLE "
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
    The schedule (docs/kpis.md): the share of the window's days (both ends inclusive) elapsed by
    as_of; an open-ended contract (an end in the year 9999) has none.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _register_posts(con, posts, tz, None)
    _register_contracts(con, contracts, None)
    pcols, ccols = set(posts.columns), set(contracts.columns)
    spons = sponsored_sql(posts.schema["sponsored"]) if "sponsored" in pcols else ""
    match = _match(pcols, ccols, spons)
    reach = "p.reach" if "reach" in posts.columns else "NULL"
    own = ", ".join(f'c."{col}"' for col in contracts.columns)
    q = f"""
        SELECT {own}, count(p.__one) AS delivered,
               sum(p.eng)::DOUBLE AS __eng, sum({reach})::DOUBLE AS __reach, c.__cid
        FROM c LEFT JOIN p ON {match} AND p.day <= DATE '{as_of.isoformat()}'
        GROUP BY ALL ORDER BY c.__cid"""
    out = con.sql(q).pl()
    rows = []
    for r in out.iter_rows(named=True):
        start, end, agreed, n = r["start"], r["end"], r["posts_agreed"], r["delivered"]
        is_open = end >= OPEN_END
        days = (end - start).days + 1
        elapsed = min(max((as_of - start).days + 1, 0), days)
        status = "upcoming" if as_of < start else ("ended" if as_of > end and not is_open else "running")
        if status == "upcoming":
            expected: float | None = 0.0
        elif is_open or agreed is None:
            expected = None
        else:
            expected = agreed * elapsed / days
        behind = None if expected is None else max(math.floor(expected) - n, 0)
        fee = r.get("fee")
        fee_to_date = None if fee is None else (fee if is_open else fee * elapsed / days)
        rows.append(
            {
                "status": status,
                "delivered": n,
                "expected_by_now": expected,
                "pace": n / expected if expected else None,
                "behind": behind,
                "on_track": None if behind is None else behind == 0,
                "remaining": None if status == "upcoming" or agreed is None else max(agreed - n, 0),
                "days_left": None if is_open else max((end - as_of).days, 0),
                "fee_to_date": fee_to_date,
                "cost_per_post": fee_to_date / n if n and fee_to_date is not None else None,
                "engagements": r["__eng"] if n else None,
                "reach": r["__reach"] if n else None,
                "attribution": attribution(pcols, ccols),
            }
        )
    schema = {
        "status": pl.String, "delivered": pl.Int64, "expected_by_now": pl.Float64, "pace": pl.Float64,
        "behind": pl.Int64, "on_track": pl.Boolean, "remaining": pl.Int64, "days_left": pl.Int64,
        "fee_to_date": pl.Float64, "cost_per_post": pl.Float64, "engagements": pl.Float64,
        "reach": pl.Float64, "attribution": pl.String,
    }  # fmt: skip
    extra = pl.DataFrame(rows, schema=schema)
    if "fee" not in ccols:
        extra = extra.drop("fee_to_date", "cost_per_post")
    return pl.concat([out.select(contracts.columns), extra], how="horizontal")


def over_delivered(posts: pl.DataFrame, contracts: pl.DataFrame, tz: str = "UTC") -> list[dict[str, object]]:
    """The contracted keys (the account, and platform and campaign where they tie posts) whose
    posts inside any of the key's contract windows (each post once, as in delivery_rate) number
    more than 1.5 times the posts the key's contracts agreed (docs/kpis.md); open ends closed as
    `compute` closes them. Each: the key's values, ``posts``, ``agreed`` and the contracts' rows."""
    last = posts.select(pl.col("published_at").max()).item()
    contracts = close_open_ends(contracts, None if last is None else _day(last, tz))
    pcols, ccols = set(posts.columns), set(contracts.columns)
    key = ["account_id"] + [c for c in ("platform",) if c in pcols and c in ccols]
    if attribution(pcols, ccols) == "campaign":
        key.append("campaign")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _register_posts(con, posts, tz, None)
    _register_contracts(con, contracts, None)
    spons = sponsored_sql(posts.schema["sponsored"]) if "sponsored" in pcols else ""
    cols = ", ".join(key)
    delivered = con.sql(
        f"SELECT {cols}, count(*) AS posts FROM p WHERE EXISTS (SELECT 1 FROM c WHERE {_match(pcols, ccols, spons)}) "
        f"GROUP BY {cols}"
    ).pl()
    agreed = con.sql(
        f"SELECT {cols}, sum(posts_agreed)::DOUBLE AS agreed, list(__cid ORDER BY __cid) AS rows FROM c GROUP BY {cols}"
    ).pl()
    both = agreed.join(delivered, on=key, how="left").with_columns(pl.col("posts").fill_null(0))
    over = both.filter((pl.col("agreed") > 0) & (pl.col("posts") > 1.5 * pl.col("agreed")))
    return over.sort(pl.col("rows").list.first()).to_dicts()


def _day(t: dt.datetime, tz: str) -> dt.date:
    """The day of a naive-UTC (or aware) timestamp in the report's time zone."""
    from zoneinfo import ZoneInfo

    aware = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(ZoneInfo(tz)).date()
