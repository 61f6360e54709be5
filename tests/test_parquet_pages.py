"""Text columns read from Parquet pages: the post ids of the repeat check are hashed straight
from their pages, and key columns (accounts, platforms) are read as dictionaries and row
indices, when the file's encoding allows it; else they are read through polars. Whatever wrote
the file (polars or pyarrow, plain or dictionary encoding, v1 or v2 pages, compressed or not,
nullable or required, one file or several), a repeat is found exactly as in memory, no false
one is, and the KPIs by key equal a direct group-by of the frame. A text column that formulas
only compare with a text (`kind == 'video'`) is read the same way, and each condition equals
a filter of the frame."""

from __future__ import annotations

import os
import re

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import socialkpi as sk

N = 3_000


def ids(repeats: bool) -> list[str | None]:
    """Short and long ids (over 12 bytes), ASCII and not, with nulls; with `repeats`, three of
    them come again in a later row group: one short, one long, one not ASCII."""
    out: list[str | None] = []
    for i in range(N):
        if i % 97 == 0:
            out.append(None)
        elif i % 3 == 0:
            out.append(f"long-post-identifier-{i}")
        elif i % 5 == 0:
            out.append(f"é{i}")
        else:
            out.append(f"p{i}")
    if repeats:
        out[2_500], out[2_600], out[2_700] = out[1], out[3], out[5]
    return out


