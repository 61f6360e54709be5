"""Over time: compare= puts each period beside an earlier one (docs/time.md). The earlier
values are checked against the DuckDB oracle of docs/kpis.md (tests/oracle.py) evaluated on
the earlier period, found by calendar arithmetic written here in SQL, and on hand-made
calendars for the edge cases (the 31st, Feb 29, ISO week 53, periods without posts, zero
denominators)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from polars.testing import assert_frame_equal

KPIS = [
    "posts",
    "reach",
    "engagements",
    "engagement_rate",
    "avg_engagement_rate_per_post",
    "followers",
    "followers_start",
    "follower_growth_rate",
]
# flows are 0 in a period without rows (posts counted, metric sums); the others are null there
FLOWS = {"posts", "reach", "engagements"}


def _tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two years and three months of posts and daily snapshots (2025-01-01 to 2027-03-11:
    2026 has an ISO week 53), with a month without instagram posts, zero reach and missing
    snapshot days."""
    rng = np.random.default_rng(16)
    posts, accounts = sk.datasets.sample(
        n_accounts=9, n_posts=4000, start=dt.date(2025, 1, 1), days=800, seed=16
    )
    day = pl.col("published_at").dt.date()
    gap = (pl.col("platform") == "instagram") & (day >= dt.date(2025, 6, 1)) & (day < dt.date(2025, 7, 1))
    posts = posts.filter(~gap)
    posts = posts.with_columns(
        reach=pl.when(pl.Series(rng.random(posts.height) < 0.05)).then(0).otherwise(pl.col("reach"))
    )
    accounts = accounts.filter(pl.Series(rng.random(accounts.height) > 0.1))
    return posts, accounts


POSTS, ACCOUNTS = _tables()


def _source_period(every: str, compare: str, t: str = "period_start") -> str:
    """The period compared with the period starting on `t`, in DuckDB's calendar arithmetic."""
    if compare == "previous":
        step = {"1d": "1 DAY", "1w": "7 DAY", "1mo": "1 MONTH", "1q": "3 MONTH", "1y": "1 YEAR"}[every]
        return f"CAST({t} - INTERVAL {step} AS DATE)"
    if compare == "last_year_weekday":
        return f"CAST({t} - INTERVAL 364 DAY AS DATE)"
    if every == "1w":
        # the Monday of the same ISO week number a year before (week 53: week 52)
        jan4 = f"make_date(CAST(isoyear({t}) AS INTEGER) - 1, 1, 4)"
        return (
            f"CAST({jan4} - (isodow({jan4}) - 1) * INTERVAL 1 DAY"
            f" + (least(week({t}), 52) - 1) * INTERVAL 7 DAY AS DATE)"
        )
    # DuckDB takes Feb 29 a year back to Feb 28
    return f"CAST({t} - INTERVAL 1 YEAR AS DATE)"


def _expected(by: list[str], every: str, compare: str, kpis: list[str]) -> pl.DataFrame:
    """The oracle's report with, for each KPI, the oracle's value in the earlier period, the
    change and the relative change."""
    report = oracle(POSTS, ACCOUNTS, kpis, by, every)
    con = duckdb.connect()
    con.register("report", report.to_arrow())
    keys = [*by, "period_start"]
    on = " AND ".join([*(f"e.{k} IS NOT DISTINCT FROM r.{k}" for k in by), "e.period_start = r.__source"])
    earlier = con.sql(
        f"SELECT {', '.join(f'r.{k}' for k in keys)}, e.period_start AS __found, {', '.join(f'e.{k} AS __e_{k}' for k in kpis)} "
        f"FROM (SELECT *, {_source_period(every, compare)} AS __source FROM report) r "
        f"LEFT JOIN report e ON {on}"
    ).pl()
    suffix = "prev" if compare == "previous" else "ly"
    change = "change" if compare == "previous" else "ly_change"
    out = report.join(earlier, on=keys, how="left", nulls_equal=True)
    columns = [*keys]
    for k in kpis:
        before = pl.col(f"__e_{k}")
        if k in FLOWS:
            # no rows in the earlier period: a flow of none is 0
            before = pl.when(pl.col("__found").is_null()).then(0).otherwise(before)
        out = out.with_columns(before.alias(f"{k}_{suffix}"))
        value = pl.col(k).cast(pl.Float64)
        base = pl.col(f"{k}_{suffix}").cast(pl.Float64)
        out = out.with_columns(
            (value - base).alias(f"{k}_{change}"),
            pl.when((base == 0) | base.is_null())
            .then(None)
            .otherwise((value - base) / base.abs())
            .alias(f"{k}_{change}_rate"),
        )
        columns += [k, f"{k}_{suffix}", f"{k}_{change}", f"{k}_{change}_rate"]
    return out.select(columns)


