"""socialkpi on Spark: each partition of the posts (or each file) becomes partial states
through the same engine as :func:`socialkpi.compute` (``mapInArrow``), the post ids are
checked for repeats in Spark (shuffled by bucket, in the same job), the states are merged by
the check's partitions and then on the driver, and finalized once (docs/scale.md).

>>> from socialkpi import spark as sks
>>> out = sks.compute(posts_sdf, accounts_sdf, kpis="engagement", by=["platform"], every="1mo")

Needs ``pip install 'socialkpi[spark]'`` (PySpark 4).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import polars as pl

try:
    import pyarrow as pa
    from pyspark import StorageLevel, TaskContext
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
except ImportError as e:  # pragma: no cover - the extra is not installed
    raise ImportError("socialkpi.spark needs PySpark 4: pip install 'socialkpi[spark]'") from e

from socialkpi import _arguments, _wire
from socialkpi._states import States, merge
from socialkpi._states import partial as _partial
from socialkpi._tables import ColumnsRead
from socialkpi.exceptions import KpiError, invalid_argument
from socialkpi.formulas import KPI, Definitions

__all__ = ["compute", "partial", "spark_types"]

# What each partition sends back, in one fixed schema: one row with its states' header and
# frame (Arrow IPC, without the post ids), whether it kept post ids, and a bucket of its own
# below 0 (so that the check's shuffle spreads the states rows); then its posts' post_id
# hashes as little-endian uint64 bytes, one row per bucket (the hash's top bits), so that the
# repeat check moves a few blobs per partition rather than a row per post. When the run is
# made again to resolve posts found in more than one partition, the rows it set aside
# (``aside``, Arrow IPC; see ``_wire.split``), one row per bucket of their posts' hashes, so
# that a post's rows from every part meet in one partition. Every row names its part. A
# partition whose engine run fails sends one row whose header is {"error": [class, code,
# message]}.
_ROWS = pa.schema(
    [
        ("header", pa.string()),
        ("body", pa.binary()),
        ("ids_kept", pa.bool_()),
        ("bucket", pa.int32()),
        ("ids", pa.binary()),
        ("aside", pa.binary()),
        ("part", pa.int32()),
    ]
)
_ROWS_DDL = "header string, body binary, ids_kept boolean, bucket int, ids binary, aside binary, part int"
# What the repeat check gives back: a row of each shuffle partition's merged states (with
# the states of the rows set aside that it got; its states rows as they came when one is a
# failure), and one with the post-id hashes that more than one part holds (``shared``,
# little-endian uint64 bytes) and how many of the posts set aside that it got more than one
# part holds by their ids, without dedupe (``repeated``; see ``_wire.aside_states``).
_CHECKED = pa.schema(
    [
        ("header", pa.string()),
        ("body", pa.binary()),
        ("ids_kept", pa.bool_()),
        ("shared", pa.binary()),
        ("repeated", pa.int64()),
    ]
)
_CHECKED_DDL = "header string, body binary, ids_kept boolean, shared binary, repeated long"
_BUCKET_BITS = _wire.BUCKET_BITS
# Rows per Arrow batch that Spark hands mapInArrow for socialkpi's job, in place of the
# session's spark.sql.execution.arrow.maxRecordsPerBatch (10,000 by default): a partition is
# read whole anyway, and ten thousand rows a batch made moving the posts some 1.4x slower.
_BATCH_ROWS = 1_000_000
_BATCH_KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"


def compute(
    posts: SparkDataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    accounts: Any = None,
    *,
    contracts: Any = None,
    traffic: Any = None,
    conversions: Any = None,
    sources: Mapping[str, str] | None = None,
    kpis: str | KPI | Iterable[str | KPI],
    by: str | Sequence[str] = (),
    every: str | None = None,
    tz: str = "UTC",
    dedupe: Literal["last"] | None = None,
    output: Literal["polars", "pandas", "spark"] = "polars",
    definitions: str | os.PathLike[str] | Definitions | None = None,
    max_staleness: int | None = 7,
    compare: str | Sequence[str] | None = None,
    window: str | None = None,
    targets: Any = None,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    fill: bool = False,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> Any:
    """:func:`socialkpi.compute` over a Spark DataFrame of posts: the same arguments and the
    same result, cell for cell. The arguments not listed below are those of
    :func:`socialkpi.compute`.

    Parameters
    ----------
    posts
        A Spark DataFrame of posts; each of its partitions is one part, and only the columns
        the request reads go from the JVM to Python. Or a path, glob, folder or list of Parquet
        / CSV files readable on every executor, run in the active Spark session: one task per
        file, read by the engine on its executor, the posts never passing through the JVM. A
        frame that is nothing but a scan of local Parquet files (``spark.read.parquet(path)``
        without a filter, a selection, a schema of its own or partition folders) is read from
        its files so.
    accounts, contracts, traffic, conversions
        The small tables, whole: Spark DataFrames (collected to the driver as Arrow), polars,
        pandas or pyarrow frames, or paths readable on every executor. They are broadcast to
        the executors and passed whole beside every partition; the states count them once.
    output
        ``"polars"`` (default) or ``"pandas"`` on the driver, or ``"spark"``: a Spark
        DataFrame (Arrow types Spark does not take, such as string views, are cast).
    compare, window, targets
        As for :func:`socialkpi.compute`: applied once, when the merged states are finalized
        on the driver (``targets`` is a table on the driver, or a Spark DataFrame, collected).
    week_start, fiscal_year_start
        As for :func:`socialkpi.compute`: each partition's states are made in the calendar.
    start, end, fill
        As for :func:`socialkpi.compute`: applied when the merged states are finalized (with
        ``every=None`` and a range, the partitions make daily states).
    dedupe
        As for :func:`socialkpi.compute`: ``"last"`` keeps each post's last row, also of a post
        in more than one partition (the partitions, or the files in order, then their rows):
        the parts run again with the rows of such posts set aside, and each post's rows
        meet in one task (docs/scale.md).
    memory_limit
        As for :func:`socialkpi.compute`, for each partition's own repeat check.

    Raises
    ------
    InputError
        ``overlapping_posts`` when a post (by ``post_id``) is in more than one partition
        and ``dedupe`` is not ``"last"`` (confirmed on the ids themselves);
        the errors of :func:`socialkpi.compute`, with their class and code, wherever they
        happen.
    """
    if output not in ("polars", "pandas", "spark"):
        raise invalid_argument(f"output={output!r} is not supported; use 'polars', 'pandas' or 'spark'")
    options = _wire.options(locals())
    options, over_time = _wire.over_time(compare, window, _local(targets), options, start, end, fill)
    small = _small(accounts, contracts, traffic, conversions)
    states = _wire.body(_run(posts, small, options, keep_ids=False))
    if output != "spark":
        return states.finalize(output=output, **over_time)
    session = _session(posts)
    return session.createDataFrame(spark_types(states.finalize(**over_time).to_arrow()))


def partial(
    posts: SparkDataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    accounts: Any = None,
    *,
    contracts: Any = None,
    traffic: Any = None,
    conversions: Any = None,
    sources: Mapping[str, str] | None = None,
    kpis: str | KPI | Iterable[str | KPI],
    by: str | Sequence[str] = (),
    every: str | None = None,
    tz: str = "UTC",
    dedupe: Literal["last"] | None = None,
    definitions: str | os.PathLike[str] | Definitions | None = None,
    max_staleness: int | None = 7,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> States:
    """:func:`socialkpi.partial` over a Spark DataFrame of posts: the merged states of all
    partitions on the driver, post ids included (8 bytes a post), to finalize, merge with
    other states or save. The arguments are :func:`compute`'s, but ``output``."""
    options = _wire.options(locals())
    small = _small(accounts, contracts, traffic, conversions)
    return _wire.states(_run(posts, small, options, keep_ids=True))


