"""The report's calendar and windows compared (docs/time.md): ``week_start``,
``fiscal_year_start``, ``compare`` with ``window``, and days across DST changes, checked
against DuckDB SQL written from the docs."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle, period_sql
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
WINDOW_KPIS = [
    "posts",
    "reach",
    "engagements",
    "engagement_rate",
    "avg_engagement_rate_per_post",
    "followers",
    "followers_start",
]
# flows are 0 in a period without rows (posts counted, metric sums); the others are null there
FLOWS = {"posts", "reach", "engagements"}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two years and two months of posts and daily snapshots (2025-01-01 to 2027-02-28; 2026
    has an ISO week 53), with a month without any posts, a month without tiktok posts, zero
    reach and missing snapshot days."""
    rng = np.random.default_rng(1616)
    posts, accounts = sk.datasets.sample(
        n_accounts=7, n_posts=3000, start=dt.date(2025, 1, 1), days=790, seed=1616
    )
    day = pl.col("published_at").dt.date()
    no_posts = (day >= dt.date(2025, 9, 1)) & (day < dt.date(2025, 10, 1))
    no_tiktok = (pl.col("platform") == "tiktok") & (day >= dt.date(2026, 2, 1)) & (day < dt.date(2026, 3, 1))
    posts = posts.filter(~no_posts & ~no_tiktok)
    posts = posts.with_columns(
        reach=pl.when(pl.Series(rng.random(posts.height) < 0.05)).then(0).otherwise(pl.col("reach"))
    )
    accounts = accounts.filter(pl.Series(rng.random(accounts.height) > 0.1))
    return posts, accounts


POSTS, ACCOUNTS = _tables()


def _check(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def _with_changes(
    out: pl.DataFrame, kpis: list[str], suffix: str, found: str
) -> tuple[pl.DataFrame, list[str]]:
    """`out` (holding each KPI and its earlier value `__e_<kpi>`) with the comparison columns
    of docs/time.md; a flow of an earlier period or window without rows (`found` null) is 0."""
    change = "change" if suffix == "prev" else "ly_change"
    columns: list[str] = []
    for k in kpis:
        before = pl.col(f"__e_{k}")
        if k in FLOWS:
            before = pl.when(pl.col(found).is_null()).then(0).otherwise(before)
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
    return out, columns


# ---- week_start and fiscal_year_start -------------------------------------------------------


@pytest.mark.parametrize("by", [[], ["platform"]])
@pytest.mark.parametrize("week_start", ["sunday", "saturday", "wednesday"])
def test_weeks_start_on_week_start(by, week_start):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every="1w", week_start=week_start)
    expected = oracle(POSTS, ACCOUNTS, KPIS, by, "1w", week_start=WEEKDAYS.index(week_start))
    _check(got, expected)
    starts = got["period_start"].unique()
    assert (starts.dt.weekday() == WEEKDAYS.index(week_start) + 1).all()


@pytest.mark.parametrize("by", [[], ["account_id"]])
@pytest.mark.parametrize("every", ["1q", "1y"])
@pytest.mark.parametrize("fiscal", [4, 2, 11])
def test_quarters_and_years_start_in_the_fiscal_month(by, every, fiscal):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, fiscal_year_start=fiscal)
    _check(got, oracle(POSTS, ACCOUNTS, KPIS, by, every, fiscal_year_start=fiscal))
    months = set(got["period_start"].dt.month().unique().to_list())
    step = 3 if every == "1q" else 12
    assert months <= {(fiscal - 1 + i) % 12 + 1 for i in range(0, 12, step)}


def test_the_defaults_and_names_are_the_same_calendar():
    kw = {"kpis": ["reach", "engagement_rate"], "by": ["platform"]}
    assert_frame_equal(
        sk.compute(POSTS, every="1w", **kw),
        sk.compute(POSTS, every="1w", week_start="Monday", fiscal_year_start="January", **kw),
    )
    assert_frame_equal(
        sk.compute(POSTS, every="1q", fiscal_year_start="apr", **kw),
        sk.compute(POSTS, every="1q", fiscal_year_start=4, **kw),
    )
    assert_frame_equal(
        sk.compute(POSTS, every="1w", week_start="SUN", **kw),
        sk.compute(POSTS, every="1w", week_start="sunday", **kw),
    )