def _check(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("by", [[], ["platform"], ["account_id"]])
@pytest.mark.parametrize("every", ["1d", "1w", "1mo", "1q", "1y"])
@pytest.mark.parametrize("compare", ["previous", "last_year"])
def test_compare_matches_the_oracle_on_the_earlier_period(by, every, compare):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, compare=compare)
    _check(got, _expected(by, every, compare, KPIS))


@pytest.mark.parametrize("every", ["1d", "1w"])
def test_last_year_weekday_compares_52_weeks_before(every):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=["platform"], every=every, compare="last_year_weekday")
    _check(got, _expected(["platform"], every, "last_year_weekday", KPIS))


def test_both_comparisons_at_once_are_the_two_reports_side_by_side():
    kw = {"kpis": ["reach", "engagement_rate"], "by": ["platform"], "every": "1mo"}
    both = sk.compute(POSTS, ACCOUNTS, compare=["previous", "last_year"], **kw)
    prev = sk.compute(POSTS, ACCOUNTS, compare="previous", **kw)
    ly = sk.compute(POSTS, ACCOUNTS, compare="last_year", **kw)
    assert both.columns == [
        "platform", "period_start",
        "reach", "reach_prev", "reach_change", "reach_change_rate", "reach_ly", "reach_ly_change", "reach_ly_change_rate",
        "engagement_rate", "engagement_rate_prev", "engagement_rate_change", "engagement_rate_change_rate",
        "engagement_rate_ly", "engagement_rate_ly_change", "engagement_rate_ly_change_rate",
    ]  # fmt: skip
    assert_frame_equal(both.select(prev.columns), prev)
    assert_frame_equal(both.select(ly.columns), ly)


def test_prev_is_the_previous_row_of_the_report_without_compare():
    kpis = ["reach", "engagement_rate", "followers", "follower_growth"]
    plain = sk.compute(POSTS, ACCOUNTS, kpis=kpis, by=["account_id"], every="1w")
    got = sk.compute(POSTS, ACCOUNTS, kpis=kpis, by=["account_id"], every="1w", compare="previous")
    shifted = plain.with_columns(pl.col("period_start") + dt.timedelta(days=7))
    paired = got.join(shifted, on=["account_id", "period_start"], how="inner", suffix="_plain")
    assert paired.height > 0.9 * got.height
    for k in kpis:
        assert_frame_equal(
            paired.select(pl.col(f"{k}_prev").alias(k)),
            paired.select(pl.col(f"{k}_plain").alias(k)),
            check_dtypes=False,
        )
    # the rows are the report's own, in its order, and its values unchanged
    assert_frame_equal(got.select(plain.columns), plain)


def test_states_finalize_compares_from_rolled_up_states():
    states = sk.partial(POSTS, ACCOUNTS, kpis=KPIS, by=["account_id", "platform"], every="1d")
    got = states.finalize(by=["platform"], every="1mo", compare=["previous", "last_year"])
    direct = sk.compute(
        POSTS, ACCOUNTS, kpis=KPIS, by=["platform"], every="1mo", compare=["previous", "last_year"]
    )
    assert_frame_equal(got, direct)


def _posts(rows: list[tuple[str, str, int | None, int | None]]) -> pl.DataFrame:
    """Hand-made posts: (account, published_at, reach, likes)."""
    return pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "platform": ["instagram"] * len(rows),
            "published_at": [dt.datetime.fromisoformat(r[1]) for r in rows],
            "reach": [r[2] for r in rows],
            "likes": [r[3] for r in rows],
        },
        schema_overrides={"reach": pl.Int64, "likes": pl.Int64},
    )