def spark_types(table: pa.Table) -> pa.Table:
    """The table in Arrow types Spark takes: string and binary views and large strings and
    binaries as plain ones, unsigned integers as the next wider signed ones (unsigned 64-bit
    as signed 64-bit, checked), nanosecond times as microseconds."""

    def spark_type(t: pa.DataType) -> pa.DataType:
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_uint8(t):
            return pa.int16()
        if pa.types.is_uint16(t):
            return pa.int32()
        if pa.types.is_uint32(t) or pa.types.is_uint64(t):
            return pa.int64()
        if pa.types.is_timestamp(t) and t.unit == "ns":
            return pa.timestamp("us", t.tz)
        if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
            return pa.list_(spark_type(t.value_type))
        if pa.types.is_list(t):
            return pa.list_(spark_type(t.value_type))
        return t

    schema = pa.schema([f.with_type(spark_type(f.type)) for f in table.schema])
    return table if schema == table.schema else table.cast(schema)


def _small(accounts: Any, contracts: Any, traffic: Any, conversions: Any) -> dict[str, Any]:
    return {
        "accounts": _local(accounts),
        "contracts": _local(contracts),
        "traffic": _local(traffic),
        "conversions": _local(conversions),
    }


def _run(posts: Any, small: dict[str, Any], options: dict[str, Any], keep_ids: bool) -> _wire.Part:
    """The parts' states merged, with their post ids when ``keep_ids``. Posts found in more
    than one part: the parts holding them run again with those posts' rows set aside, and
    each post's rows meet in the check partition of its bucket (on the driver for
    ``partial``), as one machine reads them (``_wire.split``, docs/scale.md)."""
    files = _files_of(posts)
    rows, travelling = _rows(posts, files, small, options, keep_ids)
    # re-synced exports put posts in more than one part: with dedupe="last" the files' states
    # rows are kept (memory, then disk) so that a second run remakes only the files holding
    # such posts. (A frame's partitions run again whole: Spark may not cut them the same way
    # twice, and a partition remade beside others kept could then miss or repeat posts.)
    kept = options["dedupe"] == "last" and travelling > 1 and files is not None
    if kept:
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        merged = _collected(rows, travelling, keep_ids, small, options)
        if merged.shared is None or not len(merged.shared):
            return merged
        if options["dedupe"] is None:
            # then such a post is an error: counted on the ids alone first, so that it is
            # raised without any states made again (a hash two different ids share goes on)
            repeated = _repeated(posts, files, merged.shared)
            if repeated:
                raise _wire.overlapping(repeated)
        holding = _holding(rows, merged.shared) if kept else None
        again, travelling = _rows(posts, files, small, options, keep_ids, merged.shared, holding)
        if holding is not None:
            again = again.union(rows.where(~F.col("part").isin(sorted(holding))))
        merged = _collected(again, travelling, keep_ids, small, options, resolving=True)
    finally:
        if kept:
            rows.unpersist()
    if merged.repeated:
        raise _wire.overlapping(merged.repeated)
    if merged.shared is not None and len(merged.shared):
        raise _wire.unsteady()
    return merged


