"""Cases found in review: keys that do not fit Int64, contracts matched by platform, money in two
currencies across tables, posts grouped by a column no posts table has, repeated posts in
contract_status, unparseable timestamps, GA4's "source / medium"."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import socialkpi as sk

T = dt.datetime
D = dt.date


def test_uint64_account_ids_past_int64_stay_apart():
    big = 2**64 - 1
    posts = pl.DataFrame(
        {
            "account_id": pl.Series([big, big - 1, 5], dtype=pl.UInt64),
            "published_at": [T(2026, 1, 1)] * 3,
            "likes": [1, 2, 4],
        }
    )
    out = sk.compute(posts, kpis=["posts", "likes"], by=["account_id"])
    assert out.rows() == [(5, 1, 4), (big - 1, 1, 2), (big, 1, 1)]
    assert out["account_id"].dtype == pl.UInt64


def test_contracts_and_posts_match_on_platform_when_both_have_it():
    contracts = pl.DataFrame(
        {
            "account_id": ["nike"],
            "platform": ["instagram"],
            "start": [D(2026, 1, 1)],
            "end": [D(2026, 1, 31)],
            "posts_agreed": [2],
            "fee": [100.0],
        }
    )
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "account_id": ["nike"] * 4,
            "platform": ["instagram", "tiktok", "tiktok", "tiktok"],
            "published_at": [T(2026, 1, 5)] * 4,
        }
    )
    out = sk.compute(posts, contracts=contracts, kpis=["delivery_rate"], by=["account_id"])
    assert out["delivery_rate"].to_list() == [0.5]
    status = sk.contract_status(posts, contracts, as_of=D(2026, 2, 1))
    assert status["delivered"].to_list() == [1]


def test_spend_and_fees_in_two_currencies_are_an_error():
    posts = pl.DataFrame(
        {
            "post_id": ["a"],
            "account_id": ["x"],
            "published_at": [T(2026, 1, 5)],
            "spend": [5.0],
            "currency": ["USD"],
        }
    )
    contracts = pl.DataFrame(
        {
            "account_id": ["x"],
            "start": [D(2026, 1, 1)],
            "end": [D(2026, 1, 31)],
            "posts_agreed": [1],
            "fee": [100.0],
            "currency": ["EUR"],
        }
    )
    with pytest.raises(sk.InputError) as err:
        sk.compute(posts, contracts=contracts, kpis=["cost"])
    assert err.value.code == "mixed_currency"
    assert "EUR" in str(err.value) and "USD" in str(err.value)
    same = contracts.with_columns(pl.lit("USD").alias("currency"))
    assert sk.compute(posts, contracts=same, kpis=["cost"])["cost"].to_list() == [105.0]


def test_posts_grouped_by_a_column_only_another_table_has_is_a_clear_error():
    posts = pl.DataFrame({"post_id": ["a"], "account_id": ["x"], "impressions": [10], "spend": [1.0]})
    contracts = pl.DataFrame(
        {
            "account_id": ["x"],
            "campaign": ["c"],
            "start": [D(2026, 1, 1)],
            "end": [D(2026, 1, 31)],
            "posts_agreed": [1],
            "fee": [100.0],
        }
    )
    with pytest.raises(sk.QueryError) as err:
        sk.compute(posts, contracts=contracts, kpis=["cpm"], by=["campaign"])
    assert err.value.code == "dimension_not_in_table"
    assert "campaign" in str(err.value)


def test_contract_status_refuses_repeated_posts():
    contracts = pl.DataFrame(
        {
            "account_id": ["x"],
            "start": [D(2026, 1, 1)],
            "end": [D(2026, 1, 31)],
            "posts_agreed": [3],
            "fee": [90.0],
        }
    )
    posts = pl.DataFrame(
        {"post_id": ["p1", "p1"], "account_id": ["x", "x"], "published_at": [T(2026, 1, 5), T(2026, 1, 6)]}
    )
    with pytest.raises(sk.InputError) as err:
        sk.contract_status(posts, contracts, as_of=D(2026, 2, 1))
    assert err.value.code == "duplicate_post_id"


def test_unparseable_timestamps_are_dropped_and_counted():
    events = pl.DataFrame(
        {"timestamp": ["2026-01-05 10:00:00", "n/a"], "kind": ["sale", "sale"], "account_id": ["x", "x"]}
    )
    res = sk.compute_details(conversions=events, kpis=["conversions"], by=["account_id"])
    assert res.frame["conversions"].to_list() == [1]
    assert ("conversions", "unparseable timestamp", 1) in res.rows_dropped
    posts = pl.DataFrame(
        {"post_id": ["a", "b"], "published_at": ["2026-01-05 10:00:00", "soon"], "likes": [1, 2]}
    )
    res = sk.compute_details(posts, kpis=["likes"], every="1mo")
    assert res.frame["likes"].to_list() == [1]
    assert any(reason == "missing published_at" and n == 1 for _, reason, n in res.rows_dropped)


def test_ga4_source_medium_values_match_their_platform():
    traffic = pl.DataFrame(
        {
            "date": [D(2026, 1, 1)] * 2,
            "source": ["l.instagram.com / referral", "google / organic"],
            "sessions": [10, 5],
        }
    )
    out = sk.compute(traffic=traffic, kpis=["referral_traffic"], by=["platform"])
    assert dict(out.rows()) == {"instagram": 10, "google / organic": 0}


def test_messages_a_new_user_met_say_what_to_do():
    # found by a new user's run over real exports: a column asked for as a KPI, a states'
    # period shown as Rust text, compare without a period
    posts, _ = sk.datasets.sample(n_accounts=5)
    with pytest.raises(sk.DefinitionError) as err:
        sk.compute(posts.with_columns(video_views=pl.col("reach")), kpis=["video_views"])
    assert err.value.code == "unknown_kpi"
    assert 'sk.KPI("video_views", "sum(video_views)")' in str(err.value)
    daily = sk.partial(posts, kpis=["posts"], every="1w")
    with pytest.raises(sk.QueryError) as err:
        daily.finalize(every="1mo")
    assert 'every="1w" do not roll up into every="1mo"' in str(err.value)
    with pytest.raises(sk.QueryError) as err:
        sk.merge([daily, sk.partial(posts, kpis=["posts"])])
    assert 'every ("1w" vs None)' in str(err.value)
    with pytest.raises(sk.QueryError) as err:
        sk.compute(posts, kpis=["posts"], compare="previous")
    assert "start=" in str(err.value)
