"""The account x month report of every core KPI, written the way a skilled analyst would write
it in each peer tool. Each function reads the Parquet files itself and returns a polars frame
(or pandas for pandas) so that the harness times the whole job, I/O included."""

from __future__ import annotations

from typing import Any

import polars as pl

KPIS = [
    "posts", "impressions", "reach", "frequency", "profile_visits", "followers", "followers_start",
    "follower_growth", "follower_growth_rate", "likes", "comments", "shares", "saves", "clicks",
    "engagements", "engagement_rate", "engagement_rate_impressions", "engagement_rate_followers",
    "avg_engagement_rate_per_post", "amplification_rate", "applause_rate", "conversation_rate",
    "virality_rate", "ctr",
]  # fmt: skip
FLOWS = [
    "impressions",
    "reach",
    "profile_visits",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "engagements",
]
METRICS = [
    "impressions",
    "reach",
    "likes",
    "reactions",
    "comments",
    "shares",
    "saves",
    "clicks",
    "profile_visits",
]


def run_socialkpi(posts: str, accounts: str) -> Any:
    import socialkpi as sk

    return sk.compute(posts, accounts, kpis=KPIS, by=["account_id"], every="1mo")


def run_floor(posts: str, accounts: str) -> Any:
    # one scan, one group-by at the output grain, the same columns summed
    month = pl.col("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    return (
        pl.scan_parquet(posts)
        .group_by("account_id", month)
        .agg(pl.len(), *[pl.col(c).sum() for c in METRICS])
        .collect(engine="streaming")
    )


def run_polars(posts: str, accounts: str) -> Any:
    c = pl.col
    like = pl.coalesce("likes", "reactions")
    parts = [like, c("comments"), c("shares"), c("saves")]
    eng = (
        pl.when(pl.all_horizontal(p.is_null() for p in parts)).then(None).otherwise(pl.sum_horizontal(parts))
    )
    snaps = (
        pl.scan_parquet(accounts)
        .select("account_id", "date", "followers")
        .filter(c("followers").is_not_null())
        .sort("date")
    )
    p = (
        pl.scan_parquet(posts)
        .with_columns(eng.alias("eng"), c("published_at").dt.date().alias("day"))
        .with_columns(c("day").dt.truncate("1mo").alias("period_start"))
        .sort("day")
        .join_asof(snaps, left_on="day", right_on="date", by="account_id", strategy="backward")
        .rename({"followers": "fap"})
    )

    def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        ok = num.is_not_null() & den.is_not_null()
        d = den.filter(ok).sum()
        return pl.when(d == 0).then(None).otherwise(num.filter(ok).sum() / d)

    def total(x: pl.Expr) -> pl.Expr:
        return pl.when(x.count() == 0).then(None).otherwise(x.sum())

    post_kpis = p.group_by("account_id", "period_start").agg(
        pl.len().alias("posts"),
        *[total(c(m)).alias(m) for m in FLOWS if m != "engagements"],
        total(c("eng")).alias("engagements"),
        ratio(c("impressions"), c("reach")).alias("frequency"),
        ratio(c("eng"), c("reach")).alias("engagement_rate"),
        ratio(c("eng"), c("impressions")).alias("engagement_rate_impressions"),
        ratio(c("eng"), c("fap")).alias("engagement_rate_followers"),
        (c("eng") / c("reach")).filter(c("reach") > 0).mean().alias("avg_engagement_rate_per_post"),
        ratio(c("shares"), c("fap")).alias("amplification_rate"),
        ratio(c("likes"), c("fap")).alias("applause_rate"),
        ratio(c("comments"), c("fap")).alias("conversation_rate"),
        ratio(c("shares"), c("impressions")).alias("virality_rate"),
        ratio(c("clicks"), c("impressions")).alias("ctr"),
    )
    per_account = (
        snaps.with_columns(c("date").dt.truncate("1mo").alias("period_start"))
        .group_by("account_id", "period_start")
        .agg(c("followers").last().alias("last"), c("followers").first().alias("first"))
        .sort("account_id", "period_start")
        .with_columns(c("last").shift(1).over("account_id").alias("prev"))
        .select(
            "account_id",
            "period_start",
            c("last").alias("followers"),
            pl.coalesce("prev", "first").alias("followers_start"),
        )
    )
    rows = (
        pl.scan_parquet(accounts)
        .select("account_id", c("date").dt.truncate("1mo").alias("period_start"))
        .unique()
    )
    acc = rows.join(per_account, on=["account_id", "period_start"], how="left").with_columns(
        (c("followers") - c("followers_start")).alias("follower_growth"),
        ((c("followers") - c("followers_start")) / c("followers_start")).alias("follower_growth_rate"),
    )
    out = post_kpis.join(acc, on=["account_id", "period_start"], how="full", coalesce=True)
    flows = ["posts", *FLOWS]
    out = out.with_columns(pl.when(c("posts").is_null()).then(0).otherwise(c(f)).alias(f) for f in flows)
    return out.select("account_id", "period_start", *KPIS).sort("account_id", "period_start").collect()