def _repeated(posts: Any, files: list[str] | None, shared: np.ndarray) -> int:
    """How many posts more than one part holds, by their ids, of those whose hash is in
    ``shared``: each part (each of the ``files``, or each partition of the frame) sets their
    ids aside (``_wire.aside_ids``, reading ``post_id`` only), and the ids meet by bucket in
    Spark's shuffle, where they are counted."""
    buckets = 1 << _BUCKET_BITS
    session = _session(posts)
    shipped = _broadcast(session, {_SHARED: shared})
    if files is not None:
        paths = files

        def ids_of_file(task: int) -> Iterator[pa.RecordBatch]:
            yield _id_rows(_wire.aside_ids(paths[task], _landed(shipped)[_SHARED], task, buckets))

        rows = _per_file(session, len(paths), ids_of_file, _IDS_DDL)
        parts = len(paths)
    else:

        def ids_of(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            found = list(batches)
            if found:
                context = TaskContext.get()
                number = 0 if context is None else context.partitionId()
                table = pa.Table.from_batches(found)
                yield _id_rows(_wire.aside_ids(table, _landed(shipped)[_SHARED], number, buckets))

        rows = posts.select(F.col("post_id")).mapInArrow(ids_of, _IDS_DDL)
        parts = buckets

    def counted(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        by_bucket: dict[int, list[bytes]] = {}
        for batch in batches:
            for bucket, ids in zip(batch.column("bucket").to_pylist(), batch.column("ids").to_pylist()):
                by_bucket.setdefault(bucket, []).append(ids)
        found = sum(_wire.repeated(ids) for ids in by_bucket.values())
        yield pa.RecordBatch.from_pydict({"repeated": [found]}, schema=pa.schema([("repeated", pa.int64())]))

    checks = max(1, min(parts, _cores(session), buckets))
    with _batches(session):
        table = rows.repartition(checks, "bucket").mapInArrow(counted, "repeated long").toArrow()
    return int(sum(n for n in table.column("repeated").to_pylist() if n is not None))


# A part's post ids set aside, a row per bucket (Arrow IPC; see ``_wire.aside_ids``).
_IDS = pa.schema([("bucket", pa.int32()), ("ids", pa.binary())])
_IDS_DDL = "bucket int, ids binary"


def _id_rows(aside: list[bytes | None]) -> pa.RecordBatch:
    held = [k for k, ids in enumerate(aside) if ids is not None]
    return pa.RecordBatch.from_pydict({"bucket": held, "ids": [aside[k] for k in held]}, schema=_IDS)


def _files_of(posts: Any) -> list[str] | None:
    """The files the engine reads the posts from, one part each: the paths given, or those
    of a frame that is a plain scan of Parquet files (see ``_scanned_files``); None for a
    frame that Spark reads."""
    if _wire.is_paths(posts):
        return _wire.files(posts)
    if not isinstance(posts, SparkDataFrame):
        raise invalid_argument(
            f"posts= got a {type(posts).__name__}; pass a Spark DataFrame or a path, glob or list of "
            "Parquet / CSV files (for a local frame, use socialkpi.compute)",
        )
    return _scanned_files(posts)


def _session(posts: Any) -> SparkSession:
    """The frame's session, or for paths the active one."""
    if isinstance(posts, SparkDataFrame):
        return posts.sparkSession
    session = SparkSession.getActiveSession()
    if session is None:
        raise invalid_argument(
            "posts= got paths but no Spark session is active; start one (SparkSession.builder...getOrCreate()) "
            "or pass a Spark DataFrame"
        )
    return session


def _per_file(
    session: SparkSession, count: int, rows_of: Callable[[int], Iterator[pa.RecordBatch]], ddl: str
) -> SparkDataFrame:
    """One Spark task per file: ``rows_of(the file's number)``, where the task runs."""

    def each(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for task in batch.column(0).to_pylist():
                yield from rows_of(task)

    # range() puts one task number in each partition
    return session.range(0, count, 1, numPartitions=count).mapInArrow(each, ddl)


def _holding(rows: SparkDataFrame, shared: np.ndarray) -> set[int]:
    """The parts whose post-id hashes (in the states rows ``rows``) include one of ``shared``."""
    shipped = _broadcast(rows.sparkSession, {_SHARED: shared})

    def holders(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ids = [
            (part, np.frombuffer(blob.as_buffer(), dtype="<u8"))
            for batch in batches
            for part, blob in zip(batch.column("part").to_pylist(), batch.column("ids"))
            if blob.is_valid
        ]
        found = _wire.holders(ids, _landed(shipped)[_SHARED])
        yield pa.RecordBatch.from_pydict({"part": sorted(found)}, schema=pa.schema([("part", pa.int32())]))

    blobs = rows.where(F.col("ids").isNotNull()).select("part", "ids")
    return {row.part for row in blobs.mapInArrow(holders, "part int").distinct().collect()}


def _collected(
    rows: SparkDataFrame,
    travelling: int,
    keep_ids: bool,
    small: dict[str, Any],
    options: dict[str, Any],
    resolving: bool = False,
) -> _wire.Part:
    """The states rows run and merged: their states, their post ids when ``keep_ids``, the
    hashes found in more than one part, and, when ``resolving`` a second run, the states of
    the rows set aside merged in (by the check partitions their buckets go to; on the
    driver when the ids come there whole)."""
    session = rows.sparkSession
    if travelling and not keep_ids:
        # the repeat check runs where the ids are, bucket by bucket, in the job that makes the
        # states (no second pass over them), and its partitions merge the
        # parts' states they get: a merged states row and the shared hashes each reach the
        # driver. One shuffle partition a core at most (one wave of tasks; up to one a
        # bucket), not the session's 200: each is a Python task, and most would be empty.
        checks = max(1, min(travelling, _cores(session), 1 << _BUCKET_BITS))
        check = (
            functools.partial(_checked, resolve=_resolver(session, small, options)) if resolving else _checked
        )
        rows = rows.repartition(checks, "bucket").mapInArrow(check, _CHECKED_DDL)
    with _batches(session):
        table = rows.toArrow()
    states, ids_kept = _bodies(table)
    ids, shared = None, None
    if keep_ids and ids_kept:
        blobs = table.filter(table.column("header").is_null()).column("ids")
        ids, shared = _wire.united_ids(_runs(blobs.chunks))
    elif travelling and ids_kept:
        shared = np.sort(np.concatenate([np.empty(0, np.uint64), *_runs(table.column("shared").chunks)]))
    repeated = 0
    if "repeated" in table.column_names:
        repeated = sum(n for n in table.column("repeated").to_pylist() if n is not None)
    merged = _wire.Part(states.header, _wire.ipc(states.frame), ids, shared, repeated)
    aside = (
        [b for b in table.column("aside").to_pylist() if b is not None]
        if "aside" in table.column_names
        else []
    )
    if not aside:
        return merged
    resolved = _wire.aside_states(aside, small, options, ids_travel=keep_ids)
    return _wire.combine([merged, resolved], keep_ids)


def _rows(
    posts: Any,
    files: list[str] | None,
    small: dict[str, Any],
    options: dict[str, Any],
    keep_ids: bool,
    shared: np.ndarray | None = None,
    holding: set[int] | None = None,
) -> tuple[SparkDataFrame, int]:
    """The partitions' (or ``files``') states as Spark rows (``_ROWS``), and how many parts
    send their post ids with them (0 when none do): when ``keep_ids``, from a frame, or from
    more than one file (the one file of a compute checked its own). With ``shared`` hashes,
    each part sets aside the rows of those posts (see ``_wire.split``), and only the files
    ``holding`` them run (all when None; every partition of a frame)."""
    if files is not None:
        # paths, or a plain scan of Parquet files: the engine reads them where they are, one
        # task a file, rather than Spark decoding them and moving every row to Python
        travel = _wire.ids_travel(keep_ids, len(files))
        return _file_rows(posts, files, small, options, travel, shared, holding), len(files) if travel else 0
    frame: SparkDataFrame = posts
    schema = _arrow_schema(frame)
    # the arguments and the small tables checked here, on no posts, so that a mistake is
    # raised at once with its class and code rather than from every executor; it also names
    # the columns the request reads: only those leave the JVM for Python
    read = ColumnsRead(schema.empty_table(), "posts")
    _partial(read, **small, **options)
    if read.read:
        frame = frame.select(*[F.col("`" + name.replace("`", "``") + "`") for name in read.read])
        schema = pa.schema([schema.field(name) for name in read.read])
    shipped = _broadcast(frame.sparkSession, {**small, _SHARED: shared})

    def states_of(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        context = TaskContext.get()
        number = 0 if context is None else context.partitionId()
        parts = list(batches)
        # Spark's batches carry the session's time zone: the driver's schema is for no batches
        table = pa.Table.from_batches(parts) if parts else schema.empty_table()
        del parts
        # every partition runs this, the empty ones too: the first states the small tables
        return _states_rows(table, _landed(shipped), options, True, number)

    # (the ids of a frame's partitions always travel: how many partitions run is Spark's to
    # decide, adaptive execution among it, so they count as one a bucket)
    return frame.mapInArrow(states_of, _ROWS_DDL), 1 << _BUCKET_BITS


def _cores(session: SparkSession) -> int:
    """How many tasks the cluster runs at once (Spark Connect, which cannot tell, counts as
    one a bucket)."""
    try:
        return max(1, int(session.sparkContext.defaultParallelism))
    except Exception:
        return 1 << _BUCKET_BITS


def _scanned_files(frame: SparkDataFrame) -> list[str] | None:
    """The local files of a frame that is nothing but a scan of Parquet files (as
    ``spark.read.parquet(path)`` or a Parquet table makes it: no filter, projection,
    partition columns read from folder names, or bucketing; see ``_wire.parquet_scan``); None
    for any other frame, or where the plan cannot be read (Spark Connect)."""
    try:
        plan = frame._jdf.queryExecution().analyzed()
        while plan.getClass().getSimpleName() == "SubqueryAlias":
            plan = plan.child()
        if plan.getClass().getSimpleName() != "LogicalRelation":
            return None
        relation = plan.relation()
        if (
            relation.getClass().getSimpleName() != "HadoopFsRelation"
            or relation.fileFormat().getClass().getSimpleName() != "ParquetFileFormat"
            or relation.partitionSchema().length() != 0
            or relation.bucketSpec().isDefined()
        ):
            return None
        uris = list(frame.inputFiles())
    except Exception:  # not a classic session, or a plan of another shape
        return None
    paths = [_local_path(uri) for uri in sorted(uris)]
    if any(p is None for p in paths):
        return None
    return _wire.parquet_scan([p for p in paths if p is not None], frame.columns)


def _local_path(uri: str) -> str | None:
    """The path of a ``file:`` URI; None for another scheme."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("file", "") or parsed.netloc not in ("", "localhost"):
        return None
    return urllib.request.url2pathname(parsed.path)


def _file_rows(
    posts: Any,
    paths: list[str],
    small: dict[str, Any],
    options: dict[str, Any],
    ids_travel: bool,
    shared: np.ndarray | None,
    holding: set[int] | None,
) -> SparkDataFrame:
    """The files' states as Spark rows: one Spark task per file (per file ``holding`` shared
    posts, when given), read by the engine on its executor."""
    session = _session(posts)
    shipped = _broadcast(session, {**small, _SHARED: shared})

    def states_of(task: int) -> Iterator[pa.RecordBatch]:
        if holding is None or task in holding:
            yield from _states_rows(paths[task], _landed(shipped), options, ids_travel, task)

    return _per_file(session, len(paths), states_of, _ROWS_DDL)


# The key under which the hashes of the posts to set aside travel with the small tables.
_SHARED = "shared"


def _landed(shipped: Any) -> dict[str, Any]:
    """What ``_broadcast`` shipped, where a task runs: the small tables as shipped, and the
    hashes of the posts to set aside (None on the first run) under ``_SHARED``."""
    value: dict[str, Any] = shipped.value if hasattr(shipped, "value") else shipped
    return value


def _states_rows(
    posts: Any, shipped: dict[str, Any], options: dict[str, Any], ids_travel: bool, number: int
) -> Iterator[pa.RecordBatch]:
    """Part ``number``'s states, on the executor, as ``_ROWS`` batches (``shipped``: the small
    tables as they were shipped, only part 0 stating them, see ``_wire.part_states``; and the
    hashes of the posts to set aside, see ``_wire.split``). The states' row has a bucket of
    its own below 0, so that the repeat check's shuffle spreads the parts' states over its
    partitions, which merge them."""
    small = {name: t for name, t in shipped.items() if name != _SHARED}
    shared = shipped.get(_SHARED)
    aside: list[bytes | None] = []
    try:
        if shared is None:
            part = _wire.pack(_wire.part_states(posts, small, options, ids_travel, number == 0))
        else:
            groups = 1 << _BUCKET_BITS  # one a bucket: a post's rows meet where its hashes are checked
            part, aside = _wire.split(posts, small, options, shared, number, ids_travel, number == 0, groups)
    except KpiError as e:
        yield _one_row(_failure(e), None, None, number)
        return
    del posts
    yield _one_row(part.header, part.body, part.ids is not None, number)
    held = [k for k, rows in enumerate(aside) if rows is not None]
    if held:
        yield _bucket_rows(number, held, aside=[aside[k] for k in held])
    if part.ids is None:
        return
    ids = part.ids.astype("<u8", copy=False)
    # the ids are sorted: each bucket (top bits) is one run
    edges = np.searchsorted(
        ids, np.arange(1, 1 << _BUCKET_BITS, dtype=np.uint64) << np.uint64(64 - _BUCKET_BITS)
    )
    starts = np.concatenate([[0], edges]).astype(np.int64)
    ends = np.concatenate([edges, [len(ids)]]).astype(np.int64)
    buckets = [k for k in range(1 << _BUCKET_BITS) if ends[k] > starts[k]]
    if buckets:
        yield _bucket_rows(number, buckets, ids=[ids[starts[k] : ends[k]].tobytes() for k in buckets])


def _bucket_rows(
    number: int, buckets: list[int], ids: list[bytes] | None = None, aside: list[Any] | None = None
) -> pa.RecordBatch:
    """Part ``number``'s rows of ``buckets``: its post-id hashes in each, or its rows set aside."""
    n = len(buckets)
    return pa.RecordBatch.from_arrays(
        [
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.binary()),
            pa.nulls(n, pa.bool_()),
            pa.array(buckets, pa.int32()),
            pa.nulls(n, pa.binary()) if ids is None else pa.array(ids, pa.binary()),
            pa.nulls(n, pa.binary()) if aside is None else pa.array(aside, pa.binary()),
            pa.array([number] * n, pa.int32()),
        ],
        schema=_ROWS,
    )


def _one_row(header: str, body: bytes | None, ids_kept: bool | None, number: int) -> pa.RecordBatch:
    """Part ``number``'s states row, in the bucket of its own."""
    return pa.RecordBatch.from_pydict(
        {
            "header": [header],
            "body": [body],
            "ids_kept": [ids_kept],
            "bucket": [-1 - number],
            "ids": [None],
            "aside": [None],
            "part": [number],
        },
        schema=_ROWS,
    )


def _checked(
    batches: Iterator[pa.RecordBatch], resolve: Callable[[list[bytes]], _wire.Part] | None = None
) -> Iterator[pa.RecordBatch]:
    """One shuffle partition of the rows (``_ROWS``): the parts' states it got and, by
    ``resolve``, the states of the rows set aside it got (every part's rows of their posts:
    their bucket is wholly here) merged into one row; then the post-id hashes that more than
    one part holds among its buckets (a bucket is wholly in one partition, so every one is
    found)."""
    states: list[pa.RecordBatch] = []
    runs: list[np.ndarray] = []
    aside: list[bytes] = []
    for batch in batches:
        own = batch.filter(batch.column("header").is_valid())
        if own.num_rows:
            states.append(own.select(["header", "body", "ids_kept"]))
        aside += [b for b in batch.column("aside").to_pylist() if b is not None]
        runs += _runs([batch.column("ids")])
    repeated = 0
    if aside and resolve is not None:
        try:
            part = resolve(aside)
            repeated = part.repeated
            row = None if repeated else {"header": [part.header], "body": [part.body], "ids_kept": [True]}
        except KpiError as e:
            row = {"header": [_failure(e)], "body": [None], "ids_kept": [None]}
        if row is not None:
            states.append(pa.RecordBatch.from_pydict(row, schema=states[0].schema if states else _STATES))
    if states:
        yield _merged(pa.Table.from_batches(states))
    if runs or repeated:
        shared = [_wire.shared_ids(runs).astype("<u8").tobytes()]
        yield _checked_rows([None], [None], [None], shared=shared, repeated=[repeated])


# The columns of a states row that the check partitions merge.
_STATES = pa.schema([("header", pa.string()), ("body", pa.binary()), ("ids_kept", pa.bool_())])


def _resolver(
    session: SparkSession, small: dict[str, Any], options: dict[str, Any]
) -> Callable[[list[bytes]], _wire.Part]:
    """What resolves rows set aside where they meet (a check partition): their states, made
    beside the small tables shipped once to the executors (see ``_wire.aside_states``)."""
    shipped = _broadcast(session, small)

    def resolve(rows: list[bytes]) -> _wire.Part:
        return _wire.aside_states(rows, _landed(shipped), options, ids_travel=False)

    return resolve


def _merged(rows: pa.Table) -> pa.RecordBatch:
    """Parts' states rows (header, body, ids_kept) as one ``_CHECKED`` row of their merged
    states; the rows as they came when one of them is a failure (the driver raises it)."""
    headers = rows.column("header").to_pylist()
    if len(headers) == 1 or any("error" in json.loads(h) for h in headers):
        return _checked_rows(headers, rows.column("body").to_pylist(), rows.column("ids_kept").to_pylist())
    parts = [_wire.Part(h, b, None) for h, b in zip(headers, rows.column("body").to_pylist())]
    try:
        merged = _wire.combine(parts, keep_ids=False)
    except KpiError as e:
        return _checked_rows([_failure(e)], [None], [None])
    return _checked_rows([merged.header], [merged.body], [all(rows.column("ids_kept").to_pylist())])


def _checked_rows(
    headers: list[Any],
    bodies: list[Any],
    kept: list[Any],
    shared: list[bytes] | None = None,
    repeated: list[int] | None = None,
) -> pa.RecordBatch:
    n = len(headers)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(headers, pa.string()),
            pa.array(bodies, pa.binary()),
            pa.array(kept, pa.bool_()),
            pa.array(shared, pa.binary()) if shared else pa.nulls(n, pa.binary()),
            pa.array(repeated, pa.int64()) if repeated else pa.nulls(n, pa.int64()),
        ],
        schema=_CHECKED,
    )


