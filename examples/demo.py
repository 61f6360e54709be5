"""make demo: the main job on the built-in sample (200 accounts, 6 platforms, one year)."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import polars as pl
import socialkpi as sk


def main() -> None:
    posts, accounts = sk.datasets.sample(n_accounts=200, n_posts=60_000, seed=2026)
    print(
        f"Sample: {posts.height:,} posts from {posts['account_id'].n_unique()} accounts on "
        f"{posts['platform'].n_unique()} platforms, {accounts.height:,} daily follower snapshots\n"
    )
    pl.Config.set_tbl_rows(12)
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(170)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    pl.Config.set_float_precision(4)
    pl.Config.set_thousands_separator(",")

    t = time.perf_counter()
    res = sk.compute_details(
        posts,
        accounts,
        kpis=[
            "posts",
            "reach",
            "engagement_rate",
            "engagement_rate_followers",
            "followers",
            "follower_growth_rate",
            "ctr",
        ],  # fmt: skip
        by=["platform"],
        every="1q",
    )
    print(f"Awareness and engagement by platform and quarter ({time.perf_counter() - t:.2f} s)")
    print(res.frame)
    print(
        f"engagements = {' + '.join(res.engagement_components)} ('likes|reactions': reactions where likes are not reported)\n"
    )

    print("Top 10 accounts by engagement rate (engagements / reach) over the year")
    year = sk.compute(posts, accounts, kpis=["posts", "reach", "engagement_rate", "followers", "follower_growth_rate"],
                      by=["account_id", "platform"])  # fmt: skip
    print(
        year.filter(pl.col("posts") >= 100).sort("engagement_rate", descending=True, nulls_last=True).head(10)
    )

    print("\nContent types, by the ratio of sums and by the mean of per-post ratios (two different KPIs)")
    print(
        sk.compute(
            posts,
            kpis=["posts", "engagement_rate", "avg_engagement_rate_per_post", "virality_rate"],
            by=["content_type"],
        )  # fmt: skip
    )
    print("\nThe funnel by platform and quarter: traffic, leads, sales and what they cost")
    traffic, conversions, contracts = sk.datasets.funnel(posts, seed=2026)
    t = time.perf_counter()
    funnel = sk.compute_details(
        posts,
        traffic=traffic,
        conversions=conversions,
        contracts=contracts,
        kpis=["referral_traffic", "leads", "conversions", "revenue", "cost", "cpa", "roas", "delivery_rate"],
        by=["platform"],
        every="1q",
    )
    print(f"({time.perf_counter() - t:.2f} s; counted from: {funnel.origins})")
    print(funnel.frame.filter(pl.col("period_start") == pl.date(2025, 4, 1)))
    print(f"warnings: {funnel.warnings}")

    print("\nRunning contracts furthest behind on their deliverables at mid-year")
    mid = dt.date(2025, 6, 30)
    status = sk.contract_status(posts, contracts, as_of=mid)
    running = status.filter((pl.col("start") <= mid) & (pl.col("end") > mid))
    print(running.sort("remaining", "days_left", descending=[True, False]).head(5))

    read_exports()
    formulas(posts, accounts)

    print("\nEvery KPI is defined in the catalogue, e.g.:\n" + sk.explain("followers_start"))


def formulas(posts: pl.DataFrame, accounts: pl.DataFrame) -> None:
    """KPIs of one's own, and the engagement rate as four analytics vendors publish it."""
    print("\nKPIs as formulas: our own, next to the built-in engagement rate")
    own = [
        sk.KPI("er_with_clicks", "(eng + clicks) / impressions"),  # LinkedIn counts clicks
        sk.KPI("sponsored_share", "sum(eng where sponsored) / eng"),
        sk.KPI("video_er_per_post", "per_post(eng / reach where content_type == 'video')"),
    ]
    print(sk.compute(posts, kpis=["engagement_rate", *own], by=["platform"]))
    print("\nThe same posts' engagement rate (%) as each vendor defines it")
    rates = sk.compute(posts, accounts, kpis=["engagement_rate"], by=["platform"]).rename(
        {"engagement_rate": "socialkpi"}
    )
    for vendor in sk.vendor_presets():
        theirs = sk.compute(posts, accounts, kpis=["engagement_rate"], by=["platform"], definitions=vendor)
        rates = rates.join(theirs.rename({"engagement_rate": vendor}), on="platform")
    print(rates.with_columns(pl.col("socialkpi") * 100))
    print(sk.explain("engagement_rate", definitions="hypeauditor"))


# Two monthly Instagram exports from Meta Business Suite (UTF-8 with a byte-order mark, columns
# in another order each month, humanised counts); the same posts appear in both with their
# lifetime numbers so far.
AUGUST = """Post ID,Account ID,Account username,Publish time,Post type,Impressions,Reach,Likes,Comments,Shares,Saves,Exported
1790001,17841400,acme.shop,08/03/2026 18:02,IG carousel,"12,408",9.1K,812,41,-,77,2026-08-31
1790002,17841400,acme.shop,08/19/2026 09:15,IG reel,48.2K,31.7K,2.4K,133,208,390,2026-08-31
"""
SEPTEMBER = """Post ID,Publish time,Account ID,Post type,Reach,Impressions,Likes,Comments,Shares,Saves,Follows,Exported
1790001,08/03/2026 18:02,17841400,IG carousel,9.4K,"12,950",840,43,5,80,2,2026-09-30
1790002,08/19/2026 09:15,17841400,IG reel,35.0K,53.9K,2.7K,151,231,455,19,2026-09-30
1790003,09/07/2026 12:30,17841400,IG image,4.2K,5.1K,undefined,12,1,30,0,2026-09-30
Total,,,,,,,,,,,
"""


def read_exports() -> None:
    print("\nReading two monthly Meta Business Suite exports (sk.read_posts, preset detected)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("ig-2026-08.csv", AUGUST), ("ig-2026-09.csv", SEPTEMBER)):
            Path(tmp, name).write_text("\ufeff" + text, encoding="utf-8")
        posts = sk.read_posts(str(Path(tmp, "ig-*.csv")), snapshot="Exported")
    print(
        posts.select(
            "post_id", "platform", "published_at", "reach", "impressions", "likes", "shares", "follows"
        )
    )
    report = sk.read_report(posts)
    assert report is not None
    print(
        f"preset {report.preset}: {report.rows_read} rows read, {report.rows_kept} kept, "
        f"dropped {report.rows_dropped}, cells nulled {report.cells_nulled}"
    )
    print(sk.compute(posts, kpis=["posts", "reach", "engagement_rate"], by=["platform"]))


if __name__ == "__main__":
    main()
