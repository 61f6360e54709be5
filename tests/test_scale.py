"""socialkpi on Dask and Spark (socialkpi.dask, socialkpi.spark): on a local cluster (Dask
LocalCluster, two worker processes; Spark local[2]), for several partitionings of the posts,
the result equals sk.compute over the whole table (sk.compute is checked against the DuckDB
and pandas oracles in tests/test_oracle.py and beside it) and the DuckDB oracle of
tests/oracle.py; a post in two partitions is the typed error overlapping_posts; errors keep
their class and code across processes."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle
from polars.testing import assert_frame_equal

# every table and KPIs of every kind: flows, ratios, followers-at-post, followers (semi-
# additive), share of voice, pro-rated fees and deliverables, attributed conversions
KPIS = [
    "posts",
    "reach",
    "engagements",
    "engagement_rate",
    "engagement_rate_followers",
    "avg_engagement_rate_per_post",
    "followers",
    "followers_start",
    "follower_growth_rate",
    "share_of_voice",
    "website_traffic",
    "referral_share",
    "conversions",
    "revenue",
    "cost",
    "roas",
    "delivery_rate",
    "posts_agreed",
    # formula KPIs: a conditional sum and a ratio of sums
    sk.KPI("sponsored_likes", "sum(likes where sponsored)"),
    sk.KPI("clicks_per_reach", "clicks / reach"),
]
KW = {"kpis": KPIS, "by": ["platform"], "every": "1d", "tz": "Europe/Berlin"}
# traffic and conversions are attributed by platform (through their sources), not by account
ACCOUNT_KPIS = [
    k for k in KPIS if k not in ("website_traffic", "referral_share", "conversions", "revenue", "roas")
]
# a monthly reach target per platform and one engagement rate for all (docs/time.md, "Targets")
_TARGETS = pl.DataFrame(
    {
        "kpi": ["reach", "reach", "engagement_rate"],
        "target": [2e6, 3e6, 0.05],
        "start": [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 1, 1)],
        "end": [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 12, 31)],
    }
)
ORACLE_KPIS = ["posts", "engagements", "engagement_rate", "engagement_rate_followers", "followers"]
PARTITIONINGS = ["account", "time", "rows"]


def _tables() -> dict[str, pl.DataFrame]:
    posts, accounts = sk.datasets.sample(n_accounts=24, n_posts=40_000, days=150, seed=18)
    traffic, conversions, contracts = sk.datasets.funnel(
        posts, n_traffic=600, n_events=300, n_contracts=12, days=150, seed=18
    )
    rng = np.random.default_rng(18)
    accounts = accounts.with_columns(mentions=pl.Series(rng.integers(0, 50, accounts.height)))
    return {
        "posts": posts,
        "accounts": accounts,
        "traffic": traffic,
        "conversions": conversions,
        "contracts": contracts,
    }


T = _tables()
SMALL = {k: v for k, v in T.items() if k != "posts"}


def _whole(**kw: object) -> pl.DataFrame:
    return sk.compute(T["posts"], **SMALL, **{**KW, **kw})  # type: ignore[arg-type]


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    # float sums (fees pro-rated by day) may add in another order
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def _oracle_check(got: pl.DataFrame) -> None:
    want = oracle(T["posts"], T["accounts"], ORACLE_KPIS, ["platform"], "1mo")
    assert got.columns == want.columns
    assert_frame_equal(got, want, check_dtypes=False, rel_tol=1e-9, abs_tol=1e-12)


def _split(posts: pl.DataFrame, how: str, parts: int, seed: int) -> list[pl.DataFrame]:
    rng = np.random.default_rng(seed)
    if how == "account":
        ids = posts["account_id"].unique().sort().to_list()
        labels = posts["account_id"].replace_strict(
            {a: i % parts for i, a in enumerate(ids)}, return_dtype=pl.Int64
        )
    elif how == "time":
        days = posts["published_at"].dt.date()
        cuts = np.sort(rng.choice(days.unique().sort().to_numpy(), size=parts - 1, replace=False))
        labels = pl.Series(np.searchsorted(cuts, days.to_numpy(), side="right"))
    else:
        labels = pl.Series(rng.integers(0, parts, posts.height))
    return [posts.filter(labels == k) for k in range(parts)]


def _files(tmp: Path, pieces: list[pl.DataFrame]) -> list[str]:
    paths = []
    for i, piece in enumerate(pieces):
        path = tmp / f"posts-{i:02d}.parquet"
        piece.write_parquet(path)
        paths.append(str(path))
    return paths


def test_a_shipped_accounts_table_is_loaded_once_where_it_lands_and_travels_as_bytes() -> None:
    """The partitions of a cluster run each take the whole accounts table: where it lands, the
    first partition's run keeps what it made of it (the loaded snapshots, their states, the
    table's fingerprint) and the next ones use it. Their merge equals one run over all posts,
    rows dropped and warnings included, and only the table's bytes travel."""
    import pickle

    from socialkpi import _wire

    # a snapshot without a date, dropped and counted once over all partitions
    accounts = pl.concat([T["accounts"], T["accounts"].head(1).with_columns(date=None)])
    shipped = _wire.ship(accounts)
    assert shipped.table() is shipped.table() and shipped.memo() is shipped.memo()
    copy = pickle.loads(pickle.dumps(shipped))
    assert copy._landed is None and copy._memo is None and copy.data == shipped.data
    assert len(pickle.dumps(shipped)) < len(shipped.data) + 200
    small = {**{k: _wire.ship(v) for k, v in SMALL.items()}, "accounts": shipped}
    options = {
        "sources": None, "dedupe": None, "definitions": None, "max_staleness": 7,
        "week_start": "monday", "fiscal_year_start": 1, "memory_limit": "256MB",
        **KW, "every": "1mo",
    }  # fmt: skip
    pieces = _split(T["posts"], "rows", 4, 6)
    parts = [_wire.part_states(p, small, options, True) for p in pieces]

    def alone(posts: pl.DataFrame) -> Any:
        kw = {**SMALL, "accounts": accounts, **KW, "every": "1mo"}
        return sk.partial(posts, **kw).finalize_details()  # type: ignore[arg-type]

    # each partition, the last one made from what the first kept, and all of them merged
    for got, want in [
        (parts[-1].finalize_details(), alone(pieces[-1])),
        (sk.merge(parts).finalize_details(), alone(T["posts"])),
    ]:
        _same(got.frame, want.frame)
        assert got.rows_read == want.rows_read
        assert got.rows_dropped == want.rows_dropped
        assert ("accounts", "missing date", 1) in got.rows_dropped
        assert got.warnings == want.warnings


