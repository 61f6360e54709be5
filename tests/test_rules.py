"""The rules of docs/kpis.md on small tables whose answers are worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import socialkpi as sk


def ts(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day) + dt.timedelta(hours=hour)


@pytest.fixture
def posts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d", "e"],
            "account_id": ["x", "x", "x", "y", "y"],
            "platform": ["instagram", "instagram", "instagram", "facebook", "facebook"],
            "published_at": [
                ts("2026-01-03"),
                ts("2026-01-20"),
                ts("2026-02-02"),
                ts("2026-01-05"),
                ts("2026-02-10"),
            ],
            "impressions": [200, 100, None, 80, 0],
            "reach": [100, 0, 50, None, 0],
            "likes": [10, 5, None, None, None],
            "reactions": [None, None, None, 7, 3],
            "comments": [2, None, None, 1, None],
            "shares": [1, None, None, None, None],
        }
    )


@pytest.fixture
def accounts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": ["x", "x", "x", "x", "y", "y", "z"],
            "platform": ["instagram"] * 4 + ["facebook"] * 2 + ["tiktok"],
            "date": [dt.date(2025, 12, 30), dt.date(2026, 1, 15), dt.date(2026, 1, 31), dt.date(2026, 2, 14),
                     dt.date(2026, 1, 10), dt.date(2026, 2, 1), dt.date(2026, 1, 1)],
            "followers": [1000, 1100, 1200, 1300, 500, None, 70],
        }
    )  # fmt: skip


def test_ratios_are_ratios_of_sums_and_null_is_not_zero(posts):
    out = sk.compute(posts, kpis=["engagements", "reach", "engagement_rate", "frequency"], by=["account_id"])
    x = out.row(0, named=True)
    # eng: a=13, b=5 (comments null counts 0), c=null (all components null)
    assert x["engagements"] == 18
    assert x["reach"] == 150
    # Σ eng / Σ reach over posts where both are present: (13 + 5) / (100 + 0)
    assert x["engagement_rate"] == pytest.approx(18 / 100)
    # impressions and reach both present only for a and b
    assert x["frequency"] == pytest.approx(300 / 100)
    y = out.row(1, named=True)
    # reactions stand in for likes on facebook: d = 7 + 1, e = 3
    assert y["engagements"] == 11
    # reach is null for d and 0 for e: a zero denominator gives null
    assert y["engagement_rate"] is None and y["frequency"] is None


def test_all_null_sum_is_null_but_no_rows_is_zero(posts):
    out = sk.compute(posts, kpis=["posts", "shares", "likes"], by=["account_id"], every="1mo")
    rows = {(r["account_id"], r["period_start"].month): r for r in out.iter_rows(named=True)}
    assert rows[("x", 2)]["likes"] is None  # one post, likes not reported
    assert rows[("y", 1)]["shares"] is None
    assert rows[("x", 1)]["shares"] == 1
    acc = pl.DataFrame({"account_id": ["q"], "date": [dt.date(2026, 3, 1)], "followers": [5]})
    out = sk.compute(
        posts.drop("platform"), acc, kpis=["posts", "likes", "followers"], by=["account_id"], every="1mo"
    )
    q = out.filter(pl.col("account_id") == "q").row(0, named=True)
    assert q["posts"] == 0 and q["likes"] == 0 and q["followers"] == 5


def test_avg_engagement_rate_per_post_is_a_mean_of_ratios(posts):
    out = sk.compute(posts, kpis=["avg_engagement_rate_per_post", "engagement_rate"])
    # only post a has reach > 0 and engagements: 13 / 100
    assert out.item(0, "avg_engagement_rate_per_post") == pytest.approx(0.13)


def test_followers_are_semi_additive(posts, accounts):
    out = sk.compute(posts, accounts, kpis=["followers", "followers_start", "follower_growth", "follower_growth_rate"],
                     by=["platform"], every="1mo")  # fmt: skip
    got = {(r["platform"], str(r["period_start"])): r for r in out.iter_rows(named=True)}
    ig_jan = got[("instagram", "2026-01-01")]
    # last snapshot in January (31st), start = last snapshot before January (Dec 30)
    assert (ig_jan["followers"], ig_jan["followers_start"], ig_jan["follower_growth"]) == (1200, 1000, 200)
    assert ig_jan["follower_growth_rate"] == pytest.approx(0.2)
    assert got[("instagram", "2026-02-01")]["followers_start"] == 1200
    # facebook: February's only snapshot is null, so no account has a value there
    assert got[("facebook", "2026-02-01")]["followers"] is None
    # December: the first period of instagram starts from its first snapshot
    assert got[("instagram", "2025-12-01")]["followers_start"] == 1000
    whole = sk.compute(posts, accounts, kpis=["followers", "followers_start"])
    # every=None: last snapshot per account summed (1300 + 500 + 70), start = first snapshots
    assert whole.row(0) == (1870, 1000 + 500 + 70)


def test_followers_at_post_uses_the_last_snapshot_on_or_before_the_day(posts, accounts):
    kpis = ["engagement_rate_followers", "applause_rate"]
    out = sk.compute(posts, accounts, kpis=kpis, by=["account_id"], max_staleness=None)
    x = out.row(0, named=True)
    # a (Jan 3) -> 1000, b (Jan 20) -> 1100, c (Feb 2) -> 1200; eng 13, 5, null
    assert x["engagement_rate_followers"] == pytest.approx((13 + 5) / (1000 + 1100))
    assert x["applause_rate"] == pytest.approx((10 + 5) / (1000 + 1100))
    # y: d (Jan 5) is before the first snapshot (Jan 10) and is left out; e (Feb 10) -> 500
    y = out.row(1, named=True)
    assert y["engagement_rate_followers"] == pytest.approx(3 / 500)
    # by default a snapshot is read up to 7 days after its day (rule 8): y's of Jan 10 is 31 days
    # old on Feb 10, so y has no followers-at-post; x's a and b read snapshots 4 and 5 days old
    fresh = sk.compute(posts, accounts, kpis=kpis, by=["account_id"])
    assert fresh.row(0) == out.row(0)
    assert fresh.row(1, named=True)["engagement_rate_followers"] is None


def test_result_says_which_components_were_used(posts):
    res = sk.compute_details(posts.drop("shares"), kpis=["engagements"])
    assert res.engagement_components == ["likes|reactions", "comments"]
    assert res.rows_read == {"posts": 5}


def test_weeks_start_on_monday_and_quarters_on_the_quarter(posts):
    week = sk.compute(posts, kpis=["posts"], every="1w")
    assert all(d.weekday() == 0 for d in week["period_start"])
    q = sk.compute(posts, kpis=["posts"], every="1q")
    assert q["period_start"].to_list() == [dt.date(2026, 1, 1)]
    assert q["posts"].to_list() == [5]


def test_dedupe_last_keeps_the_latest_row(posts):
    again = posts.head(1).with_columns(pl.lit(999, pl.Int64).alias("impressions"))
    res = sk.compute_details(pl.concat([posts, again]), kpis=["posts", "impressions"], dedupe="last")
    assert res.frame.row(0) == (5, 999 + 100 + 80 + 0)
    assert res.rows_dropped == [("posts", "duplicate post_id (dedupe='last' kept the last row)", 1)]


def test_missing_published_at_is_counted(posts):
    broken = posts.with_columns(
        pl.when(pl.col("post_id") == "a").then(None).otherwise(pl.col("published_at")).alias("published_at")
    )
    res = sk.compute_details(broken, kpis=["posts"], every="1mo")
    assert res.frame["posts"].sum() == 4
    assert res.rows_dropped == [("posts", "missing published_at", 1)]


def test_account_attributes_group_posts(posts, accounts):
    acc = accounts.with_columns(
        pl.when(pl.col("account_id") == "x").then(pl.lit("mid")).otherwise(pl.lit("nano")).alias("tier")
    )
    out = sk.compute(posts, acc, kpis=["posts", "followers"], by=["tier"])
    assert out.rows() == [("mid", 3, 1300), ("nano", 2, 570)]


def test_account_attribute_alone_brings_accounts_in(posts, accounts):
    acc = accounts.with_columns(pl.lit("gold").alias("tier"))
    out = sk.compute(posts, acc, kpis=["posts", "likes"], by=["tier"])
    assert out.rows() == [("gold", 5, 15)]


def test_missing_published_at_with_one_period_still_counts(posts, accounts):
    broken = posts.with_columns(
        pl.when(pl.col("post_id") == "e").then(None).otherwise(pl.col("published_at")).alias("published_at")
    )
    out = sk.compute(broken, accounts, kpis=["posts", "engagement_rate_followers"], by=["account_id"])
    # e keeps counting as a post; without a day it has no followers-at-post (d has none either)
    assert out.row(1) == ("y", 2, None)


def test_posts_without_id_are_not_repeats(posts):
    no_ids = posts.with_columns(pl.lit(None, pl.String).alias("post_id"))
    assert sk.compute(no_ids, kpis=["posts"]).item() == 5
    assert sk.compute(no_ids, kpis=["posts"], dedupe="last").item() == 5


def test_ids_typed_differently_in_the_two_tables_still_meet(posts, accounts):
    num_posts = posts.with_columns(pl.col("account_id").replace_strict({"x": 1, "y": 2}).alias("account_id"))
    num_acc = accounts.with_columns(pl.col("account_id").replace_strict({"x": "1", "y": "2", "z": "3"}))
    kpis = ["posts", "engagement_rate_followers", "followers"]
    got = sk.compute(num_posts.drop("platform"), num_acc.drop("platform").with_columns(pl.lit("t").alias("tier")),
                     kpis=kpis, by=["tier"])  # fmt: skip
    want = sk.compute(posts.drop("platform"), accounts.drop("platform").with_columns(pl.lit("t").alias("tier")),
                      kpis=kpis, by=["tier"])  # fmt: skip
    assert got.rows() == want.rows()


def test_posts_without_a_snapshot_are_reported(posts, accounts):
    res = sk.compute_details(posts, accounts, kpis=["engagement_rate_followers"])
    # d (Jan 5) is before y's first snapshot
    assert (
        "posts",
        "no follower snapshot on or before the post's day (left out of followers-at-post KPIs only)",
        1,
    ) in res.rows_dropped
