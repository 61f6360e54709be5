"""Trust at the edges (issue 14): unknown is null, stale snapshots, posts without post_id.

- Rule 7 of the KPI contract: cost, conversions, revenue, leads and sessions are null for a
  group and period that the table they come from does not cover, and so are the ratios built on
  them; 0 only where the table covers the group and period. ``compute_details(...).coverage``
  says which days each table covered.
- Rule 8: followers-at-post reads a snapshot at most ``max_staleness`` days old (default 7).
- Without ``post_id``, posts are counted as rows, with a warning.

Numbers are worked out by hand on tiny tables, and compared with the independent DuckDB oracles
(tests/oracle.py, tests/oracle_money.py, tests/oracle_events.py), which write the same rules from
the README.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from oracle_events import oracle_events
from oracle_money import oracle_money
from polars.testing import assert_frame_equal

D = dt.date
T = dt.datetime


def check(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture
def issue_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tables of the issue's reproducer: acme has a contract in October, zen none."""
    posts = pl.DataFrame(
        dict(
            post_id=["a", "b"],
            account_id=["acme", "zen"],
            platform=["instagram"] * 2,
            published_at=[T(2025, 10, 3)] * 2,
            likes=[10, 20],
            reach=[100, 200],
            conversions=[3, 4],
        )
    )
    contracts = pl.DataFrame(
        dict(
            account_id=["acme"],
            platform=["instagram"],
            start=[D(2025, 10, 1)],
            end=[D(2025, 10, 31)],
            posts_agreed=[2],
            fee=[500.0],
        )
    )
    return posts, contracts


# ---------------------------------------------------------------------------------------------
# rule 7: unknown is null, never 0


def test_an_account_without_contracts_has_no_cost(issue_tables):
    posts, contracts = issue_tables
    out = sk.compute(posts, contracts=contracts, kpis=["cost", "cpa", "cpe"], by=["account_id"])
    assert out.rows() == [
        ("acme", 500.0, pytest.approx(500 / 3), pytest.approx(500 / 10)),
        ("zen", None, None, None),  # no contract covers zen: cost unknown, not 0
    ]
    # one overall group: the contracts cover it (through acme)
    assert sk.compute(posts, contracts=contracts, kpis=["cost", "cpa"]).row(0) == (
        500.0,
        pytest.approx(500 / 7),
    )


def test_coverage_says_which_days_each_table_covered(issue_tables):
    posts, contracts = issue_tables
    res = sk.compute_details(posts, contracts=contracts, kpis=["cost"], by=["account_id"])
    assert res.coverage.schema == {
        "table": pl.String,
        "account_id": pl.String,
        "first": pl.Date,
        "last": pl.Date,
    }
    assert res.coverage.rows() == [("contracts", "acme", D(2025, 10, 1), D(2025, 10, 31))]
    # the same whether or not the KPIs read account_id
    overall = sk.compute_details(posts, contracts=contracts.drop("platform"), kpis=["cost"])
    assert overall.coverage.rows() == res.coverage.rows()