def accounts() -> list[str | None]:
    """Short, long (over 12 bytes) and non-ASCII account ids, some missing."""
    names = ["a1", "an-account-with-a-long-name", "compte-é", "a4", "a5", "bb", "a7"]
    return [None if i % 89 == 0 else names[(i * 7 + i // 11) % 7] for i in range(N)]


def posts(repeats: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ids(repeats),
            "account_id": accounts(),
            "platform": ["instagram", "tiktok", "x"] * (N // 3),
            "published_at": pl.datetime_range(
                pl.datetime(2025, 1, 1), pl.datetime(2025, 1, 1) + pl.duration(hours=N - 1), "1h", eager=True
            ),
            "likes": list(range(N)),
        }
    )


def write_pyarrow(df: pl.DataFrame, path: str, **options) -> None:
    table = df.to_arrow()
    if options.pop("required", False):
        fields = [f.with_nullable(False) if f.name == "post_id" else f for f in table.schema]
        table = table.cast(pa.schema(fields))
    pq.write_table(table, path, row_group_size=700, **options)


WRITERS = {
    "polars": lambda df, p: df.write_parquet(p, row_group_size=700),
    "polars-uncompressed": lambda df, p: df.write_parquet(p, row_group_size=700, compression="uncompressed"),
    "pyarrow-dictionary": lambda df, p: write_pyarrow(df, p, use_dictionary=True),
    "pyarrow-dictionary-small-pages": lambda df, p: write_pyarrow(
        df, p, use_dictionary=True, data_page_size=512, dictionary_pagesize_limit=2_000
    ),
    # dictionaries that overflow: later pages of a chunk fall back to plain
    "pyarrow-dictionary-overflow": lambda df, p: write_pyarrow(
        df, p, use_dictionary=True, dictionary_pagesize_limit=16, write_batch_size=16, data_page_size=256
    ),
    "pyarrow-plain-v2": lambda df, p: write_pyarrow(df, p, use_dictionary=False, data_page_version="2.0"),
    "pyarrow-dictionary-v2-snappy": lambda df, p: write_pyarrow(
        df, p, use_dictionary=True, data_page_version="2.0", compression="snappy"
    ),
    "pyarrow-gzip-v1": lambda df, p: write_pyarrow(df, p, use_dictionary=False, compression="gzip"),
    "pyarrow-delta": lambda df, p: write_pyarrow(
        df, p, use_dictionary=False, column_encoding={"post_id": "DELTA_BYTE_ARRAY"}
    ),
}


def expected_repeats(df: pl.DataFrame) -> tuple[int, list[str]]:
    """From the frame itself: repeated rows (beyond each id's first) and the first three ids."""
    present = df["post_id"].drop_nulls()
    counts = present.value_counts()
    repeated = counts.filter(pl.col("count") > 1)
    extra = int((repeated["count"] - 1).sum())
    return extra, sorted(repeated["post_id"].to_list())[:3]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_repeats_found_in_every_encoding(tmp_path, writer):
    df = posts(repeats=True)
    path = str(tmp_path / "posts.parquet")
    WRITERS[writer](df, path)
    extra, examples = expected_repeats(df)
    assert extra == 3
    with pytest.raises(sk.InputError) as err:
        sk.compute(path, kpis=["posts", "likes"], by=["platform"], every="1mo")
    assert err.value.code == "duplicate_post_id"
    message = str(err.value)
    assert f"posts has {extra} repeated post_id rows" in message
    assert re.search(r"for example ([^)]*)\)", message).group(1) == ", ".join(examples)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_no_false_repeats_and_the_same_result(tmp_path, writer):
    df = posts(repeats=False)
    path = str(tmp_path / "posts.parquet")
    WRITERS[writer](df, path)
    args = dict(kpis=["posts", "likes"], by=["platform"], every="1mo")
    from_file = sk.compute(path, **args).sort("platform", "period_start")
    in_memory = sk.compute(df, **args).sort("platform", "period_start")
    assert from_file.equals(in_memory)
    # independent count: the posts of each platform
    assert from_file["posts"].sum() == N


def test_repeats_found_in_required_ids(tmp_path):
    for repeats in (False, True):
        # the 31 nulls become one id: 30 repeats, and 3 more with `repeats`
        df = posts(repeats).with_columns(pl.col("post_id").fill_null("missing-id"))
        path = str(tmp_path / f"posts-{repeats}.parquet")
        write_pyarrow(df, path, use_dictionary=False, required=True)
        assert not pq.read_schema(path).field("post_id").nullable
        extra, examples = expected_repeats(df)
        assert extra == (33 if repeats else 30)
        with pytest.raises(sk.InputError) as err:
            sk.compute(path, kpis=["posts"])
        assert f"posts has {extra} repeated post_id rows (for example {', '.join(examples)})" in str(
            err.value
        )


def test_repeats_across_files_and_small_batches(tmp_path):
    df = posts(repeats=False)
    first, second = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    df.head(2_000).write_parquet(first, row_group_size=300)
    # the second file repeats one id of the first
    df.slice(2_000).with_columns(pl.col("post_id").str.replace(r"^p2002$", "p1")).write_parquet(
        second, row_group_size=300
    )
    os.environ["SOCIALKPI_BATCH_ROWS"] = "5"
    try:
        with pytest.raises(sk.InputError) as err:
            sk.compute([first, second], kpis=["posts"])
        assert "posts has 1 repeated post_id rows (for example p1)" in str(err.value)
        df.slice(2_000).write_parquet(second, row_group_size=300)
        out = sk.compute([first, second], kpis=["posts"])
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert out["posts"].sum() == N


def test_repeats_found_in_integer_ids(tmp_path):
    # integer ids are not text (read through polars): repeats found all the same
    df = posts(repeats=False).with_columns(pl.int_range(N).alias("post_id"))
    path = str(tmp_path / "posts.parquet")
    pl.concat([df, df.head(2)]).write_parquet(path, row_group_size=500)
    with pytest.raises(sk.InputError) as err:
        sk.compute(path, kpis=["posts"])
    assert "posts has 2 repeated post_id rows (for example 0, 1)" in str(err.value)


def oracle(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """docs/kpis.md: posts counts rows, likes sums them, by the keys and the month of publication;
    posts without the account they are grouped by have no group."""
    month = pl.col("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    return (
        df.filter(*[pl.col(k).is_not_null() for k in by if k == "account_id"])
        .group_by(*by, month)
        .agg(pl.len().cast(pl.Int64).alias("posts"), pl.col("likes").sum())
        .sort(*by, "period_start")
    )


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("by", [["account_id"], ["platform"], ["account_id", "platform"]])
def test_keys_from_pages_equal_a_group_by(tmp_path, writer, by):
    df = posts(repeats=False)
    path = str(tmp_path / "posts.parquet")
    WRITERS[writer](df, path)
    got = sk.compute(path, kpis=["posts", "likes"], by=by, every="1mo").sort(*by, "period_start")
    want = oracle(df, by)
    assert got.select(want.columns).equals(want)
    # several files, batches of a few row groups each
    first, second = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    WRITERS[writer](df.head(1_000), first)
    WRITERS[writer](df.slice(1_000), second)
    os.environ["SOCIALKPI_BATCH_ROWS"] = "1000"
    try:
        got = sk.compute([first, second], kpis=["posts", "likes"], by=by, every="1mo")
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert got.sort(*by, "period_start").select(want.columns).equals(want)


def test_keys_as_dictionaries_in_the_file_schema(tmp_path):
    # pyarrow dictionary arrays are read by polars as categoricals: read through polars
    df = posts(repeats=False)
    table = df.to_arrow()
    table = table.set_column(1, "account_id", table.column("account_id").dictionary_encode())
    path = str(tmp_path / "posts.parquet")
    pq.write_table(table, path, row_group_size=700)
    got = sk.compute(path, kpis=["posts", "likes"], by=["account_id"], every="1mo")
    want = oracle(df, ["account_id"])
    got = got.with_columns(pl.col("account_id").cast(pl.String)).sort("account_id", "period_start")
    assert got.select(want.columns).equals(want)


def test_ids_as_the_dimension(tmp_path):
    # by post: the ids are a key and the repeat check reads them all the same
    df = posts(repeats=False).drop_nulls("post_id")
    path = str(tmp_path / "posts.parquet")
    df.write_parquet(path, row_group_size=700)
    got = sk.compute(path, kpis=["posts", "likes"], by=["post_id"])
    assert got.height == df.height
    assert got.sort("post_id")["likes"].to_list() == df.sort("post_id")["likes"].to_list()
    pl.concat([df, df.head(1)]).write_parquet(path, row_group_size=700)
    with pytest.raises(sk.InputError, match="repeated post_id"):
        sk.compute(path, kpis=["posts"], by=["post_id"])


def with_kinds(df: pl.DataFrame) -> pl.DataFrame:
    """A text column to filter on: short, long (over 12 bytes) and non-ASCII values, some
    missing, one that only comes in the last row groups, and one that differs by case."""
    kinds = ["video", "image", "a-very-long-content-kind", "vidéo", None, "Video"]
    column = [kinds[(i * 5 + i // 7) % len(kinds)] for i in range(N)]
    column[2_900:] = ["story"] * (N - 2_900)
    return df.with_columns(kind=pl.Series(column, dtype=pl.String))


TEXT_KPIS = [
    sk.KPI("videos", "count(where kind == 'video')"),
    sk.KPI("long_likes", "sum(likes where 'a-very-long-content-kind' == kind)"),
    sk.KPI("not_video_likes", "sum(likes where kind != 'video')"),
    sk.KPI("stories", "count(where kind == 'story')"),
    sk.KPI("on_x", "count(where platform == 'x')"),
    sk.KPI("accented", "count(where kind == 'vidéo')"),
]


def text_oracle(df: pl.DataFrame) -> pl.DataFrame:
    """docs/kpis.md: a condition is false where its column is missing (so neither `==` nor
    `!=` holds there); counts are 0 and sums are null without rows, by platform and month."""
    kind, month = pl.col("kind"), pl.col("published_at").dt.truncate("1mo").cast(pl.Date)

    def count(where: pl.Expr) -> pl.Expr:
        return where.fill_null(False).sum().cast(pl.Int64)

    def total(where: pl.Expr) -> pl.Expr:
        where = where.fill_null(False)
        return pl.when(where.any()).then(pl.col("likes").filter(where).sum()).cast(pl.Int64)

    return (
        df.group_by("platform", month.alias("period_start"))
        .agg(
            count(kind == "video").alias("videos"),
            total(kind == "a-very-long-content-kind").alias("long_likes"),
            total(kind != "video").alias("not_video_likes"),
            count(kind == "story").alias("stories"),
            count(pl.col("platform") == "x").alias("on_x"),
            count(kind == "vidéo").alias("accented"),
        )
        .sort("platform", "period_start")
    )


@pytest.mark.parametrize("writer", list(WRITERS))
def test_text_conditions_equal_a_filter_of_the_frame(tmp_path, writer):
    df = with_kinds(posts(repeats=False))
    path = str(tmp_path / "posts.parquet")
    WRITERS[writer](df, path)
    want = text_oracle(df)
    got = sk.compute(path, kpis=TEXT_KPIS, by=["platform"], every="1mo").sort("platform", "period_start")
    assert got.select(want.columns).equals(want)
    # in memory (text and categorical), and in batches where 'story' comes in the last one
    for frame in (df, df.with_columns(pl.col("kind").cast(pl.Categorical))):
        got = sk.compute(frame, kpis=TEXT_KPIS, by=["platform"], every="1mo")
        assert got.sort("platform", "period_start").select(want.columns).equals(want)
    os.environ["SOCIALKPI_BATCH_ROWS"] = "1000"
    try:
        got = sk.compute(path, kpis=TEXT_KPIS, by=["platform"], every="1mo")
    finally:
        del os.environ["SOCIALKPI_BATCH_ROWS"]
    assert got.sort("platform", "period_start").select(want.columns).equals(want)
    # the rows dedupe='last' keeps, and a CSV export, carry the column itself
    csv = str(tmp_path / "posts.csv")
    df.write_csv(csv)
    for source, dedupe in ((path, "last"), (csv, None)):
        got = sk.compute(source, kpis=TEXT_KPIS, by=["platform"], every="1mo", dedupe=dedupe)
        assert got.sort("platform", "period_start").select(want.columns).equals(want)


def test_a_text_condition_read_elsewhere_gives_the_same_numbers(tmp_path):
    # the column is also read as text (a ratio's side keeps the other posts as 0s)
    df = with_kinds(posts(repeats=False))
    path = str(tmp_path / "posts.parquet")
    df.write_parquet(path, row_group_size=700)
    share = sk.KPI("video_share", "sum(likes where kind == 'video') / likes")
    got = sk.compute(path, kpis=[*TEXT_KPIS, share], by=["platform"], every="1mo").sort(
        "platform", "period_start"
    )
    want = text_oracle(df)
    assert got.select(want.columns).equals(want)
    month = pl.col("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    video = pl.col("likes").filter(pl.col("kind") == "video").sum()
    shares = df.group_by("platform", month).agg((video / pl.col("likes").sum()).alias("video_share"))
    joined = got.join(shares, on=["platform", "period_start"], suffix="_want")
    assert joined.height == want.height
    assert (joined["video_share"] - joined["video_share_want"]).abs().max() < 1e-12
