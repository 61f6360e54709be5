"""socialkpi: exact, fast social-media and influencer KPIs over large multi-account tables.

>>> import polars as pl
>>> import socialkpi as sk
>>> posts = pl.DataFrame({
...     "post_id": ["a", "b", "c"],
...     "account_id": ["acme", "acme", "zen"],
...     "published_at": ["2026-01-05 10:00", "2026-01-20 18:30", "2026-02-01 09:00"],
...     "reach": [1000, 0, 500],
...     "likes": [50, 3, 20],
...     "comments": [5, None, 0],
... }).with_columns(pl.col("published_at").str.to_datetime())
>>> sk.compute(posts, kpis=["posts", "engagements", "engagement_rate"], by=["account_id"])
shape: (2, 4)
┌────────────┬───────┬─────────────┬─────────────────┐
│ account_id ┆ posts ┆ engagements ┆ engagement_rate │
│ ---        ┆ ---   ┆ ---         ┆ ---             │
│ str        ┆ i64   ┆ i64         ┆ f64             │
╞════════════╪═══════╪═════════════╪═════════════════╡
│ acme       ┆ 2     ┆ 58          ┆ 0.058           │
│ zen        ┆ 1     ┆ 20          ┆ 0.04            │
└────────────┴───────┴─────────────┴─────────────────┘
"""

from __future__ import annotations

import datetime as _dt
import os as _os
import typing as _typing

import polars as _pl

from socialkpi import _arguments, _core, _over_time, _targets, datasets, plot
from socialkpi import exceptions as _exceptions
from socialkpi._progress import progress_for as _progress_for
from socialkpi._report import report
from socialkpi._result import KpiResult
from socialkpi._result import result_of as _result_of
from socialkpi._states import States, merge, partial
from socialkpi._tables import _ArrowStream
from socialkpi._tables import as_table as _as_table
from socialkpi.display import table
from socialkpi.exceptions import (
    ArgumentError,
    DefinitionError,
    EngineError,
    InputError,
    KpiError,
    QueryError,
    SchemaError,
    TargetWarning,
    error_codes,
)
from socialkpi.formulas import KPI, Definitions, check_kpis, load_kpis, vendor_presets
from socialkpi.formulas import resolve as _resolve
from socialkpi.readers import (
    FileRead,
    ReadReport,
    parse_dates,
    parse_numbers,
    read_accounts,
    read_posts,
    read_report,
    read_traffic,
    reader_presets,
)

if _typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, Literal

__version__: str = _core.__version__

__all__ = [
    "ArgumentError",
    "catalog",
    "check_kpis",
    "compute",
    "compute_details",
    "contract_status",
    "datasets",
    "DefinitionError",
    "Definitions",
    "EngineError",
    "error_codes",
    "explain",
    "FileRead",
    "InputError",
    "KPI",
    "KpiError",
    "KpiResult",
    "load_kpis",
    "merge",
    "parse_dates",
    "parse_numbers",
    "partial",
    "plot",
    "presets",
    "QueryError",
    "read_accounts",
    "read_posts",
    "read_report",
    "read_traffic",
    "reader_presets",
    "ReadReport",
    "report",
    "SchemaError",
    "sources",
    "States",
    "table",
    "TargetWarning",
    "vendor_presets",
]