def _row(frame: pl.DataFrame, day: dt.date) -> dict[str, object]:
    rows = frame.filter(pl.col("period_start") == day).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_march_with_a_31st_is_compared_with_all_of_february():
    posts = _posts(
        [
            ("a", "2026-01-31 10:00", 100, 10),
            ("a", "2026-02-01 10:00", 200, 10),
            ("a", "2026-02-28 23:00", 300, 30),
            ("a", "2026-03-31 12:00", 400, 20),
        ]
    )
    got = sk.compute(posts, kpis=["reach", "engagement_rate"], every="1mo", compare="previous")
    march = _row(got, dt.date(2026, 3, 1))
    assert march["reach_prev"] == 500
    assert march["engagement_rate_prev"] == pytest.approx(40 / 500)
    assert march["reach_change"] == -100
    assert march["reach_change_rate"] == pytest.approx(-100 / 500)
    assert march["engagement_rate_change"] == pytest.approx(20 / 400 - 40 / 500)
    feb = _row(got, dt.date(2026, 2, 1))
    assert feb["reach_prev"] == 100


def test_feb_29_is_compared_with_feb_28_of_the_year_before():
    posts = _posts(
        [
            ("a", "2027-02-28 09:00", 100, 5),
            ("a", "2027-03-01 09:00", 300, 3),
            ("a", "2028-02-28 09:00", 200, 8),
            ("a", "2028-02-29 09:00", 400, 4),
            ("a", "2028-03-01 09:00", 600, 6),
            ("a", "2029-02-28 09:00", 700, 7),
        ]
    )
    got = sk.compute(posts, kpis=["reach", "engagement_rate"], every="1d", compare="last_year")
    assert _row(got, dt.date(2028, 2, 28))["reach_ly"] == 100
    assert _row(got, dt.date(2028, 2, 29))["reach_ly"] == 100
    assert _row(got, dt.date(2028, 2, 29))["engagement_rate_ly"] == pytest.approx(5 / 100)
    assert _row(got, dt.date(2028, 3, 1))["reach_ly"] == 300
    # Feb 29 itself is compared with by no day: the next Feb 28 reads Feb 28
    assert _row(got, dt.date(2029, 2, 28))["reach_ly"] == 200


def test_iso_week_53_is_compared_with_week_52_of_the_year_before():
    # 2026-12-28 is the Monday of 2026-W53; 2025-12-22 of 2025-W52; 2026-12-21 of 2026-W52
    posts = _posts(
        [
            ("a", "2025-12-24 09:00", 100, 10),
            ("a", "2025-12-29 09:00", 900, 90),  # 2026-W01
            ("a", "2026-12-23 09:00", 200, 10),
            ("a", "2026-12-30 09:00", 300, 10),
            ("a", "2027-01-04 09:00", 400, 10),  # 2027-W01
        ]
    )
    got = sk.compute(posts, kpis=["reach"], every="1w", compare=["last_year", "previous"])
    assert _row(got, dt.date(2026, 12, 28))["reach_ly"] == 100
    assert _row(got, dt.date(2026, 12, 21))["reach_ly"] == 100
    assert _row(got, dt.date(2026, 12, 28))["reach_prev"] == 200
    assert _row(got, dt.date(2027, 1, 4))["reach_ly"] == 900
    assert _row(got, dt.date(2027, 1, 4))["reach_prev"] == 300


def test_an_earlier_period_without_posts_or_with_zero_reach():
    posts = _posts(
        [
            ("a", "2026-01-10 09:00", 0, 5),  # reach 0: no engagement rate in January
            ("a", "2026-03-10 09:00", 100, 5),  # no posts in February
            ("a", "2026-04-10 09:00", 200, 10),
        ]
    )
    got = sk.compute(posts, kpis=["posts", "reach", "engagement_rate"], every="1mo", compare="previous")
    jan = _row(got, dt.date(2026, 1, 1))
    # before the first data: nothing to compare with (counts 0, ratios null)
    assert (jan["posts_prev"], jan["reach_prev"], jan["engagement_rate_prev"]) == (0, 0, None)
    assert jan["reach_change_rate"] is None
    march = _row(got, dt.date(2026, 3, 1))
    assert (march["posts_prev"], march["reach_prev"], march["engagement_rate_prev"]) == (0, 0, None)
    assert march["reach_change"] == 100 and march["reach_change_rate"] is None
    assert march["engagement_rate_change"] is None
    april = _row(got, dt.date(2026, 4, 1))
    assert april["engagement_rate_change_rate"] == pytest.approx((10 / 200 - 5 / 100) / (5 / 100))
    assert got.filter(pl.col("period_start") == dt.date(2026, 2, 1)).height == 0


