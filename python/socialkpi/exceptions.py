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

__all__ = ["DefinitionError", "EngineError", "InputError", "KpiError", "QueryError", "SchemaError"]