def _source_period(every: str, compare: str, week_start: int, t: str = "period_start") -> str:
    """The period compared with the period starting on `t` (docs/time.md), in DuckDB."""
    if compare == "previous":
        step = {"1d": "1 DAY", "1w": "7 DAY", "1mo": "1 MONTH", "1q": "3 MONTH", "1y": "1 YEAR"}[every]
        return f"CAST({t} - INTERVAL {step} AS DATE)"
    if compare == "last_year_weekday":
        return f"CAST({t} - INTERVAL 364 DAY AS DATE)"
    if every == "1w":
        # the week-year is the year of the week's fourth day; week 1 holds January 4th; the
        # same week number a year before (week 53: week 52)
        fourth = f"CAST({t} + INTERVAL 3 DAY AS DATE)"
        year = f"year({fourth})"
        number = f"(({fourth} - make_date({year}, 1, 1)) // 7 + 1)"
        jan4 = f"make_date({year} - 1, 1, 4)"
        first = period_sql("1w", jan4, week_start)
        return f"CAST({first} + (least({number}, 52) - 1) * INTERVAL 7 DAY AS DATE)"
    return f"CAST({t} - INTERVAL 1 YEAR AS DATE)"


def _compared(by: list[str], every: str, compare: str, week_start: int = 0, fiscal: int = 1) -> pl.DataFrame:
    report = oracle(POSTS, ACCOUNTS, KPIS, by, every, week_start=week_start, fiscal_year_start=fiscal)
    con = duckdb.connect()
    con.register("report", report.to_arrow())
    keys = [*by, "period_start"]
    on = " AND ".join([*(f"e.{k} IS NOT DISTINCT FROM r.{k}" for k in by), "e.period_start = r.__source"])
    earlier = con.sql(
        f"SELECT {', '.join(f'r.{k}' for k in keys)}, e.period_start AS __found, "
        f"{', '.join(f'e.{k} AS __e_{k}' for k in KPIS)} "
        f"FROM (SELECT *, {_source_period(every, compare, week_start)} AS __source FROM report) r "
        f"LEFT JOIN report e ON {on}"
    ).pl()
    out = report.join(earlier, on=keys, how="left", nulls_equal=True)
    out, columns = _with_changes(out, KPIS, "prev" if compare == "previous" else "ly", "__found")
    return out.select(*keys, *columns)


@pytest.mark.parametrize("compare", ["previous", "last_year"])
@pytest.mark.parametrize("week_start", ["sunday", "thursday"])
def test_weeks_from_another_weekday_compare_with_the_same_week_number(compare, week_start):
    got = sk.compute(
        POSTS, ACCOUNTS, kpis=KPIS, by=["platform"], every="1w", compare=compare, week_start=week_start
    )
    _check(got, _compared(["platform"], "1w", compare, week_start=WEEKDAYS.index(week_start)))


@pytest.mark.parametrize("every", ["1q", "1y"])
@pytest.mark.parametrize("compare", ["previous", "last_year"])
def test_fiscal_periods_compare_with_the_fiscal_period_before(every, compare):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=[], every=every, compare=compare, fiscal_year_start=4)
    _check(got, _compared([], every, compare, fiscal=4))


def test_week_53_of_sunday_weeks_compares_with_week_52():
    # Sunday weeks (a week is in the year of its Wednesday): week 1 of 2025 starts on Sunday
    # 2024-12-29, of 2026 on 2026-01-04, so 2025 has 53 (week 53 from 2025-12-28)
    posts = _posts(
        [
            ("a", "2024-12-23 09:00", 100, 10),  # week 52 of 2024 (from Sunday 2024-12-22)
            ("a", "2024-12-30 09:00", 900, 10),  # week 1 of 2025 (from 2024-12-29)
            ("a", "2025-12-22 09:00", 200, 10),  # week 52 of 2025 (from 2025-12-21)
            ("a", "2025-12-29 09:00", 300, 10),  # week 53 of 2025 (from 2025-12-28)
            ("a", "2026-01-05 09:00", 400, 10),  # week 1 of 2026 (from 2026-01-04)
        ]
    )
    got = sk.compute(posts, kpis=["reach"], every="1w", week_start="sunday", compare="last_year")
    assert _row(got, dt.date(2025, 12, 21))["reach_ly"] == 100
    assert _row(got, dt.date(2025, 12, 28))["reach_ly"] == 100
    assert _row(got, dt.date(2026, 1, 4))["reach_ly"] == 900
    assert _row(got, dt.date(2024, 12, 22))["reach_ly"] == 0