def test_followers_a_month_ago_are_the_last_snapshot_of_the_previous_month():
    accounts = pl.DataFrame(
        {
            "account_id": ["a"] * 5,
            "date": [
                dt.date(2026, 1, 5),
                dt.date(2026, 1, 31),
                dt.date(2026, 2, 3),
                dt.date(2026, 2, 20),
                dt.date(2026, 3, 2),
            ],
            "followers": [100, 120, 125, 140, 150],
        }
    )
    got = sk.compute(
        accounts=accounts,
        kpis=["followers", "followers_start", "follower_growth"],
        every="1mo",
        compare="previous",
    )
    march = _row(got, dt.date(2026, 3, 1))
    assert (march["followers_prev"], march["followers_start_prev"], march["follower_growth_prev"]) == (
        140,
        120,
        20,
    )
    feb = _row(got, dt.date(2026, 2, 1))
    assert (feb["followers_prev"], feb["followers_start_prev"]) == (120, 100)


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"every": "1mo", "compare": "last_month"}, "unknown_compare"),
        ({"every": "1mo", "compare": ["previous", "yesterday"]}, "unknown_compare"),
        ({"every": None, "compare": "previous"}, "invalid_argument"),
        ({"every": "1mo", "compare": "last_year_weekday"}, "invalid_argument"),
        ({"every": "1d", "compare": ["last_year", "last_year_weekday"]}, "invalid_argument"),
        ({"every": "1d", "compare": 7}, "invalid_argument"),
        ({"every": "1d", "compare": ["previous", None]}, "invalid_argument"),
    ],
)
def test_bad_comparisons_are_query_errors_with_codes(kw, code):
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach"], **kw)
    assert err.value.code == code
    states = sk.partial(POSTS, kpis=["reach"], every="1d")
    if not isinstance(kw["compare"], int) and kw["every"] is not None:
        with pytest.raises(sk.QueryError) as err:
            states.finalize(every=kw["every"], compare=kw["compare"])
        assert err.value.code == code


def test_a_kpi_named_like_a_comparison_column_is_an_error():
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach", sk.KPI("reach_prev", "sum(reach)")], every="1mo", compare="previous")
    assert err.value.code == "invalid_argument"


# ---- windows ------------------------------------------------------------------------------

WINDOW_KPIS = [
    "posts",
    "reach",
    "engagements",
    "engagement_rate",
    "avg_engagement_rate_per_post",
    "followers",
    "followers_start",
]


def _window_start(window: str) -> str:
    """The first day of the window ending on `t`, in DuckDB."""
    to_date = {"wtd": "week", "mtd": "month", "qtd": "quarter", "ytd": "year"}
    if window in to_date:
        return f"CAST(date_trunc('{to_date[window]}', t) AS DATE)"
    days = int(window[:-1]) * (7 if window.endswith("w") else 1)
    return f"CAST(t - INTERVAL {days - 1} DAY AS DATE)"


_PERIOD_END = {
    "1d": "period_start",
    "1w": "CAST(period_start + INTERVAL 6 DAY AS DATE)",
    "1mo": "CAST(period_start + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)",
    "1q": "CAST(period_start + INTERVAL 3 MONTH - INTERVAL 1 DAY AS DATE)",
    "1y": "CAST(period_start + INTERVAL 1 YEAR - INTERVAL 1 DAY AS DATE)",
}


