"""Partial states: a KPI computation's aggregates, kept so that they merge, roll up, refresh
and finalize exactly (docs/states.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import polars as pl

from socialkpi import _arguments, _core, _over_time, _targets
from socialkpi._progress import progress_for
from socialkpi._result import KpiResult, result_of
from socialkpi._tables import _ArrowStream
from socialkpi.exceptions import QueryError, error, invalid_argument
from socialkpi.formulas import KPI, Definitions

_UNCHANGED: Any = object()


class States:
    """The partial states of KPIs: what :func:`compute` aggregates from each table, per group
    and period, before the KPI formulas.

    Made by :func:`partial`. States of disjoint inputs :func:`merge` into the states of all
    of them; :meth:`finalize` gives the KPIs (``sk.compute(...)`` equals
    ``sk.partial(...).finalize()``), at the states' grain or any coarser one; :meth:`update`
    refreshes periods with newer states; :meth:`save` and :meth:`load` keep them in one
    Parquet file. States are immutable: every operation returns new states.
    """

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        if not isinstance(native, _core._States):
            raise invalid_argument(
                "States are made by sk.partial(...), sk.merge(...) or sk.States.load(path)"
            )
        self._native = native

    @property
    def spec(self) -> dict[str, Any]:
        """The request the states were made for: ``kpis``, ``by``, ``every``, ``tz``,
        ``dedupe``, ``sources``, ``definitions``, ``engagement``, ``max_staleness``, the
        columns of each table given (``tables``), ``week_start`` and ``fiscal_year_start``."""
        spec: dict[str, Any] = json.loads(self._native.spec())
        return spec

    @property
    def frame(self) -> pl.DataFrame:
        """The states as one polars DataFrame in the documented schema (docs/states.md): a
        ``state_block`` column names each row's block (``posts``, ``accounts``, ``snapshots``,
        ``contracts``, ``traffic``, ``conversions``, ``post_ids``, ``coverage``)."""
        capsule, _ = self._native.frame()
        return pl.DataFrame(_ArrowStream(capsule))

    @property
    def header(self) -> str:
        """The JSON header that says what :attr:`frame`'s blocks hold (the file's key-value
        metadata ``socialkpi.states``); with :attr:`frame`, what :meth:`from_frame` takes."""
        _, header = self._native.frame()
        text: str = header
        return text

    @classmethod
    def from_frame(cls, frame: Any, header: str) -> States:
        """States from their :attr:`frame` and :attr:`header`: for moving states between
        processes as Arrow (Spark, Dask, a database table).

        Raises
        ------
        InputError
            ``not_a_states_file`` when they do not read as states, ``states_version`` for
            states of another schema version.
        """
        from socialkpi._tables import as_table

        if not isinstance(header, str):
            raise invalid_argument("header must be the text of States.header")
        table = as_table(frame, "states")
        if table is None:
            raise invalid_argument("from_frame needs the states' frame")
        return cls(_core._States.from_frame(table, header))

    def finalize(
        self,
        kpis: str | KPI | Iterable[str | KPI] | None = None,
        by: str | Sequence[str] | None = None,
        every: str | None = _UNCHANGED,
        output: Literal["polars", "pandas"] = "polars",
        compare: str | Sequence[str] | None = None,
        window: str | None = None,
        targets: Any = None,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        fill: bool = False,
        week_start: str | None = None,
        fiscal_year_start: int | str | None = None,
    ) -> Any:
        """The KPIs from the states, as :func:`compute` returns them.

        Parameters
        ----------
        kpis
            Any of the KPIs the states were made for (default: all of them).
        by
            Any subset of the states' ``by`` (default: the states' ``by``).
        every
            The states' period or one it rolls up into exactly: ``"1d"`` into ``"1w"``,
            ``"1mo"``, ``"1q"``, ``"1y"``; ``"1mo"`` into ``"1q"``, ``"1y"``; ``"1q"`` into
            ``"1y"``; any period into ``None`` (the whole range). Default: the states' period.
        output
            ``"polars"`` (default) or ``"pandas"``.
        compare
            As for :func:`compute`: each period beside the previous one or the one a year
            before, from their states.
        window
            As for :func:`compute`: each period over the window ending on its last day, from
            the states of the window's periods.
        targets
            As for :func:`compute`: ``<kpi>_target`` and ``<kpi>_attainment`` from a table of
            targets, matched to the finalized report's groups and periods.
        start, end, fill
            As for :func:`compute`. With ``every=None``, the range is one period made from
            the states' periods: any days from daily states, whole periods from coarser ones.
        week_start, fiscal_year_start
            As for :func:`compute`; default: the states' own. Daily states finalize in any
            calendar, monthly states into any quarters and years; weekly states need their
            own ``week_start``, yearly states their own ``fiscal_year_start``, quarterly
            states one 0, 3, 6 or 9 months from theirs.

        Raises
        ------
        QueryError
            Code ``not_in_states`` for a KPI, dimension, period or calendar the states cannot
            give.
        """
        return self.finalize_details(
            kpis,
            by,
            every,
            output,
            compare,
            window,
            targets,
            start=start,
            end=end,
            fill=fill,
            week_start=week_start,
            fiscal_year_start=fiscal_year_start,
        ).frame

    def finalize_details(
        self,
        kpis: str | KPI | Iterable[str | KPI] | None = None,
        by: str | Sequence[str] | None = None,
        every: str | None = _UNCHANGED,
        output: Literal["polars", "pandas"] = "polars",
        compare: str | Sequence[str] | None = None,
        window: str | None = None,
        targets: Any = None,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        fill: bool = False,
        week_start: str | None = None,
        fiscal_year_start: int | str | None = None,
    ) -> KpiResult:
        """:meth:`finalize` with definitions and row accounting, like :func:`compute_details`
        (the rows read and dropped are those of the runs that made the states)."""
        names = None if kpis is None else _kpi_names(kpis, self.spec["definitions"])
        dims = None if by is None else _arguments.by(by)
        given = every is not _UNCHANGED
        if given:
            _arguments.text("every", every, 'use None, "1d", "1w", "1mo", "1q" or "1y"', optional=True)
        _arguments.output(output)
        compared = _arguments.compare(compare)
        _arguments.text("window", window, 'use "28d", "4w", "wtd", "mtd", "qtd" or "ytd"', optional=True)
        _targets.argument(targets)
        week, month = _arguments.calendar(week_start, fiscal_year_start)
        capsule, details = self._native.finalize(
            names,
            dims,
            every if given else None,
            given,
            compared,
            window,
            start=_arguments.range_day("start", start),
            end=_arguments.range_day("end", end),
            fill=_arguments.flag("fill", fill),
            week_start=week,
            fiscal_year_start=month,
        )
        spec = self.spec
        custom = [tuple(d) for d in spec["definitions"]]
        details = _over_time.described(
            details, every=every if given else spec["every"], compare=compared, window=window, targets=targets
        )
        if targets is None:
            return result_of(capsule, details, custom, {}, output)
        result = _targets.apply(
            result_of(capsule, details, custom, {}, "polars"),
            targets,
            by=spec["by"] if dims is None else dims,
            every=every if given else spec["every"],
            window=window,
            asked=_targets.requested(spec["kpis"] if names is None else names),
        )
        return _targets.as_output(result, output)

    def update(self, newer: States) -> States:
        """These states with ``newer`` (made for the same request) in place of every period
        that ``newer`` covers: the periods in which it has posts (or, without posts, any rows).

        For the way exports are refreshed: lifetime post metrics re-synced for the last weeks
        replace those weeks, and the rest stays. Periods are the states' own (``every``): with
        daily states, a refresh replaces whole days; with ``every=None``, everything.
        """
        if not isinstance(newer, States):
            raise invalid_argument("update takes States (from sk.partial)")
        return States(self._native.update(newer._native))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the states to one Parquet file (replaced only once the new one is whole)."""
        self._native.save(_path(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> States:
        """Reads states that :meth:`save` wrote.

        Raises
        ------
        InputError
            ``not_a_states_file`` for any other file, ``states_version`` for states of another
            schema version, ``unreadable_file`` when the file cannot be opened.
        """
        return cls(_core._States.load(_path(path)))

    def __repr__(self) -> str:
        spec = self.spec
        blocks, ids = self._native.sizes()
        parts = ", ".join(f"{name} {rows:,} rows" for name, rows in blocks)
        kept = "no post ids" if ids is None else f"{ids:,} post ids"
        return f"States(kpis={spec['kpis']}, by={spec['by']}, every={spec['every']!r}, tz={spec['tz']!r}; {parts}; {kept})"


def _kpi_names(kpis: str | KPI | Iterable[str | KPI], definitions: Sequence[Sequence[str]]) -> list[str]:
    """KPI names. A KPI object stands for its name when the states were made for that very
    formula (`definitions`: the states' own, name and formula first); another formula under
    the name is a ``QueryError``, code ``not_in_states``: the states hold what their formula
    needs, and finalizing cannot change a definition."""
    value = _arguments.kpis(kpis)
    items = [value] if isinstance(value, (str, KPI)) else list(value)
    made = {d[0]: d[1] for d in definitions}
    for k in items:
        if isinstance(k, KPI) and made.get(k.name) != k.formula:
            was = f"as {made[k.name]!r}" if k.name in made else "as the built-in, or not at all"
            raise error(
                QueryError,
                "not_in_states",
                f"KPI {k.name!r} ({k.formula!r}) is not in these states: they were made with {k.name!r} "
                f"{was}; pass its name to finalize what the states hold, or make states with this KPI",
            )
    return [k.name if isinstance(k, KPI) else str(k) for k in items]


def partial(
    posts: Any = None,
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
    progress: bool | None = None,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> States:
    """The partial states of a KPI computation, to merge, roll up, refresh, keep and finalize.

    Takes the arguments of :func:`compute` (but ``output``), ``progress``, ``memory_limit``,
    ``week_start`` and ``fiscal_year_start`` among them (the states record the calendar);
    ``sk.compute(...)`` equals
    ``sk.partial(...).finalize()``. Beside the states, it keeps a 64-bit hash of each post's
    ``post_id`` (8 bytes a post), so that merging states that share a post is an error, and a
    fingerprint of each table other than posts, so that a table passed whole beside each part
    of the posts is counted once.
    """
    return remembering(
        None, True, posts=posts, accounts=accounts, contracts=contracts, traffic=traffic,
        conversions=conversions, sources=sources, kpis=kpis, by=by, every=every, tz=tz,
        dedupe=dedupe, definitions=definitions, max_staleness=max_staleness, progress=progress,
        week_start=week_start, fiscal_year_start=fiscal_year_start, memory_limit=memory_limit,
    )  # fmt: skip


def remembering(
    memo: _core._AccountsMemo | None, keep_ids: bool, posts_only: bool = False, **arguments: Any
) -> States:
    """:func:`partial` of ``arguments``, with ``memo`` (when given) keeping what the run makes
    of the accounts table for the next run of the same request beside that same table: the
    partitions of a cluster run, each with the whole table (see ``_wire.Shipped``). Without
    ``keep_ids`` the states keep no post ids: for the only part of a cluster ``compute``,
    finalized alone, whose run checked its posts for repeats. With ``posts_only`` the states
    hold the posts' states alone, the tables passed whole being read only as far as the posts
    need them: for the parts of a cluster run but the one that states those tables."""
    from socialkpi import _engine_arguments, _table_arguments

    a = arguments
    engine, _ = _engine_arguments(
        a["kpis"], a["by"], a["every"], a["tz"], a["dedupe"], a["sources"], "polars",
        a["definitions"], a["max_staleness"],
    )  # fmt: skip
    tables = {name: a[name] for name in ("posts", "accounts", "contracts", "traffic", "conversions")}
    week, month = _arguments.calendar(a["week_start"], a["fiscal_year_start"])
    limit = _arguments.memory_limit(a["memory_limit"])
    bar = progress_for(a["progress"])
    try:
        return States(
            _core.partial(
                **engine,
                **_table_arguments(tables),
                progress=bar,
                week_start=week,
                fiscal_year_start=month,
                memory_limit=limit,
                accounts_memo=memo,
                keep_post_ids=keep_ids,
                posts_only=posts_only,
            )
        )
    finally:
        if bar is not None:
            bar.close()


def _path(path: Any) -> str:
    """A file path as text; anything else is an ``ArgumentError``."""
    if not isinstance(path, (str, os.PathLike)):
        raise invalid_argument(f"a states file is a path (str or os.PathLike), not {type(path).__name__}")
    return os.fspath(path)


def merge(states: Iterable[States]) -> States:
    """States of disjoint inputs (files, months, partitions, workers) combined, as if their
    inputs had been one table each.

    Associative and commutative. Raises ``QueryError`` (code ``states_mismatch``) when the
    states were made for different requests, naming the part that differs, and
    ``InputError`` (code ``overlapping_posts``) when a post is in more than one of them.
    """
    if isinstance(states, States):
        parts: list[Any] = [states]
    elif isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
        parts = []
    else:
        parts = list(states)
    if not parts or not all(isinstance(s, States) for s in parts):
        raise invalid_argument("merge takes a non-empty list of States (from sk.partial)")
    return States(_core._States.merge([s._native for s in parts]))