def test_a_fee_of_zero_and_a_gap_between_contracts_are_zero_not_null():
    contracts = pl.DataFrame(
        dict(
            account_id=["acme", "acme", "zen"],
            start=[D(2026, 1, 1), D(2026, 3, 1), D(2026, 1, 1)],
            end=[D(2026, 1, 31), D(2026, 3, 31), D(2026, 3, 31)],
            posts_agreed=[1, 1, 3],
            fee=[310.0, 620.0, 0.0],
        )
    )
    posts = pl.DataFrame(
        dict(
            post_id=["p1", "p2", "p3"],
            account_id=["acme", "acme", "kim"],
            published_at=[T(2026, 2, 10), T(2026, 4, 2), T(2026, 2, 3)],
            likes=[5, 7, 9],
        )
    )
    out = sk.compute(posts, contracts=contracts, kpis=["cost", "cpe"], by=["account_id"], every="1mo")
    assert out.rows() == [
        ("acme", D(2026, 1, 1), 310.0, None),
        ("acme", D(2026, 2, 1), 0.0, 0.0),  # between two contracts of acme's: no fee
        ("acme", D(2026, 3, 1), 620.0, None),
        ("acme", D(2026, 4, 1), None, None),  # after acme's last contract: unknown
        ("kim", D(2026, 2, 1), None, None),  # no contract of kim's at all
        ("zen", D(2026, 1, 1), 0.0, None),  # a fee of 0 is reported: 0
        ("zen", D(2026, 2, 1), 0.0, None),
        ("zen", D(2026, 3, 1), 0.0, None),
    ]
    res = sk.compute_details(posts, contracts=contracts, kpis=["cost"], by=["account_id"], every="1mo")
    assert res.coverage.rows() == [
        ("contracts", "acme", D(2026, 1, 1), D(2026, 3, 31)),
        ("contracts", "zen", D(2026, 1, 1), D(2026, 3, 31)),
    ]
    # by month over all accounts: April is after every contract, so its cost is unknown too
    monthly = sk.compute(posts, contracts=contracts, kpis=["cost", "cpe"], every="1mo")
    assert monthly["cost"].to_list() == [310.0, 0.0, 620.0, None]


def test_roi_and_roas_are_null_after_the_revenue_data_ends():
    posts = pl.DataFrame(
        dict(
            post_id=[f"p{m}" for m in range(1, 7)],
            account_id=["acme"] * 6,
            published_at=[T(2026, m, 10) for m in range(1, 7)],
            spend=[100.0] * 6,
        )
    )
    # sales recorded from January to March only
    events = pl.DataFrame(
        dict(
            timestamp=[T(2026, 1, 5), T(2026, 2, 5), T(2026, 3, 5), T(2026, 3, 6)],
            kind=["sale"] * 4,
            value=[150.0, 80.0, 40.0, 20.0],
            account_id=["acme"] * 4,
        )
    )
    kpis = ["cost", "revenue", "conversions", "roas", "roi", "cpa"]
    res = sk.compute_details(posts, conversions=events, kpis=kpis, every="1mo")
    assert res.frame.rows() == [
        (D(2026, 1, 1), 100.0, 150.0, 1, 1.5, pytest.approx(0.5), 100.0),
        (D(2026, 2, 1), 100.0, 80.0, 1, 0.8, pytest.approx(-0.2), 100.0),
        (D(2026, 3, 1), 100.0, 60.0, 2, 0.6, pytest.approx(-0.4), 50.0),
        # no sales data after March: unknown, not ROI -100% and ROAS 0
        (D(2026, 4, 1), 100.0, None, None, None, None, None),
        (D(2026, 5, 1), 100.0, None, None, None, None, None),
        (D(2026, 6, 1), 100.0, None, None, None, None, None),
    ]
    assert res.coverage.rows() == [("conversions", "acme", D(2026, 1, 5), D(2026, 3, 6))]
    got = sk.compute(posts, conversions=events, kpis=["revenue", "conversions"], every="1mo")
    check(got, oracle_events(["revenue", "conversions"], [], "1mo", conversions=events, posts=posts))


def test_revenue_from_posts_is_null_where_the_posts_end():
    # posts of January only; a contract runs through March: February and March have a cost
    # (the fee) but no known revenue, so no ROI of -100%
    posts = pl.DataFrame(
        dict(
            post_id=["p1"],
            account_id=["a"],
            published_at=[T(2026, 1, 10)],
            spend=[10.0],
            revenue=[55.0],
            conversions=[2],
        )
    )
    contracts = pl.DataFrame(
        dict(account_id=["a"], start=[D(2026, 1, 1)], end=[D(2026, 3, 31)], posts_agreed=[3], fee=[900.0])
    )
    kpis = ["cost", "revenue", "conversions", "roi", "cpa"]
    out = sk.compute(posts, contracts=contracts, kpis=kpis, by=["account_id"], every="1mo")
    jan_fee = 900.0 * 31 / 90
    assert out.rows() == [
        ("a", D(2026, 1, 1), pytest.approx(10 + jan_fee), 55.0, 2, pytest.approx((55 - 10 - jan_fee) / (10 + jan_fee)),
         pytest.approx((10 + jan_fee) / 2)),
        ("a", D(2026, 2, 1), pytest.approx(900.0 * 28 / 90), None, None, None, None),
        ("a", D(2026, 3, 1), pytest.approx(900.0 * 31 / 90), None, None, None, None),
    ]  # fmt: skip
    check(out, oracle_money(posts, contracts, kpis, ["account_id"], "1mo"))