def _max_staleness(days: object) -> int | None:
    """``max_staleness`` checked: None, or a whole number of days from 0 to 1,000,000."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= _MAX_STALENESS_LIMIT:
        raise _exceptions.invalid_argument(
            f"max_staleness={days!r} is not a number of days; pass a whole number from 0 to "
            f"{_MAX_STALENESS_LIMIT:,}, or None to read follower snapshots of any age",
        )
    return days


_MAX_STALENESS_LIMIT = 1_000_000


def compute_details(
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
    output: Literal["polars", "pandas"] = "polars",
    definitions: str | _os.PathLike[str] | Definitions | None = None,
    max_staleness: int | None = 7,
    compare: str | Sequence[str] | None = None,
    window: str | None = None,
    progress: bool | None = None,
    targets: Any = None,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
    fill: bool = False,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> KpiResult:
    """Computes KPIs like :func:`compute` and returns them with definitions and row accounting.

    Parameters
    ----------
    posts, accounts, contracts, traffic, conversions, sources, kpis, by, every, tz, dedupe, output, definitions, max_staleness, compare, window, progress, targets, start, end, fill, week_start, fiscal_year_start, memory_limit
        As for :func:`compute`.

    Returns
    -------
    KpiResult
        ``.frame`` is what :func:`compute` returns; the other attributes say how it was made.
    """
    arguments, custom = _engine_arguments(
        kpis, by, every, tz, dedupe, sources, output, definitions, max_staleness
    )
    tables = {
        "posts": posts,
        "accounts": accounts,
        "contracts": contracts,
        "traffic": traffic,
        "conversions": conversions,
    }
    compared = _arguments.compare(compare)
    _arguments.text(
        "window",
        window,
        'use a trailing window such as "28d" or "4w", or "wtd", "mtd", "qtd", "ytd"',
        optional=True,
    )
    _targets.argument(targets)
    first_day = _arguments.range_day("start", start)
    last_day = _arguments.range_day("end", end)
    filled = _arguments.flag("fill", fill)
    week, month = _arguments.calendar(week_start, fiscal_year_start)
    limit = _arguments.memory_limit(memory_limit)
    bar = _progress_for(progress)
    try:
        capsule, details = _core.compute(
            **arguments,
            **_table_arguments(tables),
            compare=compared,
            window=window,
            progress=bar,
            start=first_day,
            end=last_day,
            fill=filled,
            week_start=week,
            fiscal_year_start=month,
            memory_limit=limit,
        )
    finally:
        if bar is not None:
            bar.close()
    described = _over_time.described(details, every=every, compare=compared, window=window, targets=targets)
    if targets is None:
        return _result_of(capsule, described, custom, tables, output)
    result = _targets.apply(
        _result_of(capsule, described, custom, tables, "polars"),
        targets,
        by=arguments["by"],
        every=every,
        window=window,
        asked=_targets.requested(arguments["kpis"]),
    )
    return _targets.as_output(result, output)


def _engine_arguments(
    kpis: str | KPI | Iterable[str | KPI],
    by: str | Sequence[str],
    every: str | None,
    tz: str,
    dedupe: Literal["last"] | None,
    sources: Mapping[str, str] | None,
    output: str,
    definitions: str | _os.PathLike[str] | Definitions | None,
    max_staleness: int | None,
) -> tuple[dict[str, Any], list[tuple[str, str, str, str, str]]]:
    """The arguments of :func:`compute` (but the tables) checked, as the core takes them, and
    the custom definitions among them."""
    kpi_list = _arguments.kpis(kpis)
    dims = _arguments.by(by)
    _arguments.text("every", every, 'use None, "1d", "1w", "1mo", "1q" or "1y"', optional=True)
    _arguments.text("tz", tz, 'use an IANA time zone name such as "UTC" or "Europe/Berlin"')
    if dedupe not in (None, "last"):
        raise _exceptions.invalid_argument(
            f"dedupe={dedupe!r} is not supported; use None (repeats are an error) or 'last'",
        )
    _arguments.sources(sources)
    _arguments.output(output)
    staleness = _max_staleness(max_staleness)
    names, custom, engagement = _resolve(kpi_list, definitions)
    arguments = {
        "kpis": names,
        "by": dims,
        "every": every,
        "tz": tz,
        "dedupe": dedupe,
        "sources": [(str(k), str(v)) for k, v in (sources or {}).items()],
        "custom": custom,
        "engagement": engagement,
        "max_staleness": staleness,
    }
    return arguments, custom


def _table_arguments(tables: dict[str, Any]) -> dict[str, Any]:
    """The tables as the core takes them."""
    return {name: _as_table(t, name) for name, t in tables.items()}


def compute(
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
    output: Literal["polars", "pandas"] = "polars",
    definitions: str | _os.PathLike[str] | Definitions | None = None,
    max_staleness: int | None = 7,
    compare: str | Sequence[str] | None = None,
    window: str | None = None,
    progress: bool | None = None,
    targets: Any = None,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
    fill: bool = False,
    week_start: str = "monday",
    fiscal_year_start: int | str = 1,
    memory_limit: int | str | None = _arguments.MEMORY_LIMIT,
) -> Any:
    """Computes social-media KPIs per group and period, exactly as the KPI contract defines them.

    Parameters
    ----------
    posts
        One row per post: ``post_id``, ``account_id``, ``platform``, ``published_at`` and metric
        columns (``impressions``, ``reach``, ``likes``, ``comments``, ...). A polars DataFrame or
        LazyFrame, a pandas DataFrame, a pyarrow Table, any object with ``__arrow_c_stream__``,
        or a path, ``pathlib.Path``, glob or list of Parquet / CSV files.
    accounts
        Daily account snapshots: ``account_id``, ``date``, ``followers`` (and optionally
        ``platform``, ``profile_visits``, ``mentions``, ``leads``, account attributes). Read by
        the follower KPIs, ``mentions`` and ``share_of_voice``, ``profile_visits`` when posts lack
        it, ``leads`` when no other table has them, and for grouping posts by account attributes.
    contracts
        Influencer agreements, one row each: ``account_id``, ``campaign``, ``start``, ``end``
        (the last day, inclusive), ``posts_agreed``, ``fee`` (optionally ``content_type``,
        ``currency``). Fees and deliverables are pro-rated by the days of each agreement inside
        a period. Needed by ``posts_agreed`` and ``delivery_rate``; ``cost`` adds the fees to the
        posts' ``spend`` when given.
    traffic
        Web analytics rows: ``date``, ``source`` (a platform name or referrer such as
        ``l.instagram.com``, ``t.co``, ``utm_source=ig``), ``sessions`` (optionally ``medium``,
        ``campaign``). Sources are matched to a ``platform`` through :func:`sources`, so
        ``by=["platform"]`` lines traffic up with posts.
    conversions
        Conversion events, one row each: ``timestamp``, ``kind`` (``"lead"`` or ``"sale"``),
        ``value`` (a sale's value) and the columns that attribute it: ``account_id``,
        ``campaign``, ``platform`` or ``source`` (matched like traffic). When given, leads and
        conversions are counted from these events only, and revenue too when they carry
        ``value``; ``compute_details(...).origins`` says where each came from.
    sources
        Additions to the source table, ``{source or host: platform}``; they take precedence.
        Every entry names a social platform: sessions matched through it count as referral
        traffic.
    kpis
        KPI names from :func:`catalog` and goal presets (``"awareness"``, ``"engagement"``,
        ``"traffic"``, ``"leads"``, ``"conversion"``, ``"content"``), and :class:`KPI` objects
        (formulas). Preset members whose inputs are missing are left out and reported in
        :func:`compute_details`; a KPI named explicitly is an error instead.
    by
        Dimension columns (``account_id``, ``platform``, ``content_type``, any column of the
        tables); ``[]`` gives one overall row.
    every
        ``None`` (one period), ``"1d"``, ``"1w"`` (weeks from ``week_start``: ISO weeks from
        Monday by default), ``"1mo"``, ``"1q"``, ``"1y"`` (quarters and years from
        ``fiscal_year_start``). The result then has a ``period_start`` Date column, each
        period labelled by its first day.
    tz
        IANA time zone of the report; ``published_at`` is converted to it before bucketing
        (naive times are UTC).
    dedupe
        ``None``: a repeated ``post_id`` is an error. ``"last"``: keep the last row of each post.
    output
        ``"polars"`` (default) or ``"pandas"``.
    definitions
        A vendor preset (``"rivaliq"``, ``"socialinsider"``, ``"hypeauditor"``, ``"later"``),
        a definition file's path, or a :class:`Definitions`: its KPIs take the place of the
        built-ins of the same names (``kpis=["engagement_rate"], definitions="hypeauditor"``
        gives HypeAuditor's engagement rate) and its per-platform engagement components apply
        to every engagement KPI. :func:`compute_details` says which formulas were used.
    max_staleness
        Followers-at-post (``engagement_rate_followers``, ``amplification_rate``,
        ``applause_rate``, ``conversation_rate``) reads the account's last snapshot on or before
        the post's day only when it is at most this many days old (default 7; ``None``: any
        age). Posts without a fresh snapshot are left out of those KPIs and counted in
        ``compute_details(...).rows_dropped`` (reason ``stale_followers: ...``).
    compare
        ``"previous"`` (the period before at the same grain: the previous day, ISO week,
        month, quarter or year), ``"last_year"`` (the same date, ISO week number, month,
        quarter or year a year before), ``"last_year_weekday"`` (``1d``/``1w``: 52 weeks
        before), or a list of them. Adds after each KPI ``<kpi>_prev``, ``<kpi>_change`` and
        ``<kpi>_change_rate`` (``_ly``, ``_ly_change``, ``_ly_change_rate`` for a year
        before), computed from the earlier period's states: a ratio is the ratio of that
        period's sums. Needs ``every``. With ``window``, each day's window against the
        earlier window: the window before a trailing window (28 days against the 28 days
        before), the same days of the previous week, month, quarter or year for a to-date
        window, the same window a year before. See the "Over time" page of the docs.
    window
        Each period's KPIs over the window ending on its last day, a trailing window
        (``"7d"``, ``"28d"``, ``"90d"``, ``"4w"``, ``"13w"``; at most 366 days) or the week,
        month, quarter or year to date (``"wtd"``, ``"mtd"``, ``"qtd"``, ``"ytd"``): ratios of
        the window's sums, followers the last snapshot in the window. Adds ``window_start``.
        With ``every="1d"`` any window; at a coarser ``every``, windows of whole periods
        (``"1w"`` with ``"4w"``, ``"1mo"`` with ``"ytd"``, ...).
    targets
        A table of targets (polars, pandas, pyarrow or a path, like the other tables): ``kpi``,
        ``target``, any of the ``by`` columns, and ``period_start`` (targets of the report's
        own periods) or ``start`` and ``end`` (the first and last day, inclusive), or neither
        (one target for every period). Adds ``<kpi>_target`` and ``<kpi>_attainment``
        (value / target; null where the target is 0 or missing) after each KPI's columns. The
        targets of flows (counts, sums, money) set over other days are pro-rated by days; those
        of ratios and snapshots apply as they are. A target for a group or KPI not in the report
        is a :class:`TargetWarning`. See the "Over time" page of the docs.
    start, end
        The first and last day of the report (``"2026-01-01"`` or a ``datetime.date``, both
        included, in ``tz``; default: the data's). With ``every``, the report keeps the periods
        that overlap the range, each whole (``every="1mo", start="2026-01-15"`` keeps all of
        January); with ``every=None``, it is one period over exactly those days. ``compare``
        and ``window`` still read the days before ``start``; with ``every=None`` and both
        bounds, ``compare="previous"`` is the same number of days just before. ``start``
        after ``end`` is a ``QueryError`` with code ``start_after_end``.
    fill
        ``True`` (needs ``every``): every group seen in the data gets a row for every period
        of the range (from ``start`` to ``end``, else the data's first to last period), with
        what each KPI gives for a period without rows: counts 0, ratios and followers null,
        flows that follow a table's coverage null outside it.
    progress
        A progress bar (tqdm, on stderr) of the pass over the posts, in slices of about a
        million posts (whole Parquet row groups). ``None`` (default): shown in a terminal or a
        notebook once the pass has run two seconds; ``True``: always, at once; ``False``: never.
        Posts streamed from CSV files show none.
    week_start
        The first day of a week, for ``every="1w"``, ``window="wtd"`` and weekly
        comparisons: ``"monday"`` (default; ISO weeks) or another weekday's name.
    fiscal_year_start
        The month years start in, for ``every="1q"``/``"1y"`` and ``window="qtd"``/``"ytd"``:
        a month's number (default 1, January; 4 for years from April) or its name.
    memory_limit
        The memory the ``post_id`` repeat check may hold (8 bytes a post) before it spills the
        posts' id hashes to temporary files and checks them part by part: a number of bytes or
        text such as ``"256MB"``, ``"1GB"``, ``"512MiB"`` (default ``"256MB"``, at least 1 MB);
        ``None``: no limit. Exact either way. The files go to the system's temporary folder
        (``TMPDIR``) and are removed when the run ends, fails or is interrupted. See the
        "Running at scale" page of the docs.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The ``by`` columns, ``period_start``, then one column per KPI (and its comparisons),
        sorted by group and period.

    Raises
    ------
    KpiError
        ``SchemaError``, ``DefinitionError``, ``InputError`` or ``QueryError``, each with a
        stable ``.code``.
    """
    return compute_details(
        posts,
        accounts,
        contracts=contracts,
        traffic=traffic,
        conversions=conversions,
        sources=sources,
        kpis=kpis,
        by=by,
        every=every,
        tz=tz,
        dedupe=dedupe,
        output=output,
        definitions=definitions,
        max_staleness=max_staleness,
        compare=compare,
        window=window,
        progress=progress,
        targets=targets,
        start=start,
        end=end,
        fill=fill,
        week_start=week_start,
        fiscal_year_start=fiscal_year_start,
        memory_limit=memory_limit,
    ).frame


def contract_status(
    posts: Any,
    contracts: Any,
    *,
    as_of: _dt.date | None = None,
    tz: str = "UTC",
    output: Literal["polars", "pandas"] = "polars",
) -> Any:
    """Which influencers are behind on their deliverables: one row per contract.

    Parameters
    ----------
    posts
        Posts as for :func:`compute` (``account_id``, ``published_at``, and ``campaign`` /
        ``content_type`` when the contracts name them, ``sponsored`` when present; engagement
        columns and ``reach`` when present).
    contracts
        One row per agreement: ``account_id``, ``start``, ``end`` (inclusive), ``posts_agreed``,
        optionally ``campaign``, ``content_type``, ``fee``.
    as_of
        Count posts published up to this day (default: today, UTC).
    tz
        Time zone in which a post's day is taken.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The contracts' columns in their order, then ``status`` (``upcoming``, ``running`` or
        ``ended`` at ``as_of``), ``delivered`` (posts of the account inside the window up to
        ``as_of``, in the contract's content type, and of its campaign when both tables carry
        one, else sponsored ones when posts carry ``sponsored``), ``expected_by_now``
        (posts agreed x the share of the window's days elapsed), ``pace`` (delivered /
        expected; null when nothing is expected yet), ``behind`` (whole posts expected by now
        and not delivered), ``on_track`` (``behind == 0``), ``remaining`` (posts agreed -
        delivered; null when upcoming), ``days_left``, ``fee_to_date`` (the fee pro-rated by
        the elapsed share) and ``cost_per_post`` (fee_to_date / delivered) when there is a fee,
        ``engagements`` and ``reach`` of the delivered posts, and ``attribution``
        (``campaign``, ``sponsored`` or ``account``: what tied posts to contracts). A post
        inside two overlapping contracts counts for each. An open-ended contract (an end in the
        year 9999) has no schedule: its ``expected_by_now``, ``pace``, ``behind``,
        ``on_track`` and ``days_left`` are null.
    """
    for role, given in (("posts", posts), ("contracts", contracts)):
        if given is None:
            raise _exceptions.error(
                QueryError, "missing_table", f"contract_status needs {role}; pass a table"
            )
    day = _arguments.day("as_of", as_of) or _dt.datetime.now(_dt.timezone.utc).date()
    _arguments.text("tz", tz, 'use an IANA time zone name such as "UTC" or "Europe/Berlin"')
    _arguments.output(output)
    capsule = _core.contract_status(
        _as_table(posts, "posts"),
        _as_table(contracts, "contracts"),
        (day - _dt.date(1970, 1, 1)).days,
        tz,
    )
    frame: Any = _pl.DataFrame(_ArrowStream(capsule))
    return frame.to_pandas() if output == "pandas" else frame


def catalog() -> _pl.DataFrame:
    """The KPI catalogue: name, goal, definition, formula, unit, inputs and the rule that applies.

    >>> import socialkpi as sk
    >>> sk.catalog().filter(name="frequency").select("name", "goal", "unit").row(0)
    ('frequency', 'awareness', 'ratio')
    """
    rows = _core.catalog_rows()
    return _pl.DataFrame(
        rows,
        schema={
            "name": _pl.String,
            "goal": _pl.String,
            "definition": _pl.String,
            "formula": _pl.String,
            "unit": _pl.String,
            "inputs": _pl.List(_pl.String),
            "rule": _pl.String,
        },
        orient="row",
    )


def sources() -> _pl.DataFrame:
    """The table that matches traffic sources and referrers to platforms.

    A source is lower-cased, reduced to its ``utm_source`` value or to the host of a URL
    (without ``www.``), then looked up as a whole and host by host without its leftmost
    labels (``lm.facebook.com`` -> ``facebook.com``). Unmatched sources keep their own name
    as ``platform`` and count in ``website_traffic`` only. Pass ``sources={...}`` to
    :func:`compute` to add entries.

    >>> import socialkpi as sk
    >>> sk.sources().filter(source="t.co").row(0)
    ('t.co', 'x')
    """
    return _pl.DataFrame(
        _core.source_table(), schema={"source": _pl.String, "platform": _pl.String}, orient="row"
    )


def presets() -> dict[str, list[str]]:
    """Goal presets and the KPIs each expands to."""
    return dict(_core.presets())


def explain(
    kpi: str | KPI,
    definitions: str | _os.PathLike[str] | Definitions | None = None,
    *,
    every: str | None = None,
    compare: str | Sequence[str] | None = None,
    window: str | None = None,
    targets: bool = False,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
    fill: bool = False,
) -> str:
    """The definition of a KPI in words, its formula, and the rule of the KPI contract that applies.

    ``kpi`` is a built-in name, a :class:`KPI`, or a name of ``definitions`` (a vendor preset,
    a definition file or a :class:`Definitions`). With ``compare`` (and ``every``),
    ``window`` or ``targets=True``, the text goes on to say what the columns that
    :func:`compute` adds for them hold, as ``compute_details(...).over_time`` does. With
    ``start``, ``end`` or ``fill=True`` (as :func:`compute` takes them), it says which rows
    the range keeps or adds, and what the KPI holds in them.

    >>> import socialkpi as sk
    >>> print(sk.explain("engagement_rate").splitlines()[0])
    engagement_rate (engagement, ratio): Σ eng / Σ reach (posts with reach).
    >>> print(sk.explain("engagement_rate").splitlines()[1])
    Formula: eng / reach
    >>> print(sk.explain("reach", every="1mo", compare="previous").splitlines()[-1][:63])
    Compared (compare='previous', every='1mo'): reach_prev is reach
    """
    if isinstance(kpi, str) and definitions is not None:
        defs = definitions if isinstance(definitions, Definitions) else load_kpis(definitions)
        if kpi in defs.names():
            kpi = defs[kpi]
    _arguments.text("every", every, 'use None, "1d", "1w", "1mo", "1q" or "1y"', optional=True)
    compared = _arguments.compare(compare)
    _arguments.text("window", window, 'use "28d", "4w", "wtd", "mtd", "qtd" or "ytd"', optional=True)
    if not isinstance(targets, bool):
        raise _exceptions.invalid_argument(f"targets= got {targets!r}; pass True or False")
    first, last = (_arguments.range_day(n, d) for n, d in (("start", start), ("end", end)))
    filled = _arguments.flag("fill", fill)
    if isinstance(kpi, KPI):
        text = f"{kpi.name} ({kpi.goal}, {kpi.unit})"
        if kpi.description:
            text += f": {kpi.description}."
        text = (
            f"{text}\nFormula: {kpi.formula}\nRule: formulas follow the KPI contract: a bare column in a "
            "ratio is its sum (a ratio of sums over the posts where both are present), a zero or "
            "missing denominator gives null, and per_post(...) is the mean over posts."
        )
        name, kind = kpi.name, None
    else:
        text = _core.explain(kpi)
        name, kind = kpi, _core.kpi_kind(kpi)
    lines = _over_time.describe(name, kind, every=every, compare=compared, window=window, targets=targets)
    epoch = _dt.date(1970, 1, 1)
    lines += _over_time.describe_range(
        name,
        kind,
        every=every,
        start=None if first is None else epoch + _dt.timedelta(days=first),
        end=None if last is None else epoch + _dt.timedelta(days=last),
        fill=filled,
    )
    return "\n".join([text, *lines])


# The namespace is the public API: the feature name the compiler needed goes too.
del annotations
