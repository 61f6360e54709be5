"""make demo: the main job on the built-in sample (200 accounts, 6 platforms, one year)."""

from __future__ import annotations

import datetime as dt
import time

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

    print("\nEvery KPI is defined in the catalogue, e.g.:\n" + sk.explain("followers_start"))


if __name__ == "__main__":
    main()
