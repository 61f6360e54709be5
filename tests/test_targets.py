"""targets=: <kpi>_target and <kpi>_attainment (docs/time.md, "Targets"). The expected
targets come from an oracle written here from the docs, day by day: a flow's target spreads
each target evenly over its days and a report row's target is the sum over the row's days
(unknown when a day has none); a ratio's or a snapshot's is the target in force on the row's
last day. The report's own values are those of the same call without targets."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from typing import Any

import pandas as pd
import polars as pl
import pytest
import socialkpi as sk
from polars.testing import assert_frame_equal

KPIS = ["posts", "reach", "engagements", "engagement_rate", "followers", "follower_growth"]
# docs/time.md: counts and sums (and follower_growth, a change over the period) are flows
FLOWS = {"posts", "reach", "engagements", "follower_growth"}


def _tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    posts, accounts = sk.datasets.sample(
        n_accounts=4, n_posts=1500, start=dt.date(2025, 11, 3), days=150, seed=7
    )
    return posts, accounts


POSTS, ACCOUNTS = _tables()
PLATFORMS = sorted(POSTS["platform"].unique().to_list())
ACCOUNT_IDS = sorted(POSTS["account_id"].unique().to_list())


# ---- the oracle, from docs/time.md ----


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + y, m + 1, 1)


def _period_end(start: dt.date, every: str) -> dt.date:
    """The last day of the calendar period that starts on ``start``."""
    if every == "1d":
        return start
    if every == "1w":
        return start + dt.timedelta(days=6)
    months = {"1mo": 1, "1q": 3, "1y": 12}[every]
    return _add_months(start, months) - dt.timedelta(days=1)


def _monthly(first: dt.date, months: int) -> list[tuple[dt.date, dt.date]]:
    out = []
    for i in range(months):
        start = _add_months(first, i)
        out.append((start, _add_months(start, 1) - dt.timedelta(days=1)))
    return out


def _quarterly(first: dt.date, quarters: int) -> list[tuple[dt.date, dt.date]]:
    out = []
    for i in range(quarters):
        start = _add_months(first, 3 * i)
        out.append((start, _add_months(start, 3) - dt.timedelta(days=1)))
    return out


def expected_targets(
    report: pl.DataFrame, targets: pl.DataFrame, keys: list[str], every: str, window: bool = False
) -> dict[tuple[int, str], float | None]:
    """(row, kpi) -> the row's target, day by day."""
    rows = report.to_dicts()
    goals = targets.to_dicts()
    out: dict[tuple[int, str], float | None] = {}
    for i, row in enumerate(rows):
        first = row["window_start"] if window else row["period_start"]
        last = row["period_start"] if window else _period_end(row["period_start"], every)
        for kpi in sorted({g["kpi"] for g in goals}):
            mine = [g for g in goals if g["kpi"] == kpi and all(g[k] == row[k] for k in keys)]

            def on(day: dt.date, mine: list[dict[str, Any]] = mine) -> dict[str, Any] | None:
                hits = [g for g in mine if g["start"] <= day <= g["end"]]
                assert len(hits) <= 1
                return hits[0] if hits else None

            if kpi in FLOWS:
                total: float | None = 0.0
                day = first
                while day <= last:
                    g = on(day)
                    if g is None or g["target"] is None:
                        total = None
                        break
                    assert total is not None
                    total += g["target"] / ((g["end"] - g["start"]).days + 1)
                    day += dt.timedelta(days=1)
                out[(i, kpi)] = total
            else:
                g = on(last)
                out[(i, kpi)] = None if g is None else g["target"]
    return out


def check_against_oracle(
    got: pl.DataFrame,
    plain: pl.DataFrame,
    targets: pl.DataFrame,
    keys: list[str],
    every: str,
    window: bool = False,
) -> None:
    named = sorted(set(targets["kpi"]))
    # the report's own columns are unchanged, in their order, with the targets after each KPI
    assert_frame_equal(got.select(plain.columns), plain)
    want = expected_targets(plain, targets, keys, every, window)
    for kpi in named:
        at = got.columns.index(kpi)
        assert got.columns[at + 1 : at + 3] == [f"{kpi}_target", f"{kpi}_attainment"]
        assert got.schema[f"{kpi}_target"] == pl.Float64
        for i, (value, target, attainment) in enumerate(
            got.select(kpi, f"{kpi}_target", f"{kpi}_attainment").iter_rows()
        ):
            w = want[(i, kpi)]
            if w is None:
                assert target is None, (i, kpi, target)
                assert attainment is None
                continue
            assert target == pytest.approx(w, rel=1e-12), (i, kpi)
            if value is None or w == 0:
                assert attainment is None
            else:
                assert attainment == pytest.approx(value / w, rel=1e-12)