def run_duckdb(posts: str, accounts: str) -> Any:
    import duckdb

    con = duckdb.connect()
    eng = (
        "CASE WHEN coalesce(likes, reactions) IS NULL AND comments IS NULL AND shares IS NULL AND saves IS NULL "
        "THEN NULL ELSE coalesce(likes, reactions, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(saves, 0) END"
    )

    def ratio(n: str, d: str) -> str:
        ok = f"{n} IS NOT NULL AND {d} IS NOT NULL"
        return f"sum(CASE WHEN {ok} THEN {n} END)::DOUBLE / nullif(sum(CASE WHEN {ok} THEN {d} END), 0)"

    sql = f"""
    WITH p AS (
        SELECT *, {eng} AS eng, CAST(published_at AS DATE) AS day,
               CAST(date_trunc('month', published_at) AS DATE) AS period_start
        FROM read_parquet('{posts}')),
    s AS (SELECT account_id, date, followers FROM read_parquet('{accounts}') WHERE followers IS NOT NULL),
    pf AS (SELECT p.*, s.followers AS fap FROM p ASOF LEFT JOIN s ON p.account_id = s.account_id AND p.day >= s.date),
    pk AS (
        SELECT account_id, period_start, count(*) AS posts,
            sum(impressions) AS impressions, sum(reach) AS reach, sum(profile_visits) AS profile_visits,
            sum(likes) AS likes, sum(comments) AS comments, sum(shares) AS shares, sum(saves) AS saves,
            sum(clicks) AS clicks, sum(eng) AS engagements,
            {ratio("impressions", "reach")} AS frequency,
            {ratio("eng", "reach")} AS engagement_rate,
            {ratio("eng", "impressions")} AS engagement_rate_impressions,
            {ratio("eng", "fap")} AS engagement_rate_followers,
            avg(CASE WHEN reach > 0 THEN eng::DOUBLE / reach END) AS avg_engagement_rate_per_post,
            {ratio("shares", "fap")} AS amplification_rate,
            {ratio("likes", "fap")} AS applause_rate,
            {ratio("comments", "fap")} AS conversation_rate,
            {ratio("shares", "impressions")} AS virality_rate,
            {ratio("clicks", "impressions")} AS ctr
        FROM pf GROUP BY ALL),
    am AS (
        SELECT account_id, CAST(date_trunc('month', date) AS DATE) AS period_start,
               arg_max(followers, date) AS last_f, arg_min(followers, date) AS first_f
        FROM s GROUP BY ALL),
    ak AS (
        SELECT account_id, period_start, last_f AS followers,
               coalesce(lag(last_f) OVER (PARTITION BY account_id ORDER BY period_start), first_f) AS followers_start
        FROM am),
    ar AS (SELECT DISTINCT account_id, CAST(date_trunc('month', date) AS DATE) AS period_start FROM read_parquet('{accounts}')),
    a AS (SELECT ar.*, ak.followers, ak.followers_start FROM ar LEFT JOIN ak USING (account_id, period_start))
    SELECT account_id, period_start, coalesce(pk.posts, 0) AS posts,
           pk.* EXCLUDE (account_id, period_start, posts, impressions, reach, profile_visits, likes, comments, shares,
                         saves, clicks, engagements),
           {", ".join(f"CASE WHEN pk.posts IS NULL THEN 0 ELSE pk.{f} END AS {f}" for f in FLOWS)},
           a.* EXCLUDE (account_id, period_start),
           a.followers - a.followers_start AS follower_growth,
           (a.followers - a.followers_start) / nullif(a.followers_start, 0) AS follower_growth_rate
    FROM pk FULL JOIN a USING (account_id, period_start) ORDER BY ALL
    """
    return con.sql(sql).pl()


