"""Conversion events and leads: the ``conversions`` table, and where conversions, revenue and leads come from.

Compared cell by cell with an independent oracle (tests/oracle_events.py: kinds and sources in plain
Python, sums and ratios in DuckDB SQL), and with small reports worked out by hand.

Where the spec leaves a choice, these tests pin one (the oracle's docstring lists the rules):
- events with a null ``timestamp`` are dropped with ``every=None`` too (as traffic rows without a
  date are), and counted as ``("conversions", "missing timestamp", n)``;
- the values of lead events never count as revenue;
- a KPI that reads only the conversions table adds no rows for posts-only groups
  (``test_only_tables_a_kpi_reads_add_rows``); ``conversion_rate`` and ``lead_rate`` read posts too;
- accounts that are given but not read (posts carry ``profile_visits``) add no rows;
- a dimension of another given table (``content_type``, ``tier``; ``platform`` when the events
  have neither ``platform`` nor ``source``) is ``dimension_not_in_table``;
- ``leads`` is both a KPI and a goal preset: ``kpis=["leads"]`` is the KPI (one column); the preset is
  tested through ``sk.presets()["leads"]``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import socialkpi as sk
from oracle_events import choose_sources, dropped_events, oracle_events
from oracle_traffic import oracle_traffic
from polars.testing import assert_frame_equal

D = dt.date
T = dt.datetime
KPIS = ["conversions", "revenue", "leads", "conversion_rate", "lead_rate"]
EVENT_ONLY = ["conversions", "revenue", "leads"]
CAMPAIGNS = ["spring", "summer", "holiday"]
# linkedin is left out on purpose: its posts are a posts-only group by platform
EVENT_SOURCES = [
    "instagram", "IG", "l.instagram.com", " Instagram.com ", "utm_source=ig", "m.facebook.com",
    "utm_source=fb", "https://www.facebook.com/page?x=1", "t.co", "x.com", "mobile.twitter.com",
    "youtube.com", "youtu.be", "tiktok", "vm.tiktok.com", "newsletter", "google",
]  # fmt: skip
KINDS = ["lead", "sale", "Sale ", "LEAD", " lead", "SALE", "refund"]
KIND_P = [0.3, 0.3, 0.1, 0.1, 0.05, 0.05, 0.1]
EVENTS_ONLY, LEADS_ONLY, NULL_VALUES = "acct_events_only", "acct_leads_only", "acct_null_values"
NO_EVENTS = "acct_00009"  # posts, no events

# ---------------------------------------------------------------------------------------------
# tables


def make_posts() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The 10-account sample with a ``campaign`` (some null), zero clicks for acct_00003 in March
    2025 and null profile visits for acct_00005 in May 2025."""
    posts, accounts = sk.datasets.sample(n_accounts=10, n_posts=1500, seed=11)
    rng = np.random.default_rng(7)
    n = posts.height
    campaign = np.where(rng.random(n) < 0.1, None, rng.choice(np.array(CAMPAIGNS, dtype=object), n))
    month = pl.col("published_at").dt.month()
    acct = pl.col("account_id")
    posts = posts.with_columns(
        pl.Series("campaign", campaign.tolist(), dtype=pl.String),
        pl.when((acct == "acct_00003") & (month == 3)).then(0).otherwise(pl.col("clicks")).alias("clicks"),
        pl.when((acct == "acct_00005") & (month == 5))
        .then(None)
        .otherwise(pl.col("profile_visits"))
        .alias("profile_visits"),
    )
    return posts, accounts


def make_events(n: int = 3_000, seed: int = 2026) -> pl.DataFrame:
    """~3,000 conversion events over 2025 with the awkward cases of the spec.

    Kinds in several spellings and an unknown one (``refund``); values with nulls, a few negative
    sales, values on some lead events (never revenue); attribution by account_id, campaign and
    source (many spellings, two unmatched sources). acct_00009 has posts and no events;
    ``acct_events_only`` has events and no posts; ``acct_leads_only`` only lead events;
    ``acct_null_values`` sale events whose values are all null. A few events right after
    midnight UTC on 2025-01-01 and 2026-01-01 (the day before in New York), and five events
    without a timestamp (all of a known kind).
    """
    rng = np.random.default_rng(seed)
    accounts = [f"acct_{i:05d}" for i in range(9)] + [EVENTS_ONLY, LEADS_ONLY, NULL_VALUES]
    acct_p = np.array([0.1] * 9 + [0.04, 0.03, 0.03])
    account = rng.choice(np.array(accounts, dtype=object), n, p=acct_p / acct_p.sum())
    kind = rng.choice(np.array(KINDS, dtype=object), n, p=KIND_P)
    kind = np.where(
        account == LEADS_ONLY, rng.choice(np.array(["lead", "LEAD", " lead"], dtype=object), n), kind
    )
    seconds = rng.integers(0, 365 * 86_400, n)
    stamps: list[dt.datetime | None] = [T(2025, 1, 1) + dt.timedelta(seconds=int(s)) for s in seconds]
    value = np.round(rng.gamma(2.0, 30.0, n), 2).astype(object)
    u = rng.random(n)
    value[(u < 0.1) | (account == NULL_VALUES)] = None
    lower = np.char.lower(np.char.strip(kind.astype(str)))
    value[(lower == "lead") & (u > 0.7)] = None  # most leads carry a value, which is never revenue
    for i in (11, 1111, 2222):  # refunds as negative sales
        kind[i], account[i], value[i] = "sale", "acct_00001", -40.0
    for i, when in ((100, T(2025, 1, 1, 1, 30)), (101, T(2025, 1, 1, 4, 59)), (102, T(2026, 1, 1, 3))):
        stamps[i], kind[i], account[i] = when, "sale", "acct_00002"
    for i in (5, 500, 1500, 2500, 2999):
        stamps[i] = None
        kind[i] = "sale" if i % 2 else "lead"
        account[i] = "acct_00004"
    return pl.DataFrame(
        {
            "timestamp": pl.Series(stamps, dtype=pl.Datetime("us")),
            "kind": pl.Series(kind.tolist(), dtype=pl.String),
            "value": pl.Series(value.tolist(), dtype=pl.Float64),
            "account_id": pl.Series(account.tolist(), dtype=pl.String),
            "campaign": pl.Series(
                rng.choice(np.array([*CAMPAIGNS, "launch"], dtype=object), n), dtype=pl.String
            ),
            "source": pl.Series(rng.choice(np.array(EVENT_SOURCES, dtype=object), n), dtype=pl.String),
        }
    )


