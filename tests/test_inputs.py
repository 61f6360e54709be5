"""Every input form of compute() gives the same answer."""

from __future__ import annotations

import polars as pl
import pytest
import socialkpi as sk
from polars.testing import assert_frame_equal

KPIS = ["posts", "engagements", "engagement_rate", "followers", "engagement_rate_followers"]


@pytest.fixture(scope="module")
def small(tables):
    posts, accounts = tables
    return posts.head(800), accounts


@pytest.fixture(scope="module")
def expected(small):
    posts, accounts = small
    return sk.compute(posts, accounts, kpis=KPIS, by=["platform"], every="1mo")


def test_lazyframe(small, expected):
    posts, accounts = small
    assert_frame_equal(
        sk.compute(posts.lazy(), accounts.lazy(), kpis=KPIS, by=["platform"], every="1mo"), expected
    )


def test_pandas_with_datetimes_and_pandas_output(small, expected):
    posts, accounts = small
    p = posts.to_pandas()
    a = accounts.to_pandas()
    a["date"] = a["date"].astype("datetime64[ns]")  # dates that arrived as datetimes
    got = sk.compute(p, a, kpis=KPIS, by=["platform"], every="1mo", output="pandas")
    assert type(got).__module__.startswith("pandas")
    assert_frame_equal(pl.from_pandas(got), expected, check_dtypes=False)


def test_pyarrow_and_arrow_stream_objects(small, expected):
    posts, accounts = small

    class Stream:
        def __init__(self, df: pl.DataFrame) -> None:
            self.df = df

        def __arrow_c_stream__(self, requested_schema=None):
            return self.df.to_arrow().__arrow_c_stream__(requested_schema)

    assert_frame_equal(
        sk.compute(posts.to_arrow(), Stream(accounts), kpis=KPIS, by=["platform"], every="1mo"), expected
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_paths_globs_and_folders(small, expected, tmp_path, fmt):
    posts, accounts = small
    for i, part in enumerate(posts.iter_slices(300)):
        getattr(part, f"write_{fmt}")(tmp_path / f"posts_{i}.{fmt}")
    (tmp_path / "acc").mkdir()
    getattr(accounts, f"write_{fmt}")(tmp_path / "acc" / f"accounts.{fmt}")
    for source in (str(tmp_path / f"posts_*.{fmt}"), [tmp_path / f"posts_{i}.{fmt}" for i in range(3)]):
        got = sk.compute(source, tmp_path / "acc", kpis=KPIS, by=["platform"], every="1mo")
        assert_frame_equal(got, expected)


def test_only_needed_columns_cross(small):
    posts, _ = small

    exported: list[str] = []
    original = pl.Series.__arrow_c_stream__

    def spy(self, requested_schema=None):
        exported.append(self.name)
        return original(self, requested_schema)

    pl.Series.__arrow_c_stream__ = spy  # type: ignore[method-assign]
    try:
        sk.compute(posts, kpis=["likes"], by=["platform"])
    finally:
        pl.Series.__arrow_c_stream__ = original  # type: ignore[method-assign]
    assert sorted(exported) == ["likes", "platform", "post_id"]