def _span_targets(
    spans: list[tuple[dt.date, dt.date]], groups: list[dict[str, Any]], kpis: list[str], seed: int
) -> pl.DataFrame:
    rows = []
    k = seed
    for g in groups:
        for kpi in kpis:
            for start, end in spans:
                k += 1
                value = 0.04 + (k % 7) / 100 if kpi == "engagement_rate" else float(1000 * (k % 13 + 1))
                rows.append({**g, "kpi": kpi, "target": value, "start": start, "end": end})
    return pl.DataFrame(rows)


# the months and quarters cover the posts (2025-11-03 to 2026-04-01) and the weeks around them
MONTHS = _monthly(dt.date(2025, 10, 1), 9)
QUARTERS = _quarterly(dt.date(2025, 10, 1), 3)


@pytest.mark.parametrize("every", ["1d", "1w", "1mo", "1q", "1y"])
@pytest.mark.parametrize("spans", [MONTHS, QUARTERS], ids=["monthly", "quarterly"])
@pytest.mark.parametrize(
    "keys",
    [[], ["platform"], ["platform", "account_id"]],
    ids=["overall", "platform", "platform+account"],
)
def test_targets_match_the_oracle(every, spans, keys):
    by = ["platform", "account_id"]
    plain = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every)
    groups = plain.select(keys).unique().sort(keys).to_dicts() if keys else [{}]
    targets = _span_targets(
        spans, groups, ["posts", "reach", "engagement_rate", "followers", "follower_growth"], 3
    )
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every=every, targets=targets)
    check_against_oracle(got, plain, targets, keys, every)
    # the targets cover 2025-10-01 to 2026-06-30: every row has one, but the years' (2025 and
    # 2026 have days without), whose flow targets are unknown and whose ratios' are not
    known = got["reach_target"].is_not_null().all()
    assert known == (every != "1y")
    assert got["engagement_rate_target"].is_not_null().any()


def test_a_monthly_target_at_a_weekly_grain_by_hand():
    """The week of Monday 2026-03-30 has 2 days of March (31 days) and 5 of April (30)."""
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "account_id": ["x", "x"],
            "published_at": [dt.datetime(2026, 3, 30, 9), dt.datetime(2026, 4, 2, 9)],
            "reach": [100, 200],
            "likes": [5, 10],
        }
    )
    targets = pl.DataFrame(
        {
            "kpi": ["reach", "reach", "engagement_rate", "engagement_rate"],
            "target": [3100.0, 3000.0, 0.1, 0.04],
            "start": [dt.date(2026, 3, 1), dt.date(2026, 4, 1)] * 2,
            "end": [dt.date(2026, 3, 31), dt.date(2026, 4, 30)] * 2,
        }
    )
    got = sk.compute(posts, kpis=["reach", "engagement_rate"], every="1w", targets=targets)
    row = got.row(0, named=True)
    assert row["period_start"] == dt.date(2026, 3, 30)
    assert row["reach_target"] == pytest.approx(3100 * 2 / 31 + 3000 * 5 / 30)
    assert row["reach_attainment"] == pytest.approx(300 / (200 + 500))
    # a ratio's target is the one in force on the week's last day (April 5)
    assert row["engagement_rate_target"] == 0.04
    assert row["engagement_rate_attainment"] == pytest.approx(0.05 / 0.04)


def test_missing_targets_give_null():
    """A month without a target (or with a null one) leaves every row touching it without."""
    by = ["platform"]
    plain = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every="1w")
    targets = _span_targets(MONTHS, [{"platform": p} for p in PLATFORMS], ["reach", "engagement_rate"], 1)
    january = pl.col("start") == dt.date(2026, 1, 1)
    targets = targets.filter(~(january & (pl.col("kpi") == "reach"))).with_columns(
        target=pl.when(january).then(None).otherwise(pl.col("target"))
    )
    got = sk.compute(POSTS, ACCOUNTS, kpis=KPIS, by=by, every="1w", targets=targets)
    check_against_oracle(got, plain, targets, by, "1w")
    touching = got.filter(
        (pl.col("period_start") >= dt.date(2025, 12, 29)) & (pl.col("period_start") <= dt.date(2026, 1, 26))
    )
    assert touching.height and touching["reach_target"].null_count() == touching.height
    # a ratio's target is January's (null) for the weeks that end in January
    ending = touching.filter(pl.col("period_start") <= dt.date(2026, 1, 25))
    assert ending["engagement_rate_target"].null_count() == ending.height
    assert touching.filter(period_start=dt.date(2026, 1, 26))["engagement_rate_target"].null_count() == 0


