"""CSV files of posts stream in bounded memory (issue 18): they are read a block of whole rows at
a time (blocks of 64 bytes per batch row, so SOCIALKPI_BATCH_ROWS makes them small here), cut
only where a row ends (never inside a quoted field, line breaks and doubled quotes included).
Over many files, under a tiny memory_limit, the result equals an unlimited run, the same posts
given as a frame, and the DuckDB oracle (tests/oracle.py); repeats across files are found."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from polars.testing import assert_frame_equal
from streaming import KPIS, KW, SMALL

N_FILES = 6
# 150,000 posts: 1.2 MB of hashes, past the smallest budget
N_POSTS = 150_000


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], pl.DataFrame, pl.DataFrame]:
    """The posts as 6 CSV files with a caption column of quotes, commas and line breaks (and
    a header whose name is quoted), the whole posts, the accounts."""
    posts, accounts = sk.datasets.sample(n_accounts=40, n_posts=N_POSTS, days=120, seed=21)
    n = pl.int_range(pl.len())
    caption = (
        pl.when(n % 3 == 0)
        .then(pl.format('said "hi, there"\nand left {}', pl.col("post_id")))
        .when(n % 3 == 1)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.lit('"""\n\n,'))
    )
    written = posts.with_columns(caption.alias("caption, as posted"))
    folder = tmp_path_factory.mktemp("csv")
    size = N_POSTS // N_FILES
    paths = []
    for k in range(N_FILES):
        path = folder / f"posts-{k:02d}.csv"
        written.slice(k * size, size).write_csv(path)
        paths.append(str(path))
    return paths, posts, accounts


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Blocks of 640 kB (some 4,000 posts: 6 or 7 blocks a file), and the test's temporary
    folder."""
    monkeypatch.setenv("SOCIALKPI_BATCH_ROWS", "10000")
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.columns == want.columns
    assert_frame_equal(got, want, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def test_csv_files_under_a_small_limit_give_the_unlimited_result(lake, small_blocks: Path) -> None:  # type: ignore[no-untyped-def]
    paths, posts, accounts = lake
    assert Path(paths[0]).stat().st_size > 2 * 640_000
    unlimited = sk.compute(paths, accounts, **KW, memory_limit=None)
    small = sk.compute(paths, accounts, **KW, memory_limit=SMALL)
    assert_frame_equal(small, unlimited)
    _same(small, oracle(posts, accounts, KPIS, ["platform"], "1mo"))
    # the same posts as a frame, through a glob, and through partial states
    assert_frame_equal(sk.compute(posts, accounts, **KW), unlimited)
    folder = str(Path(paths[0]).parent)
    assert_frame_equal(sk.compute(f"{folder}/*.csv", accounts, **KW, memory_limit=SMALL), unlimited)
    assert_frame_equal(sk.partial(paths, accounts, **KW, memory_limit=SMALL).finalize(), unlimited)
    assert list(small_blocks.iterdir()) == []


def test_every_post_is_read_once(lake, small_blocks: Path) -> None:  # type: ignore[no-untyped-def]
    paths, posts, accounts = lake
    got = sk.compute_details(paths, accounts, kpis=["posts", "reach"], memory_limit=SMALL)
    assert got.frame["posts"].to_list() == [N_POSTS]
    assert got.frame["reach"].to_list() == [posts["reach"].sum()]
    assert got.rows_read["posts"] == N_POSTS


def test_blocks_of_any_size_read_the_same_rows(lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, posts, accounts = lake
    # blocks of 128 bytes (about a row: some blocks start no row), 6.4 kB and 640 kB
    for rows, n in (("2", 400), ("100", 5_000), ("10000", 30_000)):
        path = tmp_path / f"posts-{n}.csv"
        some = posts.head(n)
        some.with_columns(pl.lit('a "b",\nc').alias("note")).write_csv(path)
        monkeypatch.setenv("SOCIALKPI_BATCH_ROWS", rows)
        got = sk.compute(str(path), accounts, **KW)
        monkeypatch.delenv("SOCIALKPI_BATCH_ROWS")
        assert_frame_equal(got, sk.compute(some, accounts, **KW))


def test_repeats_across_csv_files_are_found(lake, small_blocks: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths, posts, accounts = lake
    size = N_POSTS // N_FILES
    again = pl.concat(
        [posts.slice(2 * size + 10, 4), posts.slice((N_FILES - 1) * size + 300, 3)]
    ).with_columns(pl.col("reach") + 1, pl.lit("x").alias("caption, as posted"))
    extra = tmp_path / "posts-zz.csv"
    again.write_csv(extra)
    for limit in (SMALL, None):
        with pytest.raises(sk.InputError) as err:
            sk.compute([*paths, str(extra)], accounts, **KW, memory_limit=limit)
        assert err.value.code == "duplicate_post_id"
        assert "posts has 7 repeated post_id rows" in str(err.value)
        assert sorted(again["post_id"].to_list())[0] in str(err.value)
    last = pl.concat([posts, again.drop("caption, as posted")]).unique(
        "post_id", keep="last", maintain_order=True
    )
    got = sk.compute([*paths, str(extra)], accounts, **KW, dedupe="last")
    _same(got, oracle(last, accounts, KPIS, ["platform"], "1mo"))
    assert list(small_blocks.iterdir()) == []


def test_a_value_that_does_not_read_is_a_typed_error(lake, small_blocks: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # past the rows the types are inferred from, in a later block: the scan's error
    paths, posts, accounts = lake
    bad = posts.head(30_000).with_columns(pl.col("reach").cast(pl.String))
    bad = bad.with_columns(
        pl.when(pl.int_range(pl.len()) == 25_000).then(pl.lit("12k")).otherwise("reach").alias("reach")
    )
    path = tmp_path / "bad.csv"
    bad.write_csv(path)
    with pytest.raises(sk.InputError) as err:
        sk.compute(str(path), accounts, **KW)
    assert err.value.code == "unparseable_file"


def test_the_bar_counts_the_blocks(lake, small_blocks: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    paths, _, accounts = lake
    shown = sk.compute(paths[:1], accounts, **KW, progress=True)
    err = capsys.readouterr().err
    with open(paths[0], "rb") as f:
        header = len(f.readline())
    blocks = -(-(Path(paths[0]).stat().st_size - header) // 640_000)
    assert "socialkpi: posts" in err
    assert f" {blocks}/{blocks} " in err
    assert_frame_equal(shown, sk.compute(paths[:1], accounts, **KW))
