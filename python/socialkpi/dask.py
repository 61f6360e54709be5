"""socialkpi on Dask: each partition of the posts becomes partial states through the same
engine as :func:`socialkpi.compute`, the states merge in a tree, and the merged states are
finalized once (docs/scale.md).

>>> from socialkpi import dask as skd
>>> out = skd.compute(posts_ddf, accounts, kpis="engagement", by=["platform"], every="1mo")

Needs ``pip install 'socialkpi[dask]'``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

try:
    import dask.dataframe as dd
    from dask.base import compute as _dask_compute
    from dask.base import get_scheduler as _get_scheduler
    from dask.base import persist as _dask_persist
    from dask.delayed import delayed as _delayed
except ImportError as e:  # pragma: no cover - the extra is not installed
    raise ImportError("socialkpi.dask needs Dask: pip install 'socialkpi[dask]'") from e

from socialkpi import _arguments, _wire
from socialkpi._states import States
from socialkpi._states import partial as _partial
from socialkpi._tables import ColumnsRead
from socialkpi.exceptions import invalid_argument
from socialkpi.formulas import KPI, Definitions

__all__ = ["compute", "partial"]


def compute(
    posts: Any,
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
    output: Literal["polars", "pandas"] = "polars",
    definitions: str | os.PathLike[str] | Definitions | None = None,
    max_staleness: int | None = 7,
    split_every: int = 8,
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
    """:func:`socialkpi.compute` over posts spread across a Dask cluster: the same arguments
    and the same result, cell for cell.

    Parameters
    ----------
    posts
        A Dask DataFrame of posts (one task per partition; only the columns the request reads
        are read), or a path, glob or list of Parquet / CSV files (one task per file, read by
        the engine on the worker; the files must be readable there). A frame that is nothing
        but ``dd.read_parquet`` of local files (no filter, ``filters=``, ``columns=``,
        ``index=``, selection of partitions or partition folders) is read from its files so.
    accounts, contracts, traffic, conversions
        The small tables, whole: polars, pandas or pyarrow frames, paths (readable on the
        workers), or Dask DataFrames (computed first). Each is sent once to the workers and
        passed whole beside every partition; the states count it once.
    split_every
        How many partitions' states one task of the tree reduction merges (at least 2).
        Runs on the Dask scheduler in use (a ``distributed.Client`` if one is active).
    compare, window, targets
        As for :func:`socialkpi.compute`: applied once, when the merged states are finalized.
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
        the errors of :func:`socialkpi.compute`, raised where they happen.
    """
    _arguments.output(output)
    options = _wire.options(locals())
    options, over_time = _wire.over_time(compare, window, targets, options, start, end, fill)
    merged = _run(posts, accounts, contracts, traffic, conversions, split_every, options, keep_ids=False)
    return _wire.body(merged).finalize(output=output, **over_time)


def partial(
    posts: Any,
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
    split_every: int = 8,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> States:
    """:func:`socialkpi.partial` over posts spread across a Dask cluster: the merged states of
    all partitions, post ids included (to finalize, merge with other states or save). The
    arguments are :func:`compute`'s, but ``output``."""
    options = _wire.options(locals())
    merged = _run(posts, accounts, contracts, traffic, conversions, split_every, options, keep_ids=True)
    return _wire.states(merged)


def _part(
    posts: Any, small: dict[str, Any], options: dict[str, Any], ids_travel: bool, whole_tables: bool
) -> _wire.Part:
    """One partition's (or file's) states, where the partition is; the first part's hold the
    small tables' states as well (see ``_wire.part_states``)."""
    return _wire.pack(_wire.part_states(posts, small, options, ids_travel, whole_tables))


