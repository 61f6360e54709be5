"""The real data sets read through the readers (sk.read_posts with a columns map), then used."""

from __future__ import annotations

import csv
import math

import polars as pl
import pytest
import socialkpi as sk
from conftest import data_path


def raw_rows(name: str, sep: str = ",") -> list[dict[str, str]]:
    """The file's cells as text, read with the csv module (the oracle never uses the reader)."""
    with open(data_path(name), encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=sep))


def number(cell: str) -> float | None:
    return None if cell.strip() == "" else float(cell)


FACEBOOK_MAP = {
    "Type": "content_type",
    "Paid": "sponsored",
    "Lifetime Post Total Reach": "reach",
    "Lifetime Post Total Impressions": "impressions",
    "like": "likes",
    "comment": "comments",
    "share": "shares",
}


@pytest.fixture(scope="module")
def facebook() -> pl.DataFrame:
    return sk.read_posts(
        data_path("dataset_Facebook.csv"),
        columns=FACEBOOK_MAP,
        defaults={"account_id": "cosmetics_page", "platform": "facebook"},
    )


def test_facebook_reads_every_row_and_blank_cells_stay_missing(facebook):
    rows = raw_rows("dataset_Facebook.csv", sep=";")
    report = sk.read_report(facebook)
    assert report is not None
    assert (report.rows_read, report.rows_kept, report.rows_dropped) == (500, 500, [])
    assert report.cells_nulled == []  # blank cells are missing values, not unreadable ones
    assert report.header_map["like"] == "likes"
    for header, canonical in [("like", "likes"), ("share", "shares"), ("comment", "comments")]:
        expected = [None if number(r[header]) is None else int(number(r[header]) or 0) for r in rows]
        assert facebook[canonical].to_list() == expected
    assert facebook["shares"].null_count() == 4 and facebook["likes"].null_count() == 1
    # unmapped columns are kept as they were, as extra dimensions
    assert "Post Month" in facebook.columns and "Total Interactions" in facebook.columns
    assert set(facebook["platform"].unique()) == {"facebook"}


def test_facebook_engagements_equal_total_interactions(facebook):
    rows = raw_rows("dataset_Facebook.csv", sep=";")
    out = sk.compute(facebook, kpis=["posts", "engagements"], by=["content_type"])
    expected: dict[str, float] = {}
    for r in rows:
        expected[r["Type"]] = expected.get(r["Type"], 0) + float(r["Total Interactions"])
    assert dict(zip(out["content_type"], out["engagements"])) == expected


def test_facebook_without_a_map_is_read_by_the_legacy_insights_preset():
    frame = sk.read_posts(data_path("dataset_Facebook.csv"), defaults={"account_id": "page"})
    report = sk.read_report(frame)
    assert report is not None and report.preset == "facebook_insights_posts"
    assert frame["reach"].sum() == sum(
        int(r["Lifetime Post Total Reach"]) for r in raw_rows("dataset_Facebook.csv", ";")
    )


@pytest.fixture(scope="module")
def kag() -> pl.DataFrame:
    return sk.read_posts(
        data_path("KAG_conversion_data.csv"),
        columns={
            "ad_id": "post_id",
            "xyz_campaign_id": "campaign",
            "Impressions": "impressions",
            "Clicks": "clicks",
            "Spent": "spend",
            "Total_Conversion": "conversions",
        },
        defaults={"account_id": "advertiser", "platform": "facebook"},
    )


def test_kag_campaign_costs_equal_arithmetic_on_the_file(kag):
    report = sk.read_report(kag)
    assert report is not None and (report.rows_read, report.rows_kept) == (1143, 1143)
    out = sk.compute(kag, kpis=["cost", "cpc", "cpm", "cpa", "conversion_rate"], by=["campaign"])
    sums: dict[str, list[float]] = {}
    for r in raw_rows("KAG_conversion_data.csv"):
        s = sums.setdefault(r["xyz_campaign_id"], [0.0, 0.0, 0.0, 0.0])
        s[0] += float(r["Spent"])
        s[1] += float(r["Clicks"])
        s[2] += float(r["Impressions"])
        s[3] += float(r["Total_Conversion"])
    assert sorted(out["campaign"]) == sorted(sums)
    for row in out.iter_rows(named=True):
        spent, clicks, impressions, conversions = sums[row["campaign"]]
        assert row["cost"] == pytest.approx(spent, rel=1e-12)
        assert row["cpc"] == pytest.approx(spent / clicks, rel=1e-12)
        assert row["cpm"] == pytest.approx(spent / impressions * 1000, rel=1e-12)
        assert row["cpa"] == pytest.approx(spent / conversions, rel=1e-12)
        assert row["conversion_rate"] == pytest.approx(conversions / clicks, rel=1e-12)


def test_kag_zero_click_ads_give_null_not_infinity(kag):
    out = sk.compute(kag, kpis=["cpc", "conversion_rate"], by=["post_id"])
    zero = {r["ad_id"] for r in raw_rows("KAG_conversion_data.csv") if float(r["Clicks"]) == 0}
    assert zero
    picked = out.filter(pl.col("post_id").is_in(list(zero)))
    assert picked.height == len(zero)
    assert picked["cpc"].null_count() == len(zero) and picked["conversion_rate"].null_count() == len(zero)
    assert not any(math.isinf(v) for v in out["cpc"].drop_nulls())
