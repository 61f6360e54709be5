"""memory_limit=: the post_id repeat check in a fixed memory budget. Past the budget the posts'
id hashes go to temporary files (by part) and are checked part by part; the result equals an
unlimited run and the DuckDB oracle (tests/oracle.py), repeats across files are still found
(an error) or resolved (dedupe="last"), and no temporary file outlives a run, whether it ends,
fails or is interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from polars.testing import assert_frame_equal
from streaming import KPIS, KW, SMALL

N_FILES = 20
# 300,000 posts: some 3 MB of hashes, three times the smallest budget
N_POSTS = 300_000


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], pl.DataFrame, pl.DataFrame]:
    """The posts as 20 Parquet files (row groups of 5,000), the whole posts, the accounts."""
    posts, accounts = sk.datasets.sample(n_accounts=40, n_posts=N_POSTS, days=120, seed=18)
    folder = tmp_path_factory.mktemp("lake")
    size = N_POSTS // N_FILES
    paths = []
    for k in range(N_FILES):
        path = folder / f"posts-{k:02d}.parquet"
        posts.slice(k * size, size).write_parquet(path, row_group_size=5_000)
        paths.append(str(path))
    return paths, posts, accounts


@pytest.fixture
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary folder of the test: where the check's files go (TMPDIR)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _oracle(posts: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    return oracle(posts, accounts, KPIS, ["platform"], "1mo")


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.columns == want.columns
    assert_frame_equal(got, want, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def test_a_small_limit_gives_the_unlimited_result(lake, spill_dir: Path) -> None:  # type: ignore[no-untyped-def]
    paths, posts, accounts = lake
    unlimited = sk.compute(paths, accounts, **KW, memory_limit=None)
    small = sk.compute(paths, accounts, **KW, memory_limit=SMALL)
    default = sk.compute(paths, accounts, **KW)
    assert_frame_equal(small, unlimited)
    assert_frame_equal(default, unlimited)
    _same(small, _oracle(posts, accounts))
    # the same through partial states, and from a frame in memory streamed in slices
    states = sk.partial(paths, accounts, **KW, memory_limit=SMALL)
    assert_frame_equal(states.finalize(), unlimited)
    assert_frame_equal(sk.compute(posts, accounts, **KW, memory_limit=SMALL), unlimited)
    assert list(spill_dir.iterdir()) == []


def test_the_small_limit_spills_to_the_temporary_folder(lake, spill_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # a temporary folder that cannot be written: the spilling run says so, typed; an unlimited
    # one (or a limit the hashes fit in) writes nothing there
    paths, _, accounts = lake
    spill_dir.rmdir()
    with pytest.raises(sk.InputError) as err:
        sk.compute(paths, accounts, **KW, memory_limit=SMALL)
    assert err.value.code == "unwritable_file"
    assert "TMPDIR" in str(err.value) and "memory_limit" in str(err.value)
    sk.compute(paths, accounts, **KW, memory_limit=None)
    sk.compute(paths, accounts, **KW, memory_limit="1GB")


def _with_repeats(lake, tmp_path: Path) -> tuple[list[str], pl.DataFrame]:  # type: ignore[no-untyped-def]
    """The files with a file more whose posts repeat posts of the 3rd and the 17th files, with
    other values (so that keeping the last row changes the result)."""
    paths, posts, _ = lake
    size = N_POSTS // N_FILES
    again = pl.concat([posts.slice(3 * size + 10, 5), posts.slice(17 * size + 200, 3)]).with_columns(
        pl.col("reach") * 2 + 1, pl.col("likes") + 7
    )
    extra = tmp_path / "posts-zz.parquet"
    again.write_parquet(extra)
    return [*paths, str(extra)], pl.concat([posts, again])


def test_repeats_across_files_are_found_under_the_limit(lake, spill_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths, everything = _with_repeats(lake, tmp_path)
    for limit in (SMALL, None):
        with pytest.raises(sk.InputError) as err:
            sk.compute(paths, lake[2], **KW, memory_limit=limit)
        assert err.value.code == "duplicate_post_id"
        # the 8 repeated rows, exactly (not "at least": the candidates take one page)
        assert "posts has 8 repeated post_id rows" in str(err.value)
        first = sorted(everything.tail(8)["post_id"].to_list())[0]
        assert first in str(err.value)
    assert list(spill_dir.iterdir()) == []


def test_dedupe_last_resolves_repeats_across_files_under_the_limit(
    lake, spill_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    paths, everything = _with_repeats(lake, tmp_path)
    got = sk.compute(paths, lake[2], **KW, dedupe="last", memory_limit=SMALL)
    last = everything.unique("post_id", keep="last", maintain_order=True)
    assert last.height == N_POSTS
    _same(got, _oracle(last, lake[2]))
    assert_frame_equal(got, sk.compute(paths, lake[2], **KW, dedupe="last", memory_limit=None))
    assert list(spill_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("1GB", 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5 gb", 1_500_000_000),
        (2_000_000, 2_000_000),
        ("1000000", 10**6),
    ],
)
def test_memory_limit_reads_bytes_and_units(given: object, size: int) -> None:
    from socialkpi import _arguments

    assert _arguments.memory_limit(given) == size


@pytest.mark.parametrize("bad", ["lots", "1 GBs", "-1GB", "", "999kB", 0, -5, 1.5e9, True, b"1GB", 2**63])
def test_a_bad_memory_limit_is_a_typed_error(tables, bad: object) -> None:  # type: ignore[no-untyped-def]
    posts, accounts = tables
    for call in (sk.compute, sk.compute_details, sk.partial):
        with pytest.raises(sk.ArgumentError) as err:
            call(posts, accounts, kpis=["posts"], memory_limit=bad)
        assert err.value.code == "invalid_argument"
        assert isinstance(err.value, ValueError)
        assert "memory_limit" in str(err.value)


INTERRUPTED = textwrap.dedent(
    """
    import os, signal, threading, time
    import polars as pl
    import socialkpi as sk

    posts, accounts = sk.datasets.sample(n_accounts=300, n_posts=1_500_000, seed=3)
    posts = pl.concat([posts, posts.with_columns(pl.col("post_id") + "b")] * 2)   # 6M posts
    posts = posts.with_columns(pl.col("post_id") + pl.int_range(pl.len()).cast(pl.String))
    kpis = ["engagement", "posts", "impressions", "reach"]
    # Ctrl-C as soon as the check's folder is seen in the temporary folder: the hashes spill
    # after the first batches of the 6M posts, long before the run ends (no timing guessed)
    seen, running = [], [True]
    def watch():
        while running[0]:
            names = os.listdir(os.environ["TMPDIR"])
            if names and not seen:
                os.kill(os.getpid(), signal.SIGINT)
            seen.extend(names)
            time.sleep(0.01)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sk.compute(posts, accounts, kpis=kpis, by=["account_id"], every="1d", memory_limit="1MB")
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    running[0] = False
    watcher.join()
    print(sorted({name.split("-")[1] for name in seen}), flush=True)
    """
)


def test_an_interrupted_run_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "tmp"
    folder.mkdir()
    env = {**os.environ, "TMPDIR": str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.stdout.split() == ["interrupted", "['spill']"], done.stdout + done.stderr
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# dedupe="last" past the limit: the posts' rows go to temporary parts by post_id hash, and each
# part's last rows go to the pass (docs/scale.md)

DUP = "duplicate post_id (dedupe='last' kept the last row)"


@pytest.fixture(scope="module")
def updated_lake(lake, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], pl.DataFrame]:  # type: ignore[no-untyped-def]
    """20 Parquet files (row groups of 5,000) of every post, a fifth of them again with other
    values, days and sponsorship, one post 60 times, and 1,000 rows without an id, shuffled:
    repeats fall inside files and across them, near and far. Also the rows in input order."""
    _, posts, _ = lake
    again = posts.sample(fraction=0.2, seed=5).with_columns(
        pl.col("reach") * 2 + 1,
        pl.col("likes") + 7,
        pl.col("published_at") + pl.duration(days=40),
        ~pl.col("sponsored"),
    )
    hot = pl.concat([posts.head(1)] * 60).with_columns(
        pl.int_range(60).cast(pl.Int64).alias("likes"), pl.int_range(60).cast(pl.Int64).alias("reach")
    )
    no_id = posts.tail(1_000).with_columns(pl.lit(None, pl.String).alias("post_id"))
    rows = pl.concat([posts, again, hot, no_id]).sample(fraction=1.0, shuffle=True, seed=11)
    folder = tmp_path_factory.mktemp("updated")
    size = -(-rows.height // N_FILES)
    paths = []
    for k in range(N_FILES):
        path = folder / f"posts-{k:02d}.parquet"
        rows.slice(k * size, size).write_parquet(path, row_group_size=5_000)
        paths.append(str(path))
    return paths, rows


def _last_rows_in_duckdb(paths: list[str]) -> tuple[pl.DataFrame, int]:
    """The docs' rule in SQL: of each post_id the row last in input order (the files in the
    order given, then their rows), every row without an id; and the rows read."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    order = ", ".join(f"('{p}', {i})" for i, p in enumerate(paths))
    rows = f"""
        SELECT raw.*, f.i FROM read_parquet({paths!r}, filename = true, file_row_number = true) raw
        JOIN (VALUES {order}) f(name, i) ON raw.filename = f.name
    """
    last = con.sql(
        f"""SELECT * EXCLUDE (filename, file_row_number, i) FROM ({rows})
        QUALIFY post_id IS NULL
             OR row_number() OVER (PARTITION BY post_id ORDER BY i DESC, file_row_number DESC) = 1"""
    ).pl()
    read = con.execute(f"SELECT count(*) FROM ({rows})").fetchall()[0][0]
    return last, int(read)


