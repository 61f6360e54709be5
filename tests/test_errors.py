"""Bad input: a typed error with a stable code, and nothing else changed."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import socialkpi as sk


@pytest.fixture
def posts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "account_id": ["x", "y"],
            "published_at": [dt.datetime(2026, 1, 1, 9), dt.datetime(2026, 1, 2, 9)],
            "Reach": [10, 20],
            "likes": [1, 2],
            "content_type": ["reel", "image"],
        }
    )


@pytest.fixture
def accounts() -> pl.DataFrame:
    return pl.DataFrame({"account_id": ["x"], "date": [dt.date(2026, 1, 1)], "followers": [100]})


def raises(exc: type[sk.KpiError], code: str, *args, **kwargs) -> str:
    with pytest.raises(exc) as info:
        sk.compute(*args, **kwargs)
    assert info.value.code == code
    assert isinstance(info.value, sk.KpiError)
    return str(info.value)


def test_missing_column_names_it_and_suggests(posts):
    msg = raises(sk.SchemaError, "missing_column", posts, kpis=["reach"])
    assert "'reach'" in msg and "did you mean 'Reach'" in msg


def test_text_counts_say_how_to_parse(posts):
    bad = posts.with_columns(pl.col("likes").cast(pl.String))
    msg = raises(sk.SchemaError, "not_numeric", bad, kpis=["likes"])
    assert "'likes'" in msg and "cast" in msg


def test_negative_counts(posts):
    bad = posts.with_columns(pl.Series("likes", [1, -2]))
    msg = raises(sk.InputError, "negative_value", bad, kpis=["likes"])
    assert "'likes'" in msg and "1 negative" in msg


def test_unknown_kpi_suggests_names(posts):
    msg = raises(sk.DefinitionError, "unknown_kpi", posts, kpis=["engagment_rate"])
    assert "engagement_rate" in msg


def test_unknown_dimension(posts):
    raises(sk.QueryError, "unknown_dimension", posts, kpis=["likes"], by=["contenttype"])


def test_duplicate_post_ids(posts):
    msg = raises(sk.InputError, "duplicate_post_id", pl.concat([posts, posts.head(1)]), kpis=["likes"])
    assert "a" in msg and "dedupe='last'" in msg


def test_account_kpi_by_posts_only_dimension(posts, accounts):
    raises(sk.QueryError, "dimension_not_in_table", posts, accounts, kpis=["followers"], by=["content_type"])


def test_unknown_grain_and_time_zone(posts):
    raises(sk.QueryError, "unknown_grain", posts, kpis=["likes"], every="1month")
    raises(sk.QueryError, "unknown_time_zone", posts, kpis=["likes"], tz="Europe/Atlantis")


def test_account_kpi_without_accounts(posts):
    msg = raises(sk.QueryError, "missing_table", posts, kpis=["followers"])
    assert "accounts=" in msg


def test_duplicate_snapshots(posts, accounts):
    raises(sk.InputError, "duplicate_snapshot", posts, pl.concat([accounts, accounts]), kpis=["followers"])
    out = sk.compute(posts, pl.concat([accounts, accounts]), kpis=["followers"], dedupe="last")
    assert out.item() == 100


def test_bad_arguments(posts):
    raises(sk.QueryError, "invalid_argument", posts, kpis=["likes"], dedupe="first")
    raises(sk.QueryError, "invalid_argument", posts, kpis=["likes"], output="excel")
    raises(sk.InputError, "unsupported_table", {"likes": [1]}, kpis=["likes"])
    raises(sk.InputError, "file_not_found", "/nonexistent/posts.parquet", kpis=["likes"])
    raises(sk.DefinitionError, "no_kpis", posts, kpis=[])
    raises(
        sk.SchemaError,
        "not_temporal",
        posts.with_columns(pl.lit(3).alias("published_at")),
        kpis=["likes"],
        every="1d",
    )


def test_caller_frames_are_not_modified(posts, accounts):
    before_p, before_a = posts.clone(), accounts.clone()
    with pytest.raises(sk.KpiError):
        sk.compute(posts, accounts, kpis=["followers"], by=["content_type"])
    sk.compute(
        posts.rename({"Reach": "reach"}),
        accounts,
        kpis=["engagement", "awareness"],
        by=["account_id"],
        every="1mo",
    )
    assert posts.equals(before_p) and accounts.equals(before_a)


def test_empty_tables_give_empty_results_with_the_right_columns(posts, accounts):
    out = sk.compute(
        posts.clear(), accounts.clear(), kpis=["posts", "likes", "followers"], by=["account_id"], every="1mo"
    )
    assert out.columns == ["account_id", "period_start", "posts", "likes", "followers"]
    assert out.height == 0
    assert out.schema["period_start"] == pl.Date


@pytest.mark.parametrize("by", [[], ["account_id"]])
def test_empty_posts_give_empty_ratios(by):
    # ratio sides and followers-at-post states with no batch of rows at all
    posts, accounts = sk.datasets.sample(n_accounts=5, n_posts=50, seed=1)
    kpis = [
        "frequency",
        "engagement_rate",
        "engagement_rate_followers",
        "ctr",
        "avg_engagement_rate_per_post",
    ]
    out = sk.compute(posts.clear(), accounts, kpis=kpis, by=by)
    assert out.columns == by + kpis
    assert out.height == 0


@pytest.mark.parametrize(
    "bad", [{"n_accounts": 0}, {"n_posts": -1}, {"days": 0}, {"days": 2.5}, {"n_accounts": True}]
)
def test_sample_data_of_no_accounts_or_days_is_an_argument_error(bad):
    with pytest.raises(sk.ArgumentError) as e:
        sk.datasets.sample(**bad)
    assert e.value.code == "invalid_argument" and next(iter(bad)) in str(e.value)


@pytest.mark.parametrize(
    "bad", [{"days": 0}, {"n_traffic": -1}, {"n_events": 1.5}, {"n_contracts": -2}, {"posts": "no accounts"}]
)
def test_funnel_data_of_no_days_or_negative_rows_is_an_argument_error(bad):
    posts, _ = sk.datasets.sample(n_accounts=3, n_posts=50, days=30, seed=2)
    if bad.get("posts"):
        bad = {"posts": posts.head(0)}
    with pytest.raises(sk.ArgumentError) as e:
        sk.datasets.funnel(**{"posts": posts, **bad})
    assert e.value.code == "invalid_argument"
    assert sk.datasets.funnel(posts.head(0), n_contracts=0)[2].height == 0


@pytest.mark.parametrize("days", [1, 7, 21])
def test_sample_data_of_a_few_days_stays_in_them(days):
    posts, accounts = sk.datasets.sample(n_accounts=30, n_posts=500, days=days, seed=3)
    last = dt.date(2025, 1, 1) + dt.timedelta(days=days - 1)
    assert accounts["date"].min() == dt.date(2025, 1, 1) and accounts["date"].max() <= last
    assert posts["published_at"].dt.date().max() <= last
    assert sk.compute(posts, accounts, kpis=["posts", "followers"], every="1d").height <= days
