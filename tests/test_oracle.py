"""Cell-by-cell comparison with an independent DuckDB implementation of docs/kpis.md."""

from __future__ import annotations

import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from polars.testing import assert_frame_equal

POST_KPIS = [
    "posts", "impressions", "reach", "frequency", "profile_visits", "likes", "comments", "shares",
    "saves", "clicks", "engagements", "engagement_rate", "engagement_rate_impressions",
    "avg_engagement_rate_per_post", "virality_rate", "ctr",
]  # fmt: skip
FAP_KPIS = ["engagement_rate_followers", "amplification_rate", "applause_rate", "conversation_rate"]
ACCOUNT_KPIS = ["followers", "followers_start", "follower_growth", "follower_growth_rate"]


def check(engine: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert engine.columns == expected.columns
    assert_frame_equal(engine, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("every", [None, "1d", "1w", "1mo", "1q", "1y"])
@pytest.mark.parametrize(
    "by", [[], ["account_id"], ["platform"], ["content_type"], ["platform", "content_type"]]
)
def test_post_kpis_match_oracle(tables, by, every):
    posts, _ = tables
    got = sk.compute(posts, kpis=POST_KPIS, by=by, every=every)
    check(got, oracle(posts, None, POST_KPIS, by, every))


@pytest.mark.parametrize("every", [None, "1w", "1mo", "1q"])
@pytest.mark.parametrize("by", [[], ["account_id"], ["platform"], ["content_type"]])
def test_followers_at_post_match_oracle(tables, by, every):
    posts, accounts = tables
    got = sk.compute(posts, accounts, kpis=FAP_KPIS + ["posts"], by=by, every=every)
    check(got, oracle(posts, accounts, FAP_KPIS + ["posts"], by, every))


@pytest.mark.parametrize("every", [None, "1d", "1w", "1mo", "1q", "1y"])
@pytest.mark.parametrize("by", [[], ["account_id"], ["platform"], ["account_id", "platform"]])
def test_account_and_post_kpis_match_oracle(tables, by, every):
    posts, accounts = tables
    kpis = ["posts", "likes", "engagement_rate", *ACCOUNT_KPIS, "engagement_rate_followers"]
    got = sk.compute(posts, accounts, kpis=kpis, by=by, every=every)
    check(got, oracle(posts, accounts, kpis, by, every))


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("every", ["1d", "1w", "1mo"])
def test_time_zone_moves_posts_between_periods(tables, tz, every):
    posts, accounts = tables
    kpis = ["posts", "engagements", "engagement_rate", "engagement_rate_followers"]
    got = sk.compute(posts, accounts, kpis=kpis, by=["platform"], every=every, tz=tz)
    check(got, oracle(posts, accounts, kpis, ["platform"], every, tz))
    utc = sk.compute(posts, kpis=["posts"], by=["platform"], every="1d")
    assert not got.select("platform", "period_start", "posts").equals(utc)
