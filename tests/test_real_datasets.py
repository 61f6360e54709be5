"""Real exports from tests/data read through the public API."""

from __future__ import annotations

import polars as pl
import pytest
import socialkpi as sk
from conftest import data_path


@pytest.fixture(scope="module")
def facebook() -> pl.DataFrame:
    raw = pl.read_csv(data_path("dataset_Facebook.csv"), separator=";")
    # The file has no ids, account or timestamps: one page, the month/weekday/hour for time.
    return raw.with_row_index("post_id").with_columns(
        pl.lit("cosmetics_page").alias("account_id"),
        pl.lit("facebook").alias("platform"),
        pl.datetime(2014, pl.col("Post Month"), pl.col("Post Weekday"), pl.col("Post Hour")).alias(
            "published_at"
        ),
        pl.col("like").alias("likes"),
        pl.col("comment").alias("comments"),
        pl.col("share").alias("shares"),
        pl.col("Lifetime Post Total Reach").alias("reach"),
        pl.col("Lifetime Post Total Impressions").alias("impressions"),
    )


def test_engagements_equal_total_interactions(facebook):
    # Total Interactions = comment + like + share, with blank cells counted as 0 (rule 3)
    out = sk.compute(facebook, kpis=["posts", "engagements", "engagement_rate"], every="1mo")
    by_month = (
        facebook.group_by("Post Month")
        .agg(pl.len().alias("posts"), pl.col("Total Interactions").sum(), pl.col("reach").sum())
        .sort("Post Month")
    )
    assert out["posts"].to_list() == by_month["posts"].to_list()
    assert out["engagements"].to_list() == by_month["Total Interactions"].to_list()
    expected = (by_month["Total Interactions"] / by_month["reach"]).to_list()
    assert out["engagement_rate"].to_list() == pytest.approx(expected, rel=1e-12)


def test_blank_cells_are_missing_not_zero(facebook):
    out = sk.compute(facebook, kpis=["posts", "shares", "likes"], by=["Paid"])
    assert out["Paid"].to_list() == [0, 1, None]  # one post has a blank Paid cell
    assert out["posts"].sum() == 500
    assert out["shares"].sum() == facebook["share"].sum()
    blank = out.filter(pl.col("Paid").is_null()).row(0, named=True)
    assert blank["posts"] == 1


def test_ratios_by_type_and_impressions_below_reach(facebook):
    out = sk.compute(facebook, kpis=["frequency", "virality_rate"], by=["Type"])
    for row in out.iter_rows(named=True):
        part = facebook.filter(pl.col("Type") == row["Type"])
        both = part.filter(pl.col("impressions").is_not_null() & pl.col("reach").is_not_null())
        assert row["frequency"] == pytest.approx(both["impressions"].sum() / both["reach"].sum())
        shares = part.filter(pl.col("shares").is_not_null())
        assert row["virality_rate"] == pytest.approx(shares["shares"].sum() / shares["impressions"].sum())
    assert (facebook["impressions"] < facebook["reach"]).any()  # real exports do this; no error
