"""The posts pass reads a table in batches; results do not depend on where batches end
(dictionaries, group codes, periods and lookups carry over from batch to batch)."""

from __future__ import annotations

import os

import polars as pl
import pytest
import socialkpi as sk
from polars.testing import assert_frame_equal

KPIS = ["posts", "engagements", "engagement_rate", "engagement_rate_followers", "avg_engagement_rate_per_post",
        "followers", "follower_growth", "ctr", "virality_rate", "applause_rate"]  # fmt: skip


@pytest.mark.parametrize("by", [["account_id"], ["platform"], []])
@pytest.mark.parametrize("every", ["1mo", "1w", None])
def test_results_do_not_depend_on_batch_size(tables, tmp_path, by, every):
    posts, accounts = tables
    path = tmp_path / "posts.parquet"
    posts.write_parquet(path, row_group_size=97)
    whole = sk.compute(posts, accounts, kpis=KPIS, by=by, every=every)
    os.environ["SOCIALKPI_BATCH_ROWS"] = "7"
    try:
        in_memory = sk.compute(posts, accounts, kpis=KPIS, by=by, every=every)
        from_file = sk.compute(str(path), accounts, kpis=KPIS, by=by, every=every)
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert_frame_equal(in_memory, whole, check_exact=False, rel_tol=1e-12)
    assert_frame_equal(from_file, whole, check_exact=False, rel_tol=1e-12)


def test_repeats_are_found_across_batches(tables):
    posts, _ = tables
    repeated = pl.concat([posts, posts.head(1)])
    os.environ["SOCIALKPI_BATCH_ROWS"] = "5"
    try:
        with pytest.raises(sk.InputError) as err:
            sk.compute(repeated, kpis=["posts"])
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert err.value.code == "duplicate_post_id"


def test_two_dimensions_and_days_across_batches(tables):
    posts, accounts = tables
    kpis = ["posts", "engagements", "engagement_rate", "engagement_rate_followers", "ctr"]
    args = dict(kpis=kpis, by=["platform", "content_type"], every="1d", tz="America/New_York")
    whole = sk.compute(posts, accounts, **args)
    os.environ["SOCIALKPI_BATCH_ROWS"] = "11"
    try:
        batched = sk.compute(posts, accounts, **args)
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert_frame_equal(batched, whole, check_exact=False, rel_tol=1e-12)