def test_period_start_targets_and_targets_for_every_period():
    plain = sk.compute(POSTS, kpis=["reach", "engagement_rate"], by=["platform"], every="1mo")
    months = [s for s, _ in MONTHS]
    by_month = pl.DataFrame(
        [
            {"platform": p, "kpi": "reach", "target": 5000.0 * (i + 1), "period_start": m}
            for i, m in enumerate(months)
            for p in PLATFORMS
        ]
    )
    got = sk.compute(POSTS, kpis=["reach", "engagement_rate"], by=["platform"], every="1mo", targets=by_month)
    as_spans = by_month.with_columns(
        start=pl.col("period_start"), end=pl.col("period_start").dt.month_end()
    ).drop("period_start")
    check_against_oracle(got, plain, as_spans, ["platform"], "1mo")

    everywhere = pl.DataFrame({"kpi": ["engagement_rate", "reach"], "target": [0.05, 10_000]})
    got = sk.compute(
        POSTS, kpis=["reach", "engagement_rate"], by=["platform"], every="1w", targets=everywhere
    )
    assert (got["engagement_rate_target"] == 0.05).all() and (got["reach_target"] == 10_000).all()
    assert_frame_equal(
        got.select(attainment=pl.col("reach_attainment")),
        got.select(attainment=pl.col("reach") / 10_000),
    )
    overall = sk.compute(POSTS, kpis=["reach"], targets=everywhere.filter(kpi="reach"))
    assert overall.columns == ["reach", "reach_target", "reach_attainment"]
    assert overall["reach_attainment"][0] == pytest.approx(POSTS["reach"].sum() / 10_000)


def test_a_zero_target_gives_a_null_attainment():
    targets = pl.DataFrame({"kpi": ["reach"], "target": [0]})
    got = sk.compute(POSTS, kpis=["reach"], every="1mo", targets=targets)
    assert (got["reach_target"] == 0).all() and got["reach_attainment"].null_count() == got.height


def test_month_to_date_against_a_monthly_target():
    plain = sk.compute(POSTS, kpis=["reach", "engagement_rate"], every="1d", window="mtd")
    targets = _span_targets(MONTHS, [{}], ["reach", "engagement_rate"], 5)
    got = sk.compute(POSTS, kpis=["reach", "engagement_rate"], every="1d", window="mtd", targets=targets)
    check_against_oracle(got, plain, targets, [], "1d", window=True)
    # on March 10 the month-to-date target is 10/31 of March's
    march = targets.filter(kpi="reach", start=dt.date(2026, 3, 1))["target"][0]
    row = got.filter(period_start=dt.date(2026, 3, 10))
    assert row["reach_target"][0] == pytest.approx(march * 10 / 31)


def test_targets_go_after_the_compare_columns():
    targets = _span_targets(MONTHS, [{}], ["reach"], 2)
    got = sk.compute(
        POSTS, kpis=["reach", "posts"], every="1mo", compare=["previous", "last_year"], targets=targets
    )
    assert got.columns == [
        "period_start",
        "reach",
        "reach_prev",
        "reach_change",
        "reach_change_rate",
        "reach_ly",
        "reach_ly_change",
        "reach_ly_change_rate",
        "reach_target",
        "reach_attainment",
        "posts",
        "posts_prev",
        "posts_change",
        "posts_change_rate",
        "posts_ly",
        "posts_ly_change",
        "posts_ly_change_rate",
    ]


