"""Checks of the public functions' arguments: a wrong type or value is an ``ArgumentError``
(a ``QueryError`` that is also a ``TypeError`` and a ``ValueError``) with a stable code, before
anything is read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from socialkpi.exceptions import invalid_argument


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def kpis(value: Any) -> Any:
    """``kpis=``: a name, a KPI, or an iterable of them; returns them (an iterator read into
    a list)."""
    from socialkpi.formulas import KPI

    if isinstance(value, (str, KPI)):
        return value
    if value is None or isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise invalid_argument(
            f"kpis= got {_type_name(value)}; pass a KPI name such as 'engagement_rate', a goal "
            "preset such as 'engagement', an sk.KPI, or a list of them",
        )
    items = list(value)
    for item in items:
        if not isinstance(item, (str, KPI)):
            raise invalid_argument(
                f"kpis= holds a {_type_name(item)} ({item!r}); each item must be a KPI name or an sk.KPI",
            )
    return items  # (an empty list is the core's `no_kpis`)


def by(value: Any) -> list[str]:
    """``by=``: a column name or a sequence of them; returns the names."""
    from socialkpi.formulas import column_name

    usage = "pass a column name such as 'account_id', a list of them, or [] for one overall row"
    return [column_name(name) for name in _names("by", value, usage, "a column name")]


def _names(name: str, value: Any, usage: str, item: str) -> list[str]:
    """An argument that takes one name or a sequence of names (None: none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise invalid_argument(f"{name}= got {_type_name(value)}; {usage}")
    names = list(value)
    for n in names:
        if not isinstance(n, str):
            raise invalid_argument(f"{name}= holds a {_type_name(n)} ({n!r}); each item must be {item}")
    return names


def text(name: str, value: Any, hint: str, *, optional: bool = False) -> None:
    """A text argument (``tz=``, ``every=``, ``dedupe=``, ``output=``)."""
    if isinstance(value, str) or (optional and value is None):
        return
    raise invalid_argument(f"{name}= got {_type_name(value)} ({value!r}); {hint}")


def sources(value: Any) -> None:
    """``sources=``: a mapping of source or host -> platform, both text."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise invalid_argument(
            f"sources= got {_type_name(value)}; pass a dict such as {{'l.instagram.com': 'instagram'}}",
        )
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise invalid_argument(
                f"sources= maps {k!r} to {v!r}; both the source and the platform must be text",
            )


def day(name: str, value: Any) -> dt.date | None:
    """A day argument (``as_of=``): a date or datetime (its date), or None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise invalid_argument(
        f"{name}= got {_type_name(value)} ({value!r}); pass a datetime.date such as datetime.date(2026, 6, 30)",
    )


def compare(value: Any) -> list[str]:
    """``compare=``: a comparison name or a sequence of them (the core checks the names)."""
    usage = "pass 'previous', 'last_year', 'last_year_weekday' or a list of them"
    return _names("compare", value, usage, "a comparison name")


def range_day(name: str, value: Any) -> int | None:
    """``start=`` / ``end=``: a ``datetime.date`` or ISO text (``"2026-01-31"``), as days since
    1970-01-01 (None: unbounded)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise invalid_argument(
                f"{name}={value!r} is not a date; pass ISO text such as '2026-01-31' or a datetime.date",
            ) from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise invalid_argument(
            f"{name}= got {_type_name(value)} ({value!r}); pass a date: ISO text such as "
            "'2026-01-31' or a datetime.date (a day of the report's tz, included)",
        )
    return (value - dt.date(1970, 1, 1)).days


def at_least(least: int, **counts: object) -> None:
    """Each count an integer (not a bool) of at least ``least``."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise invalid_argument(f"{name} must be an integer of at least {least}, not {value!r}")


def flag(name: str, value: Any) -> bool:
    """A yes/no argument (``fill=``)."""
    if isinstance(value, bool):
        return value
    raise invalid_argument(f"{name}= got {_type_name(value)} ({value!r}); pass True or False")


def calendar(week_start: Any, fiscal_year_start: Any) -> tuple[str | None, str | None]:
    """``week_start=`` (a weekday's name) and ``fiscal_year_start=`` (a month's number or
    name), as the core takes them (None: the default, or the states' own); the core checks
    the values."""
    text("week_start", week_start, 'use a weekday\'s name such as "monday" or "sunday"', optional=True)
    if fiscal_year_start is None or isinstance(fiscal_year_start, str):
        month = fiscal_year_start
    elif isinstance(fiscal_year_start, int) and not isinstance(fiscal_year_start, bool):
        month = str(fiscal_year_start)
    else:
        raise invalid_argument(
            f"fiscal_year_start= got {_type_name(fiscal_year_start)} ({fiscal_year_start!r}); "
            'pass a month\'s number 1 to 12 or its name, such as 4 or "april"',
        )
    return week_start, month


__all__ = ["by", "calendar", "compare", "day", "flag", "kpis", "output", "range_day", "sources", "text"]


def output(value: object) -> None:
    """``output=``: ``"polars"`` or ``"pandas"``."""
    if value not in ("polars", "pandas"):
        raise invalid_argument(f"output={value!r} is not supported; use 'polars' or 'pandas'")


MEMORY_LIMIT = "256MB"
"""The default ``memory_limit=``: the hashes of some 25 million posts (docs/scale.md)."""

_MEMORY_LIMIT_MIN = 1_000_000
_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def memory_limit(value: Any) -> int | None:
    """``memory_limit=``: None (no limit), a number of bytes, or text such as ``"256MB"``,
    ``"1GB"`` or ``"512MiB"`` (kB, MB, GB, TB by 1000; KiB, MiB, GiB, TiB by 1024); returns the
    bytes, at least 1 MB and below 2**63."""
    hint = 'pass a number of bytes, text such as "256MB", "1GB" or "512MiB", or None for no limit'
    if value is None:
        return None
    if isinstance(value, str):
        import re

        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        unit = found.group(2).lower() if found else ""
        if found is None or (unit and unit not in _UNITS):
            raise invalid_argument(f"memory_limit={value!r} is not an amount of memory; {hint}")
        size = int(float(found.group(1)) * _UNITS[unit or "b"])
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise invalid_argument(f"memory_limit= got {_type_name(value)}; {hint}")
    if not _MEMORY_LIMIT_MIN <= size < 2**63:
        raise invalid_argument(
            f"memory_limit={value!r} is {size:,} bytes; it must be at least 1 MB "
            f"({_MEMORY_LIMIT_MIN:,} bytes) and below 2**63"
        )
    return size