def _window_expected(by: list[str], window: str, every: str = "1d") -> pl.DataFrame:
    """Each row of the oracle's report at `every` with the KPIs over the window ending on the
    row's last day, from the posts and snapshots of the window's days (docs/kpis.md)."""
    keys = oracle(POSTS, ACCOUNTS, ["posts", "followers"], by, every).select(*by, "period_start")
    con = duckdb.connect()
    con.register("keys", keys.to_arrow())
    con.register("raw_posts", POSTS.to_arrow())
    con.register("raw_accounts", ACCOUNTS.to_arrow())
    comps = ["coalesce(likes, reactions)", "comments", "shares", "saves"]
    eng = (
        f"CASE WHEN {' AND '.join(f'{c} IS NULL' for c in comps)} THEN NULL "
        f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in comps)} END"
    )
    con.execute(f"CREATE VIEW p AS SELECT *, CAST(published_at AS DATE) AS day, {eng} AS eng FROM raw_posts")
    con.execute("CREATE VIEW a AS SELECT * FROM raw_accounts WHERE followers IS NOT NULL")
    con.execute(f"CREATE VIEW r0 AS SELECT *, {_PERIOD_END[every]} AS t FROM keys")
    con.execute(f"CREATE VIEW r AS SELECT *, {_window_start(window)} AS w FROM r0")
    r_by = ", ".join(f"r.{k}" for k in by)
    group = ", ".join([*(f"r.{k}" for k in by), "r.period_start", "r.t", "r.w"])
    match = "".join(f" AND x.{k} IS NOT DISTINCT FROM r.{k}" for k in by)

    def ratio(num: str, den: str) -> str:
        both = f"x.{num} IS NOT NULL AND x.{den} IS NOT NULL"
        return (
            f"sum(CASE WHEN {both} THEN x.{num} END)::DOUBLE"
            f" / nullif(sum(CASE WHEN {both} THEN x.{den} END), 0)::DOUBLE"
        )

    flows = con.sql(
        f"SELECT {r_by}{',' if by else ''} r.period_start, r.w, count(x.day) AS posts, "
        "CASE WHEN count(x.day) = 0 THEN 0 ELSE sum(x.reach) END AS reach, "
        "CASE WHEN count(x.day) = 0 THEN 0 ELSE sum(x.eng) END AS engagements, "
        f"{ratio('eng', 'reach')} AS engagement_rate, "
        "avg(CASE WHEN x.reach > 0 AND x.eng IS NOT NULL THEN x.eng::DOUBLE / x.reach END) AS avg_engagement_rate_per_post "
        f"FROM r LEFT JOIN p x ON x.day BETWEEN r.w AND r.t{match} GROUP BY {group}"
    ).pl()
    followers = con.sql(
        f"""
        SELECT {", ".join([*by, "period_start"])}, sum(last_f) AS followers,
               sum(coalesce((SELECT arg_max(b.followers, b.date) FROM a b
                             WHERE b.account_id = f.account_id AND b.date < f.w), first_f)) AS followers_start
        FROM (SELECT {r_by}{"," if by else ""} r.period_start, r.w, x.account_id,
                     arg_max(x.followers, x.date) AS last_f, arg_min(x.followers, x.date) AS first_f
              FROM r JOIN a x ON x.date BETWEEN r.w AND r.t{match}
              GROUP BY {group}, x.account_id) f
        GROUP BY {", ".join([*by, "period_start"])}"""
    ).pl()
    out = flows.join(followers, on=[*by, "period_start"], how="left", nulls_equal=True)
    out = keys.join(
        out.rename({"w": "window_start"}),
        on=[*by, "period_start"],
        how="left",
        nulls_equal=True,
    )
    return out.select(
        *by,
        "period_start",
        "window_start",
        *(
            pl.col(k).cast(pl.Int64) if k in ("followers", "followers_start") else pl.col(k)
            for k in WINDOW_KPIS
        ),
    )


@pytest.mark.parametrize("by", [[], ["platform"], ["account_id"]])
@pytest.mark.parametrize("window", ["7d", "28d", "4w", "wtd", "mtd", "qtd", "ytd"])
def test_window_matches_the_oracle_over_the_window_days(by, window):
    got = sk.compute(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=by, every="1d", window=window)
    _check(got, _window_expected(by, window))