def test_custom_kpis_take_the_kind_of_their_formula():
    kpis = [sk.KPI("reach_k", "reach / 1000"), sk.KPI("er_pct", "engagements / reach * 100")]
    result = sk.compute_details(POSTS, kpis=kpis, every="1w")
    assert result.kinds == {"reach_k": "flow", "er_pct": "ratio"}
    targets = _span_targets(MONTHS, [{}], ["reach_k", "er_pct"], 4)
    got = sk.compute(POSTS, kpis=kpis, every="1w", targets=targets)
    w = got.filter(period_start=dt.date(2025, 12, 29)).row(0, named=True)
    dec = targets.filter(kpi="reach_k", start=dt.date(2025, 12, 1))["target"][0]
    jan = targets.filter(kpi="reach_k", start=dt.date(2026, 1, 1))["target"][0]
    assert w["reach_k_target"] == pytest.approx(dec * 3 / 31 + jan * 4 / 31)
    assert w["er_pct_target"] == targets.filter(kpi="er_pct", start=dt.date(2026, 1, 1))["target"][0]


def test_the_catalogue_kinds():
    posts = POSTS.with_columns(spend=pl.lit(1.5))
    result = sk.compute_details(
        posts, ACCOUNTS, kpis=["posts", "cost", "cpm", "followers", "follower_growth", "ctr"]
    )
    assert result.kinds == {
        "posts": "flow",
        "cost": "flow",
        "cpm": "ratio",
        "followers": "snapshot",
        "follower_growth": "flow",
        "ctr": "ratio",
    }


def test_finalize_takes_targets_like_compute(tmp_path):
    targets = _span_targets(QUARTERS, [{"platform": p} for p in PLATFORMS], ["reach", "engagement_rate"], 6)
    states = sk.partial(
        POSTS, ACCOUNTS, kpis=["reach", "engagement_rate"], by=["platform", "account_id"], every="1d"
    )
    got = states.finalize(by=["platform"], every="1w", targets=targets)
    want = sk.compute(
        POSTS, ACCOUNTS, kpis=["reach", "engagement_rate"], by=["platform"], every="1w", targets=targets
    )
    assert_frame_equal(got, want)
    # pandas in and out, and a CSV file
    path = tmp_path / "goals.csv"
    targets.write_csv(path)
    from_file = states.finalize(by=["platform"], every="1w", targets=str(path), output="pandas")
    assert isinstance(from_file, pd.DataFrame)
    assert_frame_equal(pl.from_pandas(from_file), want, check_dtypes=False)
    from_pandas = sk.compute(
        POSTS, kpis=["reach", "engagement_rate"], by=["platform"], every="1w", targets=targets.to_pandas()
    )
    assert_frame_equal(from_pandas, want)


def test_targets_in_a_time_zone():
    """Periods are the report's calendar days in its zone; targets' days are calendar days."""
    targets = _span_targets(MONTHS, [{}], ["posts"], 8)
    plain = sk.compute(POSTS, kpis=["posts"], every="1w", tz="Pacific/Kiritimati")
    got = sk.compute(POSTS, kpis=["posts"], every="1w", tz="Pacific/Kiritimati", targets=targets)
    check_against_oracle(got, plain, targets, [], "1w")


# ---- warnings ----


def test_a_target_for_a_group_not_in_the_report_warns():
    targets = pl.DataFrame(
        {"platform": [PLATFORMS[0], "myspace"], "kpi": ["reach", "reach"], "target": [1.0, 2.0]}
    )
    with pytest.warns(sk.TargetWarning, match="myspace"):
        got = sk.compute(POSTS, kpis=["reach"], by=["platform"], every="1mo", targets=targets)
    first, second = got.filter(platform=PLATFORMS[0]), got.filter(platform=PLATFORMS[1])
    assert first.height and first["reach_target"].to_list() == [1.0] * first.height
    assert second.height and second["reach_target"].null_count() == second.height


def test_a_target_for_a_preset_member_left_out_warns():
    """Without accounts, the awareness preset leaves out followers; its target warns."""
    targets = pl.DataFrame({"kpi": ["reach", "followers"], "target": [1.0, 2.0]})
    with pytest.warns(sk.TargetWarning, match="followers"):
        got = sk.compute(POSTS, kpis="awareness", every="1mo", targets=targets)
    assert "reach_target" in got.columns and "followers_target" not in got.columns


