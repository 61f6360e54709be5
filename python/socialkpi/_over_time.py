"""What ``compare=``, ``window=`` and ``targets=`` add to a KPI, in words (docs/time.md):
for :func:`socialkpi.explain` and ``compute_details(...).over_time``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from socialkpi.exceptions import QueryError, error, invalid_argument

_EARLIER = {
    "previous": {
        "1d": "the day before",
        "1w": "the week before",
        "1mo": "the month before (all of it, whatever its length)",
        "1q": "the quarter before",
        "1y": "the year before",
    },
    "last_year": {
        "1d": "the same date a year before (Feb 29 against Feb 28)",
        "1w": "the same ISO week number a year before (week 53 against week 52)",
        "1mo": "the same month a year before",
        "1q": "the same quarter a year before",
        "1y": "the year before",
    },
    "last_year_weekday": {
        "1d": "the same weekday 52 weeks (364 days) before",
        "1w": "the week 52 weeks before",
    },
}
_SUFFIX = {"previous": "_prev", "last_year": "_ly", "last_year_weekday": "_ly"}
# How an earlier period's or a window's value is made, by the KPI's kind (KpiResult.kinds).
_EARLIER_VALUE = {
    "flow": "that period's sum",
    "ratio": "the ratio of that period's own sums, never a difference of averages",
    "snapshot": "the snapshots of that period (followers: the last of it)",
    None: "that period's states through the same formula (a ratio: the ratio of its sums; followers: its last snapshot)",
}
_WINDOW_VALUE = {
    "flow": "the sum over the window's days",
    "ratio": "the ratio of the window's summed states, not a mean of daily values",
    "snapshot": "followers: the last snapshot in the window; followers_start: the last before it",
    None: "flows and ratios over every day of the window (a ratio of the window's sums), followers the last snapshot in it",
}
_TO_DATE = {"wtd": "week", "mtd": "month", "qtd": "quarter", "ytd": "year"}
_TRAILING = re.compile(r"^([0-9]+)([dw])$")


def _window_days(window: str) -> str:
    if window in _TO_DATE:
        return f"from the first day of that day's {_TO_DATE[window]} to the day"
    match = _TRAILING.match(window)
    if match is None:
        raise error(
            QueryError,
            "unknown_window",
            f'window={window!r} is not a trailing window ("28d", "4w") or wtd, mtd, qtd, ytd',
        )
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return f"the {days} days ending that day, the day included"


# The period compared with a report of one period over start..end (every=None).
_RANGE_EARLIER = {
    "previous": "the same number of days just before start",
    "last_year": "the same days a year before (Feb 29 as Feb 28)",
    "last_year_weekday": "the days 364 days before",
}


def describe(
    kpi: str,
    kind: str | None,
    *,
    every: str | None,
    compare: Sequence[str],
    window: str | None,
    targets: bool,
) -> list[str]:
    """Lines that say what each column added after ``kpi`` holds."""
    lines = []
    for name in compare:
        earlier = _EARLIER.get(name)
        if earlier is None:
            raise error(
                QueryError,
                "unknown_compare",
                f"compare={name!r} is not a comparison; use 'previous', 'last_year' or 'last_year_weekday'",
            )
        if every is None:
            # one period over start..end (docs/time.md, A range)
            period = _RANGE_EARLIER[name]
        elif every in earlier:
            period = earlier[every]
        else:
            raise invalid_argument(f"compare={name!r} needs every= of {', '.join(earlier)}")
        s = _SUFFIX[name]
        change = f"{kpi}{s}_change" if s == "_ly" else f"{kpi}_change"
        what = f"of {period}, from {_EARLIER_VALUE.get(kind, _EARLIER_VALUE[None])}"
        if window is not None:
            what = "over the earlier window it is compared with (docs/time.md, Windows compared)"
        lines.append(
            f"Compared (compare={name!r}, every={every!r}): {kpi}{s} is {kpi} {what}; "
            f"{change} = {kpi} - {kpi}{s}; {change}_rate = {change} / |{kpi}{s}| "
            f"(null where {kpi}{s} is 0 or null)."
        )
    if window is not None:
        value = _WINDOW_VALUE.get(kind, _WINDOW_VALUE[None])
        if every in (None, "1d"):
            span = f"each day's {kpi} over {_window_days(window)} (window_start to period_start)"
        else:
            days = _window_days(window).replace("that day", "the period's last day")
            span = f"each period's {kpi} over {days.replace('to the day', 'to its last day')}"
            span += " (window_start to the period's last day: whole periods)"
        lines.append(f"Window (window={window!r}): {span}: {value}.")
    if targets:
        if kind is None:
            given = (
                "pro-rated by days to each row's days for a flow (counts, sums, money), "
                "the target in force on the row's last day for a ratio or a snapshot"
            )
        elif kind == "flow":
            given = "pro-rated by days: a target's share of its days that fall in each row's days, summed"
        else:
            given = f"the target in force on each row's last day ({kpi} is a {kind}: not pro-rated)"
        lines.append(
            f"Target (targets=): {kpi}_target is the target of {kpi} from the targets table, {given}; "
            f"{kpi}_attainment = {kpi} / {kpi}_target (null where the target is 0 or missing)."
        )
    return lines


# What one period over exactly start..end (every=None) holds, by the KPI's kind.
_RANGE_VALUE = {
    "flow": "the sum over those days",
    "ratio": "the ratio of those days' sums",
    "snapshot": "a snapshot (followers: each account's last snapshot in the range; followers_start: its last before start, else its first in the range; summed over accounts)",
    None: "flows and ratios over those days (a ratio of their sums), followers the last snapshot in the range",
}


def describe_range(
    kpi: str,
    kind: str | None,
    *,
    every: str | None,
    start: dt.date | None,
    end: dt.date | None,
    fill: bool,
) -> list[str]:
    """Lines that say which rows a range (``start=``, ``end=``, ``fill=``; docs/time.md, "A
    range") keeps or adds, and what ``kpi`` holds in them."""
    lines = []
    if start is not None and end is not None and start > end:
        raise error(
            QueryError, "start_after_end", f"start={start.isoformat()} is after end={end.isoformat()}"
        )
    if fill and every is None:
        raise invalid_argument("fill=True needs every= (the periods every group gets)")
    if start is not None or end is not None:
        first = start.isoformat() if start is not None else "the data's first day"
        last = end.isoformat() if end is not None else "the data's last day"
        days = f"the days from {first} to {last}"
        given = ", ".join(
            f"{n}={d.isoformat()!r}" for n, d in (("start", start), ("end", end)) if d is not None
        )
        if every is None:
            what = f"the report is one period over exactly {days} (both included, in tz): {kpi} is "
            what += _RANGE_VALUE.get(kind, _RANGE_VALUE[None])
        else:
            edges = " or ".join(
                e for e, d in (("begins before start", start), ("ends after end", end)) if d is not None
            )
            what = (
                f"the report keeps the periods that overlap {days}, each whole: a row's {kpi} is "
                f"that of its whole period from period_start, also where the period {edges}"
            )
        if start is not None:
            what += "; compare and window still read the days before start"
        lines.append(f"Range ({given}, every={every!r}): {what}.")
    if fill:
        empty = {"ratio": f" ({kpi} is a ratio: null)", "snapshot": f" ({kpi} is a snapshot: null)"}
        lines.append(
            f"Filled (fill=True): every group seen in the data gets a row for every period of the range "
            "(from the period holding start to the one holding end, else the data's first to its last "
            "period); a period without rows holds what the KPI gives for one: counts and post sums 0, "
            "ratios, shares and followers null, flows that follow a table's coverage (cost, revenue, "
            f"sessions, ...) 0 inside the table's coverage and null outside it{empty.get(kind or '', '')}."
        )
    return lines


def described(
    details: dict[str, Any], *, every: str | None, compare: Sequence[str], window: str | None, targets: Any
) -> dict[str, Any]:
    """The core's details with ``over_time``: KPI -> what its added columns hold (a KPI with
    none added has no entry)."""
    out = dict(details)
    over_time = {}
    for kpi, kind in dict(details["kinds"]).items():
        lines = describe(kpi, kind, every=every, compare=compare, window=window, targets=targets is not None)
        if lines:
            over_time[kpi] = "\n".join(lines)
    out["over_time"] = over_time
    return out