@pytest.mark.parametrize(
    ("every", "window"),
    [
        ("1w", "4w"),
        ("1w", "28d"),
        ("1w", "wtd"),
        ("1mo", "mtd"),
        ("1mo", "qtd"),
        ("1mo", "ytd"),
        ("1q", "ytd"),
    ],
)
@pytest.mark.parametrize("by", [[], ["account_id"]])
def test_a_window_of_whole_periods_matches_the_oracle(by, every, window):
    # each week's (month's, ...) KPIs over the window ending on its last day
    got = sk.compute(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=by, every=every, window=window)
    _check(got, _window_expected(by, window, every))


@pytest.mark.parametrize(
    ("window", "compare", "months"),
    [("ytd", "previous", 12), ("ytd", "last_year", 12), ("qtd", "previous", 3), ("mtd", "previous", 1)],
)
def test_a_window_of_whole_periods_compares_with_whole_earlier_periods(window, compare, months):
    # a to-date window is compared with the same span of the previous year (quarter, month):
    # the same report's row that many months before, wherever the report has one
    kpis = ["reach", "engagement_rate", "followers"]
    kw = {"kpis": kpis, "by": ["platform"], "every": "1mo", "window": window}
    got = sk.compute(POSTS, ACCOUNTS, compare=compare, **kw)
    suffix = "_ly" if compare == "last_year" else "_prev"
    earlier = sk.compute(POSTS, ACCOUNTS, **kw).select(
        "platform",
        pl.col("period_start").dt.offset_by(f"{months}mo"),
        *(pl.col(k).alias(f"{k}{suffix}_want") for k in kpis),
    )
    both = got.join(earlier, on=["platform", "period_start"], how="inner", nulls_equal=True)
    assert len(both) > 0
    for k in kpis:
        want = both[f"{k}{suffix}_want"].to_list()
        assert both[f"{k}{suffix}"].to_list() == pytest.approx(want, nan_ok=True), k


def test_weekly_windows_compare_with_the_weeks_before():
    kw = {"kpis": ["reach", "engagement_rate"], "by": ["platform"], "every": "1w", "window": "4w"}
    got = sk.compute(POSTS, ACCOUNTS, compare=["previous", "last_year_weekday"], **kw)
    plain = sk.compute(POSTS, ACCOUNTS, **kw)
    for days, suffix in ((28, "_prev"), (364, "_ly")):
        earlier = plain.select(
            "platform",
            pl.col("period_start") + pl.duration(days=days),
            *(pl.col(k).alias(f"{k}{suffix}_want") for k in kw["kpis"]),
        )
        both = got.join(earlier, on=["platform", "period_start"], how="inner", nulls_equal=True)
        assert len(both) > 0
        for k in kw["kpis"]:
            assert both[f"{k}{suffix}"].to_list() == pytest.approx(both[f"{k}{suffix}_want"].to_list()), k


def test_a_window_of_whole_periods_is_checked_against_the_grain():
    for every, window in (
        ("1w", "10d"),
        ("1w", "mtd"),
        ("1mo", "28d"),
        ("1mo", "wtd"),
        ("1q", "mtd"),
        ("1y", "qtd"),
    ):
        with pytest.raises(sk.QueryError) as err:
            sk.compute(POSTS, kpis=["reach"], every=every, window=window)
        assert err.value.code == "invalid_argument", (every, window)
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach"], every="1w", window="4w", compare="last_year")
    assert err.value.code == "invalid_argument"