def _failure(e: KpiError) -> str:
    """A part's error as the header of its row, its class and code kept."""
    failure = _wire.Failure.of(e)
    return json.dumps({"error": [failure.kind, failure.code, failure.message]})


def _runs(blobs: Iterable[pa.Array]) -> list[np.ndarray]:
    """The post-id hashes of binary arrays of blobs, each blob one part's bucket (sorted), read
    in place."""
    return [np.frombuffer(b.as_buffer(), dtype="<u8") for array in blobs for b in array if b.is_valid]


def _bodies(rows: pa.Table) -> tuple[States, bool]:
    """The states rows' states (without post ids) merged on the driver, and whether every
    part kept its post ids."""
    table = rows.filter(rows.column("header").is_valid())
    headers = table.column("header").to_pylist()
    kept = table.column("ids_kept").to_pylist()
    for header in headers:
        error = json.loads(header).get("error")
        if error is not None:
            raise _wire.Failure(*error).exception()
    bodies = table.column("body").to_pylist()
    parts = [States.from_frame(pl.read_ipc(io.BytesIO(b)), h) for h, b in zip(headers, bodies)]
    states = merge(parts)
    return states, bool(kept) and all(kept)


def _arrow_schema(posts: SparkDataFrame) -> pa.Schema:
    """The Arrow schema of the posts' batches, without running a job."""
    try:
        from pyspark.sql.pandas.types import to_arrow_schema

        zone = posts.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
        schema: pa.Schema = to_arrow_schema(posts.schema, timezone=zone)
        return schema
    except Exception:  # a type this PySpark cannot name in Arrow: ask Spark itself
        return posts.limit(0).toArrow().schema