def _dropped(result: sk.KpiResult, reason: str) -> int:
    return sum(n for table, why, n in result.rows_dropped if table == "posts" and why == reason)


def test_dedupe_last_past_the_limit_equals_memory_and_the_oracle(lake, updated_lake, spill_dir: Path) -> None:  # type: ignore[no-untyped-def]
    paths, rows = updated_lake
    accounts = lake[2]
    last, read = _last_rows_in_duckdb(paths)
    assert read == rows.height
    assert last.filter(pl.col("post_id").is_not_null()).height == N_POSTS
    unlimited = sk.compute_details(paths, accounts, **KW, dedupe="last", memory_limit=None)
    small = sk.compute_details(paths, accounts, **KW, dedupe="last", memory_limit=SMALL)
    assert_frame_equal(small.frame, unlimited.frame)
    _same(small.frame, _oracle(last, accounts))
    # the same rows read and dropped, and the same warnings
    for result in (small, unlimited):
        assert result.rows_read["posts"] == read
        assert _dropped(result, DUP) == read - last.height
    assert small.rows_dropped == unlimited.rows_dropped
    assert small.warnings == unlimited.warnings
    # through partial states too
    states = sk.partial(paths, accounts, **KW, dedupe="last", memory_limit=SMALL)
    assert_frame_equal(states.finalize(), unlimited.frame)
    assert list(spill_dir.iterdir()) == []