def test_a_window_is_compute_over_the_window_rows():
    kpis = ["posts", "reach", "engagement_rate", "followers", "followers_start", "follower_growth"]
    got = sk.compute(POSTS, ACCOUNTS, kpis=kpis, by=["platform"], every="1d", window="28d")
    for day in [dt.date(2025, 1, 3), dt.date(2025, 6, 30), dt.date(2026, 2, 28), dt.date(2026, 12, 31)]:
        start = day - dt.timedelta(days=27)
        posts = POSTS.filter(pl.col("published_at").dt.date().is_between(start, day))
        accounts = ACCOUNTS.filter(pl.col("date") <= day)
        whole = sk.compute(posts, accounts, kpis=kpis, by=["platform"], every=None)
        # followers_start and growth read the last snapshot before the window: pass the days before too
        row = got.filter(pl.col("period_start") == day).drop("period_start", "window_start")
        expected = whole.filter(pl.col("platform").is_in(row["platform"].implode()))
        starts = (
            ACCOUNTS.filter((pl.col("date") < start) & pl.col("followers").is_not_null())
            .sort("date")
            .group_by("account_id")
            .last()
        )
        assert row.height > 0
        assert_frame_equal(
            row.drop("followers_start", "follower_growth"),
            expected.drop("followers_start", "follower_growth"),
        )
        if start > dt.date(2025, 1, 1):
            per_platform = starts.group_by("platform").agg(pl.col("followers").sum())
            for platform, value in zip(row["platform"], row["followers_start"]):
                assert value == per_platform.filter(pl.col("platform") == platform)["followers"].item()


def test_states_finalize_windows_from_daily_states():
    states = sk.partial(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=["account_id", "platform"], every="1d")
    got = states.finalize(by=["platform"], window="mtd")
    direct = sk.compute(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=["platform"], every="1d", window="mtd")
    assert_frame_equal(got, direct)


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"every": "1d", "window": "28"}, "unknown_window"),
        ({"every": "1d", "window": "1mo"}, "unknown_window"),
        ({"every": "1d", "window": "0d"}, "invalid_argument"),
        ({"every": "1d", "window": "400d"}, "invalid_argument"),
        ({"every": "1mo", "window": "7d"}, "invalid_argument"),
        ({"every": "1w", "window": "mtd"}, "invalid_argument"),
        ({"every": None, "window": "mtd"}, "invalid_argument"),
        ({"every": "1d", "window": 28}, "invalid_argument"),
    ],
)
def test_bad_windows_are_query_errors_with_codes(kw, code):
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach"], **kw)
    assert err.value.code == code


def test_prev_of_every_kind_of_kpi_is_the_previous_row():
    """Every table and every kind of KPI (flows with coverage, shares of the period, pro-rated
    fees, attributed conversions, followers): `_prev` is the report's previous month."""
    from test_states import KPIS as ALL_KPIS
    from test_states import TABLES

    kw = {"kpis": ALL_KPIS, "by": ["platform"], "every": "1mo", "tz": "Europe/Berlin"}
    plain = sk.compute(**TABLES, **kw)
    got = sk.compute(**TABLES, **kw, compare="previous")
    assert_frame_equal(got.select(plain.columns), plain)
    previous = plain.with_columns(pl.col("period_start").dt.offset_by("1mo"))
    paired = got.join(previous, on=["platform", "period_start"], how="inner", suffix="_plain")
    assert paired.height >= plain.height - 2 * plain["platform"].n_unique()
    for k in ALL_KPIS:
        assert_frame_equal(
            paired.select(pl.col(f"{k}_prev").alias(k)),
            paired.select(pl.col(f"{k}_plain").alias(k)),
            check_dtypes=False,
        )


@pytest.mark.parametrize("by", [["platform"], ["tier"], ["account_id", "platform"]])
def test_a_one_day_window_is_the_day_itself(by):
    """Every table and kind of KPI, grouped by a dimension or an account attribute."""
    from test_states import KPIS as ALL_KPIS
    from test_states import TABLES

    if by == ["platform"]:
        kpis, tables = ALL_KPIS, TABLES
    else:
        # contracts, traffic and conversions are not grouped by account attributes
        kpis = [
            "posts", "reach", "engagements", "engagement_rate", "engagement_rate_followers",
            "avg_engagement_rate_per_post", "followers", "followers_start", "follower_growth",
            "follower_growth_rate", "mentions", "share_of_voice", "profile_visits",
        ]  # fmt: skip
        tables = {k: TABLES[k] for k in ("posts", "accounts")}
    kw = {"kpis": kpis, "by": by, "every": "1d", "tz": "Europe/Berlin"}
    plain = sk.compute(**tables, **kw)
    got = sk.compute(**tables, **kw, window="1d")
    assert_frame_equal(got.drop("window_start"), plain)
    assert (got["window_start"] == got["period_start"]).all()