@pytest.fixture(scope="module")
def world() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    posts, accounts = make_posts()
    return posts, accounts, make_events()


def with_post_money(posts: pl.DataFrame) -> pl.DataFrame:
    """Posts with attributed ``conversions`` and ``revenue`` (scattered nulls)."""
    rng = np.random.default_rng(5)
    n = posts.height
    conv = rng.binomial(posts["clicks"].fill_null(0).to_numpy(), 0.03).astype(object)
    conv[rng.random(n) < 0.08] = None
    rev = np.round(rng.uniform(5, 80, n), 2).astype(object)
    rev[rng.random(n) < 0.08] = None
    return posts.with_columns(
        pl.Series("conversions", conv.tolist(), dtype=pl.Int64),
        pl.Series("revenue", rev.tolist(), dtype=pl.Float64),
    )


def make_lead_traffic(seed: int = 3) -> pl.DataFrame:
    """Daily web-analytics rows over 2025 with ``leads``, ``conversions`` and ``revenue``; every
    ``pin.it`` row has null leads; three rows have no date."""
    rng = np.random.default_rng(seed)
    n = 1_200
    sources = ["l.instagram.com", "IG", "t.co", "m.facebook.com", "youtube.com", "tiktok", "pin.it", "google"]
    source = rng.choice(np.array(sources, dtype=object), n)
    leads = rng.poisson(3.0, n).astype(object)
    leads[(rng.random(n) < 0.1) | (source == "pin.it")] = None
    conv = rng.poisson(1.0, n).astype(object)
    conv[rng.random(n) < 0.1] = None
    rev = np.round(rng.gamma(2.0, 20.0, n), 2).astype(object)
    rev[rng.random(n) < 0.1] = None
    days = [D(2025, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n)]
    frame = pl.DataFrame(
        {
            "date": pl.Series(days, dtype=pl.Date),
            "source": pl.Series(source.tolist(), dtype=pl.String),
            "sessions": pl.Series(rng.poisson(50.0, n), dtype=pl.Int64),
            "leads": pl.Series(leads.tolist(), dtype=pl.Int64),
            "conversions": pl.Series(conv.tolist(), dtype=pl.Int64),
            "revenue": pl.Series(rev.tolist(), dtype=pl.Float64),
        }
    )
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([3, 300, 900]))
        .then(None)
        .otherwise(pl.col("date"))
        .alias("date")
    )


def with_account_leads(accounts: pl.DataFrame, seed: int = 8) -> pl.DataFrame:
    """Daily snapshots with a ``leads`` column: scattered nulls, and none at all for acct_00002 in June."""
    rng = np.random.default_rng(seed)
    n = accounts.height
    leads = rng.poisson(1.5, n).astype(object)
    leads[rng.random(n) < 0.1] = None
    june2 = (pl.col("account_id") == "acct_00002") & (pl.col("date").dt.month() == 6)
    return accounts.with_columns(pl.Series("leads", leads.tolist(), dtype=pl.Int64)).with_columns(
        pl.when(june2).then(None).otherwise(pl.col("leads")).alias("leads")
    )


EVENT_SCHEMA: dict[str, Any] = {"timestamp": pl.Datetime("us"), "kind": pl.String, "value": pl.Float64}


def events_frame(
    rows: list[tuple[Any, ...]], names: tuple[str, ...] = ("timestamp", "kind", "value"), **extra: list[Any]
) -> pl.DataFrame:
    """Events from tuples (by default ``(timestamp, kind, value)``), plus extra (text) columns."""
    schema = EVENT_SCHEMA
    frame = pl.DataFrame(
        {name: [r[i] for r in rows] for i, name in enumerate(names)},
        schema={name: schema.get(name, pl.String) for name in names},
    )
    return frame.with_columns(pl.Series(k, v, dtype=schema.get(k, pl.String)) for k, v in extra.items())


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


def no_inf_or_nan(frame: pl.DataFrame) -> None:
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            col = frame[name].drop_nulls()
            assert not (col.is_infinite().any() or col.is_nan().any()), name


