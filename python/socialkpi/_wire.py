"""Partial states as they cross processes (Dask tasks, Spark rows): plain Arrow data and JSON
text, never a native object (docs/scale.md).

A part travels as its states' header, the states' frame without the ``post_ids`` rows (Arrow
IPC bytes, small: one row per group and period) and its posts' ``post_id`` hashes (a sorted
``uint64`` array, 8 bytes a post). ``States.frame`` holds every column in every row, so the
post-id rows would take some 300 bytes a post there; apart, they take 8. Parts merge with
:func:`socialkpi.merge` for the states, and their hashes are checked against each other's by the
engine as ``sk.merge`` checks them (the same typed error); a part becomes ``sk.States`` with its
hashes again without passing them through a frame (:func:`states`).
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np
import polars as pl

from socialkpi import _core
from socialkpi._states import States, merge, remembering
from socialkpi._tables import _ArrowStream, _PandasTable, as_table

_HASH = "post_id_hash"


@dataclass(frozen=True)
class Part:
    """A part's states in plain data: ``header`` (JSON, saying no post ids are kept), ``body``
    (Arrow IPC stream of the frame without the post-id rows), ``ids`` (sorted post-id
    hashes, or None when the posts have no ``post_id`` column) and ``shared`` (sorted
    hashes that more than one of the parts merged into it held, or None)."""

    header: str
    body: bytes
    ids: Optional[np.ndarray]  # noqa: UP045 (dataclass fields are evaluated on Python 3.9)
    # the hashes found in more than one of the parts merged into this one (see `combine`)
    shared: Optional[np.ndarray] = None  # noqa: UP045
    # posts that more than one part holds, by their ids, found where rows set aside meet
    # (`aside_states` without dedupe): such a part has no states, only this count, which
    # merges add up for the error
    repeated: int = 0


@dataclass(frozen=True)
class Failure:
    """A typed error raised where a part was made, carried back as plain data."""

    kind: str
    code: str
    message: str

    @classmethod
    def of(cls, error: Exception) -> Failure:
        return cls(type(error).__name__, str(getattr(error, "code", "")), str(error))

    def exception(self) -> Exception:
        from socialkpi import exceptions

        kind = getattr(exceptions, self.kind, None)
        if not (isinstance(kind, type) and issubclass(kind, exceptions.KpiError)):
            kind = exceptions.KpiError
        error = kind(self.message)
        error.code = self.code
        return error


# The arguments of sk.partial that travel to every partition unchanged (the tables do not).
_OPTIONS = (
    "sources",
    "kpis",
    "by",
    "every",
    "tz",
    "dedupe",
    "definitions",
    "max_staleness",
    "week_start",
    "fiscal_year_start",
    "memory_limit",
)


def options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a ``compute``/``partial`` call (its ``locals()``) that each partition's
    ``sk.partial`` takes besides the tables."""
    return {name: arguments[name] for name in _OPTIONS}


def over_time(
    compare: Any, window: Any, targets: Any, options: dict[str, Any], start: Any, end: Any, fill: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``compare``, ``window``, ``targets``, ``start``, ``end`` and ``fill`` of a ``compute``
    call (``options``: its :func:`options`), checked before any partition runs: they apply
    once, to the merged states' ``finalize``. The targets table is read here, once. Gives the
    partitions' options, at the period the engine says their states need (daily for one
    period over a range, as ``sk.compute`` makes it), and the arguments of ``finalize``."""
    from socialkpi import _arguments, _core, _targets
    from socialkpi.formulas import resolve

    _arguments.compare(compare)
    _arguments.text("window", window, 'use "28d", "4w", "wtd", "mtd", "qtd" or "ytd"', optional=True)
    first = _arguments.range_day("start", start)
    last = _arguments.range_day("end", end)
    _arguments.flag("fill", fill)
    _targets.argument(targets)
    if targets is not None:
        targets = _targets.read(targets)
        names, _, _ = resolve(_arguments.kpis(options["kpis"]), options["definitions"])
        _targets.check(
            targets,
            by=_arguments.by(options["by"]),
            every=options["every"],
            window=window,
            asked=_targets.requested(names),
        )
    finalize = {
        "compare": compare,
        "window": window,
        "targets": targets,
        "start": start,
        "end": end,
        "fill": fill,
    }
    every = _core.states_every(options["every"], first, last)
    if every != options["every"]:
        finalize["every"] = options["every"]
    return {**options, "every": every}, finalize


def ipc(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc(out, compression="lz4")
    return out.getvalue()


def ids_travel(keep_ids: bool, parts: int) -> bool:
    """Whether the parts' post ids leave where they were made: when the result keeps them
    (``partial``), or to be checked against each other's. The one part of a ``compute`` was
    checked by its own run."""
    return keep_ids or parts > 1


def pack(states: States, ids_travel: bool = True) -> Part:
    """A part from states (made by ``sk.partial`` where the posts are), with the post ids they
    keep unless not ``ids_travel`` (the last merge of a compute: checked there)."""
    capsule, header = states._native.frame(False)
    ids = states._native.post_ids() if ids_travel else None
    return Part(header, ipc(pl.DataFrame(_ArrowStream(capsule))), None if ids is None else _array(ids))


def body(part: Part) -> States:
    """The part's states without its post ids (what merges and finalizes)."""
    return States.from_frame(pl.read_ipc(io.BytesIO(part.body)), part.header)


