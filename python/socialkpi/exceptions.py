"""The socialkpi exception hierarchy (declared in the Rust core, re-exported here).

Every error is a :class:`KpiError` with a stable ``code`` attribute (for example
``"missing_column"``); match on the code, not on the message text.
"""

from socialkpi._core import (
    DefinitionError,
    EngineError,
    InputError,
    KpiError,
    QueryError,
    SchemaError,
)


class ArgumentError(QueryError, TypeError, ValueError):
    """An argument of the wrong type or value (``code`` ``"invalid_argument"``).

    It is also a ``TypeError`` and a ``ValueError``, so code that catches those for a bad
    argument still does.
    """


__all__ = [
    "ArgumentError",
    "DefinitionError",
    "EngineError",
    "InputError",
    "KpiError",
    "QueryError",
    "SchemaError",
]