@contextmanager
def _batches(session: SparkSession) -> Iterator[None]:
    """Spark hands mapInArrow batches of ``_BATCH_ROWS`` rows for the jobs run inside, the
    session's own setting restored after (other code using the session sees it unchanged)."""
    try:
        before = session.conf.get(_BATCH_KEY, None)
        session.conf.set(_BATCH_KEY, str(_BATCH_ROWS))
    except Exception:  # a session that does not let it be changed: its batches, only slower
        yield
        return
    try:
        yield
    finally:
        if before is None:
            session.conf.unset(_BATCH_KEY)
        else:
            session.conf.set(_BATCH_KEY, before)


def _broadcast(session: SparkSession, small: dict[str, Any]) -> Any:
    """The small tables shipped once to every executor (a Spark broadcast variable; captured
    in the task where the session has no SparkContext, as with Spark Connect)."""
    try:
        context = session.sparkContext
    except Exception:  # Spark Connect has no SparkContext
        return {name: _wire.ship(t) for name, t in small.items()}
    return context.broadcast({name: _wire.ship(t) for name, t in small.items()})


def _local(table: Any) -> Any:
    """A small table as the engine takes it: a Spark DataFrame collected to the driver as
    Arrow (in the types the engine reads); anything else as given."""
    if isinstance(table, SparkDataFrame):
        return table.toArrow()
    return table