def raises(exc: type[sk.KpiError], code: str | set[str], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(sk.KpiError) as info:
        sk.compute(*args, **kwargs)
    codes = {code} if isinstance(code, str) else code
    assert info.value.code in codes, (info.value.code, str(info.value))
    if isinstance(code, str):
        assert isinstance(info.value, exc)
    return str(info.value)


MISSING = {"missing_column", "missing_table"}

# ---------------------------------------------------------------------------------------------
# the oracle, cell by cell


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
@pytest.mark.parametrize("every", [None, "1mo", "1w"])
@pytest.mark.parametrize("by", [[], ["account_id"], ["platform"]])
def test_events_match_oracle(world, by, every, tz):
    posts, accounts, events = world
    got = sk.compute(posts, accounts, conversions=events, kpis=KPIS, by=by, every=every, tz=tz)
    no_inf_or_nan(got)
    # accounts are given but not read: posts carry profile_visits
    check(got, oracle_events(KPIS, by, every, tz, conversions=events, posts=posts, accounts=accounts), by)


@pytest.mark.parametrize("by", [["campaign"], ["account_id", "campaign"]])
def test_events_by_campaign_match_oracle(world, by):
    posts, _, events = world
    got = sk.compute(posts, conversions=events, kpis=KPIS, by=by, every="1mo")
    check(got, oracle_events(KPIS, by, "1mo", conversions=events, posts=posts), by)
    # the posts without a campaign are a group of their own, with no events
    if by == ["campaign"]:
        last = got.filter(pl.col("campaign").is_null())
        assert last.height == 12 and last["conversions"].to_list() == [0] * 12


@pytest.mark.parametrize(("by", "every"), [(["account_id"], "1mo"), (["platform"], None), ([], "1w")])
def test_lead_rate_over_account_profile_visits_matches_oracle(world, by, every):
    posts, accounts, events = world
    bare = posts.drop("profile_visits")
    kpis = ["leads", "lead_rate", "conversions", "conversion_rate"]
    got = sk.compute(bare, accounts, conversions=events, kpis=kpis, by=by, every=every)
    check(got, oracle_events(kpis, by, every, conversions=events, posts=bare, accounts=accounts), by)


@pytest.mark.parametrize("every", [None, "1mo"])
def test_event_only_report_matches_oracle(world, every):
    _, _, events = world
    kpis = ["conversions", "revenue", "leads"]
    for by in ([], ["platform"], ["campaign", "account_id"]):
        got = sk.compute(conversions=events, kpis=kpis, by=by, every=every, tz="Asia/Tokyo")
        check(got, oracle_events(kpis, by, every, "Asia/Tokyo", conversions=events), by)


def test_generated_groups_have_the_cases_they_claim(world):
    """Guards the fixture and the oracle's view of it (no socialkpi result involved)."""
    posts, _, events = world
    kinds = events["kind"].str.strip_chars().str.to_lowercase()
    assert events.height == 3_000 and set(kinds) == {"lead", "sale", "refund"}
    assert dropped_events(events) == {"unknown kind": (kinds == "refund").sum(), "missing timestamp": 5}
    assert (
        events.filter(pl.col("timestamp").is_null())["kind"].str.to_lowercase().is_in(["lead", "sale"]).all()
    )
    assert (events["value"] < 0).sum() == 3 and events["value"].null_count() > 300
    assert set(events.filter(account_id=LEADS_ONLY)["kind"].str.strip_chars().str.to_lowercase()) == {"lead"}
    assert (
        events.filter(account_id=NULL_VALUES)["value"].null_count()
        == events.filter(account_id=NULL_VALUES).height
    )
    assert (
        NO_EVENTS not in events["account_id"].to_list() and EVENTS_ONLY not in posts["account_id"].to_list()
    )
    assert set(posts["platform"]) == {"facebook", "tiktok", "x", "youtube", "instagram", "linkedin"}
    assert posts["campaign"].null_count() > 50

    # what the oracle makes of it: zeros, nulls and groups of one table only
    by_acct = oracle_events(KPIS, ["account_id"], "1mo", conversions=events, posts=posts)
    leads_only = by_acct.filter(account_id=LEADS_ONLY)
    assert leads_only["conversions"].to_list() == [0] * 12 and leads_only["revenue"].to_list() == [0] * 12
    null_values = by_acct.filter(account_id=NULL_VALUES)["revenue"]  # 0 in a month with leads only
    assert null_values.null_count() >= 10 and set(null_values.drop_nulls()) <= {0.0}
    assert by_acct.filter(account_id=NO_EVENTS)["leads"].sum() == 0
    assert by_acct.filter(account_id=EVENTS_ONLY)["conversion_rate"].null_count() == 12
    assert (
        by_acct.filter(account_id="acct_00003", period_start=D(2025, 3, 1))["conversion_rate"].item() is None
    )
    assert by_acct.filter(account_id="acct_00005", period_start=D(2025, 5, 1))["lead_rate"].item() is None
    by_platform = oracle_events(KPIS, ["platform"], None, conversions=events, posts=posts)
    assert {"google", "newsletter", "linkedin"} <= set(by_platform["platform"])
    assert by_platform.filter(platform="linkedin")["conversions"].item() == 0
    ny = oracle_events(["conversions"], [], "1mo", "America/New_York", conversions=events)
    utc = oracle_events(["conversions"], [], "1mo", conversions=events)
    assert ny["period_start"].to_list() == [D(2024, 12, 1)] + [D(2025, m, 1) for m in range(1, 13)]
    assert utc["period_start"].to_list() == [D(2025, m, 1) for m in range(1, 13)] + [D(2026, 1, 1)]


# ---------------------------------------------------------------------------------------------
# which table each measure comes from


def test_conversions_table_takes_precedence_over_posts(world):
    posts, _, events = world
    posts = with_post_money(posts)
    kpis = ["conversions", "revenue", "conversion_rate"]
    args: dict[str, Any] = {"kpis": kpis, "by": ["account_id"], "every": "1mo"}
    with_events = sk.compute_details(posts, conversions=events, **args)
    from_posts = sk.compute_details(posts, **args)
    for measure in ("conversions", "revenue"):
        assert "conversions table" in with_events.origins[measure], with_events.origins
        assert "posts" in from_posts.origins[measure], from_posts.origins
        assert "conversions table" not in from_posts.origins[measure]
    want = oracle_events(kpis, ["account_id"], "1mo", conversions=events, posts=posts)
    check(with_events.frame, want, ["account_id"])
    check(from_posts.frame, oracle_events(kpis, ["account_id"], "1mo", posts=posts), ["account_id"])
    # each is counted once, never the sum of both
    whole = sk.compute(posts, conversions=events, kpis=["conversions"]).item()
    sales = events.filter(
        pl.col("timestamp").is_not_null(), pl.col("kind").str.strip_chars().str.to_lowercase() == "sale"
    ).height
    assert whole == sales != posts["conversions"].sum()
    assert sk.compute(posts, kpis=["conversions"]).item() == posts["conversions"].sum()


def test_revenue_from_posts_when_events_have_no_value(world):
    posts, _, events = world
    posts = with_post_money(posts)
    bare = events.drop("value")
    kpis = ["conversions", "revenue", "conversion_rate"]
    res = sk.compute_details(posts, conversions=bare, kpis=kpis, by=["platform"], every="1mo")
    assert "conversions table" in res.origins["conversions"]
    assert "posts" in res.origins["revenue"] and "conversions table" not in res.origins["revenue"]
    check(res.frame, oracle_events(kpis, ["platform"], "1mo", conversions=bare, posts=posts), ["platform"])
    assert choose_sources(bare, posts)["revenue"] == "posts"


@pytest.mark.parametrize("every", [None, "1mo"])
def test_traffic_measures_when_posts_and_events_lack_them(world, every):
    posts, accounts, _ = world
    traffic = make_lead_traffic()
    leads_accounts = with_account_leads(accounts)
    kpis = ["leads", "conversions", "revenue", "conversion_rate", "lead_rate"]
    # posts carry no conversions or revenue; traffic leads win over account leads
    res = sk.compute_details(posts, leads_accounts, traffic=traffic, kpis=kpis, by=["platform"], every=every)
    for measure in ("leads", "conversions", "revenue"):
        assert "traffic" in res.origins[measure], res.origins
    want = oracle_events(kpis, ["platform"], every, posts=posts, accounts=leads_accounts, traffic=traffic)
    check(res.frame, want, ["platform"])
    assert "google" in res.frame["platform"].to_list() and "linkedin" in res.frame["platform"].to_list()
    # pin.it rows never report leads: null, not 0
    assert (
        res.frame.filter(platform="pinterest")["leads"].null_count()
        == res.frame.filter(platform="pinterest").height
    )


def test_post_conversions_win_over_traffic_and_events_over_both(world):
    posts, _, events = world
    posts = with_post_money(posts)
    traffic = make_lead_traffic()
    kpis = ["conversions", "revenue", "leads"]
    res = sk.compute_details(posts, traffic=traffic, kpis=kpis, by=["platform"])
    assert "posts" in res.origins["conversions"] and "posts" in res.origins["revenue"]
    assert "traffic" in res.origins["leads"]
    check(res.frame, oracle_events(kpis, ["platform"], None, posts=posts, traffic=traffic), ["platform"])
    res = sk.compute_details(posts, traffic=traffic, conversions=events, kpis=kpis, by=["platform"])
    assert all("conversions table" in res.origins[m] for m in kpis), res.origins
    want = oracle_events(kpis, ["platform"], None, conversions=events, posts=posts, traffic=traffic)
    check(res.frame, want, ["platform"])


@pytest.mark.parametrize(("by", "every"), [(["account_id"], "1mo"), (["platform"], "1w"), ([], None)])
def test_leads_from_accounts(world, by, every):
    posts, accounts, _ = world
    leads_accounts = with_account_leads(accounts)
    res = sk.compute_details(accounts=leads_accounts, kpis=["leads", "lead_rate"], by=by, every=every)
    assert "accounts" in res.origins["leads"], res.origins
    check(res.frame, oracle_events(["leads", "lead_rate"], by, every, accounts=leads_accounts), by)
    # with posts, lead_rate divides by the posts' profile visits; the rows are those of both tables
    got = sk.compute(posts, leads_accounts, kpis=["leads", "lead_rate"], by=by, every=every)
    check(got, oracle_events(["leads", "lead_rate"], by, every, posts=posts, accounts=leads_accounts), by)
    if by == ["account_id"] and every == "1mo":
        june = res.frame.filter(account_id="acct_00002", period_start=D(2025, 6, 1))
        assert june.select("leads", "lead_rate").row(0) == (None, None)


def test_leads_from_accounts_by_hand():
    accounts = pl.DataFrame(
        {
            "account_id": ["a", "a", "a", "b", "b"],
            "platform": ["instagram", "instagram", "instagram", "x", "x"],
            "date": [D(2026, 1, 1), D(2026, 1, 2), D(2026, 2, 1), D(2026, 1, 1), D(2026, 2, 3)],
            "followers": [100, 101, 102, 50, 51],
            "profile_visits": [10, 20, 0, None, 8],
            "leads": [3, None, None, 0, 4],
        }
    )
    res = sk.compute_details(accounts=accounts, kpis=["leads", "lead_rate"], by=["account_id"], every="1mo")
    assert res.frame.rows() == [
        ("a", D(2026, 1, 1), 3, pytest.approx(3 / 30)),
        ("a", D(2026, 2, 1), None, None),  # leads not reported; no profile visits either
        ("b", D(2026, 1, 1), 0, None),  # profile visits not reported
        ("b", D(2026, 2, 1), 4, pytest.approx(0.5)),
    ]
    assert "accounts" in res.origins["leads"]
    whole = sk.compute(accounts=accounts, kpis=["leads", "lead_rate"], by=["platform"])
    assert whole.rows() == [("instagram", 3, pytest.approx(0.1)), ("x", 4, pytest.approx(0.5))]


def test_leads_from_traffic_by_hand():
    traffic = pl.DataFrame(
        {
            "date": [D(2026, 1, 5), D(2026, 1, 6), D(2026, 1, 7), D(2026, 1, 8), D(2026, 2, 2)],
            "source": ["t.co", "ig", "google", "x.com", "l.instagram.com"],
            "sessions": [10, 5, 100, 1, 3],
            "leads": [2, None, 7, 1, None],
        }
    )
    accounts = pl.DataFrame(
        {"account_id": ["a"], "platform": ["x"], "date": [D(2026, 1, 5)], "followers": [9], "leads": [1000]}
    )
    res = sk.compute_details(traffic=traffic, accounts=accounts, kpis=["leads"], by=["platform"], every="1mo")
    assert "traffic" in res.origins["leads"]
    assert res.frame.rows() == [
        ("google", D(2026, 1, 1), 7),
        ("instagram", D(2026, 1, 1), None),  # instagram never reported leads: null, not 0
        ("instagram", D(2026, 2, 1), None),
        ("x", D(2026, 1, 1), 3),
    ]
    assert sk.compute(traffic=traffic, accounts=accounts, kpis=["leads"]).item() == 10


# ---------------------------------------------------------------------------------------------
# worked by hand


def hand_posts() -> pl.DataFrame:
    rows = [
        ("p1", "ig1", "instagram", T(2026, 1, 3, 9), 10),
        ("p2", "ig1", "instagram", T(2026, 1, 20, 18), 30),
        ("p3", "x1", "x", T(2026, 1, 9, 12), 0),
        ("p4", "yt1", "youtube", T(2026, 1, 9, 12), None),
        ("p5", "tt1", "tiktok", T(2026, 1, 9, 12), 20),
    ]
    names = ("post_id", "account_id", "platform", "published_at", "clicks")
    return post_rows([dict(zip(names, row)) for row in rows]).with_columns(pl.col("clicks").cast(pl.Int64))


def hand_events() -> pl.DataFrame:
    return events_frame(
        [
            (T(2026, 1, 4, 10), "sale", 20.0, "IG"),
            (T(2026, 1, 5, 10), "Sale ", 30.0, "l.instagram.com"),
            (T(2026, 1, 21, 10), "sale", None, "instagram"),
            (T(2026, 1, 22, 10), "lead", None, "instagram"),
            (T(2026, 1, 10, 10), "SALE", 15.0, "t.co"),
            (T(2026, 1, 11, 10), "sale", 5.0, "newsletter"),
            (T(2026, 1, 12, 10), "sale", 5.0, "newsletter"),
        ],
        names=("timestamp", "kind", "value", "source"),
    )


def test_conversion_rate_by_platform_from_events_over_post_clicks():
    posts, events = hand_posts(), hand_events()
    kpis = ["conversions", "clicks", "conversion_rate"]
    res = sk.compute_details(posts, conversions=events, kpis=kpis, by=["platform"])
    assert res.frame.rows() == [
        ("instagram", 3, 40, pytest.approx(3 / 40)),  # IG, l.instagram.com and instagram are one platform
        ("newsletter", 2, 0, None),  # an unmatched source keeps its name; no posts, no clicks
        ("tiktok", 0, 20, 0.0),  # posts only: no conversion is 0
        ("x", 1, 0, None),  # zero clicks
        ("youtube", 0, None, None),  # clicks not reported
    ]
    assert "conversions table" in res.origins["conversions"]
    # one overall row: all 6 sales over all 60 clicks
    assert sk.compute(posts, conversions=events, kpis=kpis).row(0) == (6, 60, pytest.approx(0.1))
    monthly = sk.compute(posts, conversions=events, kpis=kpis, by=["platform"], every="1mo")
    assert monthly.select("platform", "period_start").rows() == [
        (p, D(2026, 1, 1)) for p in ("instagram", "newsletter", "tiktok", "x", "youtube")
    ]


def test_only_tables_a_kpi_reads_add_rows():
    posts, events = hand_posts(), hand_events()
    # conversions alone read the events: the posts-only platforms do not appear
    out = sk.compute(posts, conversions=events, kpis=["conversions"], by=["platform"])
    assert out.rows() == [("instagram", 3), ("newsletter", 2), ("x", 1)]
    # posts read by another KPI: posts-only groups get 0 conversions
    out = sk.compute(posts, conversions=events, kpis=["posts", "conversions", "revenue"], by=["platform"])
    assert out.rows() == [
        ("instagram", 2, 3, 50.0),
        ("newsletter", 0, 2, 10.0),
        ("tiktok", 1, 0, 0.0),
        ("x", 1, 1, 15.0),
        ("youtube", 1, 0, 0.0),
    ]


def test_revenue_is_null_when_every_sale_value_is_null():
    events = events_frame(
        [
            (T(2026, 1, 5), "sale", None, "a"),
            (T(2026, 1, 6), "sale", None, "a"),
            (T(2026, 1, 7), "lead", 50.0, "a"),  # a lead's value is not revenue
            (T(2026, 2, 1, 12), "sale", 12.5, "a"),
            (T(2026, 1, 8), "lead", 10.0, "b"),
            (T(2026, 1, 9), "sale", 20.0, "c"),
            (T(2026, 1, 10), "sale", None, "c"),
            (T(2026, 1, 11), "sale", -5.0, "c"),  # a refund
            (T(2026, 1, 12), "refund", 30.0, "d"),  # an unknown kind: dropped
        ],
        names=("timestamp", "kind", "value", "account_id"),
    )
    kpis = ["conversions", "revenue", "leads"]
    res = sk.compute_details(conversions=events, kpis=kpis, by=["account_id"], every="1mo")
    assert res.frame.rows() == [
        ("a", D(2026, 1, 1), 2, None, 1),  # sales whose value is unknown: revenue unknown, not 0
        ("a", D(2026, 2, 1), 1, 12.5, 0),
        ("b", D(2026, 1, 1), 0, 0.0, 1),  # no sale: no revenue
        ("c", D(2026, 1, 1), 3, 15.0, 0),
    ]
    assert ("conversions", "unknown kind", 1) in res.rows_dropped
    whole = sk.compute(conversions=events, kpis=kpis, by=["account_id"])
    assert whole.rows() == [("a", 3, 12.5, 1), ("b", 0, 0.0, 1), ("c", 3, 15.0, 0)]
    assert sk.compute(conversions=events, kpis=kpis).row(0) == (6, 27.5, 2)


def test_kinds_are_trimmed_and_case_insensitive():
    kinds = [" Sale", "SALE", "sale", "Lead ", "lead", "LEAD", " lEaD  "]
    events = events_frame([(T(2026, 3, 1, 12), k, 1.0) for k in kinds])
    res = sk.compute_details(conversions=events, kpis=["conversions", "leads", "revenue"])
    assert res.frame.row(0) == (3, 4, 3.0)
    assert not [d for d in res.rows_dropped if d[0] == "conversions"]
    assert res.rows_read["conversions"] == 7


@pytest.mark.parametrize("every", [None, "1d"])
def test_unknown_kinds_and_missing_timestamps_are_dropped_and_counted(every):
    events = events_frame(
        [
            (T(2026, 1, 5), "sale", 10.0),
            (None, "sale", 99.0),
            (T(2026, 1, 6), "refund", -10.0),
            (T(2026, 1, 6), "signup", None),
            (T(2026, 1, 7), "lead", None),
            (None, "lead", None),
            (T(2026, 1, 8), "click", 3.0),
        ]
    )
    res = sk.compute_details(conversions=events, kpis=["conversions", "revenue", "leads"], every=every)
    assert res.frame.select("conversions", "revenue", "leads").sum().row(0) == (1, 10.0, 1)
    assert ("conversions", "unknown kind", 3) in res.rows_dropped
    assert ("conversions", "missing timestamp", 2) in res.rows_dropped
    assert res.rows_read["conversions"] == 7
    if every == "1d":
        # the days of dropped events have no row
        assert res.frame["period_start"].to_list() == [D(2026, 1, 5), D(2026, 1, 7)]


def test_drops_in_the_generated_events(world):
    posts, _, events = world
    res = sk.compute_details(posts, conversions=events, kpis=KPIS, by=["account_id"], every="1mo")
    for reason, n in dropped_events(events).items():
        assert ("conversions", reason, n) in res.rows_dropped
    assert res.rows_read["conversions"] == events.height


def test_no_drop_no_report():
    events = events_frame([(T(2026, 1, 5), "sale", 10.0), (T(2026, 1, 6), "lead", None)])
    res = sk.compute_details(conversions=events, kpis=["conversions", "leads"], every="1d")
    assert not [d for d in res.rows_dropped if d[0] == "conversions"]
    assert res.frame.rows() == [(D(2026, 1, 5), 1, 0), (D(2026, 1, 6), 0, 1)]


def test_event_day_in_the_report_time_zone():
    # 23:30 UTC on Jan 31 is Feb 1 in Tokyo; 03:00 UTC on Feb 1 is still Jan 31 in New York
    events = events_frame([(T(2026, 1, 31, 23, 30), "sale", 10.0), (T(2026, 2, 1, 3), "lead", None)])
    kpis = ["conversions", "leads"]
    month = {tz: sk.compute(conversions=events, kpis=kpis, every="1mo", tz=tz).rows()
             for tz in ("UTC", "Asia/Tokyo", "America/New_York")}  # fmt: skip
    assert month == {
        "UTC": [(D(2026, 1, 1), 1, 0), (D(2026, 2, 1), 0, 1)],
        "Asia/Tokyo": [(D(2026, 2, 1), 1, 1)],
        "America/New_York": [(D(2026, 1, 1), 1, 1)],
    }
    # time-zone-aware timestamps: the same instants give the same periods
    aware = events.with_columns(
        pl.col("timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Berlin")
    )
    for tz in month:
        assert sk.compute(conversions=aware, kpis=kpis, every="1mo", tz=tz).rows() == month[tz]


def test_cost_per_acquisition_and_return_use_the_events():
    # the posts' own conversions and revenue are not read: the events are
    names = ("post_id", "account_id", "published_at", "spend", "clicks")
    rows = [("pa1", "a", T(2026, 1, 5), 100.0, 10), ("pa2", "a", T(2026, 1, 15), 50.0, 5),
            ("pb1", "b", T(2026, 1, 7), 30.0, 3)]  # fmt: skip
    posts = post_rows([dict(zip(names, row)) for row in rows]).with_columns(
        campaign=pl.lit("c"), conversions=pl.lit(99), revenue=pl.lit(999.0)
    )
    events = events_frame(
        [
            (T(2026, 1, 6), "sale", 40.0, "a"),
            (T(2026, 1, 8), "sale", 60.0, "a"),
            (T(2026, 1, 9), "sale", None, "a"),
            (T(2026, 1, 9), "lead", 7.0, "a"),
            (T(2026, 1, 10), "sale", 90.0, "b"),
        ],
        names=("timestamp", "kind", "value", "account_id"),
    )
    contracts = pl.DataFrame(
        {"account_id": ["a"], "campaign": ["c"], "start": [D(2026, 1, 1)], "end": [D(2026, 1, 31)],
         "posts_agreed": [2], "fee": [300.0]}
    )  # fmt: skip
    kpis = ["cost", "conversions", "revenue", "cpa", "roas", "roi"]
    res = sk.compute_details(posts, conversions=events, contracts=contracts, kpis=kpis, by=["account_id"])
    assert res.frame.rows() == [
        # cost 100 + 50 + 300 of fee; 3 sales worth 40 + 60 (+ an unknown one)
        ("a", 450.0, 3, 100.0, 150.0, pytest.approx(100 / 450), pytest.approx(-350 / 450)),
        ("b", 30.0, 1, 90.0, 30.0, 3.0, 2.0),
    ]
    assert "conversions table" in res.origins["conversions"] and "conversions table" in res.origins["revenue"]


def test_dimensions_of_the_conversions_table():
    events = events_frame(
        [
            (T(2026, 1, 5), "sale", 1.0, "a", "spring", "email"),
            (T(2026, 1, 6), "lead", None, "a", "summer", "email"),
            (T(2026, 1, 7), "sale", 2.0, "b", "spring", "ads"),
        ],
        names=("timestamp", "kind", "value", "account_id", "campaign", "channel"),
    )
    kpis = ["conversions", "leads", "revenue"]
    by_channel = sk.compute(conversions=events, kpis=kpis, by=["channel"])
    assert by_channel.rows() == [("ads", 1, 0, 2.0), ("email", 1, 1, 1.0)]
    by_campaign = sk.compute(conversions=events, kpis=kpis, by=["campaign"])
    assert by_campaign.rows() == [("spring", 2, 0, 3.0), ("summer", 0, 1, 0.0)]
    # platform from a source, with only a source
    by_source = events.rename({"channel": "source"}).with_columns(
        pl.Series("source", ["IG", "t.co", "google"])
    )
    assert sk.compute(conversions=by_source, kpis=kpis, by=["platform"]).rows() == [
        ("google", 1, 0, 2.0), ("instagram", 1, 0, 1.0), ("x", 0, 1, 0.0),
    ]  # fmt: skip
    # a platform column is used as it is
    by_platform = by_source.rename({"source": "platform"}).with_columns(pl.lit("tiktok").alias("platform"))
    assert sk.compute(conversions=by_platform, kpis=kpis, by=["platform"]).rows() == [("tiktok", 2, 1, 3.0)]


def test_leads_preset(world):
    preset = ["leads", "lead_rate", "profile_visits", "referral_traffic"]
    assert sk.presets()["leads"] == preset
    posts, accounts, events = world
    traffic = make_lead_traffic()
    res = sk.compute_details(posts, accounts, conversions=events, traffic=traffic, kpis=preset)
    assert res.frame.columns == preset
    assert "conversions table" in res.origins["leads"]
    want = oracle_events(["leads", "lead_rate"], [], None, conversions=events, posts=posts, accounts=accounts)
    check(res.frame.select("leads", "lead_rate"), want, [])
    assert res.frame["profile_visits"].item() == posts["profile_visits"].sum()
    assert (
        res.frame["referral_traffic"].item() == oracle_traffic(traffic, ["referral_traffic"], [], None).item()
    )


# ---------------------------------------------------------------------------------------------
# input forms


@pytest.fixture(scope="module")
def small_events(world) -> pl.DataFrame:
    return world[2].head(600)


@pytest.fixture(scope="module")
def small_expected(small_events) -> pl.DataFrame:
    return sk.compute(
        conversions=small_events, kpis=EVENT_ONLY, by=["platform"], every="1mo", tz="America/New_York"
    )


@pytest.mark.parametrize("form", ["pandas", "pandas_arrow", "pyarrow", "lazy", "parquet_str", "parquet_path"])
def test_conversions_input_forms(small_events, small_expected, tmp_path, form):
    before = small_events.clone()
    given: Any
    if form == "pandas":
        given = small_events.to_pandas()
    elif form == "pandas_arrow":
        given = small_events.to_pandas(use_pyarrow_extension_array=True)
    elif form == "pyarrow":
        given = small_events.to_arrow()
    elif form == "lazy":
        given = small_events.lazy()
    else:
        path = tmp_path / "events.parquet"
        small_events.write_parquet(path)
        given = str(path) if form == "parquet_str" else Path(path)
    snapshot = given.copy() if isinstance(given, pd.DataFrame) else None
    got = sk.compute(conversions=given, kpis=EVENT_ONLY, by=["platform"], every="1mo", tz="America/New_York")
    check(got, small_expected, ["platform"])
    assert small_events.equals(before)
    if snapshot is not None:
        pd.testing.assert_frame_equal(given, snapshot)
    want = oracle_events(EVENT_ONLY, ["platform"], "1mo", "America/New_York", conversions=small_events)
    check(got, want, ["platform"])


def test_inputs_are_not_modified(world):
    posts, accounts, events = world
    before = [t.clone() for t in (posts, accounts, events)]
    sk.compute(
        posts, accounts, conversions=events, kpis=KPIS, by=["platform"], every="1w", tz="America/New_York"
    )
    assert all(t.equals(b) for t, b in zip((posts, accounts, events), before))


# ---------------------------------------------------------------------------------------------
# errors


def test_conversions_without_a_timestamp_column(world):
    _, _, events = world
    msg = raises(sk.SchemaError, "missing_column", conversions=events.drop("timestamp"), kpis=["conversions"])
    assert "timestamp" in msg
    msg = raises(
        sk.SchemaError, "missing_column", conversions=events.rename({"timestamp": "ts"}), kpis=["leads"]
    )
    assert "timestamp" in msg


def test_conversions_without_a_kind_column(world):
    _, _, events = world
    raises(sk.SchemaError, "missing_column", conversions=events.drop("kind"), kpis=["conversions"])
    raises(sk.SchemaError, "missing_column", conversions=events.drop("kind"), kpis=["revenue"])


@pytest.mark.parametrize("kpi", ["leads", "lead_rate"])
def test_leads_without_any_table_that_has_them(world, kpi):
    posts, accounts, _ = world
    raises(sk.KpiError, MISSING, posts, kpis=[kpi])
    raises(sk.KpiError, MISSING, posts, accounts, kpis=[kpi])  # accounts without a leads column
    raises(sk.KpiError, MISSING, posts, accounts, traffic=make_lead_traffic().drop("leads"), kpis=[kpi])


def test_rates_without_their_denominator(world):
    posts, _, events = world
    # lead_rate needs profile visits (posts or accounts); conversion_rate needs the posts' clicks
    raises(sk.KpiError, MISSING, conversions=events, kpis=["lead_rate"])
    raises(sk.KpiError, MISSING, posts.drop("profile_visits"), conversions=events, kpis=["lead_rate"])
    raises(sk.KpiError, MISSING, conversions=events, kpis=["conversion_rate"])
    raises(sk.KpiError, MISSING, posts.drop("clicks"), conversions=events, kpis=["conversion_rate"])


def test_revenue_without_values_anywhere(world):
    posts, _, events = world
    raises(sk.KpiError, MISSING, posts, conversions=events.drop("value"), kpis=["revenue"])


@pytest.mark.parametrize("dim", ["content_type", "tier"])
@pytest.mark.parametrize("kpi", ["conversions", "leads", "revenue", "conversion_rate", "lead_rate"])
def test_event_kpis_by_a_dimension_events_lack(world, kpi, dim):
    posts, accounts, events = world
    msg = raises(
        sk.QueryError, "dimension_not_in_table", posts, accounts, conversions=events, kpis=[kpi], by=[dim]
    )
    assert dim in msg


def test_platform_needs_a_source_or_platform_column(world):
    posts, _, events = world
    no_source = events.drop("source")
    msg = raises(sk.QueryError, "dimension_not_in_table", posts, conversions=no_source, kpis=["conversions"],
                 by=["platform"])  # fmt: skip
    assert "platform" in msg
    # without the events, the posts' own conversions can be grouped by platform
    assert sk.compute(with_post_money(posts), kpis=["conversions"], by=["platform"]).height == 6


def test_negative_values_are_refunds_not_errors():
    events = events_frame([(T(2026, 1, 5), "sale", 30.0), (T(2026, 1, 9), "sale", -45.0)])
    res = sk.compute_details(conversions=events, kpis=["conversions", "revenue"])
    assert res.frame.row(0) == (2, -15.0)
    assert not [d for d in res.rows_dropped if d[0] == "conversions"]