def test_a_kept_follower_lookup_serves_only_posts_that_code_the_account_alike() -> None:
    """The first part's followers-at-post lookup codes the account as its posts and the
    accounts met (as text, when the posts held it as text and the accounts as integers). A
    later part whose posts hold integers, as the accounts do, codes it otherwise and builds
    its own lookup: its account ids stay integers."""
    from socialkpi import _wire

    number = pl.col("account_id").str.extract(r"(\d+)").cast(pl.Int64)
    accounts = T["accounts"].with_columns(number)
    posts = T["posts"].with_columns(number)
    small = {"accounts": _wire.ship(accounts), "contracts": None, "traffic": None, "conversions": None}
    kw = {"kpis": ["posts", "followers", "engagement_rate_followers"], "by": ["account_id"], "every": "1mo"}
    options = {
        "sources": None, "dedupe": None, "definitions": None, "max_staleness": 7, "tz": "UTC",
        "week_start": "monday", "fiscal_year_start": 1, "memory_limit": "256MB", **kw,
    }  # fmt: skip
    as_text = posts.head(20_000).with_columns(pl.col("account_id").cast(pl.String))
    as_numbers = posts.tail(20_000)
    for piece in [as_text, as_numbers]:
        got = _wire.part_states(piece, small, options, True).finalize()
        want = sk.partial(piece, accounts, **kw).finalize()  # type: ignore[arg-type]
        assert got["account_id"].dtype == want["account_id"].dtype
        _same(got, want)
    assert want["account_id"].dtype == pl.Int64


@pytest.mark.parametrize("delivery", [True, False])
def test_only_one_part_states_the_small_tables(delivery: bool) -> None:
    """Of a cluster run's parts, only the first states the tables passed whole (accounts,
    contracts, traffic, conversions): the others read them only as far as their posts need
    (followers-at-post, delivery: without it, they do not read the contracts at all) and carry
    neither their states nor their rows. The merge equals one run over all posts, rows
    dropped and warnings included."""
    from socialkpi import _wire

    kpis = [k for k in KPIS if delivery or k not in ("delivery_rate", "posts_agreed")]
    kw = {**KW, "kpis": kpis}

    accounts = pl.concat([T["accounts"], T["accounts"].head(1).with_columns(date=None)])
    small = {**{k: _wire.ship(v) for k, v in SMALL.items()}, "accounts": _wire.ship(accounts)}
    options = {
        "sources": None, "dedupe": None, "definitions": None, "max_staleness": 7,
        "week_start": "monday", "fiscal_year_start": 1, "memory_limit": "256MB", **kw,
    }  # fmt: skip
    pieces = _split(T["posts"], "account", 3, 8)
    parts = [_wire.part_states(p, small, options, True, whole_tables=i == 0) for i, p in enumerate(pieces)]
    # (a part of the posts only is merged, never finalized alone; its rows read are the
    # posts' alone, else the merge below would count the small tables' rows three times)
    assert len(parts[1].frame) < len(parts[0].frame)
    want = sk.partial(T["posts"], **{**SMALL, "accounts": accounts}, **kw).finalize_details()  # type: ignore[arg-type]
    for order in [parts, parts[::-1]]:
        got = sk.merge(order).finalize_details()
        _same(got.frame, want.frame)
        assert got.rows_read == want.rows_read
        assert sorted(got.rows_dropped) == sorted(want.rows_dropped)
        assert ("accounts", "missing date", 1) in got.rows_dropped
        assert got.warnings == want.warnings
        by_table = ["table", "account_id"]
        assert got.coverage.sort(by_table).equals(want.coverage.sort(by_table))


# ---------------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_client():  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with (
        # (the dashboard on a free port: 8787 may be taken by another cluster on the machine)
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


def _ddf(paths: list[str]):  # type: ignore[no-untyped-def]
    import dask.dataframe as dd

    # one partition per file; Arrow-backed columns keep nullable integers integers. Every
    # partition selected: a frame Dask reads, where a plain scan would be read by the engine
    # from its files (test_dask_reads_a_plain_parquet_scan_from_its_files)
    scan = dd.read_parquet(paths, dtype_backend="pyarrow")
    return scan.partitions[list(range(scan.npartitions))]


