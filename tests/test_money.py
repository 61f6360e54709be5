"""Money KPIs (issue 3): contracts, post spend, conversions and revenue.

Compared cell by cell with an independent DuckDB oracle (tests/oracle_money.py), with numbers
worked out by hand on tiny tables, and with direct arithmetic on a real ad export.

Where the spec leaves a choice, these tests pin one (the oracle's docstring lists them):
- cost is null in a group-period whose posts' spend is all null and that no contract covers
  (``test_cost_is_null_when_spend_is_unreported``); cost, conversions and revenue are null outside
  their table's coverage (rule 7, tests/test_coverage.py);
- posts_agreed is 0 (a flow), not null, in a group-period without contract days;
- delivered posts are grouped by the post's own group and period.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
import socialkpi as sk
from conftest import data_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle_money import oracle_contract_status, oracle_money
from polars.testing import assert_frame_equal

MONEY_KPIS = ["conversions", "revenue", "conversion_rate", "cost", "cpm", "cpc", "cpe", "cpa", "roas", "roi",
              "posts_agreed", "delivery_rate"]  # fmt: skip
ALL_KPIS = [*MONEY_KPIS, "impressions", "clicks", "engagements"]
CAMPAIGNS = ["spring", "summer", "holiday"]
D = dt.date
T = dt.datetime
SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ---------------------------------------------------------------------------------------------
# tables


def contracts_frame(rows: list[tuple[Any, ...]], **extra: list[Any]) -> pl.DataFrame:
    """(account_id, campaign, start, end, posts_agreed, fee) rows, plus optional columns."""
    names = ["account_id", "campaign", "start", "end", "posts_agreed", "fee"]
    frame = pl.DataFrame([dict(zip(names, r)) for r in rows]).with_columns(
        pl.col("start", "end").cast(pl.Date),
        pl.col("posts_agreed").cast(pl.Int64),
        pl.col("fee").cast(pl.Float64),
    )
    return frame.with_columns(pl.Series(k, v) for k, v in extra.items())


# (account, campaign, start, end, posts agreed, fee, content type)
FIXTURE_CONTRACTS = [
    ("acct_00000", "spring", D(2025, 3, 3), D(2025, 3, 28), 8, 2000.0, None),  # inside one month
    ("acct_00009", "summer", D(2025, 6, 10), D(2025, 7, 20), 40, 4100.0, None),  # over two months
    ("acct_00002", "holiday", D(2025, 3, 15), D(2025, 4, 14), 5, 3100.0, None),  # over a quarter boundary
    ("acct_00010", "spring", D(2025, 2, 1), D(2025, 2, 28), 3, 1500.0, None),  # exactly one month
    ("acct_00004", "summer", D(2025, 9, 20), D(2025, 10, 10), 3, 999.99, None),  # Q3 -> Q4
    ("acct_ghost", "spring", D(2025, 5, 1), D(2025, 5, 31), 2, 800.0, None),  # an account with no posts
    ("acct_00006", "launch", D(2025, 8, 1), D(2025, 8, 15), 2, 750.0, None),  # a campaign with no posts
    ("acct_00000", "summer", D(2025, 4, 1), D(2025, 5, 15), 12, 2250.0, None),  # these two overlap
    ("acct_00000", "summer", D(2025, 5, 1), D(2025, 6, 30), 16, 3050.0, None),
    ("acct_00009", "holiday", D(2025, 11, 1), D(2025, 12, 31), 6, 5000.0, "reel"),  # reels only
    ("acct_00008", "spring", D(2025, 1, 1), D(2025, 1, 1), 1, 300.0, None),  # a one-day contract
    ("acct_00007", "summer", D(2024, 12, 15), D(2025, 1, 15), 2, 1200.0, None),  # starts before any post
    ("acct_00010", "holiday", D(2025, 12, 20), D(2026, 1, 10), 2, 660.0, None),  # ends after the last post
    ("acct_00009", "spring", D(2025, 1, 6), D(2025, 1, 12), 7, 350.0, None),  # exactly one ISO week
    ("acct_00003", "holiday", D(2025, 10, 1), D(2025, 12, 31), 9, 4600.5, None),  # exactly one quarter
    ("acct_00011", "summer", D(2025, 7, 1), D(2025, 7, 31), 2, 900.0, None),  # the account with no clicks
]


def make_money_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """2,000 posts of 12 accounts with spend / conversions / revenue, and 16 hand-written contracts.

    acct_00005 never reports spend and has no contract (its cost is null); acct_00011 has no
    clicks at all (cpc and conversion_rate null); a few posts have zero clicks, zero spend, a
    refund (negative revenue), no campaign; spend, conversions and revenue have scattered nulls.
    """
    posts, _ = sk.datasets.sample(n_accounts=12, n_posts=2000, seed=3)
    n = posts.height
    rng = np.random.default_rng(2025)
    u = rng.random((5, n))
    conversions = rng.binomial(posts["clicks"].fill_null(0).to_numpy(), 0.04)
    revenue = np.round(conversions * rng.uniform(15, 90, n), 2)
    posts = posts.with_columns(
        campaign=pl.Series(rng.choice(CAMPAIGNS, n)),
        spend=pl.Series(np.round(rng.gamma(2.0, 40.0, n), 2)),
        conversions=pl.Series(conversions, dtype=pl.Int64),
        revenue=pl.Series(revenue),
    )

    def mask(m: np.ndarray) -> pl.Expr:
        return pl.lit(pl.Series(m))

    acct = pl.col("account_id")
    posts = posts.with_columns(
        pl.when(mask(u[0] < 0.12)).then(None).otherwise(pl.col("campaign")).alias("campaign"),
        pl.when(mask(u[1] < 0.06) | (acct == "acct_00011"))
        .then(0)
        .otherwise(pl.col("clicks"))
        .alias("clicks"),
        pl.when(mask(u[2] > 0.90) | (acct == "acct_00005"))
        .then(None)
        .when(mask(u[2] < 0.10))
        .then(0.0)
        .otherwise(pl.col("spend"))
        .alias("spend"),
        pl.when(mask(u[3] < 0.08)).then(None).otherwise(pl.col("conversions")).alias("conversions"),
        pl.when(pl.int_range(pl.len()).is_in([7, 700, 1400]))
        .then(-25.0)  # refunds
        .when(mask(u[3] < 0.08) | mask(u[4] < 0.03))
        .then(None)
        .otherwise(pl.col("revenue"))
        .alias("revenue"),
    )
    contracts = contracts_frame(
        [r[:6] for r in FIXTURE_CONTRACTS],
        content_type=[r[6] for r in FIXTURE_CONTRACTS],
        currency=["EUR"] * len(FIXTURE_CONTRACTS),
    )
    return posts, contracts


@pytest.fixture(scope="module")
def money() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_money_tables()


def post_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(pl.col("published_at").cast(pl.Datetime("us")))


def check(got: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    """Same columns, same rows, every KPI cell equal to 1e-9 (relative), nulls where nulls are."""
    assert got.columns == expected.columns
    if "period_start" in expected.columns:
        assert got.schema["period_start"] == pl.Date
    values = [c for c in expected.columns if c not in keys and c != "period_start"]

    def as_float(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col(values).cast(pl.Float64))

    assert_frame_equal(as_float(got), as_float(expected), check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def row(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    hit = frame.filter(**where)
    assert hit.height == 1, (where, frame)
    return hit.row(0, named=True)


# ---------------------------------------------------------------------------------------------
# the oracle, cell by cell


@pytest.mark.parametrize("every", [None, "1mo", "1w", "1q"])
@pytest.mark.parametrize("by", [[], ["account_id"], ["campaign"], ["account_id", "campaign"]])
def test_money_kpis_match_oracle(money, by, every):
    posts, contracts = money
    got = sk.compute(posts, contracts=contracts, kpis=ALL_KPIS, by=by, every=every, tz="UTC")
    check(got, oracle_money(posts, contracts, ALL_KPIS, by, every), by)


@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("by", [["account_id"], ["account_id", "campaign"]])
def test_money_kpis_match_oracle_from_parquet(money, tmp_path, dictionary, by):
    # keys (accounts, campaigns) read from the file's pages, in small row groups
    posts, contracts = money
    path = tmp_path / "posts.parquet"
    pq.write_table(posts.to_arrow(), path, row_group_size=37, use_dictionary=dictionary)
    got = sk.compute(str(path), contracts=contracts, kpis=ALL_KPIS, by=by, every="1mo", tz="UTC")
    check(got, oracle_money(posts, contracts, ALL_KPIS, by, "1mo"), by)


@pytest.mark.parametrize(("tz", "every"), [("America/New_York", "1mo"), ("Asia/Kolkata", "1d")])
def test_money_kpis_in_another_time_zone(money, tz, every):
    posts, contracts = money
    by = ["account_id"]
    got = sk.compute(posts, contracts=contracts, kpis=ALL_KPIS, by=by, every=every, tz=tz)
    check(got, oracle_money(posts, contracts, ALL_KPIS, by, every, tz), by)


@pytest.mark.parametrize("every", [None, "1mo"])
def test_post_money_kpis_without_contracts(money, every):
    posts, _ = money
    kpis = ["conversions", "revenue", "conversion_rate", "cost", "cpm", "cpc", "cpe", "cpa", "roas", "roi"]
    got = sk.compute(posts, kpis=kpis, by=["campaign"], every=every)
    check(got, oracle_money(posts, None, kpis, ["campaign"], every), ["campaign"])


def test_contracts_add_rows_only_for_kpis_that_read_them(money):
    posts, contracts = money
    # conversions read posts only: the contract-only account and periods do not appear
    got = sk.compute(
        posts, contracts=contracts, kpis=["conversions", "clicks"], by=["account_id"], every="1mo"
    )
    check(got, oracle_money(posts, None, ["conversions", "clicks"], ["account_id"], "1mo"), ["account_id"])
    assert "acct_ghost" not in got["account_id"].to_list()
    # cost reads contracts: the account with no posts has a row per month of its contract
    got = sk.compute(posts, contracts=contracts, kpis=["cost", "clicks"], by=["account_id"], every="1mo")
    assert row(got, account_id="acct_ghost") == {
        "account_id": "acct_ghost", "period_start": D(2025, 5, 1), "cost": pytest.approx(800.0), "clicks": 0,
    }  # fmt: skip
    assert got.filter(account_id="acct_00007")["period_start"].min() == D(2024, 12, 1)


# ---------------------------------------------------------------------------------------------
# worked by hand


@pytest.fixture
def thirty_day() -> tuple[pl.DataFrame, pl.DataFrame]:
    # 2026-01-22 .. 2026-02-20 is 30 days: 10 in January (22..31), 20 in February (1..20)
    contracts = contracts_frame([("a", "c", D(2026, 1, 22), D(2026, 2, 20), 6, 3000.0)])
    posts = post_rows(
        [{"post_id": "p1", "account_id": "a", "campaign": "c", "published_at": T(2026, 1, 25, 10),
          "spend": 50.0, "impressions": 10_000, "clicks": 40, "likes": 100, "reach": 5_000}]
    )  # fmt: skip
    return posts, contracts


def test_fee_is_prorated_by_the_days_in_the_period(thirty_day):
    posts, contracts = thirty_day
    kpis = ["cost", "posts_agreed", "delivery_rate", "cpm", "cpc"]
    out = sk.compute(posts, contracts=contracts, kpis=kpis, by=["account_id"], every="1mo")
    assert out["period_start"].to_list() == [D(2026, 1, 1), D(2026, 2, 1)]
    jan, feb = out.rows(named=True)
    # January: 3000 * 10/30 = 1000 of fee + 50 spend; 6 * 10/30 = 2 posts agreed, 1 delivered
    assert jan["cost"] == pytest.approx(1050.0)
    assert jan["posts_agreed"] == pytest.approx(2.0)
    assert jan["delivery_rate"] == pytest.approx(0.5)
    assert jan["cpm"] == pytest.approx(1050.0 / 10_000 * 1000)  # 105
    assert jan["cpc"] == pytest.approx(1050.0 / 40)  # 26.25
    # February: 3000 * 20/30 = 2000, 4 agreed, none delivered; no impressions or clicks -> null
    assert feb["cost"] == pytest.approx(2000.0)
    assert feb["posts_agreed"] == pytest.approx(4.0)
    assert feb["delivery_rate"] == 0.0
    assert feb["cpm"] is None and feb["cpc"] is None

    whole = sk.compute(posts, contracts=contracts, kpis=["cost", "posts_agreed", "delivery_rate"], every=None)
    assert whole.row(0) == pytest.approx((3050.0, 6.0, 1 / 6))
    quarter = sk.compute(posts, contracts=contracts, kpis=["cost"], every="1q")
    assert quarter.rows() == [(D(2026, 1, 1), pytest.approx(3050.0))]
    # ISO weeks: Jan 22-25 (4 days) of the week of Mon Jan 19, then 7, 7, 7, and Feb 16-20 (5 days)
    weeks = sk.compute(posts, contracts=contracts, kpis=["cost"], every="1w")
    assert weeks["period_start"].to_list() == [D(2026, 1, 19), D(2026, 1, 26), D(2026, 2, 2), D(2026, 2, 9),
                                               D(2026, 2, 16)]  # fmt: skip
    assert weeks["cost"].to_list() == pytest.approx([400.0 + 50.0, 700.0, 700.0, 700.0, 500.0])


def test_contracts_without_posts(thirty_day):
    _, contracts = thirty_day
    out = sk.compute(
        contracts=contracts, kpis=["cost", "posts_agreed"], by=["account_id", "campaign"], every="1mo"
    )
    assert out.columns == ["account_id", "campaign", "period_start", "cost", "posts_agreed"]
    assert out.rows() == [
        ("a", "c", D(2026, 1, 1), pytest.approx(1000.0), pytest.approx(2.0)),
        ("a", "c", D(2026, 2, 1), pytest.approx(2000.0), pytest.approx(4.0)),
    ]


@pytest.fixture
def overlapping() -> tuple[pl.DataFrame, pl.DataFrame]:
    contracts = contracts_frame(
        [
            ("a", "c", D(2026, 3, 1), D(2026, 3, 31), 4, 3100.0),  # A: 31 days, all in March
            ("a", "c", D(2026, 3, 16), D(2026, 4, 14), 3, 900.0),  # B: 30 days, 16 in March, 14 in April
        ]
    )
    posts = post_rows(
        [
            {"post_id": "p1", "account_id": "a", "campaign": "c", "published_at": T(2026, 3, 5, 9)},  # A
            {"post_id": "p2", "account_id": "a", "campaign": "c", "published_at": T(2026, 3, 20, 9)},  # A and B
            {"post_id": "p3", "account_id": "a", "campaign": "c", "published_at": T(2026, 4, 2, 9)},  # B
            {"post_id": "p4", "account_id": "a", "campaign": "c", "published_at": T(2026, 4, 20, 9)},  # outside
            {"post_id": "p5", "account_id": "a", "campaign": "d", "published_at": T(2026, 3, 10, 9)},  # campaign
            {"post_id": "p6", "account_id": "b", "campaign": "c", "published_at": T(2026, 3, 12, 9)},  # account
        ]
    ).with_columns(likes=pl.Series([10, 20, 5, 7, 1, 1]), comments=pl.Series([2, None, 0, 0, 0, 0]),
                   reach=pl.Series([100, 300, 50, 70, 10, 10]))  # fmt: skip
    return posts, contracts


def test_delivery_rate_counts_a_post_once_and_only_inside_the_window(overlapping):
    posts, contracts = overlapping
    kpis = ["posts_agreed", "delivery_rate"]
    res = sk.compute_details(
        posts, contracts=contracts, kpis=kpis, by=["account_id", "campaign"], every="1mo"
    )
    assert any("overlap" in w.lower() for w in res.warnings), res.warnings
    assert res.frame.rows() == [
        # March: 4 + 3 * 16/30 = 5.6 agreed; p1 and p2 delivered (p2 is in both, counted once)
        ("a", "c", D(2026, 3, 1), pytest.approx(5.6), pytest.approx(2 / 5.6)),
        # April: 3 * 14/30 = 1.4 agreed; p3 delivered, p4 is after B ends
        ("a", "c", D(2026, 4, 1), pytest.approx(1.4), pytest.approx(1 / 1.4)),
        # another campaign, another account: nothing agreed, so no rate
        ("a", "d", D(2026, 3, 1), 0.0, None),
        ("b", "c", D(2026, 3, 1), 0.0, None),
    ]
    whole = sk.compute(posts, contracts=contracts, kpis=kpis, by=["account_id", "campaign"])
    assert whole.rows() == [("a", "c", pytest.approx(7.0), pytest.approx(3 / 7)), ("a", "d", 0.0, None),
                            ("b", "c", 0.0, None)]  # fmt: skip
    overall = sk.compute(posts, contracts=contracts, kpis=kpis)
    assert overall.row(0) == pytest.approx((7.0, 3 / 7))


def test_no_overlap_no_warning(thirty_day):
    posts, contracts = thirty_day
    res = sk.compute_details(posts, contracts=contracts, kpis=["posts_agreed"])
    assert not any("overlap" in w.lower() for w in res.warnings)


def test_content_type_of_a_contract_restricts_delivery():
    contracts = contracts_frame(
        [
            ("a", "c", D(2026, 3, 1), D(2026, 3, 31), 2, 100.0),
            ("b", "c", D(2026, 3, 1), D(2026, 3, 31), 2, 100.0),
        ],
        content_type=["reel", None],
    )
    posts = post_rows(
        [
            {
                "post_id": "1",
                "account_id": "a",
                "campaign": "c",
                "content_type": "reel",
                "published_at": T(2026, 3, 3),
            },
            {
                "post_id": "2",
                "account_id": "a",
                "campaign": "c",
                "content_type": "image",
                "published_at": T(2026, 3, 4),
            },
            {
                "post_id": "3",
                "account_id": "b",
                "campaign": "c",
                "content_type": "image",
                "published_at": T(2026, 3, 5),
            },
            {
                "post_id": "4",
                "account_id": "b",
                "campaign": "c",
                "content_type": "reel",
                "published_at": T(2026, 3, 6),
            },
        ]
    )
    out = sk.compute(posts, contracts=contracts, kpis=["delivery_rate"], by=["account_id"])
    # a: only the reel counts (1 of 2); b: the contract names no content type, both count (2 of 2)
    assert out.rows() == [("a", pytest.approx(0.5)), ("b", pytest.approx(1.0))]


def test_delivery_uses_the_post_day_in_the_report_time_zone():
    contracts = contracts_frame([("a", "c", D(2026, 3, 1), D(2026, 3, 31), 2, 100.0)])
    posts = post_rows(
        [
            {"post_id": "1", "account_id": "a", "campaign": "c", "published_at": T(2026, 3, 15, 12)},
            # 23:30 UTC on the last day is already April 1 in Tokyo (UTC+9), still March 31 in New York
            {"post_id": "2", "account_id": "a", "campaign": "c", "published_at": T(2026, 3, 31, 23, 30)},
        ]
    )
    rate = {tz: sk.compute(posts, contracts=contracts, kpis=["delivery_rate"], tz=tz).item()
            for tz in ("UTC", "Asia/Tokyo", "America/New_York")}  # fmt: skip
    assert rate == {"UTC": 1.0, "Asia/Tokyo": 0.5, "America/New_York": 1.0}


def test_cpe_by_account_and_month_is_prorated_fee_plus_spend_over_engagements():
    # 2026-01-17 .. 2026-02-15 is 30 days, 15 in each month: 600 of fee is 300 + 300
    contracts = contracts_frame([("a", "c", D(2026, 1, 17), D(2026, 2, 15), 2, 600.0)])
    posts = post_rows(
        [
            {"post_id": "p1", "account_id": "a", "campaign": "c", "published_at": T(2026, 1, 20),
             "likes": 40, "comments": 10, "shares": 0, "spend": 20.0},
            {"post_id": "p2", "account_id": "a", "campaign": "c", "published_at": T(2026, 2, 3),
             "likes": 90, "comments": None, "shares": 10, "spend": None},
            {"post_id": "p3", "account_id": "a", "campaign": "c", "published_at": T(2026, 2, 10),
             "likes": None, "comments": None, "shares": None, "spend": 30.0},
            {"post_id": "p4", "account_id": "b", "campaign": "c", "published_at": T(2026, 1, 5),
             "likes": 10, "comments": 0, "shares": 0, "spend": 5.0},
        ]
    )  # fmt: skip
    out = sk.compute(
        posts, contracts=contracts, kpis=["cost", "engagements", "cpe"], by=["account_id"], every="1mo"
    )
    assert out.rows() == [
        # (300 + 20) / (40 + 10 + 0)
        ("a", D(2026, 1, 1), pytest.approx(320.0), 50, pytest.approx(6.4)),
        # (300 + 30; p2's spend is null) / (90 + 0 + 10; p3 has no engagement component at all)
        ("a", D(2026, 2, 1), pytest.approx(330.0), 100, pytest.approx(3.3)),
        # no contract: spend only, 5 / 10
        ("b", D(2026, 1, 1), pytest.approx(5.0), 10, pytest.approx(0.5)),
    ]


def no_inf_or_nan(frame: pl.DataFrame) -> None:
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            col = frame[name].drop_nulls()
            assert not (col.is_infinite().any() or col.is_nan().any()), name


def test_zero_denominators_give_null_not_inf():
    posts = post_rows(
        [
            {"post_id": "1", "account_id": "a", "published_at": T(2026, 1, 5),
             "clicks": 0, "spend": 10.0, "conversions": 0, "revenue": 0.0},
            {"post_id": "2", "account_id": "b", "published_at": T(2026, 1, 6),
             "clicks": 20, "spend": 0.0, "conversions": 2, "revenue": 50.0},
            {"post_id": "3", "account_id": "c", "published_at": T(2026, 1, 7),
             "clicks": None, "spend": 8.0, "conversions": 1, "revenue": 30.0},
        ]
    )  # fmt: skip
    kpis = ["cost", "cpc", "conversion_rate", "cpa", "roas", "roi"]
    out = sk.compute(posts, kpis=kpis, by=["account_id"])
    no_inf_or_nan(out)
    assert out.rows() == [
        ("a", 10.0, None, None, None, 0.0, -1.0),  # zero clicks, zero conversions
        ("b", 0.0, 0.0, 0.1, 0.0, None, None),  # zero cost: no roas, no roi
        ("c", 8.0, None, None, 8.0, pytest.approx(30 / 8), pytest.approx(22 / 8)),  # clicks not reported
    ]
    overall = sk.compute(posts, kpis=kpis)
    # conversion rate over the posts with both clicks and conversions: (0 + 2) / (0 + 20)
    assert overall.row(0) == pytest.approx((18.0, 18 / 20, 0.1, 18 / 3, 80 / 18, 62 / 18))


def test_cost_is_null_when_spend_is_unreported():
    posts = post_rows(
        [
            {"post_id": "1", "account_id": "a", "published_at": T(2026, 1, 5),
             "impressions": 100, "clicks": 5, "spend": None, "conversions": None, "revenue": None},
            {"post_id": "2", "account_id": "a", "published_at": T(2026, 1, 20),
             "impressions": 50, "clicks": 1, "spend": None, "conversions": None, "revenue": None},
            {"post_id": "3", "account_id": "b", "published_at": T(2026, 1, 10),
             "impressions": 10, "clicks": 2, "spend": 7.0, "conversions": 1, "revenue": 3.5},
        ]
    )  # fmt: skip
    kpis = ["cost", "conversions", "revenue", "cpc", "roas", "roi", "impressions"]
    alone = sk.compute(posts, kpis=kpis, by=["account_id"], every="1mo")
    assert alone.rows() == [
        ("a", D(2026, 1, 1), None, None, None, None, None, None, 150),  # all null: not reported, not 0
        ("b", D(2026, 1, 1), 7.0, 1, 3.5, 3.5, 0.5, -0.5, 10),
    ]
    # a contract of a's in February only: January stays null (the contracts do not cover it and
    # the spend is unreported); February exists only because of the contract, after a's posts
    # end: the fee is known, a's conversions and revenue are not (rule 7: null, not 0, and no
    # ROI of -100%); impressions are a count of posts, 0
    contracts = contracts_frame([("a", "c", D(2026, 2, 1), D(2026, 2, 28), 1, 280.0)])
    both = sk.compute(posts, contracts=contracts, kpis=kpis, by=["account_id"], every="1mo")
    assert both.rows() == [
        ("a", D(2026, 1, 1), None, None, None, None, None, None, 150),
        ("a", D(2026, 2, 1), 280.0, None, None, None, None, None, 0),
        ("b", D(2026, 1, 1), 7.0, 1, 3.5, 3.5, 0.5, -0.5, 10),
    ]


# ---------------------------------------------------------------------------------------------
# a real ad export: each ad is a post


@pytest.fixture(scope="module")
def kag() -> pl.DataFrame:
    raw = pl.read_csv(data_path("KAG_conversion_data.csv"))
    return raw.select(
        pl.col("ad_id").alias("post_id"),
        pl.col("fb_campaign_id").cast(pl.String).alias("account_id"),
        pl.col("xyz_campaign_id").alias("campaign"),
        pl.col("Impressions").alias("impressions"),
        pl.col("Clicks").alias("clicks"),
        pl.col("Spent").alias("spend"),
        pl.col("Total_Conversion").alias("conversions"),
    )


KAG_KPIS = ["cpc", "cpm", "cpa", "conversion_rate", "cost"]


def kag_by_hand(key: str) -> pl.DataFrame:
    """The same KPIs with pandas, straight from the file: sums, then ratios of the sums."""
    raw = pd.read_csv(data_path("KAG_conversion_data.csv"), encoding="utf-8-sig")
    g = raw.groupby(key)[["Impressions", "Clicks", "Spent", "Total_Conversion"]].sum().sort_index()

    def ratio(num: pd.Series, den: pd.Series) -> list[float | None]:
        return [None if d == 0 else float(n) / float(d) for n, d in zip(num, den)]

    return pl.DataFrame(
        {
            "cpc": ratio(g["Spent"], g["Clicks"]),
            "cpm": ratio(g["Spent"] * 1000, g["Impressions"]),
            "cpa": ratio(g["Spent"], g["Total_Conversion"]),
            "conversion_rate": ratio(g["Total_Conversion"], g["Clicks"]),
            "cost": g["Spent"].astype(float).to_list(),
        },
        schema={k: pl.Float64 for k in KAG_KPIS},
    ).select(pl.Series(key, g.index.to_list()), pl.all())


def test_kag_campaign_ratios_equal_direct_arithmetic(kag):
    out = sk.compute(kag, kpis=KAG_KPIS, by=["campaign"], every=None)
    expected = kag_by_hand("xyz_campaign_id").rename({"xyz_campaign_id": "campaign"})
    assert out["campaign"].to_list() == [916, 936, 1178]
    check(out, expected, ["campaign"])


@pytest.mark.parametrize(("by", "key"), [("account_id", "fb_campaign_id"), ("post_id", "ad_id")])
def test_kag_zero_clicks_give_null_not_infinity(kag, by, key):
    out = sk.compute(kag, kpis=KAG_KPIS, by=[by], every=None)
    no_inf_or_nan(out)
    expected = kag_by_hand(key).rename({key: by})
    if by == "account_id":
        expected = expected.with_columns(pl.col(by).cast(pl.String)).sort(by)
    assert expected.filter(pl.col("cpc").is_null()).height > 100  # many groups / ads without a click
    check(out, expected, [by])


def test_kag_single_ad_without_clicks(kag):
    ad = kag.filter(pl.col("clicks") == 0).head(1)
    out = sk.compute(ad, kpis=KAG_KPIS, every=None)
    impressions = ad["impressions"].item()
    assert out.row(0, named=True) == {
        "cpc": None, "cpm": 0.0 if impressions else None, "cpa": None if ad["conversions"].item() == 0 else 0.0,
        "conversion_rate": None, "cost": 0.0,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# properties

SPLIT_POSTS = post_rows(
    [
        {"post_id": f"p{i}", "account_id": "a", "campaign": "c", "published_at": T(2025, 1, 1) + dt.timedelta(days=i * 13),
         "spend": float(i), "clicks": i % 4, "impressions": 100 * i}
        for i in range(29)
    ]
)  # fmt: skip


@SETTINGS
@given(
    start=st.dates(D(2025, 1, 1), D(2025, 10, 31)),
    length_cut=st.integers(2, 150).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))),
    fee_cents=st.integers(0, 10**8),
    per_day=st.integers(1, 3),
    every=st.sampled_from(["1mo", "1w", None]),
)
def test_splitting_a_contract_in_proportion_changes_nothing(start, length_cut, fee_cents, per_day, every):
    n, cut = length_cut
    fee = fee_cents / 100
    end, mid = start + dt.timedelta(days=n - 1), start + dt.timedelta(days=cut)
    one = contracts_frame([("a", "c", start, end, per_day * n, fee)])
    two = contracts_frame(
        [
            ("a", "c", start, mid - dt.timedelta(days=1), per_day * cut, fee * cut / n),
            ("a", "c", mid, end, per_day * (n - cut), fee * (n - cut) / n),
        ]
    )
    kpis = ["cost", "posts_agreed", "delivery_rate", "cpc"]
    args: dict[str, Any] = {"kpis": kpis, "by": ["account_id", "campaign"], "every": every}
    whole = sk.compute(SPLIT_POSTS, contracts=one, **args)
    split = sk.compute(SPLIT_POSTS, contracts=two, **args)
    assert_frame_equal(split, whole, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-9)


@SETTINGS
@given(cut=st.integers(1, 1999), every=st.sampled_from([None, "1w", "1mo"]))
def test_posts_split_into_parquet_files(money, tmp_path, cut, every):
    posts, contracts = money
    expected = sk.compute(posts, contracts=contracts, kpis=ALL_KPIS, by=["account_id"], every=every)
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    posts.slice(0, cut).write_parquet(where / "part-0.parquet")
    posts.slice(cut).write_parquet(where / "part-1.parquet")
    got = sk.compute(
        str(where / "part-*.parquet"), contracts=contracts, kpis=ALL_KPIS, by=["account_id"], every=every
    )
    assert_frame_equal(got, expected, rel_tol=1e-12)


@pytest.mark.parametrize("form", ["pandas", "pyarrow", "lazy", "parquet"])
def test_contract_input_forms(money, tmp_path, form):
    posts, contracts = money
    kpis = ["cost", "posts_agreed", "delivery_rate"]
    expected = sk.compute(posts, contracts=contracts, kpis=kpis, by=["account_id"], every="1mo")
    before = contracts.clone()
    given_as: Any
    if form == "pandas":
        given_as = contracts.to_pandas(use_pyarrow_extension_array=True)
    elif form == "pyarrow":
        given_as = contracts.to_arrow()
    elif form == "lazy":
        given_as = contracts.lazy()
    else:
        given_as = tmp_path / "contracts.parquet"
        contracts.write_parquet(given_as)
    got = sk.compute(posts, contracts=given_as, kpis=kpis, by=["account_id"], every="1mo")
    assert_frame_equal(got, expected, rel_tol=1e-12)
    assert contracts.equals(before)


# ---------------------------------------------------------------------------------------------
# contract_status


def test_contract_status_by_hand(overlapping):
    posts, contracts = overlapping
    contracts = pl.concat([contracts, contracts_frame([("b", "c", D(2026, 5, 1), D(2026, 5, 31), 2, 500.0)])])
    posts = pl.concat(
        [posts, post_rows([{"post_id": "p7", "account_id": "a", "campaign": "c", "published_at": T(2026, 4, 10),
                            "likes": 1000, "comments": 0, "reach": 1000}])],
        how="diagonal_relaxed",
    )  # fmt: skip
    out = sk.contract_status(posts=posts, contracts=contracts, as_of=D(2026, 4, 5))
    assert out.columns == [*contracts.columns, "status", "delivered", "expected_by_now", "pace", "behind",
                           "on_track", "remaining", "days_left", "fee_to_date", "cost_per_post", "engagements",
                           "reach", "attribution"]  # fmt: skip
    assert out.schema["days_left"] == pl.Int64
    # A (Mar 1-31): p1, p2; ended before as_of, so all 4 were due: 2 behind. B (Mar 16-Apr 14, 30
    # days): p2 (also A's) and p3; p7 is after as_of, p4 after the end; 21 of its days have passed,
    # so 3 x 21/30 = 2.1 posts were due (2 whole ones: on track) and 900 x 21/30 of its fee earned.
    # C (b, May): upcoming, nothing due; 25 days left in April + 31 in May.
    assert out.select(
        "status", "delivered", "expected_by_now", "pace", "behind", "on_track", "remaining", "days_left",
        "fee_to_date", "cost_per_post", "engagements", "reach", "attribution",
    ).rows() == [
        ("ended", 2, 4.0, 0.5, 2, False, 2, 0, 3100.0, 3100.0 / 2, 12 + 20, 100 + 300, "campaign"),
        ("running", 2, pytest.approx(2.1), pytest.approx(2 / 2.1), 0, True, 1, 9, pytest.approx(630.0),
         pytest.approx(315.0), 20 + 5, 300 + 50, "campaign"),
        ("upcoming", 0, 0.0, None, 0, True, None, 56, 0.0, None, None, None, "campaign"),
    ]  # fmt: skip
    # the contract's own columns come back unchanged, in input order
    assert_frame_equal(out.select(contracts.columns), contracts)


@pytest.mark.parametrize(("as_of", "tz"), [(D(2025, 7, 15), "UTC"), (D(2025, 12, 31), "Asia/Tokyo"),
                                           (D(2026, 6, 1), "UTC")])  # fmt: skip
def test_contract_status_matches_oracle(money, as_of, tz):
    posts, contracts = money
    got = sk.contract_status(posts=posts, contracts=contracts, as_of=as_of, tz=tz)
    assert got.schema["days_left"] == pl.Int64
    check(got, oracle_contract_status(posts, contracts, as_of, tz), [*contracts.columns, "status", "attribution"])


def test_contract_status_defaults_to_today():
    contracts = contracts_frame([("a", "c", D(2000, 1, 1), D(2000, 1, 31), 3, 90.0),
                                 ("a", "c", D(2000, 1, 1), D(2999, 12, 31), 3, 90.0)])  # fmt: skip
    posts = post_rows(
        [
            {
                "post_id": "1",
                "account_id": "a",
                "campaign": "c",
                "published_at": T(2000, 1, 10),
                "likes": 4,
                "reach": 9,
            },
            {
                "post_id": "2",
                "account_id": "a",
                "campaign": "c",
                "published_at": T(2000, 2, 10),
                "likes": 6,
                "reach": 9,
            },
        ]
    )
    before = dt.datetime.now(dt.timezone.utc).date()
    out = sk.contract_status(posts=posts, contracts=contracts)
    after = dt.datetime.now(dt.timezone.utc).date()
    assert out["delivered"].to_list() == [1, 2]
    assert out["status"].to_list() == ["ended", "running"]
    assert out["days_left"][0] == 0
    assert out["days_left"][1] in {(D(2999, 12, 31) - today).days for today in (before, after)}
    # the second has earned the share of its fee that its elapsed days are of its 1,000 years
    days = (D(2999, 12, 31) - D(2000, 1, 1)).days + 1
    shares = {90.0 * ((today - D(2000, 1, 1)).days + 1) / days / 2 for today in (before, after)}
    assert out["cost_per_post"][0] == 90.0
    assert any(out["cost_per_post"][1] == pytest.approx(s) for s in shares)


# ---------------------------------------------------------------------------------------------
# errors


def raises(exc: type[sk.KpiError], code: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(exc) as info:
        sk.compute(*args, **kwargs)
    assert info.value.code == code
    assert isinstance(info.value, sk.KpiError)
    return str(info.value)


def test_contract_ending_before_it_starts(thirty_day):
    posts, contracts = thirty_day
    bad = pl.concat([contracts, contracts_frame([("a", "c", D(2026, 3, 10), D(2026, 3, 9), 1, 10.0)])])
    raises(sk.InputError, "contract_dates", posts, contracts=bad, kpis=["posts_agreed"])
    with pytest.raises(sk.InputError) as info:
        sk.contract_status(posts=posts, contracts=bad, as_of=D(2026, 3, 1))
    assert info.value.code == "contract_dates"


def test_a_one_day_contract_is_fine():
    one_day = contracts_frame([("a", "c", D(2026, 3, 10), D(2026, 3, 10), 1, 10.0)])
    assert sk.compute(contracts=one_day, kpis=["cost"], every="1d").rows() == [(D(2026, 3, 10), 10.0)]


def test_negative_fee_or_spend(thirty_day):
    posts, contracts = thirty_day
    msg = raises(sk.InputError, "negative_value", posts, contracts=contracts.with_columns(fee=pl.lit(-1.0)),
                 kpis=["cost"])  # fmt: skip
    assert "fee" in msg
    msg = raises(sk.InputError, "negative_value", posts.with_columns(spend=pl.lit(-0.01)), kpis=["cost"])
    assert "spend" in msg
    # negative revenue is a refund, not an error
    refund = posts.with_columns(revenue=pl.lit(-5.0))
    out = sk.compute(refund, contracts=contracts, kpis=["revenue", "roi"], every=None)
    assert out.row(0) == pytest.approx((-5.0, (-5.0 - 3050.0) / 3050.0))


def test_mixed_currencies(thirty_day):
    posts, contracts = thirty_day
    two = pl.concat([contracts, contracts_frame([("b", "c", D(2026, 1, 1), D(2026, 1, 31), 1, 10.0)])])
    msg = raises(sk.InputError, "mixed_currency", posts, contracts=two.with_columns(currency=pl.Series(["EUR", "USD"])),
                 kpis=["cost"])  # fmt: skip
    assert "EUR" in msg and "USD" in msg
    mixed_posts = pl.concat([posts, posts.with_columns(post_id=pl.lit("p2"))]).with_columns(
        currency=pl.Series(["GBP", "USD"])
    )
    msg = raises(sk.InputError, "mixed_currency", mixed_posts, kpis=["cost"])
    assert "GBP" in msg and "USD" in msg
    # one currency is fine
    out = sk.compute(posts, contracts=two.with_columns(currency=pl.lit("EUR")), kpis=["cost"], every=None)
    assert out.item() == pytest.approx(3060.0)


@pytest.mark.parametrize("kpi", ["posts_agreed", "delivery_rate"])
def test_contract_kpi_without_contracts(thirty_day, kpi):
    posts, _ = thirty_day
    msg = raises(sk.QueryError, "missing_table", posts, kpis=[kpi])
    assert "contracts" in msg


def test_contract_kpis_by_a_dimension_contracts_lack(thirty_day):
    posts, contracts = thirty_day
    posts = posts.with_columns(platform=pl.lit("instagram"), content_type=pl.lit("reel"))
    raises(
        sk.QueryError,
        "dimension_not_in_table",
        posts,
        contracts=contracts,
        kpis=["posts_agreed"],
        by=["platform"],
    )
    raises(
        sk.QueryError,
        "dimension_not_in_table",
        posts,
        contracts=contracts,
        kpis=["delivery_rate"],
        by=["platform"],
    )
    raises(
        sk.QueryError,
        "dimension_not_in_table",
        posts,
        contracts=contracts,
        kpis=["cost"],
        by=["content_type"],
    )
    # without contracts, cost is spend only and any post dimension will do
    assert sk.compute(posts, kpis=["cost"], by=["content_type"]).rows() == [("reel", 50.0)]
    # with the dimension on the contracts too, it is fine
    typed = contracts.with_columns(content_type=pl.lit("reel"))
    out = sk.compute(posts, contracts=typed, kpis=["cost", "posts_agreed"], by=["content_type"])
    assert out.rows() == [("reel", pytest.approx(3050.0), pytest.approx(6.0))]


def test_inputs_are_not_modified(money):
    posts, contracts = money
    before_p, before_c = posts.clone(), contracts.clone()
    sk.compute(posts, contracts=contracts, kpis=ALL_KPIS, by=["account_id"], every="1mo")
    sk.contract_status(posts=posts, contracts=contracts, as_of=D(2025, 6, 30))
    assert posts.equals(before_p) and contracts.equals(before_c)


def test_fixture_has_the_cases_it_claims(money):
    """Guards the fixture itself (no socialkpi result involved)."""
    posts, contracts = money
    assert (
        posts.filter(account_id="acct_00005")["spend"].null_count()
        == posts.filter(account_id="acct_00005").height
    )
    assert posts.filter(account_id="acct_00011")["clicks"].max() == 0
    assert (posts["spend"] == 0).sum() > 50 and posts["spend"].null_count() > 50
    assert posts["conversions"].null_count() > 50 and (posts["revenue"] < 0).sum() == 3
    assert posts["campaign"].null_count() > 0 and contracts.height == 16
    assert "acct_ghost" not in posts["account_id"].to_list()
    assert posts.filter(campaign="launch").height == 0
    assert math.isclose(contracts["fee"].sum(), sum(r[5] for r in FIXTURE_CONTRACTS))