def test_dedupe_last_past_the_limit_streams_globs_csv_and_frames(
    lake, updated_lake, spill_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # a glob and CSV files stream through polars (in input order: a glob's files sorted by
    # name); a frame in memory is read in slices
    paths, rows = updated_lake
    accounts = lake[2]
    want = sk.compute(paths, accounts, **KW, dedupe="last", memory_limit=None)
    glob = str(Path(paths[0]).parent / "posts-*.parquet")
    assert_frame_equal(sk.compute(glob, accounts, **KW, dedupe="last", memory_limit=SMALL), want)
    assert_frame_equal(sk.compute(rows, accounts, **KW, dedupe="last", memory_limit=SMALL), want)
    # (two CSV files: CSV reads slowly)
    half = rows.height // 2
    csvs = [str(tmp_path / "posts-a.csv"), str(tmp_path / "posts-b.csv")]
    rows.head(half).write_csv(csvs[0])
    rows.slice(half).write_csv(csvs[1])
    _same(sk.compute(csvs, accounts, **KW, dedupe="last", memory_limit=SMALL), want)
    assert list(spill_dir.iterdir()) == []


def test_delivery_counts_the_last_rows_past_the_limit(lake, updated_lake, spill_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # contracts deliver by the posts' last rows (their sponsorship and days were changed)
    from oracle_money import oracle_money

    paths, _ = updated_lake
    _, posts, accounts = lake
    _, _, deals = sk.datasets.funnel(posts, n_contracts=60, seed=7)
    kw = {"kpis": ["posts_agreed", "delivery_rate"], "by": ["account_id"], "every": "1mo", "dedupe": "last"}
    small = sk.compute(paths, accounts, contracts=deals, **kw, memory_limit=SMALL)
    assert_frame_equal(small, sk.compute(paths, accounts, contracts=deals, **kw, memory_limit=None))
    last, _ = _last_rows_in_duckdb(paths)
    want = oracle_money(last, deals, ["posts_agreed", "delivery_rate"], ["account_id"], "1mo")
    _same(small.select(want.columns), want)
    assert list(spill_dir.iterdir()) == []


def test_a_failing_dedupe_last_leaves_no_temporary_file(
    lake, updated_lake, spill_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # a negative count in a kept row (after the parts were written): the error counts the
    # negative values of the rows kept, as in memory, and the parts are gone
    paths, rows = updated_lake
    bad = rows.with_columns(
        pl.when(pl.int_range(pl.len()) % 1000 == 3).then(-1).otherwise(pl.col("likes")).alias("likes")
    )
    has_id = pl.col("post_id").is_not_null()
    last = pl.concat([bad.filter(has_id).unique("post_id", keep="last"), bad.filter(~has_id)])
    negatives = last.filter(pl.col("likes") < 0).height
    assert 0 < negatives < bad.filter(pl.col("likes") < 0).height
    errors = []
    for limit in (SMALL, None):
        with pytest.raises(sk.InputError) as err:
            sk.compute(bad, lake[2], **KW, dedupe="last", memory_limit=limit)
        errors.append(str(err.value))
        assert err.value.code == "negative_value"
    assert errors[0] == errors[1]
    assert f"has {negatives} negative values" in errors[0]
    assert list(spill_dir.iterdir()) == []
    # a temporary folder that cannot be written: typed, and named for dedupe='last'
    spill_dir.rmdir()
    with pytest.raises(sk.InputError) as err:
        sk.compute(paths, lake[2], **KW, dedupe="last", memory_limit=SMALL)
    assert err.value.code == "unwritable_file"
    assert "dedupe='last'" in str(err.value) and "TMPDIR" in str(err.value)