def test_dask_reads_a_plain_parquet_scan_from_its_files(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dask.dataframe as dd
    from socialkpi import dask as skd

    paths = _files(tmp_path, _split(T["posts"], "rows", 3, 5))
    scan = dd.read_parquet(paths, dtype_backend="pyarrow")
    # a frame that is only a read of Parquet files is read by the engine from the files...
    assert skd._scanned_files(scan) == sorted(paths)
    assert skd._scanned_files(dd.read_parquet(str(tmp_path), filesystem="arrow")) == sorted(paths)
    _same(skd.compute(scan, **SMALL, **KW), _whole())  # type: ignore[arg-type]
    _same(skd.partial(scan, **SMALL, **KW).finalize(), _whole())  # type: ignore[arg-type]
    copy = tmp_path / "copy.parquet"
    shutil.copy(paths[1], copy)
    with pytest.raises(sk.InputError) as e:
        skd.compute(dd.read_parquet([*paths, str(copy)]), **SMALL, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    # ...and any other frame by Dask: what Dask does to the rows counts
    filtered = scan[scan["reach"] > 1000]
    assert skd._scanned_files(filtered) is None
    want = sk.compute(T["posts"].filter(pl.col("reach") > 1000), **SMALL, **KW)  # type: ignore[arg-type]
    _same(skd.compute(filtered, **SMALL, **KW), want)  # type: ignore[arg-type]
    assert skd._scanned_files(dd.read_parquet(paths, filters=[("reach", ">", 1000)])) is None
    assert skd._scanned_files(dd.read_parquet(paths, columns=["post_id", "account_id"])) is None
    assert skd._scanned_files(scan.partitions[0]) is None
    # partition columns come from the folders' names, which the files do not hold
    import pyarrow.parquet as pq

    folder = tmp_path / "by_platform"
    pq.write_to_dataset(T["posts"].to_arrow(), folder, partition_cols=["platform"])
    partitioned = dd.read_parquet(str(folder), dtype_backend="pyarrow")
    assert skd._scanned_files(partitioned) is None


@pytest.mark.parametrize("how", PARTITIONINGS)
def test_dask_compute_equals_compute_for_each_partitioning(dask_client, tmp_path, how) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], how, 7, 3)))
    assert ddf.npartitions == 7
    # split_every=2: a three-level tree of merges
    _same(skd.compute(ddf, **SMALL, **KW, split_every=2), _whole())  # type: ignore[arg-type]


# dask 2026.8's Parquet reader calls reset_index(inplace=True), which pandas 3.1 deprecates;
# on these in-process schedulers the warning reaches the test (the cluster's workers keep theirs)
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_dask_runs_on_other_schedulers(dask_client, tmp_path, scheduler) -> None:  # type: ignore[no-untyped-def]
    import dask
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "rows", 3, 8)))
    # a distributed client is active, but the run goes to another scheduler
    with dask.config.set(scheduler=scheduler):
        _same(skd.compute(ddf, **SMALL, **KW), _whole())  # type: ignore[arg-type]


def test_dask_by_account_and_oracle(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "rows", 4, 5)))
    # small tables as pandas frames and as a Dask DataFrame
    accounts = T["accounts"].to_pandas(use_pyarrow_extension_array=True)
    kw = {"kpis": ACCOUNT_KPIS, "by": ["account_id", "platform"], "every": "1mo", "tz": "UTC"}
    got = skd.compute(ddf, accounts, **{k: v for k, v in SMALL.items() if k != "accounts"}, **kw)  # type: ignore[arg-type]
    _same(got, _whole(**kw))
    accounts_path = tmp_path / "accounts.parquet"
    T["accounts"].write_parquet(accounts_path)
    got = skd.compute(ddf, _ddf([str(accounts_path)]), kpis=ORACLE_KPIS, by=["platform"], every="1mo")
    _oracle_check(got)