def shared_ids(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The post-id hashes (each part's sorted, once each) that more than one part holds,
    sorted, once each: found by the engine, range of values by range."""
    if len(parts) < 2:
        return np.empty(0, dtype=np.uint64)
    return _array(_core.shared_post_ids([_stream(p) for p in parts]))


def united_ids(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The parts' post-id hashes in one sorted list, once each, and those more than one part
    holds."""
    repeats, merged = _core.check_post_ids([_stream(p) for p in parts], True)
    ids = _array(merged)
    if not repeats:  # (the engine counted them: no pass over the hashes here)
        return ids, np.empty(0, dtype=np.uint64)
    again = ids[1:] == ids[:-1]
    return np.unique(ids), np.unique(ids[1:][again])


def _stream(ids: np.ndarray) -> Any:
    """Sorted post-id hashes as an Arrow stream for the engine."""
    return pl.Series(_HASH, np.asarray(ids, dtype=np.uint64)).__arrow_c_stream__()


def _array(capsule: Any) -> np.ndarray:
    """The engine's post-id hashes (one column without nulls: numpy takes its buffer as it is)."""
    return np.asarray(pl.DataFrame(_ArrowStream(capsule))[_HASH].to_numpy(), dtype=np.uint64)


def overlapping(repeated: int) -> Exception:
    from socialkpi.exceptions import InputError

    error = InputError(
        f"{repeated} posts are in more than one of the partitions merged (by post_id); each post must "
        "be in one partition. Remove the repeated rows, or pass dedupe='last' to keep each post's "
        "last row (the partitions or files in order, then their rows)"
    )
    error.code = "overlapping_posts"
    return error


def unsteady() -> Exception:
    """The posts were not the same when read again: the second run (``split``) found
    other posts in more than one part."""
    from socialkpi.exceptions import InputError

    error = InputError(
        "Posts were in more than one partition, and reading the partitions again to "
        "resolve them gave other rows: the frame's partitions are not the same each time they "
        "are read (a shuffle without an order, a source that changes). Persist or checkpoint "
        "the frame, or write it to files, and pass that"
    )
    error.code = "overlapping_posts"
    return error


def combine(parts: Sequence[Part], keep_ids: bool = True) -> Part:
    """Parts merged into one: the states by ``sk.merge``, the post ids united (kept for
    further merges, or dropped by the last merge of a compute), and the hashes that more than
    one part held noted in ``shared``, never an error here: the run sets those posts' rows
    aside and makes their states again (:func:`split`, :func:`aside_states`), which confirms
    them against the ids themselves. States merged over shared posts count those posts more
    than once; a run with ``shared`` hashes does not use them."""
    repeated = sum(p.repeated for p in parts)
    if repeated:
        return Part("", b"", None, None, repeated)
    if len(parts) == 1:
        only = parts[0]
        return Part(only.header, only.body, only.ids if keep_ids else None, only.shared)
    noted = [p.shared for p in parts if p.shared is not None]
    lists = [p.ids for p in parts if p.ids is not None]
    kept: Optional[np.ndarray] = None  # noqa: UP045
    if len(lists) == len(parts):  # (as in sk.merge: not checked when a part has no ids)
        kept, shared = united_ids(lists) if keep_ids else (None, shared_ids(lists))
        noted.append(shared)
    merged = pack(merge([body(p) for p in parts]), ids_travel=False)
    noted = [n for n in noted if len(n)]
    return Part(merged.header, merged.body, kept, np.unique(np.concatenate(noted)) if noted else None)


def states(part: Part) -> States:
    """The part as ``sk.States``, post ids included (to merge with other states or save)."""
    states = body(part)
    if part.ids is None:
        return states
    return States(states._native.with_post_ids(_stream(part.ids)))


def is_paths(posts: Any) -> bool:
    return isinstance(posts, (str, os.PathLike)) or (
        isinstance(posts, (list, tuple))
        and bool(posts)
        and all(isinstance(p, (str, os.PathLike)) for p in posts)
    )


def files(posts: Any) -> list[str]:
    """One path per file of a path, glob, folder or list of them."""
    items = [posts] if isinstance(posts, (str, os.PathLike)) else list(posts)
    found_all: list[str] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found = sorted(glob.glob(os.path.join(text, "*.parquet"))) or sorted(
                glob.glob(os.path.join(text, "*.csv"))
            )
        else:
            found = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        # a pattern that matches nothing goes to the engine, which names it
        found_all.extend(found or [text])
    return found_all


def parquet_scan(files: Sequence[str], columns: Sequence[str]) -> Optional[list[str]]:  # noqa: UP045
    """The files, when a cluster frame that scans them can be read from them by the engine
    instead (one task a file): local files named ``*.parquet``, each holding exactly the
    frame's ``columns`` in their order (not so when the reader was given a schema of its own,
    merged files that differ, or added partition columns from folder names). None otherwise."""
    if not files or any(not f.lower().endswith(".parquet") or not os.path.isfile(f) for f in files):
        return None
    try:
        if any(list(pl.read_parquet_schema(f)) != list(columns) for f in files):
            return None
    except (OSError, pl.exceptions.PolarsError):  # a file the client cannot read: the cluster's to read
        return None
    return list(files)


class Shipped:
    """A small table (a polars DataFrame or a pyarrow Table) on its way to the workers, as
    zstd-compressed Arrow IPC bytes: the benchmark's 1.7 million snapshots are 6 MB so,
    against 140 MB pickled, and every worker (every Spark task) receives them.

    Where it lands, a worker reads the bytes once and keeps the table, and beside an accounts
    table a memo of what the partitions' runs made of it (``memo``): the next partition of
    the run on that worker uses them again rather than loading and adding up the same
    snapshots. Both go with the object, which the worker drops when its run ends; only the
    bytes travel."""

    def __init__(self, kind: str, data: bytes) -> None:
        self.kind = kind
        self.data = data
        self._landed: Any = None
        self._memo: _core._AccountsMemo | None = None

    def __getstate__(self) -> tuple[str, bytes]:
        return (self.kind, self.data)

    def __setstate__(self, state: tuple[str, bytes]) -> None:
        self.__init__(*state)  # type: ignore[misc]

    def table(self) -> Any:
        """The table, read from the bytes the first time."""
        if self._landed is None:
            if self.kind == "polars":
                self._landed = pl.read_ipc(io.BytesIO(self.data))
            else:
                import pyarrow as pa

                self._landed = pa.ipc.open_file(pa.py_buffer(self.data)).read_all()
        return self._landed

    def memo(self) -> _core._AccountsMemo:
        """What the runs beside this table (as accounts) made of it, for the next one."""
        if self._memo is None:
            self._memo = _core._AccountsMemo()
        return self._memo


def ship(table: Any) -> Any:
    """The table as :class:`Shipped` when it is a polars or pyarrow table whose types Arrow IPC
    carries; anything else (pandas, paths) as given."""
    try:
        if isinstance(table, pl.DataFrame):
            out = io.BytesIO()
            table.write_ipc(out, compression="zstd")
            return Shipped("polars", out.getvalue())
        if type(table).__module__.startswith("pyarrow") and type(table).__name__ == "Table":
            import pyarrow as pa

            sink = pa.BufferOutputStream()
            options = pa.ipc.IpcWriteOptions(compression="zstd")
            with pa.ipc.new_file(sink, table.schema, options=options) as writer:
                writer.write_table(table)
            return Shipped("arrow", sink.getvalue().to_pybytes())
    except Exception:  # a type IPC does not carry (a polars Object column): as given
        return table
    return table


def landed(small: dict[str, Any]) -> dict[str, Any]:
    """The small tables where a task runs, as the engine takes them."""
    return {name: t.table() if isinstance(t, Shipped) else t for name, t in small.items()}


def part_states(
    posts: Any, small: dict[str, Any], options: dict[str, Any], ids_travel: bool, whole_tables: bool = True
) -> States:
    """One partition's (or file's) states where it runs, beside the small tables as they were
    shipped (``small``): a shipped accounts table brings its memo (see :class:`Shipped`). The
    states keep their post ids only when they travel (see :func:`ids_travel`). Only the part
    given ``whole_tables`` states the small tables (their rows, blocks and fingerprints): the
    others read them only as far as their posts need, so a run of many partitions groups
    each small table once, not once a partition."""
    accounts = small.get("accounts")
    memo = accounts.memo() if isinstance(accounts, Shipped) else None
    return remembering(
        memo, ids_travel, posts_only=not whole_tables, posts=posts, **landed(small), **options, progress=None
    )


# The columns a set-aside row carries beside the posts' own: the part it came from and its
# row there, the order in which dedupe="last" takes "last".
_PART = "__socialkpi_part"
_ROW = "__socialkpi_row"
_GROUP = "__socialkpi_group"
# The top bits of a post-id hash that name its bucket: the unit in which hashes are checked
# on Spark and rows set aside are grouped.
BUCKET_BITS = 6


def frame_of(posts: Any, columns: Optional[list[str]] = None) -> pl.DataFrame:  # noqa: UP045
    """A part's posts as a polars frame with the columns and values the engine reads: a file
    read as the engine reads it (a CSV file's types inferred from its first 10,000 rows, dates
    parsed; only ``columns``, when given), a pandas or pyarrow table converted as the engine
    converts it."""
    if isinstance(posts, (str, os.PathLike)):
        path = os.fspath(posts)
        lower = path.lower()
        if lower.endswith((".csv", ".tsv", ".txt")):
            separator = "\t" if lower.endswith(".tsv") else ","
            return pl.read_csv(
                path, columns=columns, separator=separator, try_parse_dates=True, infer_schema_length=10_000
            )
        return pl.read_parquet(path, columns=columns)
    if isinstance(posts, pl.DataFrame):
        return posts
    table = as_table(posts, "posts")
    if isinstance(table, _PandasTable):  # converted to polars as the engine reads it
        return table.frame
    return cast(pl.DataFrame, pl.from_arrow(posts, rechunk=False))


def split(
    posts: Any,
    small: dict[str, Any],
    options: dict[str, Any],
    shared: np.ndarray,
    number: int,
    ids_travel: bool,
    whole_tables: bool,
    groups: int = 1,
) -> tuple[Part, list[Optional[bytes]]]:  # noqa: UP045
    """Part ``number`` made again with the rows of the posts whose ``post_id`` hash is in
    ``shared`` set aside: the states of its other rows (as :func:`part_states` makes them),
    and the rows set aside (Arrow IPC, with their part and row number) in ``groups`` groups by
    their hash's top bits (None for a group without rows), so that a post's rows from every
    part meet in one group, and the groups can be resolved apart."""
    frame = frame_of(posts)
    del posts
    frame, aside = _set_aside(frame, shared, number, groups)
    return pack(part_states(frame, small, options, ids_travel, whole_tables), ids_travel), aside


def aside_ids(posts: Any, shared: np.ndarray, number: int, groups: int) -> list[Optional[bytes]]:  # noqa: UP045
    """The ``post_id`` of part ``number``'s posts whose hash is in ``shared``, set aside as
    :func:`split` sets their rows aside, without making states: enough to count the posts
    more than one part holds (:func:`repeated`) before a run without dedupe makes any."""
    if isinstance(posts, (str, os.PathLike)):
        frame = frame_of(posts, columns=["post_id"])
    else:
        frame = frame_of(posts).select("post_id")
    return _set_aside(frame, shared, number, groups)[1]


def repeated(rows: Sequence[Optional[bytes]]) -> int:  # noqa: UP045
    """How many posts of one group of ids set aside (:func:`aside_ids`, every part's) more
    than one part holds, by the ids themselves."""
    found = [pl.read_ipc(io.BytesIO(r)) for r in rows if r is not None]
    if not found:
        return 0
    return _repeats(pl.concat(found, how="diagonal_relaxed").get_column("post_id"))


def _repeats(ids: pl.Series) -> int:
    """How many ids are there more than once (as text, as the engine compares them)."""
    text = ids.cast(pl.String)
    return text.filter(text.is_duplicated()).n_unique()


def _set_aside(
    frame: pl.DataFrame, shared: np.ndarray, number: int, groups: int
) -> tuple[pl.DataFrame, list[Optional[bytes]]]:  # noqa: UP045
    """The frame's rows whose ``post_id`` hash is in ``shared`` apart from the others: the
    others, and those (with part ``number`` and their row number, Arrow IPC) in ``groups``
    groups by their hash's top bits, None for a group without rows."""
    aside: list[Optional[bytes]] = [None] * groups  # noqa: UP045
    if "post_id" not in frame.columns or not len(shared):
        return frame, aside
    hashes = _hashes(frame.get_column("post_id"))
    mask = _among(hashes, shared)
    if not mask.any():
        return frame, aside
    group = pl.Series(_GROUP, (hashes.fill_null(0).to_numpy() >> np.uint64(64 - BUCKET_BITS)) % groups)
    rows = frame.with_row_index(_ROW).with_columns(group).filter(mask)
    rows = rows.with_columns(pl.lit(number, pl.Int64).alias(_PART))
    for (g,), rows_g in rows.partition_by(_GROUP, as_dict=True).items():
        aside[int(g)] = ipc(rows_g.drop(_GROUP))
    return frame.filter(~mask), aside


def holders(ids: Sequence[tuple[int, Optional[np.ndarray]]], shared: np.ndarray) -> set[int]:  # noqa: UP045
    """Of parts' post-id hashes (part number, hashes; a part may come more than once), the
    parts holding one of ``shared`` (a part without hashes may)."""
    found = {number for number, hashes in ids if hashes is None}
    given = [(number, hashes) for number, hashes in ids if hashes is not None]
    if given:
        owners = np.repeat([number for number, _ in given], [len(hashes) for _, hashes in given])
        hits = _among(pl.Series(np.concatenate([hashes for _, hashes in given]), dtype=pl.UInt64), shared)
        found.update(int(number) for number in np.unique(owners[hits.to_numpy()]))
    return found


def _among(hashes: pl.Series, shared: np.ndarray) -> pl.Series:
    """Whether each hash is one of ``shared`` (false for a null): polars' hash lookup, some
    15 times as fast as a binary search of a million shared hashes for each of 5 million."""
    return hashes.is_in(pl.Series(shared, dtype=pl.UInt64).implode()).fill_null(False)


def _hashes(ids: pl.Series) -> pl.Series:
    """Each id's hash as states keep it (null for a null id)."""
    return pl.DataFrame(_ArrowStream(_core.post_id_hashes(ids.__arrow_c_stream__())))[_HASH]


def aside_states(
    rows: Sequence[bytes], small: dict[str, Any], options: dict[str, Any], ids_travel: bool
) -> Part:
    """The states of the rows the parts set aside (:func:`split`; one group's or more, every
    part's rows of a post among them), in their parts' order and then their own, as one
    machine reads them: ``dedupe="last"`` keeps each post's last row,
    and without it the run counted the posts in more than one part on their ids before
    (:func:`repeated`), so that here a hash two different ids share is two posts. Should an id
    be here twice all the same (a frame whose rows were other ones when read for the count),
    the part made has no states but the count of such posts (``Part.repeated``), for the
    error ``overlapping_posts`` once every group is counted."""
    frames = [pl.read_ipc(io.BytesIO(r)) for r in rows]
    frame = pl.concat(frames, how="diagonal_relaxed").sort(_PART, _ROW).drop(_PART, _ROW)
    repeated = _repeats(frame.get_column("post_id")) if options["dedupe"] is None else 0
    if repeated:
        return Part("", b"", None, None, repeated)
    return pack(part_states(frame, small, options, ids_travel, whole_tables=False), ids_travel)
