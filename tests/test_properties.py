"""Property tests: row order and splitting the input into files do not change any result."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import socialkpi as sk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

KPIS = ["posts", "reach", "engagements", "engagement_rate", "avg_engagement_rate_per_post",
        "followers", "followers_start", "engagement_rate_followers", "ctr"]  # fmt: skip
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), by=st.sampled_from([[], ["platform"], ["account_id"]]),
       every=st.sampled_from([None, "1w", "1mo"]))  # fmt: skip
def test_row_order_does_not_matter(tables, seed, by, every):
    posts, accounts = tables
    expected = sk.compute(posts, accounts, kpis=KPIS, by=by, every=every)
    shuffled = sk.compute(posts.sample(fraction=1.0, shuffle=True, seed=seed),
                          accounts.sample(fraction=1.0, shuffle=True, seed=seed + 1),
                          kpis=KPIS, by=by, every=every)  # fmt: skip
    assert_frame_equal(shuffled, expected, rel_tol=1e-12)


@SETTINGS
@given(cuts=st.lists(st.integers(1, 2999), min_size=1, max_size=5, unique=True),
       every=st.sampled_from([None, "1d", "1q"]))  # fmt: skip
def test_splitting_into_files_does_not_matter(tables, cuts, every):
    posts, accounts = tables
    expected = sk.compute(posts, accounts, kpis=KPIS, by=["platform"], every=every)
    bounds = [0, *sorted(c for c in cuts if c < posts.height), posts.height]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            posts.slice(lo, hi - lo).write_parquet(Path(tmp) / f"part-{i:03d}.parquet")
        got = sk.compute(str(Path(tmp) / "part-*.parquet"), accounts, kpis=KPIS, by=["platform"], every=every)
    assert_frame_equal(got, expected, rel_tol=1e-12)


def test_chunked_frames_give_the_same_answer(tables):
    posts, accounts = tables
    chunked = pl.concat([posts.slice(i, 250) for i in range(0, posts.height, 250)], rechunk=False)
    assert chunked.n_chunks() > 1
    assert_frame_equal(sk.compute(chunked, accounts, kpis=KPIS, by=["account_id"], every="1mo"),
                       sk.compute(posts, accounts, kpis=KPIS, by=["account_id"], every="1mo"))  # fmt: skip
