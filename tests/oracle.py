"""An independent oracle: the KPI contract (docs/kpis.md) written directly in DuckDB SQL.

Nothing here calls socialkpi; it reads plain pandas/polars tables and answers the same
questions row by row in SQL so that the engine's output can be compared cell by cell.
"""

from __future__ import annotations

import duckdb
import polars as pl

TRUNC = {"1d": "day", "1w": "week", "1mo": "month", "1q": "quarter", "1y": "year"}
POST_SUMS = ["impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "profile_visits"]
ACCOUNT_KPIS = {"followers", "followers_start", "follower_growth", "follower_growth_rate"}


def period_sql(every: str, day: str, week_start: int = 0, fiscal_year_start: int = 1) -> str:
    """The first day of the period of ``every`` holding the date ``day``, in the calendar of
    docs/time.md: weeks from ``week_start`` (0 Monday ... 6 Sunday), quarters and years from
    the month ``fiscal_year_start`` (the fiscal months moved back to January, truncated there
    and moved forward again)."""
    if every == "1w":
        return f"CAST({day} - ((isodow({day}) - 1 - {week_start} + 7) % 7) * INTERVAL 1 DAY AS DATE)"
    if every in ("1q", "1y") and fiscal_year_start != 1:
        shift = f"INTERVAL {fiscal_year_start - 1} MONTH"
        return f"CAST(date_trunc('{TRUNC[every]}', {day} - {shift}) + {shift} AS DATE)"
    return f"CAST(date_trunc('{TRUNC[every]}', {day}) AS DATE)"


def _ratio(num: str, den: str) -> str:
    both = f"{num} IS NOT NULL AND {den} IS NOT NULL"
    return (
        f"sum(CASE WHEN {both} THEN {num} END)::DOUBLE"
        f" / nullif(sum(CASE WHEN {both} THEN {den} END), 0)::DOUBLE"
    )


def oracle(
    posts: pl.DataFrame,
    accounts: pl.DataFrame | None,
    kpis: list[str],
    by: list[str],
    every: str | None,
    tz: str = "UTC",
    max_staleness: int | None = 7,
    week_start: int = 0,
    fiscal_year_start: int = 1,
) -> pl.DataFrame:
    """The KPIs per group and period. Followers-at-post is the account's last non-null snapshot
    on or before the post's day, when it is at most ``max_staleness`` days old (rule 8; None:
    any age); posts without one are left out of the followers-at-post ratios."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("raw_posts", posts.to_arrow())
    cols = set(posts.columns)
    like = (
        "coalesce(likes, reactions)"
        if {"likes", "reactions"} <= cols
        else ("likes" if "likes" in cols else "reactions")
    )
    comps = [like] + [c for c in ("comments", "shares", "saves") if c in cols]
    eng = (
        f"CASE WHEN {' AND '.join(f'{c} IS NULL' for c in comps)} THEN NULL "
        f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in comps)} END"
    )
    day = f"CAST(timezone('{tz}', published_at::TIMESTAMP AT TIME ZONE 'UTC') AS DATE)"
    period = period_sql(every, "day", week_start, fiscal_year_start) if every else "NULL::DATE"
    con.execute(
        f"CREATE VIEW p AS SELECT *, {eng} AS eng, {period} AS period_start "
        f"FROM (SELECT *, {day} AS day FROM raw_posts)"
    )
    keys = list(by) + (["period_start"] if every else [])
    key_sql = ", ".join(keys) if keys else "1"

    account_kpis = [k for k in kpis if k in ACCOUNT_KPIS]
    fap_kpis = {
        "engagement_rate_followers": "eng",
        "amplification_rate": "shares",
        "applause_rate": "likes",
        "conversation_rate": "comments",
    }
    if accounts is not None:
        con.register("raw_accounts", accounts.to_arrow())
        acc_period = period_sql(every, "date", week_start, fiscal_year_start) if every else "NULL::DATE"
        con.execute(f"CREATE VIEW a AS SELECT *, {acc_period} AS period_start FROM raw_accounts")
        # followers-at-post: the account's last non-null snapshot on or before the post's day
        fresh = "TRUE" if max_staleness is None else f"p.day - s.date <= {int(max_staleness)}"
        con.execute(
            f"CREATE VIEW pf AS SELECT p.*, CASE WHEN {fresh} THEN s.followers END AS fap FROM p ASOF LEFT JOIN "
            "(SELECT account_id, date, followers FROM a WHERE followers IS NOT NULL) s "
            "ON p.account_id = s.account_id AND p.day >= s.date"
        )

    post_exprs = {
        "posts": "count(*)",
        "engagements": "sum(eng)",
        "frequency": _ratio("impressions", "reach"),
        "engagement_rate": _ratio("eng", "reach"),
        "engagement_rate_impressions": _ratio("eng", "impressions"),
        "virality_rate": _ratio("shares", "impressions"),
        "ctr": _ratio("clicks", "impressions"),
        "avg_engagement_rate_per_post": "avg(CASE WHEN reach > 0 AND eng IS NOT NULL THEN eng::DOUBLE / reach END)",
    }
    for c in POST_SUMS:
        post_exprs[c] = f"sum({c})"
    for k, num in fap_kpis.items():
        post_exprs[k] = _ratio(num, "fap")
    wanted_post = [k for k in kpis if k in post_exprs]
    source = "pf" if any(k in fap_kpis for k in kpis) else "p"
    select = ", ".join([*keys, *(f"{post_exprs[k]} AS {k}" for k in wanted_post)]) or "1"
    group = f"GROUP BY {key_sql}" if keys else ""
    posts_q = f"SELECT {select}, count(*) AS __n FROM {source} {group}"

    if account_kpis:
        acc_keys = ", ".join(["account_id", *[k for k in keys if k != "account_id"]])
        # per account and period: last and first snapshot; the start is the last before the period
        per_account = f"""
            SELECT {acc_keys},
                   arg_max(followers, date) AS last_f,
                   arg_min(followers, date) AS first_f,
                   min(date) AS first_date
            FROM a WHERE followers IS NOT NULL GROUP BY {acc_keys}"""
        before = (
            "(SELECT arg_max(b.followers, b.date) FROM a b WHERE b.account_id = x.account_id "
            "AND b.followers IS NOT NULL AND b.date < x.period_start)"
            if every
            else "NULL"
        )
        followers_q = f"""
            SELECT {key_sql if keys else "1 AS __one"}{"," if keys else ","}
                   sum(last_f) AS followers,
                   sum(coalesce({before}, first_f)) AS followers_start
            FROM ({per_account}) x {group}"""
        rows_q = f"SELECT DISTINCT {key_sql if keys else '1 AS __one'} FROM a"
        keys_or_one = keys if keys else ["__one"]
        on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM f.{k}" for k in keys_or_one)
        acc_q = f"SELECT r.*, f.followers, f.followers_start FROM ({rows_q}) r LEFT JOIN ({followers_q}) f ON {on}"
        if keys:
            on_p = " AND ".join(f"ac.{k} IS NOT DISTINCT FROM ps.{k}" for k in keys)
            key_cols = ", ".join(f"coalesce(ps.{k}, ac.{k}) AS {k}" for k in keys)
            q = f"SELECT {key_cols}, ps.* EXCLUDE ({', '.join(keys)}), ac.followers, ac.followers_start FROM ({posts_q}) ps FULL JOIN ({acc_q}) ac ON {on_p}"
        else:
            q = f"SELECT ps.*, ac.followers, ac.followers_start FROM ({posts_q}) ps FULL JOIN ({acc_q}) ac ON true"
    else:
        q = posts_q
    out = con.sql(q).pl()
    if "__n" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Int64).alias("__n"))
    flows = [k for k in wanted_post if k in POST_SUMS or k in ("posts", "engagements")]
    exprs = []
    for k in kpis:
        if k in flows:
            exprs.append(
                pl.when(pl.col("__n").fill_null(0) == 0).then(0).otherwise(pl.col(k)).cast(pl.Int64).alias(k)
            )
        elif k == "follower_growth":
            exprs.append((pl.col("followers") - pl.col("followers_start")).cast(pl.Int64).alias(k))
        elif k == "follower_growth_rate":
            # DuckDB's sum() is a HUGEINT (a Decimal in polars): divide as floats
            start = pl.col("followers_start").cast(pl.Float64)
            g = pl.col("followers").cast(pl.Float64) - start
            exprs.append(pl.when(start == 0).then(None).otherwise(g / start).alias(k))
        elif k in ("followers", "followers_start"):
            exprs.append(pl.col(k).cast(pl.Int64))
        else:
            exprs.append(pl.col(k))
    result = out.select(*keys, *exprs)
    if not keys and result.height:
        result = result.head(1)
    return result.sort(keys, nulls_last=True) if keys else result