def test_matching_targets_do_not_warn():
    targets = pl.DataFrame({"platform": PLATFORMS, "kpi": "reach", "target": 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sk.compute(POSTS, kpis=["reach"], by=["platform"], every="1mo", targets=targets)


# ---- errors ----


def _raises(exc: type[BaseException], code: str, targets: Any, **options: Any) -> str:
    call: dict[str, Any] = {
        "kpis": ["reach", "engagement_rate"],
        "by": ["platform"],
        "every": "1mo",
        **options,
    }
    with pytest.raises(exc) as info:
        sk.compute(POSTS, targets=targets, **call)
    assert info.value.code == code, str(info.value)
    return str(info.value)


def test_a_table_without_kpi_or_target():
    _raises(sk.SchemaError, "missing_column", pl.DataFrame({"kpi": ["reach"]}))
    _raises(sk.SchemaError, "missing_column", pl.DataFrame({"target": [1.0]}))


def test_a_kpi_not_requested():
    message = _raises(
        sk.QueryError, "target_not_requested", pl.DataFrame({"kpi": ["likes"], "target": [1.0]})
    )
    assert "likes" in message


def test_duplicate_targets():
    twice = pl.DataFrame({"platform": ["x", "x"], "kpi": ["reach", "reach"], "target": [1.0, 2.0]})
    _raises(sk.InputError, "duplicate_target", twice)
    month = pl.DataFrame(
        {"kpi": ["reach", "reach"], "target": [1.0, 2.0], "period_start": [dt.date(2026, 1, 1)] * 2}
    )
    _raises(sk.InputError, "duplicate_target", month)
    overlapping = pl.DataFrame(
        {
            "kpi": ["reach", "reach"],
            "target": [1.0, 2.0],
            "start": [dt.date(2026, 1, 1), dt.date(2026, 1, 31)],
            "end": [dt.date(2026, 1, 31), dt.date(2026, 2, 28)],
        }
    )
    _raises(sk.InputError, "duplicate_target", overlapping)
    # days that touch without overlapping are fine
    touching = overlapping.with_columns(start=pl.Series([dt.date(2026, 1, 1), dt.date(2026, 2, 1)]))
    sk.compute(POSTS, kpis=["reach"], every="1mo", targets=touching)


def test_a_target_that_is_not_a_number():
    _raises(sk.SchemaError, "not_numeric", pl.DataFrame({"kpi": ["reach"], "target": ["lots"]}))


@pytest.mark.parametrize(
    ("targets", "options", "says"),
    [
        (pl.DataFrame({"kpi": ["reach"], "target": [1.0], "note": ["q1"]}), {}, "note"),
        (pl.DataFrame({"kpi": ["reach"], "target": [1.0], "account_id": ["a"]}), {}, "account_id"),
        (pl.DataFrame({"kpi": [1], "target": [1.0]}), {}, "kpi"),
        (pl.DataFrame({"kpi": [None, "reach"], "target": [1.0, 2.0]}), {}, "empty"),
        (pl.DataFrame({"kpi": ["reach"], "target": [1.0], "start": [dt.date(2026, 1, 1)]}), {}, "both"),
        (
            pl.DataFrame(
                {
                    "kpi": ["reach"],
                    "target": [1.0],
                    "start": [dt.date(2026, 2, 1)],
                    "end": [dt.date(2026, 1, 1)],
                }
            ),
            {},
            "after it ends",
        ),
        (
            pl.DataFrame({"kpi": ["reach"], "target": [1.0], "start": ["2026-01-01"], "end": ["soon"]}),
            {},
            "date",
        ),
        (pl.DataFrame({"kpi": ["reach"], "target": [1.0], "period_start": [None]}), {}, "period_start"),
        (
            pl.DataFrame({"kpi": ["reach"], "target": [1.0], "period_start": [dt.date(2026, 1, 1)]}),
            {"every": None},
            "every",
        ),
        (
            pl.DataFrame({"kpi": ["reach"], "target": [1.0], "period_start": [dt.date(2026, 1, 15)]}),
            {},
            "2026-01-15",
        ),
        (
            pl.DataFrame({"kpi": ["reach"], "target": [1.0], "period_start": [dt.date(2026, 1, 1)]}),
            {"every": "1d", "window": "mtd"},
            "start and end",
        ),
    ],
)
def test_invalid_targets(targets, options, says):
    assert says in _raises(sk.QueryError, "invalid_targets", targets, **options)


def test_targets_of_the_wrong_type():
    _raises(sk.ArgumentError, "invalid_argument", {"reach": 1})
    _raises(sk.InputError, "unsupported_table", object())


def test_a_kpi_named_like_a_target_column():
    kpis = ["reach", sk.KPI("reach_target", "reach * 2")]
    with pytest.raises(sk.ArgumentError) as info:
        sk.compute(POSTS, kpis=kpis, targets=pl.DataFrame({"kpi": ["reach"], "target": [1.0]}))
    assert info.value.code == "invalid_argument"


def test_a_nan_target_is_missing():
    got = sk.compute(
        POSTS, kpis=["reach"], every="1mo", targets=pl.DataFrame({"kpi": ["reach"], "target": [math.nan]})
    )
    assert got["reach_target"].null_count() == got.height


# ---- in words: sk.explain and compute_details(...).over_time ----


def test_explain_says_which_period_is_compared_and_which_window():
    text = sk.explain("reach", every="1mo", compare="previous")
    assert (
        "reach_prev is reach of the month before (all of it, whatever its length), from that period's sum"
        in text
    )
    assert "reach_change_rate = reach_change / |reach_prev|" in text
    rate = sk.explain("engagement_rate", every="1w", compare=["previous", "last_year"])
    assert "the ratio of that period's own sums" in rate
    assert (
        "engagement_rate_ly is engagement_rate of the same ISO week number a year before (week 53 against week 52)"
        in rate
    )
    assert "engagement_rate_ly_change = engagement_rate - engagement_rate_ly" in rate
    window = sk.explain("followers", every="1d", window="4w")
    assert "over the 28 days ending that day" in window and "the last snapshot in the window" in window
    assert "from the first day of that day's month to the day" in sk.explain("reach", window="mtd")
    assert "pro-rated by days" in sk.explain("reach", targets=True)
    assert "in force on each row's last day" in sk.explain("engagement_rate", targets=True)
    # without them, the text is the KPI's alone
    assert sk.explain("reach") == sk.explain("reach", targets=False)
    assert "Compared" not in sk.explain("reach") and "Target" not in sk.explain("reach")


def test_explain_checks_compare_and_window():
    with pytest.raises(sk.QueryError) as info:
        sk.explain("reach", every="1mo", compare="yesterday")
    assert info.value.code == "unknown_compare"
    with pytest.raises(sk.QueryError) as info:
        sk.explain("reach", window="5x")
    assert info.value.code == "unknown_window"
    # without every: one period over start..end, compared with the days just before it
    assert "the same number of days just before start" in sk.explain("reach", compare="previous")
    with pytest.raises(sk.ArgumentError):
        sk.explain("reach", every="1mo", compare="last_year_weekday")


def test_compute_details_says_the_same_as_explain():
    targets = pl.DataFrame({"kpi": ["reach"], "target": [1.0]})
    result = sk.compute_details(
        POSTS,
        kpis=["reach", "engagement_rate"],
        every="1mo",
        compare=["previous", "last_year"],
        targets=targets,
    )
    for kpi in ("reach", "engagement_rate"):
        assert sk.explain(kpi, every="1mo", compare=["previous", "last_year"], targets=True).endswith(
            result.over_time[kpi]
        )
    windowed = sk.compute_details(POSTS, kpis=["reach"], every="1d", window="28d")
    assert sk.explain("reach", window="28d").endswith("\n" + windowed.over_time["reach"])
    assert sk.compute_details(POSTS, kpis=["reach"], every="1mo").over_time == {}
    states = sk.partial(POSTS, kpis=["reach"], every="1d")
    assert states.finalize_details(every="1mo", compare="previous").over_time == {
        "reach": sk.compute_details(POSTS, kpis=["reach"], every="1mo", compare="previous").over_time["reach"]
    }
    custom = sk.compute_details(POSTS, kpis=[sk.KPI("k", "reach / 1000")], every="1w", compare="previous")
    assert "from that period's sum" in custom.over_time["k"]


def test_tables_of_other_kinds_and_an_empty_one():
    targets = pl.DataFrame({"kpi": ["reach"], "target": [5]})
    for given in (targets.lazy(), targets.to_arrow(), targets.to_pandas()):
        got = sk.compute(POSTS, kpis=["reach"], every="1mo", targets=given)
        assert got["reach_target"].to_list() == [5.0] * got.height
    for empty in (
        pl.DataFrame({"kpi": [], "target": []}),
        pl.DataFrame({"kpi": [], "target": [], "start": [], "end": []}),
    ):
        got = sk.compute(POSTS, kpis=["reach"], every="1mo", targets=empty)
        assert got.columns == ["period_start", "reach"]
