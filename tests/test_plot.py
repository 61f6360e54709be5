"""sk.plot: each chart's spec (encodings, titles, units, colours) and offline rendering.
Expected values are computed here from the inputs, never read back from the engine."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import socialkpi as sk


def spec(chart: Any) -> dict[str, Any]:
    out: dict[str, Any] = chart.to_dict()
    return out


def layers(chart: Any) -> list[dict[str, Any]]:
    s = spec(chart)
    return list(s.get("layer", [s]))


def values(chart: Any) -> list[dict[str, Any]]:
    """The chart's inline rows (altair moves them to the spec's top-level datasets)."""
    s = spec(chart)
    data = s.get("data") or s["layer"][0]["data"]
    return list(data["values"] if "values" in data else s["datasets"][data["name"]])


@pytest.fixture(scope="module")
def posts() -> pl.DataFrame:
    rows = []
    for month in (1, 2, 3):
        for platform, likes, reach in (("instagram", 50 * month, 1000), ("tiktok", 10, 100 * month)):
            rows.append(
                {
                    "post_id": f"{platform}{month}",
                    "account_id": platform[:3],
                    "platform": platform,
                    "published_at": dt.datetime(2025, month, 6, 10),
                    "likes": likes,
                    "comments": 0,
                    "reach": reach,
                    "clicks": month,
                }
            )
    return pl.DataFrame(rows)


def test_trend_axes_units_and_colours(posts: pl.DataFrame) -> None:
    monthly = sk.compute(posts, kpis=["engagement_rate"], by=["platform"], every="1mo")
    chart = sk.plot.trend(monthly, "engagement_rate", by="platform")
    s = spec(chart)
    assert s["title"] == "Engagement rate by platform"
    assert s["mark"]["type"] == "line"
    enc = s["encoding"]
    assert enc["x"]["field"] == "period_start" and enc["x"]["title"] == "Period start"
    assert enc["y"]["field"] == "engagement_rate" and enc["y"]["title"] == "Engagement rate"
    assert enc["y"]["axis"]["format"] == ".1~%"  # a ratio: axis labels as percentages
    scale = enc["color"]["scale"]
    assert scale["domain"] == ["instagram", "tiktok"]
    assert scale["range"] == [sk.plot.PLATFORM_COLOURS["instagram"], sk.plot.PLATFORM_COLOURS["tiktok"]]
    points = {(v["group"], v["period_start"][:10]): v for v in values(chart)}
    # instagram in February: 100 likes / 1,000 reach = 10.00%, up 5 points on January's 5.00%
    feb = points[("instagram", "2025-02-01")]
    assert feb["value"] == "10.00%" and feb["change"] == "+5.00 pp"
    assert points[("instagram", "2025-01-01")]["change"] == sk.display.MISSING
    # tiktok: 10 likes over 300 reach in March = 3.33%, from 5.00% in February
    assert points[("tiktok", "2025-03-01")]["value"] == "3.33%"
    assert points[("tiktok", "2025-03-01")]["change"] == "-1.67 pp"


def test_trend_money_and_counts_in_their_units(posts: pl.DataFrame) -> None:
    spend = posts.with_columns(spend=pl.lit(12.5), currency=pl.lit("EUR"))
    result = sk.compute_details(spend, kpis=["cost", "reach"], every="1mo")
    cost = spec(sk.plot.trend(result, "cost"))
    assert cost["encoding"]["y"]["title"] == "Cost (EUR)"
    assert cost["encoding"]["y"]["axis"]["format"] == ",.2~f"
    assert "color" not in cost["encoding"] and cost["title"] == "Cost"
    assert [v["value"] for v in values(sk.plot.trend(result, "cost"))] == ["€25.00"] * 3  # two posts a month
    reach = spec(sk.plot.trend(result, "reach"))
    assert reach["encoding"]["y"]["axis"]["format"] == ",~s"
    assert [v["change"] for v in values(sk.plot.trend(result, "reach"))] == [
        "—",
        "+9.1%",
        "+8.3%",
    ]  # 1100, 1200, 1300


def test_trend_needs_periods_and_groups(posts: pl.DataFrame) -> None:
    yearly = sk.compute(posts, kpis=["reach"], by=["platform"])
    with pytest.raises(sk.QueryError, match="period_start") as info:
        sk.plot.trend(yearly, "reach", by="platform")
    assert info.value.code == "invalid_argument"
    monthly = sk.compute(posts, kpis=["reach"], by=["platform"], every="1mo")
    with pytest.raises(sk.QueryError, match="one row per"):
        sk.plot.trend(monthly, "reach")


def test_compare_sorts_groups_and_keeps_platform_colours(posts: pl.DataFrame) -> None:
    frame = sk.compute(posts, kpis=["engagement_rate", "clicks"], by=["platform"])
    chart = sk.plot.compare(frame, "engagement_rate", by="platform")
    bars, labels = layers(chart)
    # instagram: 300 / 3,000 = 10%; tiktok: 30 / 600 = 5%
    assert bars["encoding"]["y"]["sort"] == ["instagram", "tiktok"]
    assert bars["encoding"]["x"]["axis"]["format"] == ".1~%"
    assert bars["encoding"]["x"]["title"] == "Engagement rate"
    assert bars["encoding"]["color"]["scale"]["range"] == [
        sk.plot.platform_colour("instagram"),
        sk.plot.platform_colour("tiktok"),
    ]
    assert labels["encoding"]["text"]["field"] == "value"
    assert [v["value"] for v in values(chart)] == ["10.00%", "5.00%"]
    assert spec(chart)["title"]["text"] == "Engagement rate by platform"
    with pytest.raises(sk.QueryError, match="one row per"):
        sk.plot.compare(
            sk.compute(posts, kpis=["reach"], by=["platform"], every="1mo"), "reach", by="platform"
        )


def test_compare_counts_missing_values() -> None:
    frame = pl.DataFrame({"account_id": ["a", "b", "c"], "engagement_rate": [0.1, None, 0.3]})
    chart = sk.plot.compare(frame, "engagement_rate", by="account_id")
    assert [v["group"] for v in values(chart)] == ["c", "a"]
    assert spec(chart)["title"]["subtitle"] == "1 group without a value not shown"


def test_funnel_stages_in_order_with_step_shares() -> None:
    frame = pl.DataFrame(
        {
            "platform": ["instagram", "x"],
            "reach": [10_000, 2_000],
            "engagements": [500, 100],
            "clicks": [50, None],
        }
    )
    chart = sk.plot.funnel(frame, by="platform")
    bars = layers(chart)[0]
    assert bars["encoding"]["y"]["sort"] == ["Reach", "Engagements", "Clicks"]
    assert bars["encoding"]["yOffset"]["field"] == "group"
    labels = {(v["group"], v["stage"]): v["label"] for v in values(chart)}
    assert labels[("instagram", "Engagements")] == "500 (5.00% of reach)"
    assert labels[("instagram", "Clicks")] == "50 (10.00% of engagements)"
    assert labels[("x", "Clicks")] == "— (— of engagements)"
    with pytest.raises(sk.QueryError, match="two or more"):
        sk.plot.funnel(frame.select("platform", "reach"), by="platform")


def test_contracts_expected_by_now_from_the_window() -> None:
    status = pl.DataFrame(
        {
            "account_id": ["ahead", "behind", "<b>x</b>"],
            "campaign": ["spring", "spring", None],
            "start": [dt.date(2025, 6, 1)] * 3,
            "end": [dt.date(2025, 6, 10)] * 3,  # 10 days; as of June 5 (days_left 5): half elapsed
            "posts_agreed": [4, 10, 2],
            "delivered": [3, 1, 1],
            "days_left": [5, 5, 5],
        }
    )
    chart = sk.plot.contracts(status)
    rows = {v["contract"]: v for v in values(chart)}
    assert rows["behind · spring · 2025-06-01"]["expected_by_now"] == 5.0
    assert rows["behind · spring · 2025-06-01"]["status_"] == "Behind schedule"
    assert rows["ahead · spring · 2025-06-01"]["status_"] == "On track"  # 3 delivered, 2 expected
    assert rows["<b>x</b> · — · 2025-06-01"]["status_"] == "On track"  # 1 of 1 expected
    agreed, delivered, expected = layers(chart)
    assert delivered["encoding"]["y"]["sort"][0] == "behind · spring · 2025-06-01"  # furthest behind first
    assert expected["mark"]["type"] == "tick" and expected["encoding"]["x"]["field"] == "expected_by_now"
    assert len(values(sk.plot.contracts(status, top=1))) == 1


def test_contracts_from_contract_status(posts: pl.DataFrame) -> None:
    deals = pl.DataFrame(
        {
            "account_id": ["ins", "tik"],
            "start": [dt.date(2025, 1, 1)] * 2,
            "end": [dt.date(2025, 3, 31)] * 2,
            "posts_agreed": [9, 9],
            "fee": [900.0, 900.0],
        }
    )
    status = sk.contract_status(posts, deals, as_of=dt.date(2025, 2, 14))
    rows = {v["contract"].split(" · ")[0]: v for v in values(sk.plot.contracts(status))}
    # 45 of 90 days elapsed by Feb 14: 4.5 posts expected; 2 delivered (Jan 6 and Feb 6)
    assert rows["ins"]["expected_by_now"] == pytest.approx(4.5)
    assert rows["ins"]["delivered"] == 2 and rows["ins"]["status_"] == "Behind schedule"


def test_heatmap_weekday_by_hour_in_the_time_zone() -> None:
    t = dt.datetime(2025, 1, 6, 10)  # Monday 10:00 UTC = 11:00 in Berlin
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c"],
            "account_id": ["acme"] * 3,
            "published_at": [t, t, t + dt.timedelta(days=2, hours=5)],  # Wednesday 15:00 UTC
            "likes": [30, 10, 7],
            "reach": [100, 300, 70],
        }
    )
    chart = sk.plot.heatmap(posts, "engagement_rate", tz="Europe/Berlin")
    s = spec(chart)
    assert s["mark"]["type"] == "rect"
    assert s["encoding"]["x"]["title"] == "Hour of day (Europe/Berlin)"
    assert s["encoding"]["y"]["sort"][0] == "Monday"
    assert s["encoding"]["color"]["legend"]["format"] == ".1~%"
    cells = {(v["weekday"], v["hour"]): v for v in values(chart)}
    assert set(cells) == {("Monday", 11), ("Wednesday", 16)}
    assert cells[("Monday", 11)]["value"] == "10.00%"  # (30 + 10) / (100 + 300): a ratio of sums
    assert cells[("Monday", 11)]["posts"] == 2


def test_a_platform_keeps_its_colour_everywhere() -> None:
    assert sk.plot.platform_colour("Instagram") == sk.plot.PLATFORM_COLOURS["instagram"]
    other = sk.plot.platform_colour("mastodon")
    assert other in sk.plot.OTHER_COLOURS and other == sk.plot.platform_colour("mastodon")
    one = pl.DataFrame({"platform": ["mastodon", "x"], "reach": [5, 6]})
    two = pl.DataFrame({"platform": ["mastodon", "youtube", "x"], "reach": [5, 7, 6]})
    for frame in (one, two):
        scale = layers(sk.plot.compare(frame, "reach", by="platform"))[0]["encoding"]["color"]["scale"]
        assert dict(zip(scale["domain"], scale["range"]))["mastodon"] == other


def test_charts_save_to_png_and_svg_without_network(tmp_path: Path, posts: pl.DataFrame) -> None:
    monthly = sk.compute(posts, kpis=["engagement_rate"], by=["platform"], every="1mo")
    monthly.write_parquet(tmp_path / "monthly.parquet")
    code = (
        "import polars as pl, socialkpi as sk, sys\n"
        f"frame = pl.read_parquet({str(tmp_path / 'monthly.parquet')!r})\n"
        "chart = sk.plot.trend(frame, 'engagement_rate', by='platform')\n"
        f"chart.save({str(tmp_path / 'trend.png')!r})\n"
        f"chart.save({str(tmp_path / 'trend.svg')!r})\n"
    )
    # no network at all: a fresh network namespace has only a loopback that is down
    isolate = ["unshare", "-n"] if shutil.which("unshare") and _can_unshare() else []
    subprocess.run([*isolate, sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "trend.svg").read_text()
    assert svg.startswith("<svg") and "Engagement rate by platform" in svg


def _can_unshare() -> bool:
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_trend_draws_a_previous_period_column_dashed() -> None:
    frame = pl.DataFrame(
        {
            "platform": ["x", "x"],
            "period_start": [dt.date(2025, 1, 1), dt.date(2025, 2, 1)],
            "engagement_rate": [0.05, 0.06],
            "engagement_rate_prev": [0.04, 0.05],
        }
    )
    chart = sk.plot.trend(frame, "engagement_rate", by="platform")
    assert spec(chart)["title"] == "Engagement rate by platform"
    current, previous = layers(chart)
    assert "strokeDash" not in current["mark"] and previous["mark"]["strokeDash"] == [4, 3]
    assert previous["encoding"]["y"]["field"] == "engagement_rate_prev"
    assert previous["encoding"]["color"]["scale"] == current["encoding"]["color"]["scale"]
    assert [v["change"] for v in values(chart)] == [
        "+1.00 pp",
        "+1.00 pp",
    ]  # on the column, not the row before


def test_trend_draws_what_compute_compares_with() -> None:
    posts, _ = sk.datasets.sample(n_accounts=4, n_posts=800, seed=2)
    # a month without posts: the row before March is January, the period before is February
    posts = posts.filter(pl.col("published_at").dt.month() != 2)
    monthly = sk.compute(posts, kpis=["posts"], by=["platform"], every="1mo", compare="previous")
    march = [v for v in values(sk.plot.trend(monthly, "posts", by="platform")) if v["period"] == "2025-03-01"]
    assert march and all(v["change"] == sk.display.MISSING for v in march)  # on 0 posts in February


def test_contracts_follow_the_status_rule_when_given() -> None:
    status = pl.DataFrame(
        {
            "account_id": ["half", "late", "open"],
            "posts_agreed": [9, 9, 5],
            "delivered": [4, 2, 1],
            "expected_by_now": [4.5, 4.5, None],  # "half": half a post short, not a whole one
            "on_track": [True, False, None],
        }
    )
    rows = {v["contract"]: v["status_"] for v in values(sk.plot.contracts(status))}
    assert rows == {"half": "On track", "late": "Behind schedule", "open": "No schedule"}


def test_trend_draws_a_target_column_dotted() -> None:
    frame = pl.DataFrame(
        {
            "platform": ["x", "x"],
            "period_start": [dt.date(2025, 1, 1), dt.date(2025, 2, 1)],
            "reach": [900, 1_200],
            "reach_prev": [0, 900],
            "reach_target": [1_000.0, None],
        }
    )
    current, previous, target = layers(sk.plot.trend(frame, "reach", by="platform"))
    assert previous["encoding"]["y"]["field"] == "reach_prev"
    assert target["mark"]["strokeDash"] == [1, 3] and target["mark"]["point"]["shape"] == "diamond"
    assert target["encoding"]["y"]["field"] == "reach_target"
    assert target["encoding"]["color"]["scale"] == current["encoding"]["color"]["scale"]
    assert [v["reach_target"] for v in values(sk.plot.trend(frame, "reach", by="platform"))] == [
        1_000.0,
        None,
    ]