def run_pandas(posts: str, accounts: str) -> Any:
    import numpy as np
    import pandas as pd

    p = pd.read_parquet(posts, columns=["account_id", "published_at", *METRICS])
    a = pd.read_parquet(accounts, columns=["account_id", "date", "followers"])
    like = p["likes"].fillna(p["reactions"])
    parts = pd.concat([like, p["comments"], p["shares"], p["saves"]], axis=1)
    p["eng"] = parts.sum(axis=1, min_count=1)
    p["day"] = p["published_at"].dt.normalize()
    p["period_start"] = p["published_at"].dt.to_period("M").dt.start_time
    s = a.dropna(subset=["followers"]).copy()
    s["date"] = pd.to_datetime(s["date"]).astype("datetime64[us]")
    p["day"] = p["day"].astype("datetime64[us]")
    p = pd.merge_asof(
        p.sort_values("day"), s.sort_values("date"), left_on="day", right_on="date", by="account_id"
    )
    p = p.rename(columns={"followers": "fap"})
    for n, d, name in [("impressions", "reach", "frequency"), ("eng", "reach", "engagement_rate"),
                       ("eng", "impressions", "engagement_rate_impressions"), ("eng", "fap", "engagement_rate_followers"),
                       ("shares", "fap", "amplification_rate"), ("likes", "fap", "applause_rate"),
                       ("comments", "fap", "conversation_rate"), ("shares", "impressions", "virality_rate"),
                       ("clicks", "impressions", "ctr")]:  # fmt: skip
        ok = p[n].notna() & p[d].notna()
        p[f"{name}__n"] = p[n].where(ok)
        p[f"{name}__d"] = p[d].where(ok)
    p["ape"] = (p["eng"] / p["reach"]).where(p["reach"] > 0)
    g = p.groupby(["account_id", "period_start"])
    out = g.agg(posts=("eng", "size"), avg_engagement_rate_per_post=("ape", "mean"))
    for m in FLOWS:
        out[m] = g[m if m != "engagements" else "eng"].sum(min_count=1)
    for name in ["frequency", "engagement_rate", "engagement_rate_impressions", "engagement_rate_followers",
                 "amplification_rate", "applause_rate", "conversation_rate", "virality_rate", "ctr"]:  # fmt: skip
        den = g[f"{name}__d"].sum()
        out[name] = g[f"{name}__n"].sum() / den.replace(0, np.nan)
    s["period_start"] = s["date"].dt.to_period("M").dt.start_time
    s = s.sort_values(["account_id", "date"])
    am = s.groupby(["account_id", "period_start"]).agg(
        followers=("followers", "last"), first=("followers", "first")
    )
    am["prev"] = am.groupby(level=0)["followers"].shift(1)
    am["followers_start"] = am["prev"].fillna(am["first"])
    am["follower_growth"] = am["followers"] - am["followers_start"]
    am["follower_growth_rate"] = am["follower_growth"] / am["followers_start"].replace(0, np.nan)
    out = out.join(
        am[["followers", "followers_start", "follower_growth", "follower_growth_rate"]], how="outer"
    )
    no_posts = out["posts"].isna()
    for f in ["posts", *FLOWS]:
        out.loc[no_posts, f] = 0
    return out.reset_index()[["account_id", "period_start", *KPIS]]


TOOLS = {
    "floor": run_floor,
    "socialkpi": run_socialkpi,
    "polars": run_polars,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}