def test_dask_over_files_reads_each_file_on_the_workers(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    _files(tmp_path, _split(T["posts"], "time", 5, 9))
    _same(skd.compute(str(tmp_path / "*.parquet"), **SMALL, **KW), _whole())  # type: ignore[arg-type]
    _oracle_check(
        skd.compute(
            str(tmp_path), T["accounts"], kpis=ORACLE_KPIS, by=["platform"], every="1mo", output="polars"
        )
    )


def test_dask_one_file_is_one_task_and_its_ids_stay_on_the_worker(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    path = tmp_path / "posts.parquet"
    T["posts"].write_parquet(path, row_group_size=3_000)
    _same(skd.compute(str(path), **SMALL, **KW), _whole())  # type: ignore[arg-type]
    # its states keep no ids, but its own run still checks them: a post given twice is an error
    twice = tmp_path / "twice.parquet"
    pl.concat([T["posts"], T["posts"].tail(1)]).write_parquet(twice, row_group_size=3_000)
    with pytest.raises(sk.InputError) as e:
        skd.compute(str(twice), **SMALL, **KW)  # type: ignore[arg-type]
    assert e.value.code == "duplicate_post_id"
    # skd.partial keeps them: they merge with other states
    states = skd.partial(str(path), **SMALL, **KW)  # type: ignore[arg-type]
    with pytest.raises(sk.InputError) as e:
        sk.merge([states, sk.partial(T["posts"].tail(5), **SMALL, **KW)])  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"


def test_dask_partial_gives_states_that_merge_with_local_ones(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    first, second = _split(T["posts"], "time", 2, 1)
    ddf = _ddf(_files(tmp_path, _split(first, "rows", 3, 2)))
    states = skd.partial(ddf, **SMALL, **KW)  # type: ignore[arg-type]
    assert isinstance(states, sk.States)
    local = sk.partial(second, **SMALL, **KW)  # type: ignore[arg-type]
    _same(sk.merge([states, local]).finalize(), _whole())
    # the post ids came along: the cluster's states and local states of the same posts overlap
    with pytest.raises(sk.InputError) as e:
        sk.merge([states, sk.partial(first.head(10), **SMALL, **KW)])  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"


def test_parts_take_back_their_post_ids_only_sorted_and_once() -> None:
    from socialkpi import _wire

    part = _wire.pack(sk.partial(T["posts"], **SMALL, **KW))  # type: ignore[arg-type]
    assert part.ids is not None and part.ids.size == T["posts"].height
    states = _wire.states(part)
    assert states._native.sizes()[1] == T["posts"].height
    with pytest.raises(sk.InputError) as e:
        sk.merge([states, sk.partial(T["posts"].head(3), **SMALL, **KW)])  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts" and "3 posts" in str(e.value)
    for ids in (part.ids[::-1].copy(), np.repeat(part.ids[:2], 2)):
        with pytest.raises(sk.ArgumentError):
            _wire.states(_wire.Part(part.header, part.body, ids))
    again = pl.Series(part.ids).__arrow_c_stream__()
    with pytest.raises(sk.ArgumentError):
        states._native.with_post_ids(again)


def test_dask_post_in_two_partitions_is_overlapping_posts(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    pieces = _split(T["posts"], "rows", 4, 7)
    pieces[3] = pl.concat([pieces[3], pieces[0].head(3)])
    with pytest.raises(sk.InputError) as e:
        skd.compute(_ddf(_files(tmp_path, pieces)), **SMALL, **KW, split_every=2)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    assert "3 posts" in str(e.value)
    with pytest.raises(sk.InputError) as e:
        skd.partial(_ddf(_files(tmp_path, pieces)), **SMALL, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"


def _hash_of(post_id: str) -> np.ndarray:
    """The hash that states keep of a post id, as the engine makes it (docs/states.md)."""
    from socialkpi import _core, _wire

    return _wire._array(_core.post_id_hashes(pl.Series([post_id]).__arrow_c_stream__()))


def _resynced() -> list[pl.DataFrame]:
    """Four partitions of the posts as exports re-synced: 300 posts of the first again in the
    third with newer metrics, one post in three partitions, and 20 posts twice inside the
    second. One machine keeps each post's last row in this order (dedupe='last')."""
    pieces = _split(T["posts"], "rows", 4, 11)
    newer = pl.col("reach") * 2, pl.col("likes") + 1
    again = pieces[0].head(300).with_columns(*newer)
    thrice = pieces[3].head(1)
    pieces[1] = pl.concat([pieces[1], pieces[1].head(20).with_columns(*newer), thrice.with_columns(*newer)])
    pieces[2] = pl.concat([pieces[2].head(100), again, pieces[2].tail(-100), thrice])
    return pieces


def _resynced_whole(pieces: list[pl.DataFrame], **kw: object) -> pl.DataFrame:
    return sk.compute(pl.concat(pieces), **SMALL, **{**KW, "dedupe": "last", **kw})  # type: ignore[arg-type]


def test_dask_dedupe_last_resolves_posts_spread_over_partitions(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A post in more than one partition, with dedupe='last': its rows are set aside, meet in
    one task and keep the last as one machine keeps it (partitions or files in order, then
    rows), for Parquet and CSV files and a Dask frame; without it, the error counts the
    posts themselves."""
    from socialkpi import dask as skd

    pieces = _resynced()
    want = _resynced_whole(pieces)
    paths = _files(tmp_path, pieces)
    _same(skd.compute(paths, **SMALL, **KW, dedupe="last", split_every=2), want)  # type: ignore[arg-type]
    _same(skd.compute(_ddf(paths), **SMALL, **KW, dedupe="last"), want)  # type: ignore[arg-type]
    states = skd.partial(_ddf(paths), **SMALL, **KW, dedupe="last")  # type: ignore[arg-type]
    _same(states.finalize(), want)
    # the states keep each post's hash once
    assert states._native.sizes()[1] == T["posts"].height
    csvs = []
    for i, piece in enumerate(pieces):
        csvs.append(str(tmp_path / f"posts-{i}.csv"))
        piece.write_csv(csvs[-1])
    _same(
        skd.compute(csvs, **SMALL, **KW, dedupe="last"),  # type: ignore[arg-type]
        sk.compute(csvs, **SMALL, **KW, dedupe="last"),  # type: ignore[arg-type]
    )
    # without dedupe: the 301 posts in two partitions or more (those twice inside one
    # partition are the second's own error)
    pieces[1] = pieces[1].unique("post_id", keep="first", maintain_order=True)
    with pytest.raises(sk.InputError) as e:
        skd.compute(_files(tmp_path, pieces), **SMALL, **KW, split_every=2)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts" and "301 posts" in str(e.value)


def test_dask_dedupe_last_remakes_only_the_parts_holding_a_shared_post(
    dask_client, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """With dedupe='last' the parts are kept where they ran: the second run remakes the two
    parts that share posts, and the others' states are used as they were."""
    import dask
    from socialkpi import _wire
    from socialkpi import dask as skd

    pieces = _split(T["posts"], "time", 4, 13)
    pieces[3] = pl.concat([pieces[3], pieces[0].head(10).with_columns(pl.col("reach") * 2)])
    remade = []
    split = _wire.split

    def counted(posts, small, options, shared, number, *rest):  # type: ignore[no-untyped-def]
        remade.append(number)
        return split(posts, small, options, shared, number, *rest)

    monkeypatch.setattr(_wire, "split", counted)
    with dask.config.set(scheduler="sync"):  # in this process, where the patch is
        got = skd.compute(_files(tmp_path, pieces), **SMALL, **KW, dedupe="last")  # type: ignore[arg-type]
    assert sorted(remade) == [0, 3]
    _same(got, _resynced_whole(pieces))


def test_dask_confirms_a_shared_hash_against_the_ids(dask_client, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A hash found in two partitions that the ids do not repeat (two ids with one hash, as
    a false alarm) is no error: the posts behind it are made again from their rows."""
    import dask
    from socialkpi import _wire
    from socialkpi import dask as skd

    pieces = _split(T["posts"], "rows", 3, 12)
    fake = _hash_of(pieces[1]["post_id"][7])
    found = _wire.shared_ids
    calls = []

    def with_a_false_alarm(parts):  # type: ignore[no-untyped-def]
        calls.append(len(parts))
        real = found(parts)
        return np.union1d(real, fake) if len(calls) == 1 else real

    monkeypatch.setattr(_wire, "shared_ids", with_a_false_alarm)
    with dask.config.set(scheduler="sync"):  # in this process, where the patch is
        got = skd.compute(_files(tmp_path, pieces), **SMALL, **KW)  # type: ignore[arg-type]
    assert len(calls) == 2  # the run was made again, its rows set aside
    _same(got, _whole())


def test_dask_errors_keep_their_class_and_code(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "rows", 2, 1)))
    # found at once, before any task runs
    with pytest.raises(sk.SchemaError) as e:
        skd.compute(ddf.drop(columns=["published_at"]), T["accounts"], kpis="engagement")
    assert e.value.code == "missing_column"
    with pytest.raises(sk.DefinitionError):
        skd.compute(ddf, kpis="no_such_kpi")
    with pytest.raises(sk.ArgumentError):
        skd.compute(ddf, kpis="engagement", split_every=1)
    with pytest.raises(sk.ArgumentError):
        skd.compute(T["posts"], kpis="engagement")
    # found on a worker: a post repeated inside one file
    one = tmp_path / "repeated"
    one.mkdir()
    pl.concat([T["posts"].head(50), T["posts"].head(2)]).write_parquet(one / "a.parquet")
    with pytest.raises(sk.InputError) as e:
        skd.compute(str(one), kpis="engagement")
    assert e.value.code == "duplicate_post_id"


def test_dask_compare_window_and_targets_apply_to_the_merged_states(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "time", 3, 9)))
    monthly = {**KW, "every": "1mo", "compare": ["previous", "last_year"], "targets": _TARGETS}
    _same(skd.compute(ddf, **SMALL, **monthly), _whole(**monthly))  # type: ignore[arg-type]
    daily = {"kpis": ORACLE_KPIS, "by": ["platform"], "every": "1d", "window": "28d"}
    _same(skd.compute(ddf, T["accounts"], **daily), sk.compute(T["posts"], T["accounts"], **daily))  # type: ignore[arg-type]
    # a targets table is checked before any partition runs
    with pytest.raises(sk.QueryError) as e:
        skd.compute(
            ddf, kpis=["reach"], every="1mo", targets=pl.DataFrame({"kpi": ["likes"], "target": [1.0]})
        )
    assert e.value.code == "target_not_requested"


def test_dask_takes_a_range_fill_and_a_memory_limit(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "time", 3, 9)))
    days = sorted(T["posts"]["published_at"].dt.date().unique().to_list())
    start, end = days[len(days) // 4], days[len(days) // 2]
    weekly = {**KW, "every": "1w", "start": start, "end": end, "fill": True, "memory_limit": "1MB"}
    _same(skd.compute(ddf, **SMALL, **weekly), _whole(**weekly))  # type: ignore[arg-type]
    # every=None with a range: one period over those days, made from the partitions' daily states
    one = {**KW, "every": None, "start": start, "end": end, "compare": "previous"}
    _same(skd.compute(ddf, **SMALL, **one), _whole(**one))  # type: ignore[arg-type]


def test_dask_takes_the_calendar(dask_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import dask as skd

    ddf = _ddf(_files(tmp_path, _split(T["posts"], "time", 3, 9)))
    weekly = {**KW, "every": "1w", "week_start": "sunday", "compare": "last_year"}
    _same(skd.compute(ddf, **SMALL, **weekly), _whole(**weekly))  # type: ignore[arg-type]
    monthly = {**KW, "every": "1mo", "fiscal_year_start": 4}
    states = skd.partial(ddf, **SMALL, **monthly)  # type: ignore[arg-type]
    assert states.spec["fiscal_year_start"] == 4
    _same(states.finalize(every="1y"), _whole(every="1y", fiscal_year_start=4))


# --------------------------------------------------------------------------------- Spark


def _java() -> str | None:
    java = shutil.which("java")
    if java is None:
        return "no java on PATH (Spark needs Java 17 or newer)"
    run = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return f"java -version failed: {run.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    pytest.importorskip("pyspark")
    reason = _java()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("socialkpi-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# PySpark 4.3 warns (FutureWarning) that it does not fully support pandas 3 whenever
# mapInArrow is called. socialkpi.spark hands Spark only Arrow batches and never uses
# pandas, so the warning does not concern this path: ignored here, for these tests only.
SPARK_PANDAS = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


def _sdf(spark, tmp_path: Path, how: str, parts: int):  # type: ignore[no-untyped-def]
    path = tmp_path / "posts.parquet"
    T["posts"].write_parquet(path)
    sdf = spark.read.parquet(str(path))
    if how == "account":
        return sdf.repartition(parts, "account_id")
    if how == "time":
        return sdf.repartitionByRange(parts, "published_at")
    return sdf.repartition(parts)


@SPARK_PANDAS
def test_spark_compute_equals_compute_for_each_partitioning(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    want = _whole()
    accounts_sdf = spark.createDataFrame(T["accounts"].to_arrow())
    for how in PARTITIONINGS:
        sdf = _sdf(spark, tmp_path, how, 5)
        assert sdf.rdd.getNumPartitions() == 5
        # accounts as a Spark DataFrame, the other small tables as polars frames
        got = sks.compute(sdf, accounts_sdf, **{k: v for k, v in SMALL.items() if k != "accounts"}, **KW)  # type: ignore[arg-type]
        _same(got, want)
    # the first partition, which states the small tables, without a post
    sdf = _sdf(spark, tmp_path, "rows", 3)
    sdf = spark.createDataFrame(spark.sparkContext.parallelize([], 2), sdf.schema).union(sdf)
    assert sdf.rdd.glom().map(len).collect()[0] == 0
    _same(sks.compute(sdf, **SMALL, **KW), want)  # type: ignore[arg-type]


@SPARK_PANDAS
def test_spark_oracle_spark_output_and_partial(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    sdf = _sdf(spark, tmp_path, "rows", 3)
    out = sks.compute(sdf, T["accounts"], kpis=ORACLE_KPIS, by=["platform"], every="1mo", output="spark")
    assert type(out).__name__ == "DataFrame" and hasattr(out, "rdd")
    # string views and unsigned integers of the polars result arrive as Spark's own types
    got = pl.from_arrow(out.toArrow())
    assert isinstance(got, pl.DataFrame)
    _oracle_check(got.sort("platform", "period_start"))
    states = sks.partial(sdf, **SMALL, **KW)  # type: ignore[arg-type]
    assert isinstance(states, sk.States)
    _same(states.finalize(), _whole())
    with pytest.raises(sk.InputError) as e:
        sk.merge([states, sk.partial(T["posts"].tail(5), **SMALL, **KW)])  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"


@SPARK_PANDAS
def test_spark_post_in_two_partitions_and_typed_errors(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    sdf = _sdf(spark, tmp_path, "rows", 3)
    twice = sdf.union(sdf.limit(4)).repartition(4)
    with pytest.raises(sk.InputError) as e:
        sks.compute(twice, **SMALL, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    assert "4 posts" in str(e.value)
    # on the driver, before any task
    with pytest.raises(sk.SchemaError) as e:
        sks.compute(sdf.drop("published_at"), kpis="engagement", every="1mo")
    assert e.value.code == "missing_column"
    with pytest.raises(sk.ArgumentError):
        sks.compute(sdf, kpis="engagement", output="arrow")  # type: ignore[arg-type]
    # on an executor: a post repeated inside one partition
    with pytest.raises(sk.InputError) as e:
        sks.compute(sdf.union(sdf.limit(2)).coalesce(1), kpis="engagement")
    assert e.value.code == "duplicate_post_id"


@SPARK_PANDAS
def test_spark_dedupe_last_resolves_posts_spread_over_partitions(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """As on Dask: files in order, and a frame whose partitions are slices of the posts in
    order; states keep each post once; without dedupe the error counts the posts."""
    from socialkpi import spark as sks

    pieces = _resynced()
    want = _resynced_whole(pieces)
    paths = _files(tmp_path, pieces)
    _same(sks.compute(paths, **SMALL, **KW, dedupe="last"), want)  # type: ignore[arg-type]
    rows = pl.concat(pieces)
    schema = spark.createDataFrame(rows.head(1).to_arrow()).schema
    sdf = spark.createDataFrame(spark.sparkContext.parallelize(rows.rows(), 6), schema)
    _same(sks.compute(sdf, **SMALL, **KW, dedupe="last"), want)  # type: ignore[arg-type]
    states = sks.partial(sdf, **SMALL, **KW, dedupe="last")  # type: ignore[arg-type]
    _same(states.finalize(), want)
    assert states._native.sizes()[1] == T["posts"].height
    pieces[1] = pieces[1].unique("post_id", keep="first", maintain_order=True)
    for run in (sks.compute, sks.partial):
        with pytest.raises(sk.InputError) as e:
            run(_files(tmp_path, pieces), **SMALL, **KW)  # type: ignore[operator]
        assert e.value.code == "overlapping_posts" and "301 posts" in str(e.value)


@SPARK_PANDAS
def test_spark_confirms_a_shared_hash_against_the_ids(spark, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """As on Dask: a hash found in two parts that the ids do not repeat is counted as no
    repeat, and the run goes on (sks.partial finds the shared hashes on the driver, where the
    patch is)."""
    from socialkpi import _wire
    from socialkpi import spark as sks

    pieces = _split(T["posts"], "rows", 3, 14)
    fake = _hash_of(pieces[2]["post_id"][3])
    united = _wire.united_ids
    calls = []

    def with_a_false_alarm(parts):  # type: ignore[no-untyped-def]
        calls.append(len(parts))
        ids, shared = united(parts)
        return ids, (np.union1d(shared, fake) if len(calls) == 1 else shared)

    monkeypatch.setattr(_wire, "united_ids", with_a_false_alarm)
    states = sks.partial(_files(tmp_path, pieces), **SMALL, **KW)  # type: ignore[arg-type]
    assert len(calls) >= 2  # made again, the lonely post's row set aside
    _same(states.finalize(), _whole())
    assert states._native.sizes()[1] == T["posts"].height


@SPARK_PANDAS
def test_spark_finds_the_parts_holding_a_shared_post(spark) -> None:  # type: ignore[no-untyped-def]
    """With dedupe='last' a second run remakes only the parts whose post-id blobs hold one of
    the hashes found in more than one part."""
    import pyarrow as pa
    from socialkpi import spark as sks

    hashes = np.sort(np.random.default_rng(5).integers(0, 2**63, 30, dtype=np.uint64))
    blobs = {0: hashes[:10], 1: hashes[10:20], 2: hashes[20:]}
    table = pa.table(
        {
            "header": pa.nulls(3, pa.string()),
            "body": pa.nulls(3, pa.binary()),
            "ids_kept": pa.nulls(3, pa.bool_()),
            "bucket": pa.array([0, 0, 0], pa.int32()),
            "ids": pa.array([b.astype("<u8").tobytes() for b in blobs.values()], pa.binary()),
            "aside": pa.nulls(3, pa.binary()),
            "part": pa.array(list(blobs), pa.int32()),
        },
        schema=sks._ROWS,
    )
    rows = spark.createDataFrame(table)
    assert sks._holding(rows, np.array([hashes[12], hashes[25]], dtype=np.uint64)) == {1, 2}
    assert sks._holding(rows, np.array([hashes[0] + np.uint64(1)], dtype=np.uint64)) == set()


@SPARK_PANDAS
def test_spark_over_files_one_task_per_file(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    paths = _files(tmp_path, _split(T["posts"], "time", 3, 4))
    # the accounts as a pyarrow table: shipped to the executors as Arrow IPC, as polars frames are
    small = {**SMALL, "accounts": T["accounts"].to_arrow()}
    _same(sks.compute(str(tmp_path / "*.parquet"), **small, **KW), _whole())  # type: ignore[arg-type]
    _same(sks.partial(paths, **small, **KW).finalize(), _whole())  # type: ignore[arg-type]
    # one file: one part, whose repeats its own run checks
    _same(sks.compute(paths[:1], **small, **KW), sk.compute(paths[0], **small, **KW))  # type: ignore[arg-type]
    with pytest.raises(sk.InputError) as e:
        sks.compute([paths[0], paths[0]], **small, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    # partial checks them on the driver, each part's buckets as they came
    with pytest.raises(sk.InputError) as e:
        sks.partial([paths[0], paths[1], paths[0]], **small, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    assert f"{pl.read_parquet(paths[0]).height} posts" in str(e.value)
    with pytest.raises(sk.InputError) as e:
        sks.compute([*paths, str(tmp_path / "missing.parquet")], **small, **KW)  # type: ignore[arg-type]
    assert e.value.code == "file_not_found"


@SPARK_PANDAS
def test_spark_reads_a_plain_parquet_scan_from_its_files(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F
    from socialkpi import spark as sks

    paths = _files(tmp_path, _split(T["posts"], "rows", 3, 5))
    scan = spark.read.parquet(*paths)
    # a frame that is only a scan of Parquet files is read by the engine from the files...
    assert sks._scanned_files(scan) == sorted(paths)
    _same(sks.compute(scan, **SMALL, **KW), _whole())  # type: ignore[arg-type]
    _same(sks.partial(scan, **SMALL, **KW).finalize(), _whole())  # type: ignore[arg-type]
    copy = tmp_path / "copy.parquet"
    shutil.copy(paths[1], copy)
    with pytest.raises(sk.InputError) as e:
        sks.compute(spark.read.parquet(*paths, str(copy)), **SMALL, **KW)  # type: ignore[arg-type]
    assert e.value.code == "overlapping_posts"
    assert f"{pl.read_parquet(copy).height} posts" in str(e.value)
    # files Spark wrote (its own timestamps, several part files) read the same way
    spark.createDataFrame(T["posts"].to_arrow()).repartition(3).write.parquet(str(tmp_path / "by_spark"))
    written = spark.read.parquet(str(tmp_path / "by_spark"))
    assert len(sks._scanned_files(written) or []) == 3
    _same(sks.compute(written, **SMALL, **KW), _whole())  # type: ignore[arg-type]
    # ...and any other frame through Spark: what Spark does to the rows counts
    first = T["posts"]["published_at"].min()
    assert isinstance(first, dt.datetime)
    cut = first + dt.timedelta(days=60)
    filtered = scan.where(F.col("published_at") >= F.lit(cut))
    assert sks._scanned_files(filtered) is None
    want = sk.compute(T["posts"].filter(pl.col("published_at") >= cut), **SMALL, **KW)  # type: ignore[arg-type]
    _same(sks.compute(filtered, **SMALL, **KW), want)  # type: ignore[arg-type]
    renamed = spark.read.schema("post_id string").parquet(*paths)
    assert sks._scanned_files(renamed) is None
    # partition columns come from the folders' names, which the files do not hold
    folder = tmp_path / "by_platform"
    T["posts"].write_parquet(folder, partition_by="platform")
    partitioned = spark.read.parquet(str(folder))
    assert sks._scanned_files(partitioned) is None
    _same(sks.compute(partitioned, **SMALL, **KW), _whole())  # type: ignore[arg-type]
    csv = tmp_path / "posts.csv"
    T["posts"].write_csv(csv)
    assert sks._scanned_files(spark.read.csv(str(csv), header=True)) is None


@SPARK_PANDAS
def test_spark_leaves_the_sessions_arrow_batch_size_as_it_was(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    sdf = _sdf(spark, tmp_path, "rows", 3)
    default = spark.conf.get(key)
    sks.compute(sdf, **SMALL, **KW)  # type: ignore[arg-type]
    assert spark.conf.get(key) == default
    spark.conf.set(key, "5000")
    try:
        _same(sks.compute(sdf, **SMALL, **KW), _whole())  # type: ignore[arg-type]
        assert spark.conf.get(key) == "5000"
        with pytest.raises(sk.InputError):  # and after a failure
            sks.compute(sdf.union(sdf.limit(2)).coalesce(1), kpis="engagement")
        assert spark.conf.get(key) == "5000"
    finally:
        spark.conf.unset(key)


@SPARK_PANDAS
def test_spark_compare_and_targets_apply_to_the_merged_states(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialkpi import spark as sks

    sdf = _sdf(spark, tmp_path, "time", 3)
    monthly = {**KW, "every": "1mo", "compare": "previous", "targets": _TARGETS}
    _same(sks.compute(sdf, **SMALL, **monthly), _whole(**monthly))  # type: ignore[arg-type]
    daily = {"kpis": ORACLE_KPIS, "by": ["platform"], "every": "1d", "window": "mtd"}
    _same(sks.compute(sdf, T["accounts"], **daily), sk.compute(T["posts"], T["accounts"], **daily))  # type: ignore[arg-type]
    weekly = {**KW, "every": "1w", "week_start": "saturday", "fiscal_year_start": "july"}
    _same(sks.compute(sdf, **SMALL, **weekly), _whole(**weekly))  # type: ignore[arg-type]
    assert sks.partial(sdf, **SMALL, **weekly).spec["week_start"] == "saturday"  # type: ignore[arg-type]
    days = sorted(T["posts"]["published_at"].dt.date().unique().to_list())
    ranged = {**KW, "every": None, "start": days[3], "end": days[-3], "memory_limit": "1MB"}
    _same(sks.compute(sdf, **SMALL, **ranged), _whole(**ranged))  # type: ignore[arg-type]


def test_spark_check_partitions_merge_the_parts_states_they_get() -> None:
    pytest.importorskip("pyspark")
    import pyarrow as pa
    from socialkpi import _wire
    from socialkpi import spark as sks

    pieces = _split(T["posts"], "account", 3, 7)
    parts = [_wire.pack(sk.partial(p, **SMALL, **KW), ids_travel=False) for p in pieces]  # type: ignore[arg-type]
    rows = [
        pa.RecordBatch.from_pydict(
            {
                "header": [p.header],
                "body": [p.body],
                "ids_kept": [True],
                "bucket": [-1 - k],
                "ids": [None],
                "aside": [None],
                "part": [k],
            },
            schema=sks._ROWS,
        )
        for k, p in enumerate(parts)
    ]
    (merged,) = sks._checked(iter(rows))
    assert merged.num_rows == 1 and merged.column("ids_kept").to_pylist() == [True]
    got = _wire.body(_wire.Part(merged.column("header")[0].as_py(), merged.column("body")[0].as_py(), None))
    _same(got.finalize(), sk.merge([sk.partial(p, **SMALL, **KW) for p in pieces]).finalize())  # type: ignore[arg-type]
    # a part's failure comes back as it came, beside the others, for the driver to raise
    failed = pa.RecordBatch.from_pydict(
        {"header": ['{"error": ["InputError", "duplicate_post_id", "x"]}'], "body": [None], "ids_kept": [None],
         "bucket": [-4], "ids": [None], "aside": [None], "part": [3]},
        schema=sks._ROWS,
    )  # fmt: skip
    (back,) = sks._checked(iter([*rows[:2], failed]))
    assert back.num_rows == 3 and back.column("body")[2].as_py() is None


def test_spark_types_casts_what_spark_does_not_take() -> None:
    pytest.importorskip("pyspark")
    import pyarrow as pa
    from socialkpi import spark as sks

    table = pa.table(
        {
            "name": pa.array(["a", None], pa.string_view()),
            "big": pa.array(["b", "c"], pa.large_string()),
            "count": pa.array([1, 2], pa.uint32()),
            "hash": pa.array([3, None], pa.uint64()),
            "at": pa.array([1_000, 2_000], pa.timestamp("ns", "UTC")),
            "tags": pa.array([["x"], []], pa.large_list(pa.large_string())),
            "rate": pa.array([0.5, None], pa.float64()),
        }
    )
    out = sks.spark_types(table)
    assert out.schema == pa.schema(
        [
            ("name", pa.string()),
            ("big", pa.string()),
            ("count", pa.int64()),
            ("hash", pa.int64()),
            ("at", pa.timestamp("us", "UTC")),
            ("tags", pa.list_(pa.string())),
            ("rate", pa.float64()),
        ]
    )
    assert out.to_pylist() == [
        {
            "name": "a",
            "big": "b",
            "count": 1,
            "hash": 3,
            "at": out["at"][0].as_py(),
            "tags": ["x"],
            "rate": 0.5,
        },
        {
            "name": None,
            "big": "c",
            "count": 2,
            "hash": None,
            "at": out["at"][1].as_py(),
            "tags": [],
            "rate": None,
        },
    ]
    assert out["at"].cast(pa.int64()).to_pylist() == [1, 2]  # microseconds
    # an unsigned 64-bit value beyond the signed range is an error, not a wrapped number
    with pytest.raises(pa.ArrowInvalid):
        sks.spark_types(pa.table({"hash": pa.array([2**63], pa.uint64())}))