def test_sessions_are_null_outside_the_traffic_data():
    posts = pl.DataFrame(
        dict(
            post_id=["p1", "p2"],
            account_id=["a", "a"],
            platform=["instagram", "instagram"],
            published_at=[T(2026, 1, 10), T(2026, 2, 10)],
            likes=[1, 2],
        )
    )
    traffic = pl.DataFrame(dict(date=[D(2026, 1, 3)], source=["l.instagram.com"], sessions=[40]))
    kpis = ["posts", "website_traffic", "referral_traffic"]
    res = sk.compute_details(posts, traffic=traffic, kpis=kpis, by=["platform"], every="1mo")
    assert res.frame.rows() == [
        ("instagram", D(2026, 1, 1), 1, 40, 40),
        ("instagram", D(2026, 2, 1), 1, None, None),  # the traffic export ends in January
    ]
    assert res.coverage.rows() == [("traffic", None, D(2026, 1, 3), D(2026, 1, 3))]


def test_leads_from_accounts_follow_the_accounts_coverage():
    accounts = pl.DataFrame(
        dict(
            account_id=["a", "a", "b"],
            date=[D(2026, 1, 1), D(2026, 3, 1), D(2026, 2, 1)],
            leads=[4, 0, 2],
        )
    )
    posts = pl.DataFrame(
        dict(
            post_id=["p1", "p2"],
            account_id=["a", "b"],
            published_at=[T(2026, 2, 1), T(2026, 4, 1)],
            profile_visits=[10, 20],
        )
    )
    kpis = ["leads", "lead_rate"]
    out = sk.compute(posts, accounts, kpis=kpis, by=["account_id"], every="1mo")
    assert out.rows() == [
        ("a", D(2026, 1, 1), 4.0, None),
        ("a", D(2026, 2, 1), 0.0, 0.0),  # between a's snapshots: no leads
        ("a", D(2026, 3, 1), 0.0, None),
        ("b", D(2026, 2, 1), 2.0, None),
        ("b", D(2026, 4, 1), None, None),  # after b's last snapshot: unknown
    ]
    check(out, oracle_events(kpis, ["account_id"], "1mo", posts=posts, accounts=accounts))


# ---------------------------------------------------------------------------------------------
# rule 8: stale snapshots are not used silently


@pytest.fixture
def one_post(issue_tables) -> pl.DataFrame:
    return issue_tables[0][:1]


def test_a_follower_count_years_old_is_not_read(one_post):
    accounts = pl.DataFrame(
        dict(account_id=["acme"], platform=["instagram"], date=[D(2023, 1, 1)], followers=[100])
    )
    res = sk.compute_details(one_post, accounts, kpis=["engagement_rate_followers", "posts"])
    assert res.frame.rows() == [(None, 1)]
    stale = [(t, r, n) for t, r, n in res.rows_dropped if r.startswith("stale_followers")]
    assert stale == [("posts", stale[0][1], 1)], res.rows_dropped
    assert "max_staleness=7" in stale[0][1]
    unlimited = sk.compute(one_post, accounts, kpis=["engagement_rate_followers"], max_staleness=None)
    assert unlimited.item() == pytest.approx(0.1)


@pytest.mark.parametrize(("age", "limit", "read"), [(7, 7, True), (8, 7, False), (0, 0, True), (1, 0, False),
                                                    (30, 30, True), (31, 30, False), (900, None, True)])  # fmt: skip
