"""Traffic KPIs (website_traffic, referral_traffic, referral_share) and mentions / share_of_voice.

Compared cell by cell with an independent oracle (tests/oracle_traffic.py: source matching in plain
Python, sums and shares in DuckDB SQL), with source matching checked one spelling at a time, and
with a posts + traffic report worked out by hand.

Where the spec leaves a choice, these tests pin one (the oracle's docstring lists them):
- referral_traffic sums the *social* rows: a group with rows but no social row is 0, even when all
  its sessions are null (``test_referral_traffic_of_unmatched_rows_with_null_sessions``);
- rows with a null date are dropped with ``every=None`` too, and ``rows_read`` counts them;
- a user entry is a match like any other: its rows are referral traffic;
- "ISO text" dates include ISO datetimes (``2026-01-31T23:59:59``): their calendar date is used;
- ``dimension_not_in_table`` is for a column another given table has; a column no given table has
  is ``unknown_dimension``, as for every other KPI (tests/test_errors.py);
- with a ``platform`` column instead of ``source``, only canonical platform names are tested
  (``instagram`` is social, ``google`` is not).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import socialkpi as sk
from oracle_traffic import DEFAULT_SOURCES, oracle_mentions, oracle_traffic
from polars.testing import assert_frame_equal

D = dt.date
T = dt.datetime
TRAFFIC_KPIS = ["website_traffic", "referral_traffic", "referral_share"]
MENTION_KPIS = ["mentions", "share_of_voice"]
UNMATCHED = "matched no social platform"

# (source as written, platform it must land on)
SPELLINGS = [
    ("instagram", "instagram"),
    ("l.instagram.com", "instagram"),
    ("IG", "instagram"),
    ("m.facebook.com", "facebook"),
    ("lm.facebook.com", "facebook"),
    ("t.co", "x"),
    ("x.com", "x"),
    ("youtube.com", "youtube"),
    ("youtu.be", "youtube"),
    ("tiktok", "tiktok"),
    ("linkedin.com", "linkedin"),
    ("lnkd.in", "linkedin"),
    ("utm_source=ig", "instagram"),
    ("https://www.facebook.com/page?x=1", "facebook"),
    # trimming, case, scheme, www., port, path, query and fragment
    ("  Instagram.com ", "instagram"),
    ("HTTPS://WWW.TikTok.com:443/@someone", "tiktok"),
    ("http://m.youtube.com/watch?v=abc#t=10", "youtube"),
    ("www.reddit.com/r/python", "reddit"),
    ("fb.me/abc", "facebook"),
    ("pin.it", "pinterest"),
    ("threads.net", "threads"),
    ("snapchat.com", "snapchat"),
    ("out.reddit.com", "reddit"),
    ("vm.tiktok.com", "tiktok"),
    # utm_source anywhere, up to &, # or a space
    ("https://shop.example.com/landing?utm_source=Instagram&utm_medium=social", "instagram"),
    ("?utm_source=fb#top", "facebook"),
    ("utm_source=yt campaign", "youtube"),
    # subdomains fall back to the parent host
    ("web.facebook.com", "facebook"),
    ("mobile.twitter.com", "x"),
    ("a.b.pinterest.com", "pinterest"),
    ("https://sub.l.instagram.com/x", "instagram"),
]
# unmatched: the platform is the source exactly as given
UNMATCHED_SPELLINGS = ["google", "Google", "(direct)", "newsletter", "bing.com", "News.Google.com",
                       "notinstagram.com", "x.com.evil.net"]  # fmt: skip

# ---------------------------------------------------------------------------------------------
# tables

GEN_SOURCES = [
    "instagram", "Instagram", "l.instagram.com", "IG", " ig ", "utm_source=ig", "m.facebook.com",
    "lm.facebook.com", "https://www.facebook.com/page?x=1", "web.facebook.com", "t.co", "x.com",
    "mobile.twitter.com", "youtube.com", "youtu.be", "tiktok", "vm.tiktok.com", "linkedin.com", "lnkd.in",
    "threads.net", "pin.it",
    "google", "Google", "(direct)", "newsletter", "bing.com", "news.google.com",
]  # fmt: skip
CAMPAIGNS = ["spring", "summer", "always-on", "ghost"]
MEDIUMS = ["social", "referral", "organic", "email"]


def make_traffic(n: int = 5_000, seed: int = 11) -> pl.DataFrame:
    """Daily web-analytics rows over 2024-2025 with the awkward cases of the spec.

    Null sessions here and there; every ``bing.com`` and ``pin.it`` row (an unmatched and a social
    source), every ``ghost`` campaign row and every row of 2024-07-04 has null sessions; only
    unmatched sources on 2025-12-25; zero sessions; null campaigns; a few null dates.
    """
    rng = np.random.default_rng(seed)
    first = D(2024, 1, 1)
    days = rng.integers(0, 731, n)
    dates = [first + dt.timedelta(days=int(d)) for d in days]
    source = rng.choice(np.array(GEN_SOURCES, dtype=object), n)
    sessions = rng.poisson(rng.choice([3.0, 40.0, 400.0], n)).astype(np.int64)
    campaign = rng.choice(np.array(CAMPAIGNS, dtype=object), n)
    u = rng.random((3, n))
    frame = pl.DataFrame(
        {
            "date": pl.Series(dates, dtype=pl.Date),
            "source": pl.Series(source, dtype=pl.String),
            "medium": pl.Series(rng.choice(np.array(MEDIUMS, dtype=object), n), dtype=pl.String),
            "campaign": pl.Series(campaign, dtype=pl.String),
            "sessions": pl.Series(sessions, dtype=pl.Int64),
        }
    )

    def mask(m: np.ndarray) -> pl.Expr:
        return pl.lit(pl.Series(m))

    christmas = pl.col("date") == D(2025, 12, 25)
    frame = frame.with_columns(
        pl.when(christmas).then(pl.lit("(direct)")).otherwise(pl.col("source")).alias("source"),
    )
    null_sessions = (
        mask(u[0] < 0.07)
        | pl.col("source").is_in(["bing.com", "pin.it"])
        | (pl.col("campaign") == "ghost")
        | (pl.col("date") == D(2024, 7, 4))
    )
    frame = frame.with_columns(
        pl.when(null_sessions)
        .then(None)
        .when(mask(u[1] < 0.03))
        .then(0)
        .otherwise(pl.col("sessions"))
        .alias("sessions"),
        pl.when(mask(u[2] < 0.1)).then(None).otherwise(pl.col("campaign")).alias("campaign"),
    )
    # a few rows without a date
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 1_234, 4_321]))
        .then(None)
        .otherwise(pl.col("date"))
        .alias("date")
    )


@pytest.fixture(scope="module")
def traffic() -> pl.DataFrame:
    return make_traffic()


def make_mention_accounts() -> pl.DataFrame:
    """Daily snapshots of 12 accounts with a ``mentions`` column.

    Scattered nulls and zeros; acct_00003 has only null mentions in March 2025; nobody has a
    mention value in the ISO week of 2025-06-16; acct_00007 never reports mentions.
    """
    accounts = sk.datasets.sample(n_accounts=12, n_posts=100, seed=5)[1]
    rng = np.random.default_rng(99)
    n = accounts.height
    mentions = rng.poisson(rng.choice([0.5, 5.0, 60.0], n)).astype(np.int64)
    date, acct = pl.col("date"), pl.col("account_id")
    null = (
        pl.lit(pl.Series(rng.random(n) < 0.08))
        | ((acct == "acct_00003") & (date >= D(2025, 3, 1)) & (date <= D(2025, 3, 31)))
        | ((date >= D(2025, 6, 16)) & (date <= D(2025, 6, 22)))
        | (acct == "acct_00007")
    )
    return accounts.with_columns(
        pl.when(null).then(None).otherwise(pl.Series(mentions)).cast(pl.Int64).alias("mentions")
    )


@pytest.fixture(scope="module")
def mention_accounts() -> pl.DataFrame:
    return make_mention_accounts()


def check(got: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    """Same columns, same rows, every KPI cell equal to 1e-9 (relative), nulls where nulls are."""
    assert got.columns == expected.columns
    if "period_start" in expected.columns:
        assert got.schema["period_start"] == pl.Date
    values = [c for c in expected.columns if c not in keys and c != "period_start"]
    assert_frame_equal(
        got.with_columns(pl.col(values).cast(pl.Float64)),
        expected.with_columns(pl.col(values).cast(pl.Float64)),
        check_dtypes=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def traffic_rows(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """(date, source, sessions) rows."""
    return pl.DataFrame(
        {"date": [r[0] for r in rows], "source": [r[1] for r in rows], "sessions": [r[2] for r in rows]},
        schema={"date": pl.Date, "source": pl.String, "sessions": pl.Int64},
    )


def raises(exc: type[sk.KpiError], code: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(exc) as info:
        sk.compute(*args, **kwargs)
    assert info.value.code == code
    assert isinstance(info.value, sk.KpiError)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# source matching


@pytest.mark.parametrize(("source", "platform"), SPELLINGS)
def test_source_lands_on_its_platform(source, platform):
    t = traffic_rows([(D(2026, 1, 5), source, 7)])
    res = sk.compute_details(traffic=t, kpis=["referral_traffic", "website_traffic"], by=["platform"])
    assert res.frame.rows() == [(platform, 7, 7)]
    assert not any(UNMATCHED in w for w in res.warnings), res.warnings


@pytest.mark.parametrize("source", UNMATCHED_SPELLINGS)
def test_unmatched_source_keeps_its_own_name(source):
    t = traffic_rows([(D(2026, 1, 5), source, 7)])
    res = sk.compute_details(traffic=t, kpis=["referral_traffic", "website_traffic"], by=["platform"])
    assert res.frame.rows() == [(source, 0, 7)]
    assert any(UNMATCHED in w for w in res.warnings), res.warnings


def test_all_spellings_in_one_table():
    spellings = SPELLINGS + [(s, s) for s in UNMATCHED_SPELLINGS]
    # distinct powers of two: every platform's sum says exactly which rows it got
    t = traffic_rows([(D(2026, 1, 5), s, 2**i) for i, (s, _) in enumerate(spellings)])
    want: dict[str, int] = {}
    for i, (_, p) in enumerate(spellings):
        want[p] = want.get(p, 0) + 2**i
    out = sk.compute(traffic=t, kpis=["website_traffic", "referral_traffic"], by=["platform"])
    assert dict(out.select("platform", "website_traffic").rows()) == want
    social = {p for _, p in SPELLINGS}
    assert dict(out.select("platform", "referral_traffic").rows()) == {
        p: (v if p in social else 0) for p, v in want.items()
    }
    assert out["platform"].to_list() == sorted(want)


def test_user_entries_are_social_matches():
    t = traffic_rows(
        [(D(2026, 1, 5), "newsletter", 10), (D(2026, 1, 6), "NEWSLETTER ", 5), (D(2026, 1, 6), "ig", 3),
         (D(2026, 1, 7), "google", 100)]
    )  # fmt: skip
    kpis = ["referral_traffic", "website_traffic", "referral_share"]
    res = sk.compute_details(traffic=t, sources={"Newsletter": "email"}, kpis=kpis, by=["platform"])
    assert res.frame.rows() == [
        ("email", 15, 15, pytest.approx(15 / 18)),
        ("google", 0, 100, 0.0),
        ("instagram", 3, 3, pytest.approx(3 / 18)),
    ]
    # without the entry, newsletter is its own (unmatched) platform
    plain = sk.compute(traffic=t, kpis=kpis, by=["platform"])
    assert plain.rows() == [
        ("NEWSLETTER ", 0, 5, 0.0),
        ("google", 0, 100, 0.0),
        ("instagram", 3, 3, 1.0),
        ("newsletter", 0, 10, 0.0),
    ]
    assert sk.compute(traffic=t, sources={"Newsletter": "email"}, kpis=["referral_traffic"]).item() == 18
    assert sk.compute(traffic=t, kpis=["referral_traffic"]).item() == 3


def test_user_entries_take_precedence_over_the_defaults():
    t = traffic_rows(
        [(D(2026, 1, 5), "IG", 1), (D(2026, 1, 5), "utm_source=ig", 2), (D(2026, 1, 5), "instagram", 4),
         (D(2026, 1, 5), "l.instagram.com", 8)]
    )  # fmt: skip
    out = sk.compute(traffic=t, sources={"ig": "ig-shop"}, kpis=["referral_traffic"], by=["platform"])
    assert out.rows() == [("ig-shop", 3), ("instagram", 12)]


def test_user_entries_are_normalised_like_sources():
    t = traffic_rows(
        [(D(2026, 1, 5), "blog.example.com/post/1", 1), (D(2026, 1, 5), "https://example.com/", 2),
         (D(2026, 1, 5), "example.org", 4)]
    )  # fmt: skip
    out = sk.compute(
        traffic=t, sources={"https://www.Example.com/": "blog"}, kpis=["referral_traffic"], by=["platform"]
    )
    assert out.rows() == [("blog", 3), ("example.org", 0)]


def test_source_table():
    table = sk.sources()
    assert table.columns == ["source", "platform"]
    assert table.schema["source"] == pl.String and table.schema["platform"] == pl.String
    assert ("t.co", "x") in table.rows()
    assert dict(table.rows()) == DEFAULT_SOURCES
    assert table["source"].n_unique() == table.height


def test_platform_column_instead_of_source():
    t = pl.DataFrame(
        {"date": [D(2026, 1, 5)] * 4, "platform": ["instagram", "x", "google", "instagram"],
         "sessions": [1, 2, 4, 8]},
    )  # fmt: skip
    out = sk.compute(traffic=t, kpis=["website_traffic", "referral_traffic"], by=["platform"])
    assert out.rows() == [("google", 4, 0), ("instagram", 9, 9), ("x", 2, 2)]


# ---------------------------------------------------------------------------------------------
# the oracle, cell by cell


@pytest.mark.parametrize("every", [None, "1d", "1w", "1mo", "1q"])
@pytest.mark.parametrize("by", [[], ["platform"], ["source"], ["platform", "campaign"]])
def test_traffic_kpis_match_oracle(traffic, by, every):
    got = sk.compute(traffic=traffic, kpis=TRAFFIC_KPIS, by=by, every=every)
    check(got, oracle_traffic(traffic, TRAFFIC_KPIS, by, every), by)


@pytest.mark.parametrize(("by", "every"), [(["medium"], "1y"), (["campaign", "source"], "1mo")])
def test_traffic_kpis_by_other_columns_match_oracle(traffic, by, every):
    got = sk.compute(traffic=traffic, kpis=TRAFFIC_KPIS, by=by, every=every)
    check(got, oracle_traffic(traffic, TRAFFIC_KPIS, by, every), by)


def test_traffic_kpis_with_user_sources_match_oracle(traffic):
    user = {"newsletter": "email", "bing.com": "search", "IG": "ig-shop"}
    by = ["platform"]
    got = sk.compute(traffic=traffic, sources=user, kpis=TRAFFIC_KPIS, by=by, every="1mo")
    check(got, oracle_traffic(traffic, TRAFFIC_KPIS, by, "1mo", sources=user), by)


def test_referral_traffic_of_unmatched_rows_with_null_sessions():
    """referral_traffic sums the social rows: no social row is 0, social rows all null is null."""
    t = traffic_rows(
        [
            (D(2026, 1, 5), "pin.it", None),  # social, unreported
            (D(2026, 1, 5), "google", 6),
            (D(2026, 1, 6), "bing.com", None),  # unmatched only, unreported
            (D(2026, 1, 7), "t.co", None),
            (D(2026, 1, 7), "bing.com", None),
            (D(2026, 1, 8), "x.com", 4),
        ]
    )
    days = sk.compute(traffic=t, kpis=TRAFFIC_KPIS, every="1d")
    assert days.rows() == [
        (D(2026, 1, 5), 6, None, None),  # the social rows did not report: unknown, not 0
        (D(2026, 1, 6), None, 0, None),  # no social row: 0 referral sessions; the total is 0, so no share
        (D(2026, 1, 7), None, None, None),
        (D(2026, 1, 8), 4, 4, 1.0),
    ]
    out = sk.compute(traffic=t, kpis=TRAFFIC_KPIS, by=["platform"])
    assert out.rows() == [
        ("bing.com", None, 0, 0.0),
        ("google", 6, 0, 0.0),
        ("pinterest", None, None, None),
        ("x", 4, 4, 1.0),
    ]
    assert sk.compute(traffic=t, kpis=TRAFFIC_KPIS).rows() == [(10, 4, 1.0)]


def test_periods_without_referral_have_no_share(traffic):
    days = sk.compute(traffic=traffic, kpis=TRAFFIC_KPIS, by=["platform"], every="1d")
    # every session of July 4th 2024 is null; Christmas 2025 has only unmatched sources
    july4 = days.filter(period_start=D(2024, 7, 4))
    assert july4.height > 0 and july4["website_traffic"].null_count() == july4.height
    assert july4["referral_share"].null_count() == july4.height
    xmas = days.filter(period_start=D(2025, 12, 25))
    assert xmas["platform"].to_list() == ["(direct)"]
    assert xmas.select(TRAFFIC_KPIS[1:]).row(0) == (0, None)
    assert xmas["website_traffic"].item() > 0


def test_referral_share_adds_up_per_period(traffic):
    out = sk.compute(traffic=traffic, kpis=["referral_share"], by=["source"], every="1mo")
    sums = out.group_by("period_start").agg(pl.col("referral_share").sum())
    assert sums["referral_share"].to_list() == pytest.approx([1.0] * sums.height)
    assert sk.compute(traffic=traffic, kpis=["referral_share"]).item() == pytest.approx(1.0)


def test_traffic_fixture_has_the_cases_it_claims(traffic):
    """Guards the fixture itself (no socialkpi result involved)."""
    assert traffic.height == 5_000 and traffic["date"].null_count() == 3
    assert traffic["date"].min() < D(2024, 1, 8) and traffic["date"].max() > D(2025, 12, 24)
    assert (
        traffic.filter(source="bing.com")["sessions"].null_count() == traffic.filter(source="bing.com").height
    )
    assert traffic.filter(campaign="ghost")["sessions"].is_not_null().sum() == 0
    assert traffic["campaign"].null_count() > 100 and (traffic["sessions"] == 0).sum() > 50
    assert traffic["sessions"].null_count() > 500
    assert set(traffic.filter(date=D(2025, 12, 25))["source"]) == {"(direct)"}
    assert traffic.filter(date=D(2024, 7, 4)).height > 0


# ---------------------------------------------------------------------------------------------
# mentions and share of voice


@pytest.mark.parametrize("every", [None, "1mo", "1w"])
@pytest.mark.parametrize("by", [[], ["platform"], ["account_id"], ["tier"]])
def test_mentions_match_oracle(mention_accounts, by, every):
    got = sk.compute(accounts=mention_accounts, kpis=MENTION_KPIS, by=by, every=every)
    check(got, oracle_mentions(mention_accounts, MENTION_KPIS, by, every), by)


def test_mentions_all_null_in_a_period(mention_accounts):
    out = sk.compute(accounts=mention_accounts, kpis=MENTION_KPIS, by=["account_id"], every="1mo")
    march = out.filter(account_id="acct_00003", period_start=D(2025, 3, 1))
    assert march.select(MENTION_KPIS).row(0) == (None, None)
    never = out.filter(account_id="acct_00007")
    assert never.height == 12 and never["mentions"].null_count() == 12
    weeks = sk.compute(accounts=mention_accounts, kpis=MENTION_KPIS, every="1w")
    assert weeks.filter(period_start=D(2025, 6, 16)).select(MENTION_KPIS).row(0) == (None, None)
    assert weeks.filter(period_start=D(2025, 6, 9))["share_of_voice"].item() == pytest.approx(1.0)


def test_mentions_by_hand():
    accounts = pl.DataFrame(
        {
            "account_id": ["a", "a", "a", "b", "b", "c"],
            "platform": ["instagram", "instagram", "instagram", "x", "x", "x"],
            "date": [
                D(2026, 1, 1),
                D(2026, 1, 2),
                D(2026, 2, 1),
                D(2026, 1, 1),
                D(2026, 2, 3),
                D(2026, 2, 3),
            ],
            "followers": [100, 101, 102, 50, 51, 9],
            "mentions": [3, None, 4, 1, 0, None],
        }
    )
    out = sk.compute(accounts=accounts, kpis=MENTION_KPIS, by=["account_id"], every="1mo")
    assert out.rows() == [
        ("a", D(2026, 1, 1), 3, pytest.approx(3 / 4)),
        ("a", D(2026, 2, 1), 4, pytest.approx(1.0)),
        ("b", D(2026, 1, 1), 1, pytest.approx(1 / 4)),
        ("b", D(2026, 2, 1), 0, 0.0),
        ("c", D(2026, 2, 1), None, None),
    ]
    whole = sk.compute(accounts=accounts, kpis=MENTION_KPIS, by=["platform"])
    assert whole.rows() == [("instagram", 7, pytest.approx(7 / 8)), ("x", 1, pytest.approx(1 / 8))]


# ---------------------------------------------------------------------------------------------
# posts and traffic together


def test_posts_and_traffic_by_platform_and_month():
    posts = pl.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "account_id": ["ig1", "ig1", "ig1", "x1"],
            "platform": ["instagram", "instagram", "instagram", "x"],
            "published_at": [T(2026, 1, 3, 9), T(2026, 1, 20, 18), T(2026, 2, 2, 7), T(2026, 1, 9, 12)],
            "clicks": [5, 2, 3, 4],
        }
    ).with_columns(pl.col("published_at").cast(pl.Datetime("us")))
    t = traffic_rows(
        [
            (D(2026, 1, 4), "l.instagram.com", 60),
            (D(2026, 1, 28), "utm_source=ig", 40),  # instagram, January: 100
            (D(2026, 3, 2), "t.co", 30),  # x, March: no posts
            (D(2026, 1, 15), "google", 500),  # unmatched: its own platform
        ]
    )
    out = sk.compute(
        posts, traffic=t, kpis=["posts", "clicks", "referral_traffic"], by=["platform"], every="1mo"
    )
    assert out.columns == ["platform", "period_start", "posts", "clicks", "referral_traffic"]
    assert out.rows() == [
        ("google", D(2026, 1, 1), 0, 0, 0),
        ("instagram", D(2026, 1, 1), 2, 7, 100),
        ("instagram", D(2026, 2, 1), 1, 3, 0),
        ("x", D(2026, 1, 1), 1, 4, 0),
        ("x", D(2026, 3, 1), 0, 0, 30),
    ]
    # one period: one row per platform of either table
    whole = sk.compute(posts, traffic=t, kpis=["posts", "clicks", "referral_traffic"], by=["platform"])
    assert whole.rows() == [("google", 0, 0, 0), ("instagram", 3, 10, 100), ("x", 1, 4, 30)]


def test_presets():
    presets = sk.presets()
    assert presets["traffic"] == ["referral_traffic", "referral_share", "website_traffic", "clicks", "ctr"]
    assert {"mentions", "share_of_voice"} <= set(presets["awareness"])


def test_traffic_preset_without_posts_leaves_post_kpis_out():
    t = traffic_rows([(D(2026, 1, 5), "t.co", 3), (D(2026, 1, 5), "x.com", 4)])
    res = sk.compute_details(traffic=t, kpis="traffic", by=["platform"])
    assert res.frame.columns == ["platform", "referral_traffic", "referral_share", "website_traffic"]
    assert res.frame.rows() == [("x", 7, 1.0, 7)]
    assert any("clicks" in w for w in res.warnings) and any("ctr" in w for w in res.warnings)


# ---------------------------------------------------------------------------------------------
# input forms


@pytest.fixture(scope="module")
def small_traffic(traffic) -> pl.DataFrame:
    return traffic.head(600).filter(pl.col("date").is_not_null())


@pytest.fixture(scope="module")
def small_expected(small_traffic) -> pl.DataFrame:
    return sk.compute(traffic=small_traffic, kpis=TRAFFIC_KPIS, by=["platform"], every="1mo")


@pytest.mark.parametrize("form", ["pandas", "pandas_arrow", "pyarrow", "lazy", "csv", "parquet"])
def test_traffic_input_forms(small_traffic, small_expected, tmp_path, form):
    before = small_traffic.clone()
    given: Any
    if form == "pandas":
        given = small_traffic.to_pandas()
    elif form == "pandas_arrow":
        given = small_traffic.to_pandas(use_pyarrow_extension_array=True)
    elif form == "pyarrow":
        given = small_traffic.to_arrow()
    elif form == "lazy":
        given = small_traffic.lazy()
    elif form == "csv":
        given = tmp_path / "traffic.csv"
        small_traffic.write_csv(given)
    else:
        given = str(tmp_path / "traffic.parquet")
        small_traffic.write_parquet(given)
    snapshot = given.copy() if isinstance(given, pd.DataFrame) else None
    got = sk.compute(traffic=given, kpis=TRAFFIC_KPIS, by=["platform"], every="1mo")
    check(got, small_expected, ["platform"])
    assert small_traffic.equals(before)
    if snapshot is not None:
        pd.testing.assert_frame_equal(given, snapshot)


def test_inputs_are_not_modified(traffic, mention_accounts):
    before_t, before_a = traffic.clone(), mention_accounts.clone()
    sk.compute(
        traffic=traffic, sources={"newsletter": "email"}, kpis=TRAFFIC_KPIS, by=["platform"], every="1w"
    )
    sk.compute(accounts=mention_accounts, kpis=MENTION_KPIS, by=["account_id"], every="1mo")
    assert traffic.equals(before_t) and mention_accounts.equals(before_a)


@pytest.mark.parametrize("form", ["datetime", "iso_text", "iso_datetime_text"])
def test_date_as_datetime_or_text(small_traffic, form):
    date = pl.col("date")
    if form == "datetime":
        # late in the day: the calendar date is what counts
        converted = (date.cast(pl.Datetime("us")) + pl.duration(hours=23, minutes=30)).alias("date")
    elif form == "iso_text":
        converted = date.dt.strftime("%Y-%m-%d").alias("date")
    else:
        converted = date.dt.strftime("%Y-%m-%dT23:45:00").alias("date")
    given = small_traffic.with_columns(converted)
    for every in ("1d", "1w", "1mo", None):
        got = sk.compute(traffic=given, kpis=TRAFFIC_KPIS, by=["platform"], every=every)
        want = sk.compute(traffic=small_traffic, kpis=TRAFFIC_KPIS, by=["platform"], every=every)
        check(got, want, ["platform"])


@pytest.mark.parametrize(
    "dates",
    [
        [D(2026, 1, 31), D(2026, 1, 31), D(2026, 2, 1)],
        [T(2026, 1, 31, 0, 0), T(2026, 1, 31, 23, 59, 59), T(2026, 2, 1, 0, 0, 1)],
        ["2026-01-31", "2026-01-31", "2026-02-01"],
        # ISO text with a time of day: its calendar date, like a datetime
        ["2026-01-31T00:00:00", "2026-01-31T23:59:59", "2026-02-01T00:00:01"],
    ],
    ids=["date", "datetime", "iso_date_text", "iso_datetime_text"],
)
def test_date_forms_by_hand(dates):
    t = pl.DataFrame({"date": dates, "source": ["t.co", "google", "ig"], "sessions": [1, 10, 100]})
    res = sk.compute_details(traffic=t, kpis=["website_traffic", "referral_traffic"], every="1d")
    assert res.frame.rows() == [(D(2026, 1, 31), 11, 1), (D(2026, 2, 1), 100, 100)]
    assert not [d for d in res.rows_dropped if d[0] == "traffic"]


# ---------------------------------------------------------------------------------------------
# accounting, warnings and errors


@pytest.mark.parametrize("every", [None, "1mo"])
def test_missing_dates_are_dropped_and_counted(every):
    t = traffic_rows(
        [(D(2026, 1, 5), "t.co", 1), (None, "t.co", 10), (D(2026, 1, 6), "google", 100), (None, "google", 1000),
         (None, "ig", 10_000)]
    )  # fmt: skip
    res = sk.compute_details(traffic=t, kpis=["website_traffic", "referral_traffic"], every=every)
    assert res.frame.select("website_traffic", "referral_traffic").rows() == [(101, 1)]
    assert ("traffic", "missing date", 3) in res.rows_dropped
    assert res.rows_read["traffic"] == 5


def test_no_missing_date_no_drop():
    t = traffic_rows([(D(2026, 1, 5), "t.co", 1)])
    res = sk.compute_details(traffic=t, kpis=["website_traffic"], every="1d")
    assert not [d for d in res.rows_dropped if d[0] == "traffic"]


def test_unmatched_sources_warn(traffic):
    res = sk.compute_details(traffic=traffic, kpis=["referral_traffic"], by=["platform"])
    assert sum(UNMATCHED in w for w in res.warnings) == 1, res.warnings
    res = sk.compute_details(traffic=traffic, kpis=["referral_share"], every="1mo")
    assert any(UNMATCHED in w for w in res.warnings), res.warnings
    matched = traffic.filter(pl.col("source").is_in(["t.co", "IG", "lnkd.in"]))
    res = sk.compute_details(traffic=matched, kpis=["referral_traffic", "referral_share"], by=["platform"])
    assert not any(UNMATCHED in w for w in res.warnings), res.warnings


def test_unmatched_sources_warning_counts_rows_not_days():
    # rows of one source on one day are summed before sources are matched: the warning
    # still counts the table's rows, most frequent source first
    t = traffic_rows(
        [
            (D(2026, 1, 5), "t.co", 1),
            (D(2026, 1, 5), "newsletter", 2),
            (D(2026, 1, 5), "newsletter", None),
            (D(2026, 1, 5), "newsletter", 3),
            (D(2026, 1, 6), "newsletter", 4),
            (D(2026, 1, 6), "google", 5),
            (D(2026, 2, 1), "google", 6),
            (D(2026, 2, 1), None, 7),
        ]
    )
    res = sk.compute_details(traffic=t, kpis=["referral_traffic", "website_traffic"], by=["platform"])
    (warning,) = [w for w in res.warnings if UNMATCHED in w]
    assert warning.startswith("7 traffic rows from 3 sources matched no social platform"), warning
    assert "(for example newsletter, google, (missing))" in warning, warning
    # the sums per platform: the unmatched sources keep their own names
    got = {r["platform"]: (r["referral_traffic"], r["website_traffic"]) for r in res.frame.to_dicts()}
    assert got["x"] == (1, 1)
    assert got["newsletter"] == (0, 9)
    assert got["google"] == (0, 11)


@pytest.mark.parametrize("kpi", TRAFFIC_KPIS)
def test_traffic_kpi_without_traffic(kpi):
    posts, _ = sk.datasets.sample(n_accounts=2, n_posts=10, seed=1)
    msg = raises(sk.QueryError, "missing_table", posts, kpis=[kpi])
    assert "traffic" in msg
    raises(sk.QueryError, "missing_table", kpis=[kpi])


def test_traffic_without_a_date_column():
    t = traffic_rows([(D(2026, 1, 5), "t.co", 1)]).rename({"date": "day"})
    msg = raises(sk.SchemaError, "missing_column", traffic=t, kpis=["website_traffic"])
    assert "date" in msg


def test_negative_sessions():
    t = traffic_rows([(D(2026, 1, 5), "t.co", 1), (D(2026, 1, 6), "google", -3)])
    raises(sk.InputError, "negative_value", traffic=t, kpis=["website_traffic"])
    raises(sk.InputError, "negative_value", traffic=t, kpis=["referral_traffic"], by=["platform"])


@pytest.mark.parametrize("dim", ["account_id", "content_type", "tier"])
def test_traffic_by_a_dimension_traffic_lacks(traffic, mention_accounts, dim):
    posts, _ = sk.datasets.sample(n_accounts=12, n_posts=100, seed=5)
    tables: dict[str, Any] = {"traffic": traffic, "accounts": mention_accounts}
    msg = raises(
        sk.QueryError, "dimension_not_in_table", posts, kpis=["referral_traffic"], by=[dim], **tables
    )
    assert dim in msg
    raises(
        sk.QueryError,
        "dimension_not_in_table",
        posts,
        kpis=["website_traffic"],
        by=["platform", dim],
        **tables,
    )
    raises(
        sk.QueryError, "dimension_not_in_table", posts, kpis=["posts", "referral_share"], by=[dim], **tables
    )


def test_traffic_by_a_column_no_table_has(traffic):
    # as for every KPI: a name no given table carries is an unknown dimension
    raises(sk.QueryError, "unknown_dimension", traffic=traffic, kpis=["referral_traffic"], by=["account_id"])


@pytest.mark.parametrize("dim", ["source", "campaign", "medium"])
def test_mentions_by_a_traffic_only_dimension(traffic, mention_accounts, dim):
    raises(
        sk.QueryError,
        "dimension_not_in_table",
        accounts=mention_accounts,
        traffic=traffic,
        kpis=["mentions"],
        by=[dim],
    )
