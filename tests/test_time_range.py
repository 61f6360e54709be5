"""The report's range (docs/time.md): start= / end= keep the periods that overlap the range,
each whole, while compare= and window= still read the days before start; fill=True gives every
group every period of the range; with every=None the range is one period, compared with the
same number of days before it.

The expected reports are the DuckDB oracle of docs/kpis.md (tests/oracle.py) over all the data,
cut to the range by calendar arithmetic written here in SQL, with a calendar of periods
(generate_series) joined to every group for fill=True."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
import socialkpi as sk
from oracle import TRUNC, oracle
from polars.testing import assert_frame_equal, assert_series_equal
from test_time import ACCOUNTS, FLOWS, KPIS, POSTS, WINDOW_KPIS, _expected, _window_expected

START, END = dt.date(2025, 5, 14), dt.date(2026, 2, 10)
STEP = {"1d": "1 DAY", "1w": "7 DAY", "1mo": "1 MONTH", "1q": "3 MONTH", "1y": "1 YEAR"}
BYS = [[], ["platform"], ["account_id"]]
EVERY = ["1d", "1w", "1mo", "1q", "1y"]


def _check(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def _in_range(report: pl.DataFrame, every: str, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """The rows of `report` whose period overlaps [start, end]: it starts on or before `end`
    and on or after the start of the period holding `start`."""
    con = duckdb.connect()
    con.register("report", report.to_arrow())
    where = ["TRUE"]
    if start is not None:
        where.append(f"period_start >= CAST(date_trunc('{TRUNC[every]}', DATE '{start}') AS DATE)")
    if end is not None:
        where.append(f"period_start <= DATE '{end}'")
    return con.sql(f"SELECT * FROM report WHERE {' AND '.join(where)}").pl()


@pytest.mark.parametrize("by", BYS)
@pytest.mark.parametrize("every", EVERY)
def test_start_and_end_keep_the_periods_overlapping_the_range(by, every):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, start=START, end=END)
    expected = _in_range(oracle(POSTS, ACCOUNTS, KPIS, by, every), every, START, END)
    assert got.height > 0
    _check(got, expected)


def test_a_month_that_starts_before_start_is_kept_whole():
    got = sk.compute(POSTS, kpis=["posts", "reach"], every="1mo", start="2026-01-15", end="2026-02-03")
    whole = sk.compute(POSTS, kpis=["posts", "reach"], every="1mo")
    days = POSTS.with_columns(day=pl.col("published_at").dt.date())
    january = days.filter((pl.col("day") >= dt.date(2026, 1, 1)) & (pl.col("day") <= dt.date(2026, 1, 31)))
    february = days.filter(pl.col("day").dt.strftime("%Y-%m") == "2026-02")
    assert got["period_start"].to_list() == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    assert got["posts"].to_list() == [january.height, february.height]
    assert got["reach"].to_list() == [january["reach"].sum(), february["reach"].sum()]
    assert (
        whole.filter(pl.col("period_start").is_in(got["period_start"].implode()))["posts"].to_list()
        == got["posts"].to_list()
    )


def test_only_start_or_only_end_bounds_one_side():
    full = oracle(POSTS, ACCOUNTS, KPIS, ["platform"], "1mo")
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by="platform", every="1mo", start=START)
    _check(got, _in_range(full, "1mo", START, None))
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by="platform", every="1mo", end=END)
    _check(got, _in_range(full, "1mo", None, END))


def _filled(by: list[str], every: str, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """Every group seen in the posts or snapshots with every period from the period holding
    `start` to `end` (else the data's first to last period), the oracle's values where the
    group has rows, flows 0 and the rest null where it has none."""
    report = oracle(POSTS, ACCOUNTS, KPIS, by, every)
    con = duckdb.connect()
    con.register("report", report.to_arrow())
    con.register("posts", POSTS.to_arrow())
    con.register("accounts", ACCOUNTS.to_arrow())
    unit = TRUNC[every]
    first = (
        f"DATE '{start}'"
        if start is not None
        else "(SELECT least((SELECT min(CAST(published_at AS DATE)) FROM posts), (SELECT min(date) FROM accounts)))"
    )
    last = (
        f"DATE '{end}'"
        if end is not None
        else "(SELECT greatest((SELECT max(CAST(published_at AS DATE)) FROM posts), (SELECT max(date) FROM accounts)))"
    )
    calendar = (
        f"SELECT CAST(unnest(generate_series(CAST(date_trunc('{unit}', {first}) AS TIMESTAMP), "
        f"CAST({last} AS TIMESTAMP), INTERVAL {STEP[every]})) AS DATE) AS period_start"
    )
    if by:
        cols = ", ".join(by)
        groups = f"SELECT DISTINCT {cols} FROM posts UNION SELECT DISTINCT {cols} FROM accounts"
        grid = f"SELECT g.*, c.period_start FROM ({groups}) g CROSS JOIN ({calendar}) c"
    else:
        grid = calendar
    keys = [*by, "period_start"]
    on = " AND ".join(f"grid.{k} IS NOT DISTINCT FROM report.{k}" for k in keys)
    # a flow of a (group, period) without rows is 0; one whose rows reported nothing stays null
    values = ", ".join(
        f"CASE WHEN report.period_start IS NULL THEN 0 ELSE report.{k} END AS {k}"
        if k in FLOWS
        else f"report.{k}"
        for k in KPIS
    )
    out = con.sql(
        f"SELECT {', '.join(f'grid.{k}' for k in keys)}, {values} FROM ({grid}) grid LEFT JOIN report ON {on} "
        f"ORDER BY {', '.join(keys)} NULLS LAST"
    ).pl()
    return out


@pytest.mark.parametrize("by", BYS)
@pytest.mark.parametrize("every", EVERY)
def test_fill_gives_every_group_every_period_of_the_range(by, every):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, start=START, end=END, fill=True)
    expected = _filled(by, every, START, END)
    if by == ["account_id"] and every == "1d":
        # some accounts miss some days: the fill adds rows
        assert (
            got.height
            > sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, start=START, end=END).height
        )
    _check(got, expected)


@pytest.mark.parametrize("every", ["1d", "1mo"])
def test_fill_without_bounds_runs_from_the_first_to_the_last_period_of_the_data(every):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by="platform", every=every, fill=True)
    _check(got, _filled(["platform"], every, None, None))


def test_fill_reaches_past_the_data_with_empty_periods():
    end = dt.date(2027, 6, 30)
    got = sk.compute(
        POSTS, ACCOUNTS, kpis=KPIS, by="platform", every="1mo", start="2027-01-01", end=end, fill=True
    )
    _check(got, _filled(["platform"], "1mo", dt.date(2027, 1, 1), end))
    after = got.filter(pl.col("period_start") > dt.date(2027, 3, 31))
    assert after.height == 6 * 3
    assert (after["posts"] == 0).all() and after["engagement_rate"].is_null().all()
    assert after["followers"].is_null().all()


@pytest.mark.parametrize("by", BYS)
@pytest.mark.parametrize("every", ["1d", "1w", "1mo"])
def test_compare_reads_the_periods_before_start(by, every):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, compare="previous", start=START, end=END)
    expected = _in_range(_expected(by, every, "previous", KPIS), every, START, END)
    _check(got, expected)
    # the first period's _prev is the period before start, read from the data before it
    first = got.filter(pl.col("period_start") == pl.col("period_start").min())
    assert (
        first["period_start"][0] < START < first["period_start"][0] + dt.timedelta(days=31) or every == "1d"
    )
    assert first["posts_prev"].sum() > 0


@pytest.mark.parametrize("by", [[], ["platform"]])
def test_last_year_comparisons_read_a_year_before_start(by):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every="1mo", compare="last_year", start="2026-03-01")
    _check(got, _in_range(_expected(by, "1mo", "last_year", KPIS), "1mo", dt.date(2026, 3, 1), None))
    assert got["posts_ly"].sum() > 0


@pytest.mark.parametrize("by", [[], ["account_id"]])
@pytest.mark.parametrize("window", ["28d", "mtd"])
def test_a_window_on_starts_day_sums_the_days_before_it(by, window):
    got = sk.compute(
        POSTS, ACCOUNTS, kpis=WINDOW_KPIS, by=by, every="1d", window=window, start=START, end=END
    )
    _check(got, _in_range(_window_expected(by, window), "1d", START, END))
    if window == "28d" and not by:
        first = got.row(0, named=True)
        assert first["period_start"] == START and first["window_start"] == START - dt.timedelta(days=27)
        days = POSTS.with_columns(day=pl.col("published_at").dt.date())
        inside = days.filter((pl.col("day") >= first["window_start"]) & (pl.col("day") <= START))
        assert first["posts"] == inside.height


def _one_period(by: list[str], start: dt.date, end: dt.date) -> pl.DataFrame:
    """The oracle over the posts and snapshots of the days [start, end], with each account's
    followers_start its last snapshot before `start` (else its first in the range)."""
    day = pl.col("published_at").dt.date()
    posts = POSTS.filter((day >= start) & (day <= end))
    accounts = ACCOUNTS.filter((pl.col("date") >= start) & (pl.col("date") <= end))
    report = oracle(posts, accounts, KPIS, by, None)
    con = duckdb.connect()
    con.register("a", ACCOUNTS.filter(pl.col("followers").is_not_null()).to_arrow())
    group = ", ".join(by)
    select = f"{', '.join(by)}, " if by else ""
    starts = con.sql(
        f"""SELECT {select}sum(coalesce(
                   (SELECT arg_max(b.followers, b.date) FROM a b WHERE b.account_id = x.account_id AND b.date < DATE '{start}'),
                   first_f)) AS __start
            FROM (SELECT account_id, {select}arg_min(followers, date) AS first_f FROM a
                  WHERE date BETWEEN DATE '{start}' AND DATE '{end}' GROUP BY account_id{", " + group if by else ""}) x
            {"GROUP BY " + group if by else ""}"""
    ).pl()
    if by:
        report = report.join(starts, on=by, how="left", nulls_equal=True)
    else:
        report = report.with_columns(__start=pl.lit(starts["__start"][0]))
    rate = (pl.col("followers") - pl.col("__start")).cast(pl.Float64) / pl.col("__start").cast(pl.Float64)
    return report.with_columns(
        followers_start=pl.col("__start").cast(pl.Int64),
        follower_growth_rate=pl.when(pl.col("__start") == 0).then(None).otherwise(rate),
    ).drop("__start")


@pytest.mark.parametrize("by", BYS)
def test_a_range_without_a_period_is_one_period_over_its_days(by):
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, start=START, end=END)
    expected = _one_period(by, START, END)
    assert "period_start" not in got.columns
    _check(got, expected)


@pytest.mark.parametrize("by", [[], ["platform"], ["account_id"]])
def test_compare_previous_without_a_period_is_the_same_length_just_before(by):
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, compare="previous", start=start, end=end)
    now = _one_period(by, start, end)
    before = _one_period(by, start - dt.timedelta(days=31), start - dt.timedelta(days=1))
    before = before.with_columns(__found=pl.lit(True))
    joined = (
        now.join(before, on=by, how="left", suffix="_prev")
        if by
        else pl.concat([now, before.rename(lambda c: f"{c}_prev")], how="horizontal")
    )
    columns: list[pl.Expr] = [pl.col(k) for k in by]
    for k in KPIS:
        prev = pl.col(f"{k}_prev")
        if k in FLOWS:
            # a group without rows in the days before: a flow of none is 0
            prev = pl.when(pl.col("__found_prev" if not by else "__found").is_null()).then(0).otherwise(prev)
        value, base = pl.col(k).cast(pl.Float64), prev.cast(pl.Float64)
        columns += [
            pl.col(k),
            prev.alias(f"{k}_prev"),
            (pl.col(k) - prev).alias(f"{k}_change"),
            pl.when((base == 0) | base.is_null())
            .then(None)
            .otherwise((value - base) / base.abs())
            .alias(f"{k}_change_rate"),
        ]
    _check(got, joined.select(columns))


def test_last_year_without_a_period_is_the_same_dates_a_year_before():
    start, end = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by="platform", compare="last_year", start=start, end=end)
    before = _one_period(["platform"], dt.date(2025, 2, 1), dt.date(2025, 2, 28))
    expected = got.select("platform").join(before, on="platform", how="left")
    assert expected["posts"].min() > 0
    for k in KPIS:
        assert_series_equal(got[f"{k}_ly"], expected[k], check_names=False, check_dtypes=False, rel_tol=1e-9)


def test_states_finalize_takes_the_range():
    states = sk.partial(POSTS, ACCOUNTS, kpis=KPIS, by=["account_id", "platform"], every="1d")
    got = states.finalize(by=["platform"], every="1mo", start=START, end=END, fill=True)
    _check(got, _filled(["platform"], "1mo", START, END))
    got = states.finalize(by=["platform"], every=None, start=START, end=END)
    _check(got, _one_period(["platform"], START, END))
    got = states.finalize(by=[], every="1w", compare="previous", start=START, end=END)
    _check(got, _in_range(_expected([], "1w", "previous", KPIS), "1w", START, END))


def test_monthly_states_give_ranges_of_whole_months():
    states = sk.partial(POSTS, ACCOUNTS, kpis=KPIS, by=["platform"], every="1mo")
    got = states.finalize(every=None, start="2025-06-01", end="2026-01-31")
    _check(got, _one_period(["platform"], dt.date(2025, 6, 1), dt.date(2026, 1, 31)))
    with pytest.raises(sk.QueryError) as e:
        states.finalize(every=None, start="2025-06-02", end="2026-01-31")
    assert e.value.code == "not_in_states"


def _posts(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "platform": "instagram",
            "published_at": [dt.datetime.fromisoformat(r[1]) for r in rows],
            "reach": [100] * len(rows),
            "likes": [5] * len(rows),
            "spend": [r[2] for r in rows],
        }
    )


def test_fill_follows_each_accounts_coverage_for_cost():
    # acme posts in January and March (February is inside its coverage), zen in February only
    posts = _posts([("acme", "2026-01-10", 10), ("acme", "2026-03-05", 30), ("zen", "2026-02-14", 20)])
    got = sk.compute(
        posts,
        kpis=["posts", "cost", "engagement_rate"],
        by="account_id",
        every="1mo",
        start="2026-01-01",
        end="2026-04-30",
        fill=True,
    )
    months = [dt.date(2026, m, 1) for m in (1, 2, 3, 4)]
    assert got["account_id"].to_list() == ["acme"] * 4 + ["zen"] * 4
    assert got["period_start"].to_list() == months * 2
    assert got["posts"].to_list() == [1, 0, 1, 0, 0, 1, 0, 0]
    # cost: 0 where the posts cover the account and it posted nothing, null outside
    assert got["cost"].to_list() == [10, 0, 30, None, None, 20, None, None]
    assert got["engagement_rate"].to_list() == [0.05, None, 0.05, None, None, 0.05, None, None]
    # not per account: the posts cover January to March for every group
    overall = sk.compute(
        posts, kpis=["posts", "cost"], every="1mo", start="2026-01-01", end="2026-04-30", fill=True
    )
    assert overall["cost"].to_list() == [10, 20, 30, None]


def test_the_cli_takes_start_end_and_fill(tmp_path):
    from socialkpi.cli import main

    posts = _posts([("acme", "2026-01-10", 10), ("acme", "2026-03-05", 30)])
    source, out = tmp_path / "posts.parquet", tmp_path / "out.csv"
    posts.write_parquet(source)
    code = main(
        [
            "compute",
            str(source),
            "--kpis",
            "posts",
            "--every",
            "1mo",
            "--start",
            "2026-01-01",
            "--end",
            "2026-04-30",
            "--fill",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert pl.read_csv(out)["posts"].to_list() == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"every": "1mo", "start": "2026-03-01", "end": "2026-02-01"}, "start_after_end"),
        ({"start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 1)}, "start_after_end"),
        ({"every": "1mo", "start": "2026-13-01"}, "invalid_argument"),
        ({"every": "1mo", "end": "yesterday"}, "invalid_argument"),
        ({"every": "1mo", "start": 20260101}, "invalid_argument"),
        ({"every": "1mo", "start": dt.datetime(2026, 1, 1, 12)}, "invalid_argument"),
        ({"fill": True}, "invalid_argument"),
        ({"every": "1d", "fill": "yes"}, "invalid_argument"),
        ({"compare": "previous", "start": "2026-01-01"}, "invalid_argument"),
        ({"window": "28d", "start": "2026-01-01", "end": "2026-01-31"}, "invalid_argument"),
        ({"compare": "last_month", "start": "2026-01-01", "end": "2026-01-31"}, "unknown_compare"),
    ],
)
def test_bad_ranges_are_query_errors_with_codes(kw, code):
    with pytest.raises(sk.QueryError) as e:
        sk.compute(POSTS, kpis=["posts"], **kw)
    assert e.value.code == code


def test_states_finalize_checks_the_range():
    states = sk.partial(POSTS, kpis=["posts"], every="1d")
    with pytest.raises(sk.QueryError) as e:
        states.finalize(start="2026-03-01", end="2026-02-01")
    assert e.value.code == "start_after_end"
    with pytest.raises(sk.QueryError) as e:
        states.finalize(every=None, fill=True)
    assert e.value.code == "invalid_argument"
    whole = sk.partial(POSTS, kpis=["posts"])
    with pytest.raises(sk.QueryError) as e:
        whole.finalize(start="2026-03-01")
    assert e.value.code == "not_in_states"


def test_filled_prev_is_the_previous_row_of_the_filled_report():
    # daily by account has gaps: with fill, each day's previous day is the row before it
    kpis = ["posts", "reach", "engagement_rate", "followers"]
    got = sk.compute(
        POSTS,
        ACCOUNTS,
        kpis=kpis,
        by="account_id",
        every="1d",
        compare="previous",
        start=START,
        end=END,
        fill=True,
    )
    plain = sk.compute(POSTS, ACCOUNTS, kpis=kpis, by="account_id", every="1d", start=START, end=END)
    assert got.height > plain.height
    later = got.with_columns(pl.col(k).shift(1).over("account_id").alias(f"__{k}") for k in kpis).filter(
        pl.col("period_start") > START
    )
    for k in kpis:
        assert_series_equal(later[f"{k}_prev"], later[f"__{k}"], check_names=False)


def test_a_filled_day_has_its_window():
    got = sk.compute(
        POSTS, kpis=["posts"], by="platform", every="1d", window="7d", start=START, end=END, fill=True
    )
    plain = sk.compute(POSTS, kpis=["posts"], by="platform", every="1d", window="7d", start=START, end=END)
    shared = got.join(plain, on=["platform", "period_start"], how="inner", suffix="_plain")
    assert shared.height == plain.height and (shared["posts"] == shared["posts_plain"]).all()
    days = POSTS.select("platform", day=pl.col("published_at").dt.date())
    for row in got.join(plain, on=["platform", "period_start"], how="anti").iter_rows(named=True):
        inside = days.filter(
            (pl.col("platform") == row["platform"])
            & (pl.col("day") >= row["period_start"] - dt.timedelta(days=6))
            & (pl.col("day") <= row["period_start"])
        )
        assert row["posts"] == inside.height
        assert row["window_start"] == row["period_start"] - dt.timedelta(days=6)


def test_the_range_is_in_the_reports_time_zone():
    # 23:30 UTC on January 31 is February 1 in Berlin
    posts = _posts([("acme", "2026-01-31 23:30:00", 1), ("acme", "2026-01-31 12:00:00", 2)])
    berlin = sk.compute(posts, kpis=["posts"], start="2026-02-01", end="2026-02-01", tz="Europe/Berlin")
    assert berlin["posts"].to_list() == [1]
    utc = sk.compute(posts, kpis=["posts"], start="2026-02-01", end="2026-02-01")
    assert utc.height == 0
    daily = sk.compute(posts, kpis=["posts"], every="1d", start="2026-02-01", tz="Europe/Berlin")
    assert daily["period_start"].to_list() == [dt.date(2026, 2, 1)]


# ---- in words: sk.explain(..., start=, end=, fill=) ----


def test_explain_says_what_a_range_keeps_and_compute_does_it():
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "account_id": "acme",
            "published_at": [
                dt.datetime(2026, 1, 5),
                dt.datetime(2026, 1, 20),
                dt.datetime(2026, 3, 10, 23),
                dt.datetime(2026, 3, 31),
            ],  # fmt: skip
            "reach": [100, 200, 50, 7],
            "likes": [10, 20, 5, 1],
        }
    )
    monthly = sk.explain("reach", every="1mo", start="2026-01-15", end="2026-03-10")
    assert (
        "Range (start='2026-01-15', end='2026-03-10', every='1mo'): the report keeps the periods that "
        "overlap the days from 2026-01-15 to 2026-03-10, each whole" in monthly
    )
    assert "compare and window still read the days before start" in monthly
    # as said: January and March whole (posts before start and after end count)
    got = sk.compute(posts, kpis=["reach"], every="1mo", start="2026-01-15", end="2026-03-10")
    assert got.rows() == [(dt.date(2026, 1, 1), 300), (dt.date(2026, 3, 1), 57)]

    one = sk.explain("reach", start="2026-01-15", end="2026-03-10")
    assert "one period over exactly the days from 2026-01-15 to 2026-03-10 (both included, in tz)" in one
    assert "reach is the sum over those days" in one
    assert sk.compute(posts, kpis=["reach"], start="2026-01-15", end="2026-03-10")["reach"].to_list() == [250]
    assert "followers_start: its last before start" in sk.explain("followers", end=dt.date(2026, 3, 10))
    assert "the data's first day to 2026-03-10" in sk.explain("followers", end=dt.date(2026, 3, 10))
    ended = sk.explain("reach", every="1w", end="2026-03-10")
    assert "also where the period ends after end." in ended and "before start" not in ended

    filled = sk.explain("engagement_rate", every="1mo", start="2026-01-01", end="2026-03-31", fill=True)
    assert (
        "Filled (fill=True): every group seen in the data gets a row for every period of the range" in filled
    )
    assert "(engagement_rate is a ratio: null)" in filled
    got = sk.compute(posts, kpis=["reach", "engagement_rate"], every="1mo", start="2026-01-01",
                     end="2026-03-31", fill=True)  # fmt: skip
    assert got.row(1) == (dt.date(2026, 2, 1), 0, None)  # February: counts 0, the ratio null
    # without a range the text is the KPI's alone
    assert "Range" not in sk.explain("reach", every="1mo") and "Filled" not in sk.explain("reach")


def test_explain_checks_the_range():
    with pytest.raises(sk.QueryError) as info:
        sk.explain("reach", start="2026-03-01", end="2026-02-01")
    assert info.value.code == "start_after_end"
    for bad in ({"start": "March"}, {"end": dt.datetime(2026, 3, 1)}, {"fill": "yes"}, {"fill": True}):
        with pytest.raises(sk.ArgumentError):
            sk.explain("reach", **bad)  # fill=True needs every=, as compute does


def test_windows_over_a_range_of_millennia_are_refused_not_laid_out():
    # one post, filled day by day over 0001..9999 with 366-day windows: once some 40 GB
    posts = pl.DataFrame(
        {
            "post_id": ["p"],
            "account_id": ["a"],
            "platform": ["x"],
            "published_at": [dt.datetime(2026, 1, 1)],
            "impressions": [5],
        }
    )
    states = sk.partial(posts, kpis=["impressions"], every="1d")
    with pytest.raises(sk.QueryError) as err:
        states.finalize(start="0001-01-01", end="9999-12-31", fill=True, window="366d")
    assert err.value.code == "invalid_argument"
    assert "pairs" in str(err.value)