def test_the_staleness_limit_is_inclusive(one_post, age, limit, read):
    day = D(2025, 10, 3) - dt.timedelta(days=age)
    accounts = pl.DataFrame(dict(account_id=["acme"], platform=["instagram"], date=[day], followers=[200]))
    res = sk.compute_details(one_post, accounts, kpis=["engagement_rate_followers"], max_staleness=limit)
    assert res.frame.item() == (pytest.approx(10 / 200) if read else None)
    stale = sum(n for _, r, n in res.rows_dropped if r.startswith("stale_followers"))
    assert stale == (0 if read else 1)


def test_stale_and_missing_snapshots_are_counted_apart():
    posts = pl.DataFrame(
        dict(
            post_id=["p1", "p2", "p3", "p4"],
            account_id=["a", "a", "a", "b"],
            published_at=[T(2026, 1, 1), T(2026, 1, 12), T(2026, 1, 30), T(2026, 1, 5)],
            likes=[1, 2, 3, 4],
        )
    )
    # a: snapshots on Jan 5 and Jan 25; b: none
    accounts = pl.DataFrame(
        dict(account_id=["a", "a"], date=[D(2026, 1, 5), D(2026, 1, 25)], followers=[100, 300])
    )
    res = sk.compute_details(posts, accounts, kpis=["engagement_rate_followers"], max_staleness=5)
    # p1: before any snapshot; p2: 7 days after Jan 5 (stale); p3: 5 days after Jan 25 (read); p4: none
    assert res.frame.item() == pytest.approx(3 / 300)
    dropped = {r.split(":")[0] if r.startswith("stale") else r: n for _, r, n in res.rows_dropped}
    assert dropped["stale_followers"] == 1
    assert (
        dropped["no follower snapshot on or before the post's day (left out of followers-at-post KPIs only)"]
        == 2
    )


@pytest.mark.parametrize("limit", [0, 3, 7, None])
@pytest.mark.parametrize(("by", "every"), [([], None), (["account_id"], "1mo"), (["platform"], "1w")])
def test_followers_at_post_with_sparse_snapshots_match_oracle(tables, limit, by, every):
    posts, accounts = tables
    # every fifth day's snapshot only, so that many posts meet one a few days old
    sparse = accounts.filter(pl.col("date").dt.ordinal_day() % 5 == 0)
    kpis = ["engagement_rate_followers", "applause_rate", "amplification_rate", "conversation_rate", "posts"]
    got = sk.compute(posts, sparse, kpis=kpis, by=by, every=every, max_staleness=limit)
    check(got, oracle(posts, sparse, kpis, by, every, max_staleness=limit))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "7", 10**7])
def test_max_staleness_must_be_a_number_of_days(one_post, bad):
    accounts = pl.DataFrame(dict(account_id=["acme"], date=[D(2025, 10, 1)], followers=[100]))
    with pytest.raises(sk.QueryError) as err:
        sk.compute(one_post, accounts, kpis=["engagement_rate_followers"], max_staleness=bad)
    assert err.value.code == "invalid_argument"


# ---------------------------------------------------------------------------------------------
# keys: posts without post_id


def test_posts_without_post_id_are_counted_as_rows_with_a_warning():
    posts, _ = sk.datasets.sample(n_accounts=60, n_posts=30_000, seed=7)
    bare = posts.drop("post_id")
    res = sk.compute_details(bare, kpis=["posts"])
    assert res.frame.item() == 30_000
    assert any("post_id" in w and "repeat" in w for w in res.warnings), res.warnings
    by_account = sk.compute(bare, kpis=["posts"], by=["account_id"])
    expected = posts.group_by("account_id").len("posts").sort("account_id")
    check(by_account, expected)
    # with post_id: no such warning
    assert not any("post_id" in w for w in sk.compute_details(posts, kpis=["posts"]).warnings)


def test_posts_without_post_id_from_a_file(tmp_path):
    posts, _ = sk.datasets.sample(n_accounts=5, n_posts=2_000, seed=1)
    path = tmp_path / "posts.parquet"
    posts.drop("post_id").write_parquet(path)
    assert sk.compute(str(path), kpis=["posts"]).item() == 2_000