# ---- windows in the calendar, and windows compared ----------------------------------------


def _window_first(window: str, end: str, week_start: int, fiscal: int) -> str:
    to_date = {"wtd": "1w", "mtd": "1mo", "qtd": "1q", "ytd": "1y"}
    if window in to_date:
        return period_sql(to_date[window], end, week_start, fiscal)
    days = int(window[:-1]) * (7 if window.endswith("w") else 1)
    return f"CAST({end} - INTERVAL {days - 1} DAY AS DATE)"


def _compared_end(window: str, compare: str | None, t: str = "t") -> str:
    """The last day of the window that `compare` compares the window ending on `t` with."""
    if compare is None:
        return t
    if compare == "last_year_weekday":
        return f"CAST({t} - INTERVAL 364 DAY AS DATE)"
    if compare == "last_year":
        return f"CAST({t} - INTERVAL 1 YEAR AS DATE)"
    step = {"wtd": "7 DAY", "mtd": "1 MONTH", "qtd": "3 MONTH", "ytd": "1 YEAR"}.get(window)
    if step is None:
        days = int(window[:-1]) * (7 if window.endswith("w") else 1)
        step = f"{days} DAY"
    return f"CAST({t} - INTERVAL {step} AS DATE)"


def _windows(
    posts: pl.DataFrame,
    accounts: pl.DataFrame,
    by: list[str],
    window: str,
    compare: str | None = None,
    week_start: int = 0,
    fiscal: int = 1,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Each row of the oracle's daily report with the KPIs over a window: the window ending
    that day, or the earlier window `compare` pairs with it; from the posts and snapshots of
    the window's days (docs/kpis.md, docs/time.md). `__found` is null where the window has
    no posts."""
    keys = oracle(posts, accounts, ["posts", "followers"], by, "1d", tz=tz).select(*by, "period_start")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("keys", keys.to_arrow())
    con.register("raw_posts", posts.to_arrow())
    con.register("raw_accounts", accounts.to_arrow())
    like = "coalesce(likes, reactions)" if "reactions" in posts.columns else "likes"
    comps = [like, *(c for c in ("comments", "shares", "saves") if c in posts.columns)]
    eng = (
        f"CASE WHEN {' AND '.join(f'{c} IS NULL' for c in comps)} THEN NULL "
        f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in comps)} END"
    )
    day = f"CAST(timezone('{tz}', published_at::TIMESTAMP AT TIME ZONE 'UTC') AS DATE)"
    con.execute(f"CREATE VIEW p AS SELECT *, {day} AS day, {eng} AS eng FROM raw_posts")
    con.execute("CREATE VIEW a AS SELECT * FROM raw_accounts WHERE followers IS NOT NULL")
    con.execute(
        f"CREATE VIEW r0 AS SELECT *, period_start AS t, {_compared_end(window, compare)} AS e FROM keys"
    )
    con.execute(f"CREATE VIEW r AS SELECT *, {_window_first(window, 'e', week_start, fiscal)} AS w FROM r0")
    r_by = ", ".join(f"r.{k}" for k in by)
    group = ", ".join([*(f"r.{k}" for k in by), "r.t", "r.w", "r.e"])
    match = "".join(f" AND x.{k} IS NOT DISTINCT FROM r.{k}" for k in by)
    both = "x.eng IS NOT NULL AND x.reach IS NOT NULL"
    flows = con.sql(
        f"SELECT {r_by}{',' if by else ''} r.t, r.w, min(x.day) AS __found, count(x.day) AS posts, "
        "CASE WHEN count(x.day) = 0 THEN 0 ELSE sum(x.reach) END AS reach, "
        "CASE WHEN count(x.day) = 0 THEN 0 ELSE sum(x.eng) END AS engagements, "
        f"sum(CASE WHEN {both} THEN x.eng END)::DOUBLE / nullif(sum(CASE WHEN {both} THEN x.reach END), 0)::DOUBLE"
        " AS engagement_rate, "
        "avg(CASE WHEN x.reach > 0 AND x.eng IS NOT NULL THEN x.eng::DOUBLE / x.reach END) AS avg_engagement_rate_per_post "
        f"FROM r LEFT JOIN p x ON x.day BETWEEN r.w AND r.e{match} GROUP BY {group}"
    ).pl()
    followers = con.sql(
        f"""
        SELECT {", ".join([*by, "t"])}, sum(last_f) AS followers,
               sum(coalesce((SELECT arg_max(b.followers, b.date) FROM a b
                             WHERE b.account_id = f.account_id AND b.date < f.w), first_f)) AS followers_start
        FROM (SELECT {r_by}{"," if by else ""} r.t, r.w, x.account_id,
                     arg_max(x.followers, x.date) AS last_f, arg_min(x.followers, x.date) AS first_f
              FROM r JOIN a x ON x.date BETWEEN r.w AND r.e{match}
              GROUP BY {group}, x.account_id) f
        GROUP BY {", ".join([*by, "t"])}"""
    ).pl()
    out = flows.join(followers, on=[*by, "t"], how="left", nulls_equal=True)
    return keys.join(
        out.rename({"t": "period_start", "w": "window_start"}),
        on=[*by, "period_start"],
        how="left",
        nulls_equal=True,
    ).with_columns(pl.col("followers").cast(pl.Int64), pl.col("followers_start").cast(pl.Int64))


def _windows_compared(by: list[str], window: str, compare: str, **calendar: int) -> pl.DataFrame:
    own = _windows(POSTS, ACCOUNTS, by, window, None, **calendar)
    earlier = _windows(POSTS, ACCOUNTS, by, window, compare, **calendar)
    keys = [*by, "period_start"]
    out = own.join(
        earlier.select(*keys, "__found", *(pl.col(k).alias(f"__e_{k}") for k in WINDOW_KPIS)),
        on=keys,
        how="left",
        nulls_equal=True,
        suffix="_earlier",
    )
    out, columns = _with_changes(
        out, WINDOW_KPIS, "prev" if compare == "previous" else "ly", "__found_earlier"
    )
    return out.select(*keys, "window_start", *columns)


@pytest.mark.parametrize("by", [[], ["platform"]])
@pytest.mark.parametrize(
    ("window", "compare"),
    [
        ("28d", "previous"),
        ("7d", "previous"),
        ("4w", "last_year_weekday"),
        ("28d", "last_year"),
        ("wtd", "previous"),
        ("mtd", "previous"),
        ("mtd", "last_year"),
        ("qtd", "previous"),
        ("ytd", "previous"),
    ],
)
def test_windows_compare_with_the_earlier_window(by, window, compare):
    got = sk.compute(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=by, every="1d", window=window, compare=compare)
    _check(got, _windows_compared(by, window, compare))


@pytest.mark.parametrize(
    ("window", "compare"), [("wtd", "previous"), ("qtd", "previous"), ("ytd", "last_year")]
)
def test_to_date_windows_follow_the_calendar(window, compare):
    calendar = {"week_start": 6, "fiscal": 4}
    got = sk.compute(
        POSTS,
        ACCOUNTS,
        kpis=WINDOW_KPIS,
        by=["platform"],
        every="1d",
        window=window,
        compare=compare,
        week_start="sunday",
        fiscal_year_start="april",
    )
    _check(got, _windows_compared(["platform"], window, compare, **calendar))


def test_a_window_and_both_comparisons_are_the_three_reports_side_by_side():
    kw = {"kpis": ["reach", "engagement_rate"], "by": ["platform"], "every": "1d", "window": "28d"}
    both = sk.compute(POSTS, ACCOUNTS, compare=["previous", "last_year"], **kw)
    plain = sk.compute(POSTS, ACCOUNTS, **kw)
    assert both.columns[:5] == ["platform", "period_start", "window_start", "reach", "reach_prev"]
    assert_frame_equal(both.select(plain.columns), plain)
    for compare in ("previous", "last_year"):
        one = sk.compute(POSTS, ACCOUNTS, compare=compare, **kw)
        assert_frame_equal(both.select(one.columns), one)


def test_prev_of_a_trailing_window_is_the_window_28_days_before():
    kw = {
        "kpis": ["reach", "engagement_rate", "followers"],
        "by": ["account_id"],
        "every": "1d",
        "window": "28d",
    }
    plain = sk.compute(POSTS, ACCOUNTS, **kw)
    got = sk.compute(POSTS, ACCOUNTS, compare="previous", **kw)
    shifted = plain.drop("window_start").with_columns(pl.col("period_start") + dt.timedelta(days=28))
    paired = got.join(shifted, on=["account_id", "period_start"], how="inner", suffix="_plain")
    assert paired.height > 0.5 * got.height
    for k in kw["kpis"]:
        assert_frame_equal(
            paired.select(pl.col(f"{k}_prev").alias(k)),
            paired.select(pl.col(f"{k}_plain").alias(k)),
            check_dtypes=False,
        )


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


def test_month_to_date_compares_with_the_same_days_of_last_month():
    posts = _posts(
        [
            ("a", "2026-02-01 10:00", 100, 10),
            ("a", "2026-02-10 10:00", 200, 10),
            ("a", "2026-02-11 10:00", 400, 40),
            ("a", "2026-02-28 23:00", 800, 20),
            ("a", "2026-03-10 12:00", 50, 5),
            ("a", "2026-03-30 12:00", 60, 6),
            ("a", "2026-03-31 12:00", 70, 7),
        ]
    )
    got = sk.compute(posts, kpis=["reach", "engagement_rate"], every="1d", window="mtd", compare="previous")
    # March 10: Feb 1-10
    march_10 = _row(got, dt.date(2026, 3, 10))
    assert march_10["window_start"] == dt.date(2026, 3, 1)
    assert march_10["reach_prev"] == 300
    assert march_10["engagement_rate_prev"] == pytest.approx(20 / 300)
    # March 30 and 31: the same days of February end on its last day, Feb 1-28
    assert _row(got, dt.date(2026, 3, 30))["reach_prev"] == 1500
    assert _row(got, dt.date(2026, 3, 31))["reach_prev"] == 1500
    assert _row(got, dt.date(2026, 3, 31))["reach"] == 180
    assert _row(got, dt.date(2026, 3, 31))["reach_change"] == 180 - 1500


def test_year_to_date_on_feb_29_compares_with_feb_28():
    posts = _posts(
        [
            ("a", "2027-01-05 10:00", 100, 10),
            ("a", "2027-02-28 10:00", 200, 10),
            ("a", "2027-03-01 10:00", 400, 10),
            ("a", "2028-02-29 10:00", 50, 5),
        ]
    )
    got = sk.compute(posts, kpis=["reach"], every="1d", window="ytd", compare=["previous", "last_year"])
    feb_29 = _row(got, dt.date(2028, 2, 29))
    assert feb_29["reach_prev"] == 300
    assert feb_29["reach_ly"] == 300


def test_a_window_before_the_first_data_compares_with_nothing():
    posts = _posts([("a", "2026-01-03 10:00", 100, 10), ("a", "2026-01-20 10:00", 300, 30)])
    got = sk.compute(
        posts, kpis=["posts", "reach", "engagement_rate"], every="1d", window="7d", compare="previous"
    )
    first = _row(got, dt.date(2026, 1, 3))
    assert (first["posts_prev"], first["reach_prev"], first["engagement_rate_prev"]) == (0, 0, None)
    assert first["reach_change_rate"] is None
    assert _row(got, dt.date(2026, 1, 20))["reach_prev"] == 0


def test_states_finalize_compares_windows_from_daily_states():
    states = sk.partial(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=["account_id", "platform"], every="1d")
    kw = {"window": "qtd", "compare": ["previous", "last_year"], "fiscal_year_start": 2}
    got = states.finalize(by=["platform"], **kw)
    direct = sk.compute(POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=["platform"], every="1d", **kw)
    assert_frame_equal(got, direct)


# ---- the calendar in the states --------------------------------------------------------------


def test_states_record_their_calendar_and_finalize_in_it(tmp_path):
    kw = {"kpis": ["reach", "engagement_rate", "followers"], "by": ["platform"]}
    states = sk.partial(POSTS, ACCOUNTS, every="1w", week_start="sunday", **kw)
    assert (states.spec["week_start"], states.spec["fiscal_year_start"]) == ("sunday", 1)
    direct = sk.compute(POSTS, ACCOUNTS, every="1w", week_start="sunday", compare="previous", **kw)
    assert_frame_equal(states.finalize(compare="previous"), direct)
    states.save(tmp_path / "s.parquet")
    loaded = sk.States.load(tmp_path / "s.parquet")
    assert loaded.spec["week_start"] == "sunday"
    assert_frame_equal(loaded.finalize(compare="previous"), direct)
    quarterly = sk.partial(POSTS, ACCOUNTS, every="1q", fiscal_year_start="april", **kw)
    assert quarterly.spec["fiscal_year_start"] == 4
    assert_frame_equal(
        quarterly.finalize(every="1y"),
        sk.compute(POSTS, ACCOUNTS, every="1y", fiscal_year_start=4, **kw),
    )


def test_states_finalize_into_the_calendars_their_periods_fit():
    kw = {"kpis": ["reach", "engagement_rate", "followers", "followers_start"], "by": ["platform"]}
    daily = sk.partial(POSTS, ACCOUNTS, every="1d", **kw)
    for every, calendar in [("1w", {"week_start": "friday"}), ("1y", {"fiscal_year_start": 7})]:
        assert_frame_equal(
            daily.finalize(every=every, **calendar),
            sk.compute(POSTS, ACCOUNTS, every=every, **calendar, **kw),
        )
    # months into fiscal quarters; quarters into quarters and years 3 months apart
    monthly = sk.partial(POSTS, ACCOUNTS, every="1mo", **kw)
    assert_frame_equal(
        monthly.finalize(every="1q", fiscal_year_start=2),
        sk.compute(POSTS, ACCOUNTS, every="1q", fiscal_year_start=2, **kw),
    )
    quarterly = sk.partial(POSTS, ACCOUNTS, every="1q", **kw)
    assert_frame_equal(
        quarterly.finalize(every="1y", fiscal_year_start=10),
        sk.compute(POSTS, ACCOUNTS, every="1y", fiscal_year_start=10, **kw),
    )
    assert_frame_equal(
        quarterly.finalize(fiscal_year_start=4),
        sk.compute(POSTS, ACCOUNTS, every="1q", fiscal_year_start=4, **kw),
    )
    # periods that straddle the new ones do not roll up
    weekly = sk.partial(POSTS, ACCOUNTS, every="1w", **kw)
    with pytest.raises(sk.QueryError) as err:
        weekly.finalize(week_start="sunday")
    assert err.value.code == "not_in_states"
    with pytest.raises(sk.QueryError) as err:
        quarterly.finalize(every="1y", fiscal_year_start=2)
    assert err.value.code == "not_in_states"
    # into one period, any calendar
    assert_frame_equal(
        weekly.finalize(every=None, week_start="sunday"), sk.compute(POSTS, ACCOUNTS, every=None, **kw)
    )


def test_states_of_different_calendars_do_not_merge():
    kw = {"kpis": ["reach"], "by": ["platform"], "every": "1d"}
    first = POSTS.filter(pl.col("published_at") < dt.datetime(2026, 1, 1))
    second = POSTS.filter(pl.col("published_at") >= dt.datetime(2026, 1, 1))
    for calendar, part in [
        ({"week_start": "sunday"}, "week_start"),
        ({"fiscal_year_start": 4}, "fiscal_year_start"),
    ]:
        with pytest.raises(sk.QueryError) as err:
            sk.merge([sk.partial(first, **kw), sk.partial(second, **calendar, **kw)])
        assert err.value.code == "states_mismatch"
        assert part in str(err.value)
    merged = sk.merge(
        [sk.partial(first, week_start="sun", **kw), sk.partial(second, week_start="Sunday", **kw)]
    )
    assert_frame_equal(
        merged.finalize(every="1w"),
        sk.compute(POSTS, every="1w", week_start="sunday", kpis=["reach"], by=["platform"]),
    )


def test_states_written_before_the_calendar_was_recorded_read_as_the_default():
    states = sk.partial(POSTS, kpis=["reach"], by=["platform"], every="1d", week_start="sunday")
    header = json.loads(states.header)
    spec = header["spec"] if "spec" in header else header
    assert spec.pop("week_start") == "sunday"
    spec.pop("fiscal_year_start")
    old = sk.States.from_frame(states.frame, json.dumps(header))
    assert (old.spec["week_start"], old.spec["fiscal_year_start"]) == ("monday", 1)
    assert_frame_equal(
        old.finalize(every="1w"), sk.compute(POSTS, kpis=["reach"], by=["platform"], every="1w")
    )


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"week_start": "sundy"}, "unknown_week_start"),
        ({"week_start": "weekend"}, "unknown_week_start"),
        ({"week_start": ""}, "unknown_week_start"),
        ({"fiscal_year_start": 13}, "unknown_fiscal_year_start"),
        ({"fiscal_year_start": 0}, "unknown_fiscal_year_start"),
        ({"fiscal_year_start": -3}, "unknown_fiscal_year_start"),
        ({"fiscal_year_start": "fiscal"}, "unknown_fiscal_year_start"),
        ({"fiscal_year_start": "4.0"}, "unknown_fiscal_year_start"),
        ({"fiscal_year_start": True}, "invalid_argument"),
        ({"fiscal_year_start": 4.0}, "invalid_argument"),
        ({"week_start": 6}, "invalid_argument"),
    ],
)
def test_a_calendar_that_is_not_one_is_a_query_error_with_a_code(kw, code):
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach"], every="1w", **kw)
    assert err.value.code == code
    if code == "invalid_argument":
        assert isinstance(err.value, TypeError)
        assert isinstance(err.value, ValueError)


def test_a_bad_calendar_is_an_error_in_partial_and_finalize_too():
    with pytest.raises(sk.QueryError) as err:
        sk.partial(POSTS, kpis=["reach"], every="1d", fiscal_year_start="Smarch")
    assert err.value.code == "unknown_fiscal_year_start"
    states = sk.partial(POSTS, kpis=["reach"], every="1d")
    with pytest.raises(sk.QueryError) as err:
        states.finalize(every="1w", week_start="mon day")
    assert err.value.code == "unknown_week_start"


def test_a_window_finer_than_every_is_still_an_error():
    with pytest.raises(sk.QueryError) as err:
        sk.compute(POSTS, kpis=["reach"], every="1mo", window="7d", compare="previous")
    assert err.value.code == "invalid_argument"


# ---- days across DST changes -----------------------------------------------------------------


def _dst_posts(tz: str, changes: list[dt.date]) -> pl.DataFrame:
    """Posts every 20 minutes (UTC) through the three days around each DST change of `tz`, so
    that every local midnight has posts on both sides."""
    times: list[dt.datetime] = []
    for day in changes:
        start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=12)
        times += [start + dt.timedelta(minutes=20 * i) for i in range(3 * 72 + 72)]
    n = len(times)
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n)],
            "account_id": rng.choice(["a", "b"], n).tolist(),
            "platform": "instagram",
            "published_at": times,
            "reach": rng.integers(0, 500, n),
            "likes": rng.integers(0, 50, n),
            "comments": rng.integers(0, 5, n),
        }
    )


DST = {
    "Europe/Berlin": [dt.date(2026, 3, 29), dt.date(2026, 10, 25)],
    "America/New_York": [dt.date(2026, 3, 8), dt.date(2026, 11, 1)],
}


@pytest.mark.parametrize("tz", sorted(DST))
@pytest.mark.parametrize(("every", "week_start"), [("1d", "monday"), ("1w", "monday"), ("1w", "sunday")])
def test_days_and_weeks_across_dst_changes_are_local(tz, every, week_start):
    posts = _dst_posts(tz, DST[tz])
    kpis = ["posts", "reach", "engagements", "engagement_rate"]
    got = sk.compute(posts, kpis=kpis, by=["account_id"], every=every, tz=tz, week_start=week_start)
    expected = oracle(posts, None, kpis, ["account_id"], every, tz=tz, week_start=WEEKDAYS.index(week_start))
    _check(got, expected)
    # and by pandas: each post's local date
    local = posts.to_pandas()
    local["day"] = local["published_at"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
    per_day = local.groupby("day").size()
    if every == "1d":
        daily = got.group_by("period_start").agg(pl.col("posts").sum()).sort("period_start")
        assert dict(zip(daily["period_start"], daily["posts"])) == per_day.to_dict()


@pytest.mark.parametrize("tz", sorted(DST))
def test_a_window_across_a_dst_change_holds_its_local_days(tz):
    posts = _dst_posts(tz, DST[tz])
    accounts = pl.DataFrame(
        {"account_id": ["a", "b"], "date": [dt.date(2026, 1, 1)] * 2, "followers": [10, 20]}
    )
    got = sk.compute(
        posts,
        accounts,
        kpis=WINDOW_KPIS,
        by=["account_id"],
        every="1d",
        window="7d",
        compare="previous",
        tz=tz,
    )
    own = _windows(posts, accounts, ["account_id"], "7d", None, tz=tz)
    earlier = _windows(posts, accounts, ["account_id"], "7d", "previous", tz=tz)
    keys = ["account_id", "period_start"]
    expected = own.join(
        earlier.select(*keys, "__found", *(pl.col(k).alias(f"__e_{k}") for k in WINDOW_KPIS)),
        on=keys,
        how="left",
        suffix="_earlier",
    )
    expected, columns = _with_changes(expected, WINDOW_KPIS, "prev", "__found_earlier")
    _check(got, expected.select(*keys, "window_start", *columns))


# ---- contracts pro-rated into the calendar's periods ------------------------------------------


def _pandas_period(day: dt.date, every: str, week_start: int, fiscal: int) -> dt.date:
    """The first day of `day`'s period (docs/time.md), in plain Python."""
    if every == "1w":
        return day - dt.timedelta(days=(day.weekday() - week_start) % 7)
    months = 3 if every == "1q" else 12
    index = day.year * 12 + day.month - 1 - (fiscal - 1)
    first = index // months * months + (fiscal - 1)
    return dt.date(first // 12, first % 12 + 1, 1)


@pytest.mark.parametrize(("every", "week_start", "fiscal"), [("1w", 6, 1), ("1q", 0, 2), ("1y", 0, 4)])
def test_contracts_are_pro_rated_into_the_calendars_periods(every, week_start, fiscal):
    contracts = pl.DataFrame(
        {
            "account_id": ["a", "a", "b"],
            "campaign": ["spring", "summer", "spring"],
            "start": [dt.date(2026, 1, 20), dt.date(2026, 3, 15), dt.date(2025, 12, 30)],
            "end": [dt.date(2026, 2, 10), dt.date(2026, 4, 14), dt.date(2026, 5, 2)],
            "posts_agreed": [22, 31, 40],
            "fee": [2200.0, 3100.0, 1000.0],
        }
    )
    posts = _posts([("a", "2026-02-01 10:00", 100, 10), ("b", "2026-03-01 10:00", 100, 10)])
    got = sk.compute(
        posts,
        contracts=contracts,
        kpis=["posts_agreed"],
        by=["account_id"],
        every=every,
        week_start=WEEKDAYS[week_start],
        fiscal_year_start=fiscal,
    )
    expected: dict[tuple[str, dt.date], float] = {}
    for c in contracts.iter_rows(named=True):
        days = (c["end"] - c["start"]).days + 1
        for i in range(days):
            key = (
                c["account_id"],
                _pandas_period(c["start"] + dt.timedelta(days=i), every, week_start, fiscal),
            )
            expected[key] = expected.get(key, 0.0) + c["posts_agreed"] / days
    found = {(r["account_id"], r["period_start"]): r["posts_agreed"] for r in got.iter_rows(named=True)}
    assert set(expected) <= set(found)
    for key, value in found.items():
        assert value == pytest.approx(expected.get(key, 0.0)), key