def _run(
    posts: Any,
    accounts: Any,
    contracts: Any,
    traffic: Any,
    conversions: Any,
    split_every: int,
    options: dict[str, Any],
    keep_ids: bool,
) -> _wire.Part:
    _arguments.at_least(2, split_every=split_every)
    small = {
        "accounts": _local(accounts),
        "contracts": _local(contracts),
        "traffic": _local(traffic),
        "conversions": _local(conversions),
    }
    scanned = _scanned_files(posts) if isinstance(posts, dd.DataFrame) else None
    if scanned is not None:
        # a plain read of Parquet files: the engine reads them on the workers, one task a file,
        # rather than Dask reading them to pandas first
        posts = scanned
    if isinstance(posts, dd.DataFrame):
        # the arguments and the small tables checked here, on an empty partition, so that a
        # mistake is raised at once rather than from every worker; it also names the columns
        # the request reads: only those are read and converted for the engine
        read = ColumnsRead(posts._meta, "posts")
        _partial(read, **small, **options)
        if read.read:
            posts = posts[read.read]
        pieces: list[Any] = list(posts.to_delayed())
    elif _wire.is_paths(posts):
        pieces = _wire.files(posts)
    else:
        raise invalid_argument(
            f"posts= got a {type(posts).__name__}; pass a Dask DataFrame or a path, glob or list of "
            "Parquet / CSV files (for a local frame, use socialkpi.compute)",
        )
    shipped = {name: None if t is None else _broadcast(_wire.ship(t)) for name, t in small.items()}
    ids_travel = _wire.ids_travel(keep_ids, len(pieces))
    parts = [_delayed(_part)(piece, shipped, options, ids_travel, i == 0) for i, piece in enumerate(pieces)]
    kept = options["dedupe"] == "last" and len(parts) > 1
    if kept:
        # re-synced exports put posts in more than one part: the parts are kept where they
        # ran (states and post ids), so that a second run remakes only those holding such posts
        parts = list(_dask_persist(*parts))  # type: ignore[no-untyped-call]
    (merged,) = _dask_compute(_merged(parts, split_every, keep_ids))  # type: ignore[no-untyped-call]
    if merged.shared is None or not len(merged.shared):
        result: _wire.Part = merged
        return result
    # posts in more than one part: the parts holding them run again with those posts' rows
    # set aside, and each post's rows meet in one task, as one machine reads them (docs/scale.md)
    shared = _broadcast(merged.shared)
    if options["dedupe"] is None:
        # then such a post is an error: counted on the ids alone first, so that it is raised
        # without any states made again (a hash two different ids share goes on)
        repeated = _repeated(pieces, shared)
        if repeated:
            raise _wire.overlapping(repeated)
    holding = [True] * len(parts)
    if kept:
        holding = _dask_compute(*[_delayed(_holds)(p, shared) for p in parts])  # type: ignore[no-untyped-call]
    # the rows set aside in groups by hash, each group's rows of every part meeting in a task
    groups = max(1, min(sum(holding), 1 << _wire.BUCKET_BITS))
    again = {
        i: _delayed(_wire.split, nout=2)(pieces[i], shipped, options, shared, i, ids_travel, i == 0, groups)
        for i, holds in enumerate(holding)
        if holds
    }
    asides = [
        _delayed(_aside)([rows[g] for _, rows in again.values()], shipped, options, ids_travel)
        for g in range(groups)
    ]
    remade = [again[i][0] if i in again else part for i, part in enumerate(parts)]
    (merged,) = _dask_compute(_merged([*remade, *asides], split_every, keep_ids))  # type: ignore[no-untyped-call]
    if merged.repeated:
        raise _wire.overlapping(merged.repeated)
    if merged.shared is not None and len(merged.shared):
        raise _wire.unsteady()
    return cast(_wire.Part, merged)


def _repeated(pieces: list[Any], shared: Any) -> int:
    """How many posts more than one piece holds, by their ids, of those whose hash is in
    ``shared``: each piece sets their ids aside (``_wire.aside_ids``, reading ``post_id``
    only), and each group of them by hash is counted in a task."""
    groups = max(1, min(len(pieces), 1 << _wire.BUCKET_BITS))
    found = [_delayed(_wire.aside_ids)(piece, shared, i, groups) for i, piece in enumerate(pieces)]
    counts = [_delayed(_wire.repeated)([ids[g] for ids in found]) for g in range(groups)]
    return sum(_dask_compute(*counts))  # type: ignore[no-untyped-call]


def _merged(parts: list[Any], split_every: int, keep_ids: bool) -> Any:
    """The parts merged in a tree of tasks of ``split_every`` parts each (delayed)."""
    while len(parts) > 1:
        # the last merge of a compute leaves the post ids with the workers
        keep = keep_ids or len(parts) > split_every
        parts = [
            _delayed(_combine)(parts[i : i + split_every], keep) for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _combine(parts: list[_wire.Part | None], keep_ids: bool) -> _wire.Part | None:
    """``_wire.combine`` of the parts there are (a group of rows set aside may have none)."""
    found = [p for p in parts if p is not None]
    return _wire.combine(found, keep_ids) if found else None


def _holds(part: _wire.Part, shared: Any) -> bool:
    return bool(_wire.holders([(0, part.ids)], shared))


def _aside(
    rows: list[bytes | None], small: dict[str, Any], options: dict[str, Any], ids_travel: bool
) -> _wire.Part | None:
    """The states of one group of the rows the parts set aside, where they meet (see
    ``_wire.aside_states``); None for a group without rows."""
    found = [r for r in rows if r is not None]
    return _wire.aside_states(found, small, options, ids_travel) if found else None


def _scanned_files(frame: dd.DataFrame) -> list[str] | None:
    """The local files of a frame that is nothing but ``dd.read_parquet`` of them (no filter,
    selection of partitions, index or columns of its own; see ``_wire.parquet_scan``); None
    for any other frame."""
    expr: Any = frame.expr
    name = type(expr).__name__
    try:
        if name not in ("ReadParquetFSSpec", "ReadParquetPyarrowFS") or any(
            expr.operand(o) is not None for o in ("filters", "_partitions", "index")
        ):
            return None
        if name == "ReadParquetFSSpec":
            info = expr._dataset_info
            if "file" not in info["fs"].protocol or info["partition_names"]:
                return None
            files = list(info["ds"].files)
        else:
            if type(expr.fs).__name__ != "LocalFileSystem":
                return None
            files = [f.path for f in expr._dataset_info["all_files"]]
    except Exception:  # a Dask whose reader keeps its files otherwise: read as a frame
        return None
    return _wire.parquet_scan(sorted(files), list(frame.columns))


def _broadcast(table: Any) -> Any:
    """The table sent once to every worker when the run goes to a ``distributed`` client
    (else one key of the graph), so that the tasks share it rather than each carrying a copy."""
    client: Any
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    scheduler = _get_scheduler()  # type: ignore[no-untyped-call]
    if client is None or getattr(scheduler, "__self__", None) is not client:
        return _delayed(table, traverse=False)
    return cast(Any, client).scatter(table, broadcast=True, hash=False)


def _local(table: Any) -> Any:
    """A small table as the engine takes it (a Dask DataFrame is computed to pandas)."""
    if isinstance(table, dd.DataFrame):
        return table.compute()  # type: ignore[no-untyped-call]
    return table
