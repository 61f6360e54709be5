"""The socialkpi exception hierarchy (declared in the Rust core, re-exported here).

Every error is a :class:`KpiError` with a stable ``code`` attribute (for example
``"missing_column"``); match on the code, not on the message text. :func:`error_codes` lists
every code with its exception class and what it means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from socialkpi._core import (
    DefinitionError,
    EngineError,
    InputError,
    KpiError,
    QueryError,
    SchemaError,
)

if TYPE_CHECKING:
    import polars as pl


class ArgumentError(QueryError, TypeError, ValueError):
    """An argument of the wrong type or value (``code`` ``"invalid_argument"``).

    It is also a ``TypeError`` and a ``ValueError``, so code that catches those for a bad
    argument still does.
    """


class TargetWarning(UserWarning):
    """``targets=`` sets a target that the report cannot show: for a KPI left out of the
    report (a goal preset's member whose table or column was not given) or for a group that
    has no row in it. The rest of the targets apply."""


_E = TypeVar("_E", bound=KpiError)


def error(cls: type[_E], code: str, message: str) -> _E:
    """An exception of class ``cls`` carrying its stable ``code``: the one way the Python side
    makes a coded error. ``(code, cls)`` is a row of :func:`error_codes` (the codes are declared
    in the core, crates/engine/src/codes.rs, with the Rust ones)."""
    err = cls(message)
    err.code = code
    return err


def invalid_argument(message: str) -> ArgumentError:
    """An argument of the wrong type or value: an ``ArgumentError``, code ``invalid_argument``."""
    return error(ArgumentError, "invalid_argument", message)


def error_codes() -> pl.DataFrame:
    """Every stable error code: a polars DataFrame with the columns ``code``, ``exception``
    (the class it is raised as, such as ``"SchemaError"``) and ``description``, one row per
    (code, exception), sorted by code. A few codes belong to two classes (``not_numeric`` is a
    ``SchemaError`` for a table's column and a ``DefinitionError`` for a formula)."""
    import polars as pl

    from socialkpi import _core

    rows = sorted(_core.error_codes())
    return pl.DataFrame(
        rows, schema={"code": pl.String, "exception": pl.String, "description": pl.String}, orient="row"
    )


__all__ = [
    "ArgumentError",
    "DefinitionError",
    "EngineError",
    "InputError",
    "KpiError",
    "QueryError",
    "SchemaError",
    "TargetWarning",
    "error_codes",
]
